package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/models"
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

// AccountDeps are what the account services that check credentials (Login,
// Password, TwoFactor, PIN, StepUp) are built from besides their stores;
// each constructor names the ones it requires. One value serves them all.
type AccountDeps struct {
	// Limiter keeps the rate limits and failure budgets (shared through
	// Redis when configured).
	Limiter Limiter
	// Mailer sends the lock notices and e-mailed codes (the MailQueue).
	Mailer Mailer
	// Sealer seals TOTP secrets and keys the hashes of e-mailed and
	// recovery codes.
	Sealer Sealer
	// StepUps is where step-up flags live: a step-up done with the
	// password stands in for the password when a factor is enrolled.
	StepUps StepUpCache
	Config  AccountsConfig
	// Now is the clock; Log gets what cannot be returned (a failed mail,
	// a failed rate-limit reset, an audit row with no transaction).
	Now func() time.Time
	Log *slog.Logger
}

// UserLookup finds tenants and users.
type UserLookup interface {
	// GetTenantBySlug returns the tenant with that slug, or NotFound "tenant".
	GetTenantBySlug(ctx context.Context, slug string) (*models.Tenant, error)
	// GetTenant returns the tenant with that id, or NotFound "tenant".
	GetTenant(ctx context.Context, id string) (*models.Tenant, error)
	// GetUserByEmail returns the tenant's user with that e-mail address
	// (any case), or NotFound "user".
	GetUserByEmail(ctx context.Context, tenantID, email string) (*models.User, error)
	// GetUser returns the tenant's user with that id; an unknown id, or a
	// user of another tenant, is NotFound "user".
	GetUser(ctx context.Context, tenantID, id string) (*models.User, error)
}

// CounterStore keeps the atomic brute-force counters of a user's secrets
// and the password history. Each counter is one SQL statement, so
// concurrent requests cannot slip past a limit; each returns NotFound
// "user" for an unknown user.
type CounterStore interface {
	// RecordLoginFailure counts a wrong password and locks the account for
	// lockFor when the count reaches max; an expired lock restarts the
	// count, an active one is never extended. JustLocked is true for the
	// one failure that set the lock, however many race.
	RecordLoginFailure(ctx context.Context, tenantID, userID string, max int, lockFor time.Duration) (models.FailureResult, error)
	// ClearLoginFailures resets the count after a correct password, unless
	// the account is locked (by a concurrent failure too): false then, and
	// the caller must refuse.
	ClearLoginFailures(ctx context.Context, tenantID, userID string) (bool, error)
	// RecordPINFailure and ClearPINFailures are the same for the PIN.
	RecordPINFailure(ctx context.Context, tenantID, userID string, max int, lockFor time.Duration) (models.FailureResult, error)
	ClearPINFailures(ctx context.Context, tenantID, userID string) (bool, error)
	// ClaimTOTPStep records step as the last accepted TOTP step if it is
	// newer than the recorded one; false means a replay (the same code,
	// or an older one, already used, concurrently too).
	ClaimTOTPStep(ctx context.Context, tenantID, userID string, step int64) (bool, error)
	// ListPasswordHistory returns the user's newest n earlier password
	// hashes (none for an unknown user).
	ListPasswordHistory(ctx context.Context, tenantID, userID string, n int) ([]string, error)
	// AddPasswordHistory records a hash and keeps the newest keep.
	AddPasswordHistory(ctx context.Context, tenantID, userID, hash string, keep int) error
}

// CredentialStores are the stores behind the credential checks that
// Login, Password, TwoFactor, PIN and StepUp share (the user, the e-mailed
// and recovery codes, the counters and password history), and the Auditor
// that records what the checks see. Every field is required.
type CredentialStores struct {
	Users    UserLookup
	Updater  UserUpdater
	Codes    EmailCodeStore
	Recovery RecoveryCodeStore
	Counters CounterStore
	Auditor  Auditor
}

