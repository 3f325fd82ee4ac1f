package identity

import (
	"context"
	"fmt"

	"github.com/identityd/identityd/models"
	"golang.org/x/crypto/bcrypt"
)

// CheckPIN applies the PIN rules: exactly 6 digits, not an ascending or
// descending run (123456, 654321, 345678), not one digit repeated (000000).
func CheckPIN(pin string) error {
	bad := func(code, msg string) error {
		return &models.Error{Kind: models.KindInvalid, Code: "pin_policy", Msg: "The PIN does not meet the rules.", Fields: map[string]string{"pin." + code: msg}}
	}
	if len(pin) != 6 {
		return bad("length", "Use exactly 6 digits.")
	}
	for _, r := range pin {
		if r < '0' || r > '9' {
			return bad("digits", "Use digits only.")
		}
	}
	asc, desc, same := true, true, true
	for i := 1; i < len(pin); i++ {
		d := int(pin[i]) - int(pin[i-1])
		asc = asc && d == 1
		desc = desc && d == -1
		same = same && d == 0
	}
	switch {
	case same:
		return bad("repeated", "Do not repeat one digit.")
	case asc, desc:
		return bad("sequence", "Do not use a run of consecutive digits.")
	}
	return nil
}

// SetPIN sets or changes the PIN. Either needs the current password (or a
// step-up with it in this session): the old PIN alone is not enough, since a
// PIN is itself a factor that can step up.
func (a *Accounts) SetPIN(ctx context.Context, p Principal, pin, password string, meta Meta) error {
	if err := CheckPIN(pin); err != nil {
		return err
	}
	user, err := a.proveForFactorChange(ctx, p, password, meta)
	if err != nil {
		return err
	}
	action := AuditPINSet
	if user.PINHash != "" {
		action = AuditPINChanged
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(pin), a.Config.PasswordCost)
	if err != nil {
		return models.ErrInternal(err)
	}
	return a.Store.InTx(ctx, func(ctx context.Context) error {
		if err := a.Store.UpdateUserFields(ctx, p.TenantID, p.UserID, map[string]any{"pin_hash": string(hash), "pin_failed": 0, "pin_locked_until": nil, "pin_session_id": nullable(p.SessionID)}); err != nil {
			return err
		}
		return a.auditTx(ctx, Event{TenantID: p.TenantID, UserID: p.UserID, Action: action, Meta: meta})
	})
}

// VerifyPIN checks the PIN for quick re-authentication.
func (a *Accounts) VerifyPIN(ctx context.Context, p Principal, pin string, meta Meta) error {
	at, err := a.beginAttempt(ctx, a.Config.PINLimit, meta.IP, "user:"+p.UserID)
	if err != nil {
		return err
	}
	user, err := a.Store.GetUser(ctx, p.TenantID, p.UserID)
	if err != nil {
		return err
	}
	if err := a.comparePIN(ctx, user, pin, meta); err != nil {
		at.failed(ctx)
		return err
	}
	at.succeeded(ctx)
	a.audit(ctx, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditPINVerified, Meta: meta})
	return nil
}

// UnlockPIN lifts a PIN lock early with the password.
func (a *Accounts) UnlockPIN(ctx context.Context, p Principal, password string, meta Meta) error {
	if _, err := a.verifyPassword(ctx, p, password, meta); err != nil {
		return err
	}
	return a.Store.InTx(ctx, func(ctx context.Context) error {
		if err := a.Store.UnlockPIN(ctx, p.TenantID, p.UserID); err != nil {
			return err
		}
		return a.auditTx(ctx, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditPINUnlocked, Meta: meta})
	})
}

// comparePIN checks a PIN against the user's, counting failures in one SQL
// statement and locking the PIN at MaxPINFailures.
func (a *Accounts) comparePIN(ctx context.Context, user *models.User, pin string, meta Meta) error {
	now := a.now()
	if user.PINHash == "" {
		return models.NewError(models.KindConflict, "pin_not_set", "No PIN is set.", nil)
	}
	if user.PINLockedUntil != nil && now.Before(*user.PINLockedUntil) {
		return ErrLocked("pin_locked", "The PIN is locked after too many wrong tries. Unlock it with your password or wait.", *user.PINLockedUntil, now)
	}
	if len(pin) > maxPasswordBytes || bcrypt.CompareHashAndPassword([]byte(user.PINHash), []byte(pin)) != nil {
		res, err := a.Store.RecordPINFailure(ctx, user.TenantID, user.ID, a.Config.MaxPINFailures, a.Config.PINLockout)
		if err != nil {
			return err
		}
		a.audit(ctx, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditPINFailed, Meta: meta, Metadata: map[string]any{"failures": res.Failures}})
		if res.JustLocked {
			a.audit(ctx, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditPINLocked, Meta: meta, Metadata: map[string]any{"until": res.LockedUntil}})
			a.mail(ctx, Message{To: user.Email, Subject: "Your PIN was locked",
				Text: fmt.Sprintf("Hello,\n\nAfter %d wrong PIN entries your PIN was locked until %s UTC.\nYou can unlock it early with your password.\n", a.Config.MaxPINFailures, res.LockedUntil.Format("2006-01-02 15:04"))})
		}
		return models.NewError(models.KindUnauthenticated, "invalid_pin", "The PIN is not correct.", nil)
	}
	ok, err := a.Store.ClearPINFailures(ctx, user.TenantID, user.ID)
	if err != nil {
		return err
	}
	if !ok {
		return ErrLocked("pin_locked", "The PIN is locked after too many wrong tries. Unlock it with your password or wait.", now.Add(a.Config.PINLockout), now)
	}
	return nil
}
