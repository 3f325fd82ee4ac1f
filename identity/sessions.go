package identity

import (
	"context"
	"time"

	"github.com/identityd/identityd/models"
)

// DeviceStore keeps the devices (browsers and apps) a user signed in from:
// the rows that trust and PIN login hang on. A device is found by id or by
// the hash of its device token; revoked devices are never returned.
type DeviceStore interface {
	// CreateDevice stores a device; TokenHash must be set; it gives d its id.
	CreateDevice(ctx context.Context, d *models.Device) error
	// GetDeviceByToken returns the user's live device whose token hashes to
	// tokenHash, or NotFound "device".
	GetDeviceByToken(ctx context.Context, tenantID, userID, tokenHash string) (*models.Device, error)
	// SetDeviceTrust trusts the user's device until then (nil: not
	// trusted); NotFound "device" when it is not the user's live device.
	SetDeviceTrust(ctx context.Context, tenantID, userID, id string, until *time.Time) error
	// TouchDevice records that the device was just seen (an unknown id is
	// not an error).
	TouchDevice(ctx context.Context, id string) error
	// ListDevices returns the user's live devices, most recently seen first.
	ListDevices(ctx context.Context, tenantID, userID string) ([]models.Device, error)
	// RevokeDevice revokes the user's device and every session started
	// from it (their tokens and browser cookies with them) and removes the
	// push registrations made from it, in one transaction; NotFound "device" when it is not the user's live device
	// (already revoked, concurrently too).
	RevokeDevice(ctx context.Context, tenantID, userID, id string) error
}

// SessionRevoker ends login sessions, with every token and browser cookie
// issued under them.
type SessionRevoker interface {
	// RevokeSession ends one session: the row is marked revoked, its
	// browser cookie stops working and every token issued under it is
	// deleted, in one transaction. NotFound "session" when it is not the
	// user's live session (already revoked, concurrently too).
	RevokeSession(ctx context.Context, tenantID, userID, id string) error
	// RevokeUserSessions ends every session of the user but keepID (""
	// keeps none) as RevokeSession does and, with oauthGrants, deletes
	// every OAuth grant token of the user too; it returns how many
	// sessions it ended (0 for an unknown user).
	RevokeUserSessions(ctx context.Context, tenantID, userID, keepID string, oauthGrants bool) (int, error)
}

// SessionStore keeps the login sessions: one per sign-in, the row every
// token of that sign-in hangs on.
type SessionStore interface {
	// CreateSession stores a session; it gives s its id.
	CreateSession(ctx context.Context, s *models.Session) error
	// GetSession returns the user's live session by id, or NotFound
	// "session" (another user's, revoked or expired).
	GetSession(ctx context.Context, tenantID, userID, id string) (*models.Session, error)
	// ListSessions returns the user's live sessions, most recently active first.
	ListSessions(ctx context.Context, tenantID, userID string) ([]models.Session, error)
	// TouchSession records activity, writing at most once per interval (an
	// unknown id is not an error).
	TouchSession(ctx context.Context, id string, interval time.Duration) error
}

// TokenRevoker revokes first-party access tokens (oauth implements it).
type TokenRevoker interface {
	// RevokeToken deletes one access token; an unknown or expired token is
	// not an error.
	RevokeToken(ctx context.Context, token string) error
}

// Sessions are a signed-in user's sessions and devices: listing them,
// ending one or all, and removing a device's trust.
type Sessions struct {
	sessions         SessionStore
	devices          DeviceStore
	revoker          SessionRevoker
	tx               Tx
	tokens           TokenRevoker
	audit            Auditor
	push             PushRemover
	now              func() time.Time
	activityInterval time.Duration
}

// SessionsDeps are what NewSessions needs; every field but ActivityInterval
// is required. ActivityInterval is AccountsConfig.ActivityInterval.
type SessionsDeps struct {
	Sessions SessionStore
	Devices  DeviceStore
	Revoker  SessionRevoker
	Tx       Tx
	Auditor  Auditor
	Tokens   TokenRevoker
	// Push removes the push registrations of a revoked device.
	Push             PushRemover
	Now              func() time.Time
	ActivityInterval time.Duration
}