// credentials are the checks of a user's secrets that several account
// services share (the current password, a PIN, a second factor, the rate
// limits around them), with what they need. Each service holds its own;
// none calls another service.
type credentials struct {
	users    UserLookup
	updater  UserUpdater
	codes    EmailCodeStore
	recovery RecoveryCodeStore
	counters CounterStore
	audit    Auditor
	limiter  Limiter
	mailer   Mailer
	sealer   Sealer
	stepUps  StepUpCache
	cfg      AccountsConfig
	clock    func() time.Time
	log      *slog.Logger

	dummyOnce sync.Once
	dummy     []byte
}

// newCredentials checks the dependencies every credential check uses.
func newCredentials(ctor string, s CredentialStores, d AccountDeps) (*credentials, error) {
	if err := checkDeps(strings.TrimPrefix(ctor, "New"), dep{"Users", s.Users == nil}, dep{"Updater", s.Updater == nil},
		dep{"Codes", s.Codes == nil}, dep{"Recovery", s.Recovery == nil}, dep{"Counters", s.Counters == nil}, dep{"Auditor", s.Auditor.Store == nil},
		dep{"Limiter", d.Limiter == nil}, dep{"Mailer", d.Mailer == nil},
		dep{"Sealer", d.Sealer == nil}, dep{"Now", d.Now == nil}, dep{"Log", d.Log == nil}); err != nil {
		return nil, err
	}
	return &credentials{users: s.Users, updater: s.Updater, codes: s.Codes, recovery: s.Recovery, counters: s.Counters, audit: s.Auditor,
		limiter: d.Limiter, mailer: d.Mailer, sealer: d.Sealer, stepUps: d.StepUps, cfg: d.Config, clock: d.Now, log: d.Log}, nil
}

func (c *credentials) now() time.Time { return c.clock().UTC() }

// dummyHash is what an unknown account's password is compared against, so
// it costs the same bcrypt time as a wrong password.
func (c *credentials) dummyHash() []byte {
	c.dummyOnce.Do(func() {
		c.dummy, _ = bcrypt.GenerateFromPassword([]byte("no such account: timing equaliser"), c.cfg.PasswordCost)
	})
	return c.dummy
}

func sha(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// recordOutside writes an event that has no transaction to join (a failed
// attempt changes nothing else); a failure is logged, not returned, because
// what it records already happened. p is the zero Principal while nobody is
// signed in yet: the Auditor then names the event's subject.
//
// The audit row and its CloudEvents still commit together: when the audit
// writer runs transactions (storage does), both are written in one.
func (c *credentials) recordOutside(ctx context.Context, p Principal, ev Event) {
	record := func(ctx context.Context) error { return c.audit.Record(ctx, p, ev) }
	var err error
	if tx, ok := c.audit.Store.(Tx); ok {
		err = tx.InTx(ctx, record)
	} else {
		err = record(ctx)
	}
	if err != nil {
		c.log.ErrorContext(ctx, "write audit log", "action", ev.Action, "err", err)
	}
}

// onLocked records the lock and tells the user by e-mail.
func (c *credentials) onLocked(ctx context.Context, p Principal, user *models.User, until time.Time, meta Meta) {
	c.recordOutside(ctx, p, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditLocked, Meta: meta, Metadata: map[string]any{"until": until}})
	c.mail(ctx, Message{TenantID: user.TenantID, UserID: user.ID, To: user.Email, Subject: "Your account was locked",
		Text: fmt.Sprintf("Hello,\n\nAfter %d failed sign-in attempts your account was locked until %s UTC.\nIf this was not you, change your password when the lock ends.\n",
			c.cfg.MaxFailedLogins, until.Format("2006-01-02 15:04"))})
}

func (c *credentials) mail(ctx context.Context, m Message) {
	if err := c.mailer.Send(ctx, m); err != nil {
		c.log.ErrorContext(ctx, "send mail", "subject", m.Subject, "err", err)
	}
}
