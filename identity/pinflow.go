package identity

import (
	"context"
	"fmt"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/models"
)

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

// PINLoginInput is a quick login with the PIN from a device the user signed
// in on with the password.
type PINLoginInput struct {
	Tenant      string
	Email       string
	PIN         string
	DeviceToken string
	Meta        Meta
}

// LoginWithPIN signs in with the PIN; it needs the device token of a device
// where the user signed in with the password before.
func (a *Accounts) LoginWithPIN(ctx context.Context, in PINLoginInput) (*LoginResult, error) {
	at, err := a.beginAttempt(ctx, a.Config.PINLimit, in.Meta.IP, accountKey(in.Tenant, in.Email))
	if err != nil {
		return nil, err
	}
	res, err := a.loginWithPIN(ctx, in)
	at.finish(ctx, err)
	return res, err
}

func (a *Accounts) loginWithPIN(ctx context.Context, in PINLoginInput) (*LoginResult, error) {
	bad := models.NewError(models.KindUnauthenticated, "invalid_credentials", "The PIN is not correct, or this device cannot sign in with a PIN.", nil)
	tenant, err := a.Store.GetTenantBySlug(ctx, strings.TrimSpace(in.Tenant))
	if err != nil {
		_ = bcrypt.CompareHashAndPassword(a.dummyHash(), []byte(in.PIN))
		return nil, bad
	}
	user, err := a.Store.GetUserByEmail(ctx, tenant.ID, in.Email)
	if err != nil || !user.IsActive || user.PINHash == "" || in.DeviceToken == "" {
		_ = bcrypt.CompareHashAndPassword(a.dummyHash(), []byte(in.PIN))
		return nil, bad
	}
	device, err := a.Store.GetDeviceByToken(ctx, user.TenantID, user.ID, sha(in.DeviceToken))
	if err != nil {
		_ = bcrypt.CompareHashAndPassword(a.dummyHash(), []byte(in.PIN))
		return nil, bad
	}
	if user.Locked(a.now()) {
		return nil, ErrLocked("account_locked", "This account is locked after too many failed sign-in attempts. Try again later.", *user.LockedUntil, a.now())
	}
	if err := a.comparePIN(ctx, user, in.PIN, in.Meta); err != nil {
		return nil, err
	}
	a.audit(ctx, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditPINVerified, Meta: in.Meta, Metadata: map[string]any{"purpose": "login"}})
	return a.complete(ctx, user, challengeData{DeviceID: device.ID, AMR: []string{"pin"}, AuthTime: a.now().UnixNano()}, false, in.Meta)
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
