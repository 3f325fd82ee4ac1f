package storagetest

import (
	"context"
	"testing"

	"github.com/identityd/identityd/models"
)

// PushDeviceStore is the push registrations repository: one row per token
// hash and tenant, updated in place when the token is registered again
// (by any user of the tenant), removed by one method (all of a user's,
// one device's, or one), and by cascade with its user.
type PushDeviceStore interface {
	TenantCreator
	UserCreator
	CreateDevice(ctx context.Context, d *models.Device) error
	RevokeDevice(ctx context.Context, tenantID, userID, id string) error
	DeleteUser(ctx context.Context, tenantID, id string) error
	// SavePushDevice inserts d or updates the tenant's row of d.TokenHash,
	// returning the row as it was (nil when new).
	SavePushDevice(ctx context.Context, d *models.PushDevice) (*models.PushDevice, error)
	// ListPushDevices returns the user's registrations, newest first.
	ListPushDevices(ctx context.Context, tenantID, userID string) ([]models.PushDevice, error)
	// DeletePushDevices removes the user's registrations the filter
	// selects and returns them; another user's, tenant's, unknown or
	// malformed selects nothing.
	DeletePushDevices(ctx context.Context, f models.PushDeviceFilter) ([]models.PushDevice, error)
}

var _ = claim[PushDeviceStore]("RunPushDevicesSuite", "SavePushDevice", "ListPushDevices", "DeletePushDevices")

// RunPushDevicesSuite checks push registrations: insert and re-register in
// place (a token moving to another user), per-tenant uniqueness under
// concurrency, deletion within the user (one, one device's, all), and
// removal by cascade with the user.
func RunPushDevicesSuite[S PushDeviceStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) PushDeviceStore { return newStore(t) }, []subTest[PushDeviceStore]{
		{"SaveList", testPushDeviceSaveList},
		{"SaveConcurrent", testPushDeviceSaveConcurrent},
		{"Delete", testPushDeviceDelete},
		{"DeleteByDevice", testPushDeviceDeleteByDevice},
	})
}

func newPushDevice(u *models.User, hash string, deviceID *string) *models.PushDevice {
	return &models.PushDevice{TenantID: u.TenantID, UserID: u.ID, DeviceID: deviceID, Platform: models.PushFCM,
		TokenHash: hash, TokenSealed: []byte("sealed-" + hash), AppID: "com.example.app", DeviceName: "phone"}
}

func testPushDeviceSaveList(t *testing.T, s PushDeviceStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	u, v := newUser(t, s, tn.ID), newUser(t, s, tn.ID)
	hash := randomHex(t, 32)
	d := newPushDevice(u, hash, nil)
	prev, err := s.SavePushDevice(ctx, d)
	must(t, err, "save")
	if prev != nil || d.ID == "" || d.CreatedAt.IsZero() {
		t.Fatalf("first save: prev %+v, id %q, created %v", prev, d.ID, d.CreatedAt)
	}
	// The same token in another tenant is another row.
	ou := newUser(t, s, other.ID)
	od := newPushDevice(ou, hash, nil)
	_, err = s.SavePushDevice(ctx, od)
	must(t, err, "save in another tenant")
	if od.ID == d.ID {
		t.Fatal("another tenant's registration of the token reused the row")
	}
	// Again, by another user of the tenant: the row moves, id kept.
	again := newPushDevice(v, hash, nil)
	again.AppID, again.DeviceName, again.Platform = "com.example.other", "tablet", models.PushAPNs
	prev, err = s.SavePushDevice(ctx, again)
	must(t, err, "save again")
	if prev == nil || prev.UserID != u.ID || prev.AppID != "com.example.app" {
		t.Fatalf("previous row = %+v, want u's", prev)
	}
	wantEqual(t, again.ID, d.ID, "id of the re-registered token")
	wantTime(t, again.CreatedAt, d.CreatedAt, "created_at kept")
	list, err := s.ListPushDevices(ctx, tn.ID, u.ID)
	must(t, err, "list u")
	wantEqual(t, len(list), 0, "u's registrations after the token moved")
	list, err = s.ListPushDevices(ctx, tn.ID, v.ID)
	must(t, err, "list v")
	if len(list) != 1 || list[0].AppID != "com.example.other" || list[0].DeviceName != "tablet" || list[0].Platform != models.PushAPNs ||
		string(list[0].TokenSealed) != "sealed-"+hash {
		t.Fatalf("v's registrations = %+v", list)
	}
	wantUTC(t, list[0].CreatedAt, "created_at")
	second := newPushDevice(v, randomHex(t, 32), nil)
	_, err = s.SavePushDevice(ctx, second)
	must(t, err, "save second")
	list, err = s.ListPushDevices(ctx, tn.ID, v.ID)
	must(t, err, "list v")
	wantEqual(t, len(list), 2, "v's registrations")
	list, err = s.ListPushDevices(ctx, other.ID, v.ID)
	must(t, err, "list in another tenant")
	wantEqual(t, len(list), 0, "v's registrations in another tenant")
	_, err = s.ListPushDevices(ctx, tn.ID, "x")
	wantNotFound(t, err, "list of a malformed user id")
}

