package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
)

// DeviceStore is the devices repository: the browsers a user signed in
// from, remembered by a cookie token's hash, trusted to skip the second
// factor until a time, and revocable with every session started on them.
type DeviceStore interface {
	TenantCreator
	UserCreator
	// CreateDevice inserts d, giving it an id.
	CreateDevice(ctx context.Context, d *models.Device) error
	// GetDeviceByToken returns the user's unrevoked device of the token
	// hash, or NotFound.
	GetDeviceByToken(ctx context.Context, tenantID, userID, tokenHash string) (*models.Device, error)
	// GetDevice returns the user's device; another user's, unknown or
	// malformed is NotFound.
	GetDevice(ctx context.Context, tenantID, userID, id string) (*models.Device, error)
	// SetDeviceTrust trusts an unrevoked device until until (nil: not);
	// NotFound otherwise.
	SetDeviceTrust(ctx context.Context, tenantID, userID, id string, until *time.Time) error
	// TouchDevice records that the device was just seen.
	TouchDevice(ctx context.Context, id string) error
	// ListDevices returns the user's unrevoked devices, last seen first.
	ListDevices(ctx context.Context, tenantID, userID string) ([]models.Device, error)
	// RevokeDevice revokes the device and every session started on it;
	// NotFound for a revoked, another user's, unknown or malformed device.
	RevokeDevice(ctx context.Context, tenantID, userID, id string) error
	// UntrustUserDevices drops the trust of every device of the user.
	UntrustUserDevices(ctx context.Context, tenantID, userID string) error
	CreateSession(ctx context.Context, sess *models.Session) error
	GetSession(ctx context.Context, tenantID, userID, id string) (*models.Session, error)
}

var _ = claim[DeviceStore]("RunDevicesSuite", "CreateDevice", "GetDeviceByToken", "GetDevice", "SetDeviceTrust",
	"TouchDevice", "ListDevices", "RevokeDevice", "UntrustUserDevices")

// RunDevicesSuite checks devices: lookups by id and token within the user,
// trust and its withdrawal, touches, listing, and revocation with the
// device's sessions.
func RunDevicesSuite[S DeviceStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) DeviceStore { return newStore(t) }, []subTest[DeviceStore]{
		{"CreateGet", testDeviceCreateGet},
		{"Trust", testDeviceTrust},
		{"TouchList", testDeviceTouchList},
		{"Revoke", testDeviceRevoke},
	})
}

func newDevice(t *testing.T, s DeviceStore, u *models.User) *models.Device {
	t.Helper()
	d := &models.Device{TenantID: u.TenantID, UserID: u.ID, TokenHash: sha256Hex("device-" + randomHex(t, 8)), Name: "laptop", Browser: "Firefox", OS: "Linux"}
	must(t, s.CreateDevice(t.Context(), d), "create device")
	if d.ID == "" {
		t.Fatal("CreateDevice gave no id")
	}
	return d
}

func testDeviceCreateGet(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	u, other := newUser(t, s, tn.ID), newUser(t, s, tn.ID)
	d := newDevice(t, s, u)
	got, err := s.GetDevice(ctx, tn.ID, u.ID, d.ID)
	must(t, err, "get")
	wantEqual(t, got.Browser, "Firefox", "browser")
	wantEqual(t, got.OS, "Linux", "os")
	got, err = s.GetDeviceByToken(ctx, tn.ID, u.ID, d.TokenHash)
	must(t, err, "get by token")
	wantEqual(t, got.ID, d.ID, "device by token")
	_, err = s.GetDeviceByToken(ctx, tn.ID, other.ID, d.TokenHash)
	wantNotFound(t, err, "another user's token")
	_, err = s.GetDeviceByToken(ctx, tn.ID, u.ID, sha256Hex("unknown"))
	wantNotFound(t, err, "an unknown token")
	for _, tt := range []struct{ name, user, id string }{{"another user's", other.ID, d.ID}, {"unknown", u.ID, unknownID}, {"malformed", u.ID, "x"}} {
		_, err := s.GetDevice(ctx, tn.ID, tt.user, tt.id)
		wantNotFound(t, err, "get "+tt.name)
	}
}