// NewSessions builds the sessions service.
func NewSessions(d SessionsDeps) (*Sessions, error) {
	if err := checkDeps("Sessions", dep{"Sessions", d.Sessions == nil}, dep{"Devices", d.Devices == nil}, dep{"Revoker", d.Revoker == nil},
		dep{"Tx", d.Tx == nil}, dep{"Auditor", d.Auditor.Store == nil}, dep{"Tokens", d.Tokens == nil}, dep{"Push", d.Push == nil}, dep{"Now", d.Now == nil}); err != nil {
		return nil, err
	}
	return &Sessions{sessions: d.Sessions, devices: d.Devices, revoker: d.Revoker, tx: d.Tx, tokens: d.Tokens, audit: d.Auditor,
		push: d.Push, now: d.Now, activityInterval: d.ActivityInterval}, nil
}

// Logout ends the principal's session: this token, and the session's other
// tokens and browser cookie with it.
func (ss *Sessions) Logout(ctx context.Context, p Principal, meta Meta) error {
	err := ss.tx.InTx(ctx, func(ctx context.Context) error {
		if p.Token != "" {
			if err := ss.tokens.RevokeToken(ctx, p.Token); err != nil {
				return err
			}
		}
		if p.SessionID != "" {
			if err := ss.revoker.RevokeSession(ctx, p.TenantID, p.UserID, p.SessionID); err != nil && !models.IsKind(err, models.KindNotFound) {
				return err
			}
		}
		return ss.audit.Record(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditLogout, Meta: meta, Metadata: map[string]any{"session_id": p.SessionID},
			Publish: sessionEvents(p.SessionID != "", EventSessionRevoked), Data: map[string]any{"reason": "logout"}})
	})
	return err
}

// LogoutAll ends every session and token of the user, OAuth grants included.
func (ss *Sessions) LogoutAll(ctx context.Context, p Principal, meta Meta) (int, error) {
	var n int
	err := ss.tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		if n, err = ss.revoker.RevokeUserSessions(ctx, p.TenantID, p.UserID, "", true); err != nil {
			return err
		}
		return ss.audit.Record(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditLogout, Meta: meta, Metadata: map[string]any{"all": true, "sessions": n},
			Publish: []string{EventSessionsRevoked}, Data: map[string]any{"sessions_revoked": n, "reason": "logout_all"}})
	})
	return n, err
}

// SessionView is a session as its owner sees it.
type SessionView struct {
	models.Session
	Current      bool
	Trusted      bool
	TrustedUntil *time.Time
}

// List returns the user's live sessions with their devices' trust.
func (ss *Sessions) List(ctx context.Context, p Principal) ([]SessionView, error) {
	sessions, err := ss.sessions.ListSessions(ctx, p.TenantID, p.UserID)
	if err != nil {
		return nil, err
	}
	devices, err := ss.devices.ListDevices(ctx, p.TenantID, p.UserID)
	if err != nil {
		return nil, err
	}
	now := ss.now().UTC()
	byID := map[string]models.Device{}
	for _, d := range devices {
		byID[d.ID] = d
	}
	out := make([]SessionView, 0, len(sessions))
	for _, s := range sessions {
		v := SessionView{Session: s, Current: s.ID == p.SessionID}
		if s.DeviceID != nil {
			if d, ok := byID[*s.DeviceID]; ok && d.Trusted(now) {
				v.Trusted, v.TrustedUntil = true, d.TrustedUntil
			}
		}
		out = append(out, v)
	}
	return out, nil
}

// Revoke ends one of the user's sessions; its tokens stop at once.
func (ss *Sessions) Revoke(ctx context.Context, p Principal, id string, meta Meta) error {
	return ss.tx.InTx(ctx, func(ctx context.Context) error {
		if err := ss.revoker.RevokeSession(ctx, p.TenantID, p.UserID, id); err != nil {
			return err
		}
		return ss.audit.Record(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditSessionRevoked, Meta: meta, Metadata: map[string]any{"session_id": id}, Data: map[string]any{"reason": "revoked"}})
	})
}

