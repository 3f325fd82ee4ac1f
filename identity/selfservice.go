package identity

import (
	"context"
	"crypto/subtle"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/models"
)

// Me returns the principal's user and session.
func (a *Accounts) Me(ctx context.Context, p Principal) (*models.User, *models.Session, error) {
	user, err := a.Store.GetUser(ctx, p.TenantID, p.UserID)
	if err != nil {
		return nil, nil, err
	}
	var sess *models.Session
	if p.SessionID != "" {
		sess, _ = a.Store.GetSession(ctx, p.TenantID, p.UserID, p.SessionID)
	}
	return user, sess, nil
}

// UpdateProfile changes the user's display name (the only self-editable field).
func (a *Accounts) UpdateProfile(ctx context.Context, p Principal, name string, meta Meta) (*models.User, error) {
	name = strings.TrimSpace(name)
	if len(name) > 200 {
		return nil, models.ErrInvalid(map[string]string{"name": "Use at most 200 characters."})
	}
	err := a.Store.InTx(ctx, func(ctx context.Context) error {
		if err := a.Store.UpdateUserFields(ctx, p.TenantID, p.UserID, map[string]any{"name": name}); err != nil {
			return err
		}
		return a.auditTx(ctx, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditProfileUpdated, Meta: meta, Metadata: map[string]any{"fields": []string{"name"}}})
	})
	if err != nil {
		return nil, err
	}
	return a.Store.GetUser(ctx, p.TenantID, p.UserID)
}

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

// setPassword checks the policy and history, stores the new hash, keeps the
// old one in the history, and clears a forced change: in the caller's tx.
func (a *Accounts) setPassword(ctx context.Context, user *models.User, newPassword string) error {
	if err := CheckPassword(newPassword, user.Email); err != nil {
		return err
	}
	history, err := a.Store.ListPasswordHistory(ctx, user.TenantID, user.ID, a.Config.PasswordHistory)
	if err != nil {
		return err
	}
	for _, h := range append([]string{user.PasswordHash}, history...) {
		if bcrypt.CompareHashAndPassword([]byte(h), []byte(newPassword)) == nil {
			return &models.Error{Kind: models.KindInvalid, Code: "password_reused", Msg: "Choose a password you have not used recently.",
				Fields: map[string]string{"password.history": "Do not reuse any of your last 5 passwords."}}
		}
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(newPassword), a.Config.PasswordCost)
	if err != nil {
		return models.ErrInternal(err)
	}
	if err := a.Store.AddPasswordHistory(ctx, user.TenantID, user.ID, user.PasswordHash, a.Config.PasswordHistory); err != nil {
		return err
	}
	return a.Store.UpdateUserFields(ctx, user.TenantID, user.ID, map[string]any{
		"password_hash": string(hash), "password_changed_at": a.now(), "force_password_change": false,
	})
}

// ChangePassword changes the password (current one required) and ends every
// other session of the user.
func (a *Accounts) ChangePassword(ctx context.Context, p Principal, current, newPassword string, meta Meta) error {
	user, err := a.verifyPassword(ctx, p, current, meta)
	if err != nil {
		return err
	}
	return a.Store.InTx(ctx, func(ctx context.Context) error {
		if err := a.setPassword(ctx, user, newPassword); err != nil {
			return err
		}
		n, err := a.Store.RevokeUserSessions(ctx, p.TenantID, p.UserID, p.SessionID, true)
		if err != nil {
			return err
		}
		return a.auditTx(ctx, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditPasswordChanged, Meta: meta, Metadata: map[string]any{"sessions_revoked": n}})
	})
}

// ChangeRequiredPassword completes a forced password change started by
// Login; the login then continues (a second factor if one is on).
func (a *Accounts) ChangeRequiredPassword(ctx context.Context, challenge, newPassword string, meta Meta) (*LoginResult, error) {
	c, user, data, err := a.loadChallenge(ctx, challenge, models.ChallengePasswordChange)
	if err != nil {
		return nil, err
	}
	err = a.Store.InTx(ctx, func(ctx context.Context) error {
		ok, err := a.Store.ConsumeChallenge(ctx, c.ID)
		if err != nil {
			return err
		}
		if !ok {
			return models.NewError(models.KindUnauthenticated, "invalid_challenge", "This sign-in step was already completed.", nil)
		}
		if err := a.setPassword(ctx, user, newPassword); err != nil {
			return err
		}
		if _, err := a.Store.RevokeUserSessions(ctx, user.TenantID, user.ID, "", true); err != nil {
			return err
		}
		return a.auditTx(ctx, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditPasswordChanged, Meta: meta, Metadata: map[string]any{"forced": true}})
	})
	if err != nil {
		return nil, err
	}
	user, err = a.Store.GetUser(ctx, user.TenantID, user.ID)
	if err != nil {
		return nil, err
	}
	return a.afterPassword(ctx, user, data, meta)
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

// AuditPage is one page of the user's own activity, newest first.
type AuditPage struct {
	Items      []models.AuditLog
	NextCursor string
}

// MyActivity returns the user's audit events, newest first; cursor is the
// NextCursor of the previous page ("" for the first).
func (a *Accounts) MyActivity(ctx context.Context, p Principal, limit int, cursor string) (*AuditPage, error) {
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	var before time.Time
	var beforeID string
	if cursor != "" {
		ts, id, ok := strings.Cut(cursor, "_")
		t, err := time.Parse(time.RFC3339Nano, ts)
		if !ok || err != nil || id == "" {
			return nil, models.ErrInvalid(map[string]string{"cursor": "Use the next_cursor of the previous page."})
		}
		before, beforeID = t, id
	}
	items, err := a.Store.ListUserAuditLogs(ctx, p.TenantID, p.UserID, limit+1, before, beforeID)
	if err != nil {
		return nil, err
	}
	page := &AuditPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		last := page.Items[limit-1]
		page.NextCursor = last.CreatedAt.UTC().Format(time.RFC3339Nano) + "_" + last.ID
	}
	return page, nil
}