func testPushDeviceSaveConcurrent(t *testing.T, s PushDeviceStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	u := newUser(t, s, tn.ID)
	hash := randomHex(t, 32)
	ids := make([]string, 10)
	for i, err := range race(10, func(i int) error {
		d := newPushDevice(u, hash, nil)
		_, err := s.SavePushDevice(ctx, d)
		ids[i] = d.ID
		return err
	}) {
		must(t, err, "concurrent save")
		wantEqual(t, ids[i], ids[0], "id of every concurrent registration")
	}
	list, err := s.ListPushDevices(ctx, tn.ID, u.ID)
	must(t, err, "list")
	wantEqual(t, len(list), 1, "rows after 10 concurrent registrations of one token")
}

func testPushDeviceDelete(t *testing.T, s PushDeviceStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	u, v := newUser(t, s, tn.ID), newUser(t, s, tn.ID)
	d := newPushDevice(u, randomHex(t, 32), nil)
	_, err := s.SavePushDevice(ctx, d)
	must(t, err, "save")
	for _, tt := range []struct{ name, tenant, user, id string }{
		{"another tenant", other.ID, u.ID, d.ID},
		{"another user", tn.ID, v.ID, d.ID},
		{"unknown", tn.ID, u.ID, unknownID},
		{"malformed", tn.ID, u.ID, "x"},
	} {
		gone, err := s.DeletePushDevices(ctx, models.PushDeviceFilter{TenantID: tt.tenant, UserID: tt.user, ID: tt.id})
		must(t, err, "delete of "+tt.name)
		wantEqual(t, len(gone), 0, "registrations deleted by "+tt.name)
	}
	got, err := s.DeletePushDevices(ctx, models.PushDeviceFilter{TenantID: tn.ID, UserID: u.ID, ID: d.ID})
	must(t, err, "delete")
	if len(got) != 1 || got[0].ID != d.ID || got[0].AppID != d.AppID {
		t.Fatalf("deleted %+v, want the registration %s", got, d.ID)
	}
	got, err = s.DeletePushDevices(ctx, models.PushDeviceFilter{TenantID: tn.ID, UserID: u.ID, ID: d.ID})
	must(t, err, "delete again")
	wantEqual(t, len(got), 0, "registrations deleted twice")
}

// testPushDeviceDeleteByDevice: a device filter removes only that device's
// registrations; revoking the device leaves them to the caller; no filter
// removes all of the user's and no one else's; the user's deletion
// cascades.
func testPushDeviceDeleteByDevice(t *testing.T, s PushDeviceStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	u, v := newUser(t, s, tn.ID), newUser(t, s, tn.ID)
	dev := &models.Device{TenantID: tn.ID, UserID: u.ID, TokenHash: sha256Hex("device-" + randomHex(t, 8)), Name: "phone"}
	must(t, s.CreateDevice(ctx, dev), "create device")
	linked := newPushDevice(u, randomHex(t, 32), &dev.ID)
	unlinked := newPushDevice(u, randomHex(t, 32), nil)
	second := newPushDevice(u, randomHex(t, 32), nil)
	others := newPushDevice(v, randomHex(t, 32), nil)
	for _, d := range []*models.PushDevice{linked, unlinked, second, others} {
		_, err := s.SavePushDevice(ctx, d)
		must(t, err, "save")
	}
	must(t, s.RevokeDevice(ctx, tn.ID, u.ID, dev.ID), "revoke device")
	list, err := s.ListPushDevices(ctx, tn.ID, u.ID)
	must(t, err, "list")
	wantEqual(t, len(list), 3, "registrations after revoking the device (identity removes them, audited)")
	gone, err := s.DeletePushDevices(ctx, models.PushDeviceFilter{TenantID: tn.ID, UserID: u.ID, DeviceID: dev.ID})
	must(t, err, "delete the device's")
	if len(gone) != 1 || gone[0].ID != linked.ID {
		t.Fatalf("deleted %+v, want only the device's registration", gone)
	}
	gone, err = s.DeletePushDevices(ctx, models.PushDeviceFilter{TenantID: tn.ID, UserID: u.ID})
	must(t, err, "delete all of the user's")
	wantEqual(t, len(gone), 2, "the user's other registrations")
	list, err = s.ListPushDevices(ctx, tn.ID, v.ID)
	must(t, err, "list another user's")
	wantEqual(t, len(list), 1, "another user's registrations")
	must(t, s.DeleteUser(ctx, tn.ID, v.ID), "delete user")
	list, err = s.ListPushDevices(ctx, tn.ID, v.ID)
	must(t, err, "list")
	wantEqual(t, len(list), 0, "registrations of a deleted user")
}
