package identity

import (
	"context"
	"fmt"

	"github.com/identityd/identityd/models"
)

// CheckPIN applies the PIN rules: exactly 6 digits, not an ascending or
// descending run (123456, 654321, 345678), not one digit repeated (000000).
func CheckPIN(pin string) error {
	bad := func(code, msg string) error {
		return models.ErrPINPolicy(map[string]string{"pin." + code: msg})
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

// PINStore is what PIN needs from storage besides the credential checks.
type PINStore interface {
	// UnlockPIN lifts the user's PIN lock and clears its failure count;
	// NotFound "user" for an unknown user.
	UnlockPIN(ctx context.Context, tenantID, userID string) error
}

// PIN is a signed-in user's PIN: setting or changing it, checking it for a
// quick re-authentication, and lifting its lock with the password. (Signing
// in with a PIN is Login.WithPIN.)
type PIN struct {
	*credentials
	tx   Tx
	pins PINStore
}

// PINDeps are what NewPIN needs; every field is required.
type PINDeps struct {
	AccountDeps
	CredentialStores
	Tx   Tx
	PINs PINStore
}

// NewPIN builds the PIN service.
func NewPIN(d PINDeps) (*PIN, error) {
	c, err := newCredentials("NewPIN", d.CredentialStores, d.AccountDeps)
	if err != nil {
		return nil, err
	}
	if err := checkDeps("PIN", dep{"StepUps", d.StepUps == nil}, dep{"Tx", d.Tx == nil}, dep{"PINs", d.PINs == nil}); err != nil {
		return nil, err
	}
	return &PIN{credentials: c, tx: d.Tx, pins: d.PINs}, nil
}

// Set sets or changes the PIN. Either needs the current password (or a
// step-up with it in this session): the old PIN alone is not enough, since a
// PIN is itself a factor that can step up.
func (n *PIN) Set(ctx context.Context, p Principal, pin, password string, meta Meta) error {
	if err := CheckPIN(pin); err != nil {
		return err
	}
	user, err := n.proveForFactorChange(ctx, p, password, meta)
	if err != nil {
		return err
	}
	action := AuditPINSet
	if user.PINHash != "" {
		action = AuditPINChanged
	}
	hash, err := hashPassword(ctx, pin, n.cfg.PasswordCost)
	if err != nil {
		return err
	}
	return n.tx.InTx(ctx, func(ctx context.Context) error {
		if _, err := n.updater.UpdateUser(ctx, p.TenantID, p.UserID, func(u *models.User) error {
			u.PINHash, u.PINFailed, u.PINLockedUntil, u.PINSessionID = string(hash), 0, nil, p.SessionID
			return nil
		}); err != nil {
			return err
		}
		return n.audit.Record(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: action, Meta: meta})
	})
}

// Verify checks the PIN for quick re-authentication.
func (n *PIN) Verify(ctx context.Context, p Principal, pin string, meta Meta) error {
	at, err := n.beginAttempt(ctx, n.cfg.PINLimit, meta.IP, "user:"+p.UserID)
	if err != nil {
		return err
	}
	user, err := n.users.GetUser(ctx, p.TenantID, p.UserID)
	if err != nil {
		return err
	}
	if err := n.comparePIN(ctx, p, user, pin, meta); err != nil {
		at.failed(ctx)
		return err
	}
	at.succeeded(ctx)
	n.recordOutside(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditPINVerified, Meta: meta})
	return nil
}

// Unlock lifts a PIN lock early with the password.
func (n *PIN) Unlock(ctx context.Context, p Principal, password string, meta Meta) error {
	u, err := n.verifyPassword(ctx, p, password, meta)
	if err != nil {
		return err
	}
	return n.tx.InTx(ctx, func(ctx context.Context) error {
		if err := n.pins.UnlockPIN(ctx, p.TenantID, p.UserID); err != nil {
			return err
		}
		return n.audit.Record(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditPINUnlocked, Meta: meta,
			Data: mergeData(userData(u), map[string]any{"lock": "pin"})})
	})
}

// comparePIN checks a PIN against the user's, counting failures in one SQL
// statement and locking the PIN at MaxPINFailures.
func (c *credentials) comparePIN(ctx context.Context, p Principal, user *models.User, pin string, meta Meta) error {
	now := c.now()
	if user.PINHash == "" {
		return models.ErrPINNotSet()
	}
	if user.PINLockedUntil != nil && now.Before(*user.PINLockedUntil) {
		return models.ErrPINLocked(user.PINLockedUntil.Sub(now))
	}
	match := false
	if len(pin) <= maxPasswordBytes {
		var err error
		if match, err = passwordMatches(ctx, []byte(user.PINHash), pin); err != nil {
			return err
		}
	}
	if !match {
		res, err := c.counters.RecordPINFailure(ctx, user.TenantID, user.ID, c.cfg.MaxPINFailures, c.cfg.PINLockout)
		if err != nil {
			return err
		}
		c.recordOutside(ctx, p, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditPINFailed, Meta: meta, Metadata: map[string]any{"failures": res.Failures}})
		if res.JustLocked {
			c.recordOutside(ctx, p, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditPINLocked, Meta: meta, Metadata: map[string]any{"until": res.LockedUntil}})
			c.mail(ctx, Message{TenantID: user.TenantID, UserID: user.ID, To: user.Email, Subject: "Your PIN was locked",
				Text: fmt.Sprintf("Hello,\n\nAfter %d wrong PIN entries your PIN was locked until %s UTC.\nYou can unlock it early with your password.\n", c.cfg.MaxPINFailures, res.LockedUntil.Format("2006-01-02 15:04"))})
		}
		return models.ErrInvalidPIN()
	}
	ok, err := c.counters.ClearPINFailures(ctx, user.TenantID, user.ID)
	if err != nil {
		return err
	}
	if !ok {
		return models.ErrPINLocked(c.cfg.PINLockout)
	}
	return nil
}