// ForgotPassword queues a reset code for an active account; it answers the
// same (nil) whether or not the account exists, and fast either way: the
// code and its e-mail are written in one transaction and the mail worker
// sends it (MailQueue), so no request waits on SMTP. 5 per hour per IP and
// account. Every request counts against the address's failure budget: a
// request never "succeeds" in a way the caller can see, and counting only
// unknown accounts would let the budget tell them apart.
func (a *Accounts) ForgotPassword(ctx context.Context, tenant, email string, meta Meta) error {
	at, err := a.beginAttempt(ctx, a.Config.ForgotLimit, meta.IP, accountKey(tenant, email))
	if err != nil {
		return err
	}
	at.failed(ctx)
	t, err := a.Store.GetTenantBySlug(ctx, strings.TrimSpace(tenant))
	if err != nil {
		return nil
	}
	user, err := a.Store.GetUserByEmail(ctx, t.ID, email)
	if err != nil || !user.IsActive {
		return nil
	}
	return a.Store.InTx(ctx, func(ctx context.Context) error { return a.sendEmailCode(ctx, user, "reset") })
}

// errBadResetCode is the one answer to every reset that does not carry a
// valid code: unknown tenant, unknown account, wrong, used or expired code.
func errBadResetCode() *models.Error {
	return models.NewError(models.KindUnauthenticated, "invalid_code", "The reset code is not correct or has expired.", nil)
}

// ResetPassword sets a new password with an e-mailed reset code and ends
// every session of the user. The code is verified before anything else is
// said about the request, so a known and an unknown account get the same
// answer (401 invalid_code) until the caller proves it holds the mailbox;
// only then does the password policy speak (422). A policy failure leaves
// the code usable (its attempt is counted): the change, the code's
// consumption and the audit row commit together or not at all.
func (a *Accounts) ResetPassword(ctx context.Context, tenant, email, code, newPassword string, meta Meta) error {
	l := a.Config.ForgotLimit
	l.Name = "reset"
	at, err := a.beginAttempt(ctx, l, meta.IP, accountKey(tenant, email))
	if err != nil {
		return err
	}
	err = a.resetPassword(ctx, tenant, email, code, newPassword, meta)
	at.finish(ctx, err)
	return err
}

func (a *Accounts) resetPassword(ctx context.Context, tenant, email, code, newPassword string, meta Meta) error {
	t, err := a.Store.GetTenantBySlug(ctx, strings.TrimSpace(tenant))
	if err != nil {
		if !models.IsKind(err, models.KindNotFound) {
			return err
		}
		return errBadResetCode()
	}
	user, err := a.Store.GetUserByEmail(ctx, t.ID, email)
	if err != nil {
		if !models.IsKind(err, models.KindNotFound) {
			return err
		}
		return errBadResetCode()
	}
	codeID, ok, err := a.verifyEmailCode(ctx, user, "reset", strings.TrimSpace(code))
	if err != nil {
		return err
	}
	if !ok {
		return errBadResetCode()
	}
	return a.Store.InTx(ctx, func(ctx context.Context) error {
		consumed, err := a.Store.ConsumeEmailCode(ctx, codeID)
		if err != nil {
			return err
		}
		if !consumed { // a concurrent reset used it first
			return errBadResetCode()
		}
		if err := a.setPassword(ctx, user, newPassword); err != nil {
			return err
		}
		if _, err := a.Store.RevokeUserSessions(ctx, user.TenantID, user.ID, "", true); err != nil {
			return err
		}
		return a.auditTx(ctx, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditPasswordChanged, Meta: meta, Metadata: map[string]any{"reset": true}})
	})
}

// verifyEmailCode claims one attempt of the latest code of purpose and
// compares it, without consuming it: the caller consumes it (by id) in the
// transaction of what the code allows.
func (a *Accounts) verifyEmailCode(ctx context.Context, user *models.User, purpose, code string) (string, bool, error) {
	c, err := a.Store.LatestEmailCode(ctx, user.TenantID, user.ID, purpose)
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			return "", false, nil
		}
		return "", false, err
	}
	ok, err := a.Store.ClaimEmailCodeAttempt(ctx, c.ID, a.Config.MaxCodeAttempts)
	if err != nil || !ok {
		return "", false, err
	}
	want := a.emailCodeHash(user.ID, purpose, code)
	if subtle.ConstantTimeCompare([]byte(want), []byte(c.CodeHash)) != 1 {
		return "", false, nil
	}
	return c.ID, true, nil
}

// EndBrowserSession signs a browser out: its cookie and the session behind
// it (with every token issued under it) end together.
func (a *Accounts) EndBrowserSession(ctx context.Context, cookieToken string, meta Meta) error {
	if cookieToken == "" {
		return nil
	}
	ls, err := a.Store.GetLoginSession(ctx, sha(cookieToken))
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			return nil
		}
		return err
	}
	return a.Store.InTx(ctx, func(ctx context.Context) error {
		if err := a.Store.DeleteLoginSession(ctx, ls.TokenHash); err != nil {
			return err
		}
		if ls.SessionID != nil {
			if err := a.Store.RevokeSession(ctx, ls.TenantID, ls.UserID, *ls.SessionID); err != nil && !models.IsKind(err, models.KindNotFound) {
				return err
			}
		}
		return a.auditTx(ctx, Event{TenantID: ls.TenantID, UserID: ls.UserID, Action: AuditLogout, Meta: meta, Metadata: map[string]any{"kind": "browser"}})
	})
}