// Untrust removes the 2FA trust of the device behind a session.
func (ss *Sessions) Untrust(ctx context.Context, p Principal, id string, meta Meta) error {
	s, err := ss.sessions.GetSession(ctx, p.TenantID, p.UserID, id)
	if err != nil {
		return err
	}
	if s.DeviceID == nil {
		return models.ErrNotFound("device")
	}
	return ss.tx.InTx(ctx, func(ctx context.Context) error {
		if err := ss.devices.SetDeviceTrust(ctx, p.TenantID, p.UserID, *s.DeviceID, nil); err != nil {
			return err
		}
		return ss.audit.Record(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditDeviceUntrusted, Meta: meta, Metadata: map[string]any{"device_id": *s.DeviceID}, Data: untrusted})
	})
}

// DeviceView is a device as its owner sees it: a browser or app the user
// signed in from (the row trust hangs on), distinct from the sessions
// started on it.
type DeviceView struct {
	models.Device
	Current  bool // the device of the caller's session
	Trusted  bool
	Sessions int // live sessions on it
}

// ListDevices returns the user's live devices, most recently seen first.
func (ss *Sessions) ListDevices(ctx context.Context, p Principal) ([]DeviceView, error) {
	devices, err := ss.devices.ListDevices(ctx, p.TenantID, p.UserID)
	if err != nil {
		return nil, err
	}
	sessions, err := ss.sessions.ListSessions(ctx, p.TenantID, p.UserID)
	if err != nil {
		return nil, err
	}
	count, current := map[string]int{}, ""
	for _, s := range sessions {
		if s.DeviceID == nil {
			continue
		}
		count[*s.DeviceID]++
		if s.ID == p.SessionID {
			current = *s.DeviceID
		}
	}
	now := ss.now().UTC()
	out := make([]DeviceView, 0, len(devices))
	for _, d := range devices {
		out = append(out, DeviceView{Device: d, Current: d.ID == current, Trusted: d.Trusted(now), Sessions: count[d.ID]})
	}
	return out, nil
}

// UntrustDevice removes a device's 2FA trust; its sessions go on.
func (ss *Sessions) UntrustDevice(ctx context.Context, p Principal, deviceID string, meta Meta) error {
	return ss.tx.InTx(ctx, func(ctx context.Context) error {
		if err := ss.devices.SetDeviceTrust(ctx, p.TenantID, p.UserID, deviceID, nil); err != nil {
			return err
		}
		return ss.audit.Record(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditDeviceUntrusted, Meta: meta, Metadata: map[string]any{"device_id": deviceID}, Data: untrusted})
	})
}

// RevokeDevice forgets a device: its trust, its token, every session
// started from it (with their tokens and browser cookies) and the push
// registrations made from it (one push_device.removed row each), in one
// transaction with one device.revoked row naming the sessions it ended.
// Revoking one session is Revoke (session.revoked).
func (ss *Sessions) RevokeDevice(ctx context.Context, p Principal, deviceID string, meta Meta) error {
	return ss.tx.InTx(ctx, func(ctx context.Context) error {
		var ended []string
		if sessions, err := ss.sessions.ListSessions(ctx, p.TenantID, p.UserID); err == nil {
			for _, s := range sessions {
				if s.DeviceID != nil && *s.DeviceID == deviceID {
					ended = append(ended, s.ID)
				}
			}
		} else {
			return err
		}
		if err := ss.devices.RevokeDevice(ctx, p.TenantID, p.UserID, deviceID); err != nil {
			return err
		}
		if _, err := removePushDevices(ctx, ss.push, ss.audit, p, meta,
			models.PushDeviceFilter{TenantID: p.TenantID, UserID: p.UserID, DeviceID: deviceID}, PushRemovedWithDevice); err != nil {
			return err
		}
		return ss.audit.Record(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditDeviceRevoked, Meta: meta,
			Metadata: map[string]any{"device_id": deviceID, "sessions_revoked": ended},
			Data:     map[string]any{"removed": true, "session_ids": ended, "sessions_revoked": len(ended)}})
	})
}

// Touch records activity at most once per ActivityInterval.
func (ss *Sessions) Touch(ctx context.Context, sessionID string) error {
	if sessionID == "" {
		return nil
	}
	return ss.sessions.TouchSession(ctx, sessionID, ss.activityInterval)
}
