package identity

import (
	"context"
	"time"

	"github.com/identityd/identityd/models"
)

// Logout ends the principal's session: this token, and the session's other
// tokens and browser cookie with it.
func (a *Accounts) Logout(ctx context.Context, p Principal, meta Meta) error {
	err := a.Store.InTx(ctx, func(ctx context.Context) error {
		if p.Token != "" {
			if err := a.Tokens.RevokeToken(ctx, p.Token); err != nil {
				return err
			}
		}
		if p.SessionID != "" {
			if err := a.Store.RevokeSession(ctx, p.TenantID, p.UserID, p.SessionID); err != nil && !models.IsKind(err, models.KindNotFound) {
				return err
			}
		}
		return a.auditTx(ctx, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditLogout, Meta: meta, Metadata: map[string]any{"session_id": p.SessionID}})
	})
	return err
}

// LogoutAll ends every session and token of the user, OAuth grants included.
func (a *Accounts) LogoutAll(ctx context.Context, p Principal, meta Meta) (int, error) {
	var n int
	err := a.Store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if n, err = a.Store.RevokeUserSessions(ctx, p.TenantID, p.UserID, "", true); err != nil {
			return err
		}
		return a.auditTx(ctx, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditLogout, Meta: meta, Metadata: map[string]any{"all": true, "sessions": n}})
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

// ListSessions returns the user's live sessions with their devices' trust.
func (a *Accounts) ListSessions(ctx context.Context, p Principal) ([]SessionView, error) {
	sessions, err := a.Store.ListSessions(ctx, p.TenantID, p.UserID)
	if err != nil {
		return nil, err
	}
	devices, err := a.Store.ListDevices(ctx, p.TenantID, p.UserID)
	if err != nil {
		return nil, err
	}
	now := a.now()
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

// RevokeSession ends one of the user's sessions; its tokens stop at once.
func (a *Accounts) RevokeSession(ctx context.Context, p Principal, id string, meta Meta) error {
	return a.Store.InTx(ctx, func(ctx context.Context) error {
		if err := a.Store.RevokeSession(ctx, p.TenantID, p.UserID, id); err != nil {
			return err
		}
		return a.auditTx(ctx, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditSessionRevoked, Meta: meta, Metadata: map[string]any{"session_id": id}})
	})
}

// UntrustSession removes the 2FA trust of the device behind a session.
func (a *Accounts) UntrustSession(ctx context.Context, p Principal, id string, meta Meta) error {
	s, err := a.Store.GetSession(ctx, p.TenantID, p.UserID, id)
	if err != nil {
		return err
	}
	if s.DeviceID == nil {
		return models.ErrNotFound("device")
	}
	return a.Store.InTx(ctx, func(ctx context.Context) error {
		if err := a.Store.SetDeviceTrust(ctx, p.TenantID, p.UserID, *s.DeviceID, nil); err != nil {
			return err
		}
		return a.auditTx(ctx, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditDeviceUntrusted, Meta: meta, Metadata: map[string]any{"device_id": *s.DeviceID}})
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
func (a *Accounts) ListDevices(ctx context.Context, p Principal) ([]DeviceView, error) {
	devices, err := a.Store.ListDevices(ctx, p.TenantID, p.UserID)
	if err != nil {
		return nil, err
	}
	sessions, err := a.Store.ListSessions(ctx, p.TenantID, p.UserID)
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
	now := a.now()
	out := make([]DeviceView, 0, len(devices))
	for _, d := range devices {
		out = append(out, DeviceView{Device: d, Current: d.ID == current, Trusted: d.Trusted(now), Sessions: count[d.ID]})
	}
	return out, nil
}

// UntrustDevice removes a device's 2FA trust; its sessions go on.
func (a *Accounts) UntrustDevice(ctx context.Context, p Principal, deviceID string, meta Meta) error {
	return a.Store.InTx(ctx, func(ctx context.Context) error {
		if err := a.Store.SetDeviceTrust(ctx, p.TenantID, p.UserID, deviceID, nil); err != nil {
			return err
		}
		return a.auditTx(ctx, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditDeviceUntrusted, Meta: meta, Metadata: map[string]any{"device_id": deviceID}})
	})
}

// RevokeDevice forgets a device: its trust, its token, and every session
// started from it (with their tokens and browser cookies), in one
// transaction with one device.revoked row naming the sessions it ended.
// Revoking one session is RevokeSession (session.revoked).
func (a *Accounts) RevokeDevice(ctx context.Context, p Principal, deviceID string, meta Meta) error {
	return a.Store.InTx(ctx, func(ctx context.Context) error {
		var ended []string
		if sessions, err := a.Store.ListSessions(ctx, p.TenantID, p.UserID); err == nil {
			for _, s := range sessions {
				if s.DeviceID != nil && *s.DeviceID == deviceID {
					ended = append(ended, s.ID)
				}
			}
		} else {
			return err
		}
		if err := a.Store.RevokeDevice(ctx, p.TenantID, p.UserID, deviceID); err != nil {
			return err
		}
		return a.auditTx(ctx, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditDeviceRevoked, Meta: meta,
			Metadata: map[string]any{"device_id": deviceID, "sessions_revoked": ended}})
	})
}

// TouchSession records activity at most once per ActivityInterval.
func (a *Accounts) TouchSession(ctx context.Context, sessionID string) error {
	if sessionID == "" {
		return nil
	}
	return a.Store.TouchSession(ctx, sessionID, a.Config.ActivityInterval)
}