func testDeviceTrust(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	u, other := newUser(t, s, tn.ID), newUser(t, s, tn.ID)
	d1, d2, theirs := newDevice(t, s, u), newDevice(t, s, u), newDevice(t, s, other)
	until := base.Add(30 * 24 * time.Hour)
	for _, d := range []*models.Device{d1, d2} {
		must(t, s.SetDeviceTrust(ctx, tn.ID, u.ID, d.ID, &until), "trust")
	}
	must(t, s.SetDeviceTrust(ctx, tn.ID, other.ID, theirs.ID, &until), "trust another user's device")
	got, _ := s.GetDevice(ctx, tn.ID, u.ID, d1.ID)
	if got.TrustedUntil == nil || !got.TrustedUntil.Equal(until) {
		t.Fatalf("trusted until %v, want %v", got.TrustedUntil, until)
	}
	must(t, s.SetDeviceTrust(ctx, tn.ID, u.ID, d1.ID, nil), "untrust one")
	got, _ = s.GetDevice(ctx, tn.ID, u.ID, d1.ID)
	if got.TrustedUntil != nil {
		t.Fatalf("trusted until %v after untrusting", got.TrustedUntil)
	}
	wantNotFound(t, s.SetDeviceTrust(ctx, tn.ID, other.ID, d2.ID, &until), "trust another user's device")
	wantNotFound(t, s.SetDeviceTrust(ctx, tn.ID, u.ID, unknownID, &until), "trust an unknown device")

	must(t, s.UntrustUserDevices(ctx, tn.ID, u.ID), "untrust all")
	got, _ = s.GetDevice(ctx, tn.ID, u.ID, d2.ID)
	if got.TrustedUntil != nil {
		t.Fatalf("trusted until %v after untrusting every device", got.TrustedUntil)
	}
	got, _ = s.GetDevice(ctx, tn.ID, other.ID, theirs.ID)
	if got.TrustedUntil == nil {
		t.Fatal("untrusting one user's devices untrusted another user's")
	}
	must(t, s.RevokeDevice(ctx, tn.ID, u.ID, d2.ID), "revoke")
	wantNotFound(t, s.SetDeviceTrust(ctx, tn.ID, u.ID, d2.ID, &until), "trust a revoked device")
}

func testDeviceTouchList(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	u := newUser(t, s, tn.ID)
	older, newer, revoked := newDevice(t, s, u), newDevice(t, s, u), newDevice(t, s, u)
	must(t, s.RevokeDevice(ctx, tn.ID, u.ID, revoked.ID), "revoke")
	before, _ := s.GetDevice(ctx, tn.ID, u.ID, older.ID)
	must(t, s.TouchDevice(ctx, older.ID), "touch")
	after, _ := s.GetDevice(ctx, tn.ID, u.ID, older.ID)
	if !after.LastSeenAt.After(before.LastSeenAt) {
		t.Fatalf("last seen %v after a touch, want after %v", after.LastSeenAt, before.LastSeenAt)
	}
	list, err := s.ListDevices(ctx, tn.ID, u.ID)
	must(t, err, "list")
	if len(list) != 2 || list[0].ID != older.ID || list[1].ID != newer.ID {
		t.Fatalf("devices = %+v, want the touched one, then the other (unrevoked, last seen first)", list)
	}
	list, err = s.ListDevices(ctx, newTenant(t, s).ID, u.ID)
	must(t, err, "list in another tenant")
	wantEqual(t, len(list), 0, "devices in another tenant")
}

func testDeviceRevoke(t *testing.T, s DeviceStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	u, other := newUser(t, s, tn.ID), newUser(t, s, tn.ID)
	d, keep := newDevice(t, s, u), newDevice(t, s, u)
	on := func(dev *models.Device) *models.Session {
		t.Helper()
		sess := &models.Session{TenantID: tn.ID, UserID: u.ID, DeviceID: &dev.ID, Kind: "browser", ExpiresAt: time.Now().Add(time.Hour).UTC()}
		must(t, s.CreateSession(ctx, sess), "create session")
		return sess
	}
	s1, s2, kept := on(d), on(d), on(keep)

	wantNotFound(t, s.RevokeDevice(ctx, tn.ID, other.ID, d.ID), "revoke another user's device")
	must(t, s.RevokeDevice(ctx, tn.ID, u.ID, d.ID), "revoke")
	_, err := s.GetDeviceByToken(ctx, tn.ID, u.ID, d.TokenHash)
	wantNotFound(t, err, "a revoked device by token")
	got, err := s.GetDevice(ctx, tn.ID, u.ID, d.ID)
	must(t, err, "a revoked device by id")
	if got.RevokedAt == nil {
		t.Fatal("revoked device has no revoked_at")
	}
	for _, sess := range []*models.Session{s1, s2} {
		_, err := s.GetSession(ctx, tn.ID, u.ID, sess.ID)
		wantNotFound(t, err, "a session of the revoked device")
	}
	_, err = s.GetSession(ctx, tn.ID, u.ID, kept.ID)
	must(t, err, "a session of another device")
	wantNotFound(t, s.RevokeDevice(ctx, tn.ID, u.ID, d.ID), "revoke twice")
	wantNotFound(t, s.RevokeDevice(ctx, tn.ID, u.ID, "x"), "revoke a malformed id")
}
