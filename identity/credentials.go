package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"time"

	"github.com/identityd/identityd/models"
	"golang.org/x/crypto/bcrypt"
)

// Sealer encrypts small secrets at rest and makes keyed hashes
// (keyring.Keyring implements it).
type Sealer interface {
	Seal(plaintext, additional []byte) ([]byte, error)
	Open(sealed, additional []byte) ([]byte, error)
	MAC(purpose string, parts ...[]byte) string
}

// AccountsConfig holds the tunables of account security.
type AccountsConfig struct {
	PasswordCost       int
	MaxFailedLogins    int
	LockoutDuration    time.Duration
	TokenTTL           time.Duration // first-party token, 24 h
	RememberTTL        time.Duration // with remember, 30 days
	BrowserTTL         time.Duration // browser login session
	BrowserRememberTTL time.Duration
	TrustDeviceTTL     time.Duration // 30 days
	ChallengeTTL       time.Duration
	MaxCodeAttempts    int // per challenge and per e-mail code
	EmailCodeTTL       time.Duration
	MaxPINFailures     int
	PINLockout         time.Duration
	PasswordHistory    int
	ActivityInterval   time.Duration
	LoginLimit         Limit
	TwoFactorLimit     Limit
	PINLimit           Limit
	ForgotLimit        Limit
	// IPFailureLimit is the per-IP budget of failed attempts, shared by
	// every account behind the address (successes do not count).
	IPFailureLimit Limit
	// ClientAuthFailureLimit is the budget of failed client authentications
	// (wrong client secrets at the token, introspection and revocation
	// endpoints) per client id and, apart, per IP.
	ClientAuthFailureLimit Limit
}

// DefaultAccountsConfig is the documented default policy.
func DefaultAccountsConfig() AccountsConfig {
	return AccountsConfig{
		PasswordCost: bcrypt.DefaultCost, MaxFailedLogins: 5, LockoutDuration: 15 * time.Minute,
		TokenTTL: 24 * time.Hour, RememberTTL: 30 * 24 * time.Hour,
		BrowserTTL: 24 * time.Hour, BrowserRememberTTL: 30 * 24 * time.Hour,
		TrustDeviceTTL: 30 * 24 * time.Hour, ChallengeTTL: 10 * time.Minute, MaxCodeAttempts: 5,
		EmailCodeTTL: 10 * time.Minute, MaxPINFailures: 5, PINLockout: 15 * time.Minute,
		PasswordHistory: 5, ActivityInterval: time.Minute,
		LoginLimit:     Limit{Name: "login", Rate: 5, Period: time.Minute},
		TwoFactorLimit: Limit{Name: "2fa", Rate: 5, Period: time.Minute},
		PINLimit:       Limit{Name: "pin", Rate: 5, Period: time.Minute},
		ForgotLimit:    Limit{Name: "forgot", Rate: 5, Period: time.Hour},
		// Issue 8: failure budgets.
		IPFailureLimit:         Limit{Name: "ipfail", Rate: 30, Period: time.Minute},
		ClientAuthFailureLimit: Limit{Name: "client_auth", Rate: 10, Period: time.Minute},
	}
}

// dummyHash is what an unknown account's password is compared against, so
// it costs the same bcrypt time as a wrong password.
func (a *Accounts) dummyHash() []byte {
	a.dummyOnce.Do(func() {
		a.dummy, _ = bcrypt.GenerateFromPassword([]byte("no such account: timing equaliser"), a.Config.PasswordCost)
	})
	return a.dummy
}

func sha(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// ErrLocked reports a locked account or PIN.
func ErrLocked(code, msg string, until time.Time, now time.Time) *models.Error {
	return &models.Error{Kind: models.KindLocked, Code: code, Msg: msg, RetryAfter: until.Sub(now)}
}

// onLocked records the lock and tells the user by e-mail.
func (a *Accounts) onLocked(ctx context.Context, user *models.User, until time.Time, meta Meta) {
	a.audit(ctx, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditLocked, Meta: meta, Metadata: map[string]any{"until": until}})
	a.mail(ctx, Message{To: user.Email, Subject: "Your account was locked",
		Text: fmt.Sprintf("Hello,\n\nAfter %d failed sign-in attempts your account was locked until %s UTC.\nIf this was not you, change your password when the lock ends.\n",
			a.Config.MaxFailedLogins, until.Format("2006-01-02 15:04"))})
}

func (a *Accounts) mail(ctx context.Context, m Message) {
	if a.Mailer == nil {
		return
	}
	if err := a.Mailer.Send(ctx, m); err != nil {
		a.log().ErrorContext(ctx, "send mail", "subject", m.Subject, "err", err)
	}
}
