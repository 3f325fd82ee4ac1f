package identity

import (
	"context"
	"regexp"
	"strings"
	"unicode/utf8"

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// Audit actions of push registrations. Their metadata names the
// registration, platform and app, never the token.
const (
	AuditPushDeviceRegistered = "push_device.registered"
	AuditPushDeviceRemoved    = "push_device.removed"
)

// PushDeviceStore is what PushDevices needs from storage. Another tenant's
// or user's registration, or a malformed id, is models.ErrNotFound.
type PushDeviceStore interface {
	// GetUser returns the tenant's user, or NotFound "user".
	GetUser(ctx context.Context, tenantID, id string) (*models.User, error)
	// GetSession returns the user's live session, or NotFound "session";
	// a registration is linked to the session's device.
	GetSession(ctx context.Context, tenantID, userID, id string) (*models.Session, error)
	// SavePushDevice inserts d or, when the tenant already holds its
	// TokenHash, updates that row in place (owner, device, platform, app,
	// name, sealed token), so concurrent registrations of one token leave
	// one row. It fills d's id and timestamps and returns the row as it was
	// before (nil for a new token).
	SavePushDevice(ctx context.Context, d *models.PushDevice) (*models.PushDevice, error)
	// ListPushDevices returns the user's registrations, newest first (a
	// malformed user id is NotFound "user").
	ListPushDevices(ctx context.Context, tenantID, userID string) ([]models.PushDevice, error)
	PushRemover
}

// PushRemover deletes push registrations. Every path that removes them
// (DELETE /api/push-devices/{id}, a device's revocation, a user's deletion
// and erasure) goes through removePushDevices, which writes one
// push_device.removed row per registration in the caller's transaction.
type PushRemover interface {
	// DeletePushDevices removes the user's registrations f selects (all,
	// one device's, or one id) and returns them; none selected (a
	// malformed id too) is an empty result, not an error.
	DeletePushDevices(ctx context.Context, f models.PushDeviceFilter) ([]models.PushDevice, error)
}

// Why push registrations were removed: the reason of push_device.removed.
const (
	PushRemovedByUser      = "removed"
	PushRemovedWithDevice  = "device_revoked"
	PushRemovedUserDeleted = "user_deleted"
	PushRemovedUserErased  = "user_erased"
)

// removePushDevices deletes the registrations f selects and records one
// push_device.removed row for each (its id, platform, app, device and
// reason; never the token), done by p, in the caller's transaction. It is
// the only caller of PushRemover.DeletePushDevices.
func removePushDevices(ctx context.Context, store PushRemover, audit Auditor, p Principal, meta Meta, f models.PushDeviceFilter, reason string) ([]models.PushDevice, error) {
	gone, err := store.DeletePushDevices(ctx, f)
	if err != nil {
		return nil, err
	}
	for _, d := range gone {
		md := map[string]any{"push_device_id": d.ID, "platform": d.Platform, "app_id": d.AppID, "reason": reason}
		if d.DeviceID != nil {
			md["device_id"] = *d.DeviceID
		}
		if err := audit.Record(ctx, p, Event{TenantID: d.TenantID, UserID: d.UserID, Action: AuditPushDeviceRemoved, Meta: meta, Metadata: md}); err != nil {
			return nil, err
		}
	}
	return gone, nil
}

// PushDevices are the push registrations (Firebase and APNs tokens) of a
// tenant's users: a signed-in user registers, lists and removes their own;
// a notification service holding identity.push_devices.read reads a user's
// full tokens to send to them. Tokens are sealed at rest and found by a
// keyed hash; the user's own listing shows them masked.
type PushDevices struct {
	store PushDeviceStore
	tx    Tx
	audit Auditor
	seal  Sealer
}

// PushDevicesDeps are what NewPushDevices needs; every field is required.
type PushDevicesDeps struct {
	Store   PushDeviceStore
	Tx      Tx
	Auditor Auditor
	// Sealer seals the tokens and makes their lookup hash (keyring.Keyring).
	Sealer Sealer
}

// NewPushDevices checks d and returns the service.
func NewPushDevices(d PushDevicesDeps) (*PushDevices, error) {
	if err := checkDeps("PushDevices", dep{"Store", d.Store == nil}, dep{"Tx", d.Tx == nil},
		dep{"Auditor", d.Auditor.Store == nil}, dep{"Sealer", d.Sealer == nil}); err != nil {
		return nil, err
	}
	return &PushDevices{store: d.Store, tx: d.Tx, audit: d.Auditor, seal: d.Sealer}, nil
}

// PushRegistration is what a device sends to register for push.
type PushRegistration struct {
	Platform   string
	Token      string
	AppID      string
	DeviceName string
}

// PushDeviceView is a registration with its token: masked (the last six
// characters) for its owner, whole for a notification service.
type PushDeviceView struct {
	models.PushDevice
	Token string
}

// Limits of a registration's fields.
const (
	// FCM registration tokens are about 150 to 200 characters of
	// [A-Za-z0-9_:-]; the bounds leave room for their format to grow.
	fcmTokenMin, fcmTokenMax = 100, 1024
	// APNs device tokens are 32 bytes (64 hex digits) today; Apple allows
	// longer ones, so up to 100 bytes are taken.
	apnsTokenMin, apnsTokenMax = 64, 200
	maxAppIDLen                = 155
	maxPushDeviceName          = 100
	pushTokenVisible           = 6
)

var (
	fcmTokenRE  = regexp.MustCompile(`^[A-Za-z0-9_:.-]+$`)
	apnsTokenRE = regexp.MustCompile(`^(?:[0-9a-f]{2})+$`)
	// appIDRE is a reverse-DNS bundle id (iOS) or package name (Android):
	// two or more dot-separated segments of letters, digits, '_' and '-'.
	appIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_-]*(?:\.[A-Za-z0-9][A-Za-z0-9_-]*)+$`)
)

// normalize validates in and returns it with the token in its canonical
// form (APNs hex in lower case), or a validation error naming each field.
func (in PushRegistration) normalize() (PushRegistration, error) {
	fields := map[string]string{}
	in.Platform = strings.TrimSpace(in.Platform)
	in.AppID = strings.TrimSpace(in.AppID)
	in.DeviceName = strings.TrimSpace(in.DeviceName)
	in.Token = strings.TrimSpace(in.Token)
	switch in.Platform {
	case models.PushFCM:
		if n := len(in.Token); n < fcmTokenMin || n > fcmTokenMax || !fcmTokenRE.MatchString(in.Token) {
			fields["token"] = "Give the Firebase registration token (100 to 1024 letters, digits, '_', ':', '.' and '-')."
		}
	case models.PushAPNs:
		in.Token = strings.ToLower(in.Token)
		if n := len(in.Token); n < apnsTokenMin || n > apnsTokenMax || !apnsTokenRE.MatchString(in.Token) {
			fields["token"] = "Give the APNs device token in hexadecimal (64 hex digits)."
		}
	default:
		fields["platform"] = `Use "fcm" or "apns".`
	}
	if in.Token == "" {
		fields["token"] = "Required."
	}
	if len(in.AppID) > maxAppIDLen || !appIDRE.MatchString(in.AppID) {
		fields["app_id"] = "Give the app's bundle id or package name, like com.example.app."
	}
	if utf8.RuneCountInString(in.DeviceName) > maxPushDeviceName || clientHasControl(in.DeviceName) {
		fields["device_name"] = "Use at most 100 characters, without control characters."
	}
	if len(fields) > 0 {
		return in, models.ErrInvalid(fields)
	}
	return in, nil
}

// pushTokenHash is the keyed hash a token is stored and found by.
func pushTokenHash(s Sealer, token string) string {
	return s.MAC(keyring.PurposeLookup, []byte("push-device"), []byte(token))
}

// pushTokenAD binds a sealed token to its tenant and hash, so a sealed
// value cannot be moved to another row.
func pushTokenAD(tenantID, hash string) []byte {
	return []byte("push-device:" + tenantID + ":" + hash)
}

// Register registers the signed-in user's device for push. A token the
// tenant already knows is updated in place, whoever held it: a phone that
// changed hands now notifies its new user. The registration is linked to
// the device of the caller's session, so revoking that device removes it.
func (s *PushDevices) Register(ctx context.Context, p Principal, in PushRegistration, meta Meta) (*PushDeviceView, error) {
	in, err := in.normalize()
	if err != nil {
		return nil, err
	}
	hash := pushTokenHash(s.seal, in.Token)
	sealed, err := s.seal.Seal([]byte(in.Token), pushTokenAD(p.TenantID, hash))
	if err != nil {
		return nil, models.ErrInternal(err)
	}
	d := &models.PushDevice{TenantID: p.TenantID, UserID: p.UserID, Platform: in.Platform, TokenHash: hash,
		TokenSealed: sealed, AppID: in.AppID, DeviceName: in.DeviceName}
	err = s.tx.InTx(ctx, func(ctx context.Context) error {
		if p.SessionID != "" {
			sess, err := s.store.GetSession(ctx, p.TenantID, p.UserID, p.SessionID)
			switch {
			case err == nil:
				d.DeviceID = sess.DeviceID
			case !models.IsKind(err, models.KindNotFound):
				return err
			}
		}
		prev, err := s.store.SavePushDevice(ctx, d)
		if err != nil {
			return err
		}
		md := map[string]any{"push_device_id": d.ID, "platform": d.Platform, "app_id": d.AppID, "created": prev == nil}
		if d.DeviceID != nil {
			md["device_id"] = *d.DeviceID
		}
		if prev != nil && prev.UserID != p.UserID {
			md["previous_user_id"] = prev.UserID
		}
		return s.audit.Record(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditPushDeviceRegistered, Meta: meta, Metadata: md})
	})
	if err != nil {
		return nil, err
	}
	return &PushDeviceView{PushDevice: *d, Token: maskPushToken(in.Token)}, nil
}

// List returns the signed-in user's registrations, tokens masked.
func (s *PushDevices) List(ctx context.Context, p Principal) ([]PushDeviceView, error) {
	return s.views(ctx, p.TenantID, p.UserID, maskPushToken)
}

// Remove deletes one of the signed-in user's registrations; another
// user's is NotFound.
func (s *PushDevices) Remove(ctx context.Context, p Principal, id string, meta Meta) error {
	if !models.ValidID(id) { // "" would select every registration
		return models.ErrNotFound("push_device")
	}
	return s.tx.InTx(ctx, func(ctx context.Context) error {
		gone, err := removePushDevices(ctx, s.store, s.audit, p, meta,
			models.PushDeviceFilter{TenantID: p.TenantID, UserID: p.UserID, ID: id}, PushRemovedByUser)
		if err != nil {
			return err
		}
		if len(gone) == 0 {
			return models.ErrNotFound("push_device")
		}
		return nil
	})
}

// ForUser returns a user's registrations with their full tokens, for a
// principal holding identity.push_devices.read (the route checks it). The
// user is looked up in the principal's tenant: another tenant's is
// NotFound "user".
func (s *PushDevices) ForUser(ctx context.Context, p Principal, userID string) ([]PushDeviceView, error) {
	if _, err := s.store.GetUser(ctx, p.TenantID, userID); err != nil {
		return nil, err
	}
	return s.views(ctx, p.TenantID, userID, func(token string) string { return token })
}

func (s *PushDevices) views(ctx context.Context, tenantID, userID string, show func(string) string) ([]PushDeviceView, error) {
	list, err := s.store.ListPushDevices(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	out := make([]PushDeviceView, 0, len(list))
	for _, d := range list {
		token, err := s.seal.Open(d.TokenSealed, pushTokenAD(d.TenantID, d.TokenHash))
		if err != nil {
			return nil, models.ErrInternal(err)
		}
		out = append(out, PushDeviceView{PushDevice: d, Token: show(string(token))})
	}
	return out, nil
}

// maskPushToken shows only a token's last characters.
func maskPushToken(token string) string {
	if len(token) <= pushTokenVisible {
		return "…"
	}
	return "…" + token[len(token)-pushTokenVisible:]
}
