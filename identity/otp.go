package identity

import (
	"context"
	"crypto/subtle"
	"fmt"
	"log/slog"
	"time"

	"github.com/identityd/identityd/models"
)

// Audit actions of one-time codes. Their metadata names the purpose (and
// the channel), never the code.
const (
	AuditOTPGenerated = "otp.generated"
	AuditOTPVerified  = "otp.verified"
	AuditOTPFailed    = "otp.failed"
)

// OTPChannelEmail delivers a one-time code by e-mail, through the outbox.
const OTPChannelEmail = "email"

// OneTimeCodeStore is what OneTimeCodes needs from storage. The pending
// code of a (tenant, user, purpose) is one row; attempts are claimed and
// the code consumed in one statement each.
type OneTimeCodeStore interface {
	// GetUser returns the tenant's user; another tenant's user, or a
	// malformed id, is NotFound "user".
	GetUser(ctx context.Context, tenantID, id string) (*models.User, error)
	// ReplaceOneTimeCode stores c (giving it a fresh id) as the one pending
	// code of its (tenant, user, purpose), replacing an earlier code with
	// its attempts, in the transaction of ctx if any.
	ReplaceOneTimeCode(ctx context.Context, c *models.OneTimeCode) error
	// ClaimOneTimeCodeAttempt takes one of at most max attempts of the live
	// pending code and returns it (CodeHash, Attempts); NotFound
	// "one_time_code" when there is none, it is used or expired, or its
	// attempts are spent. Of any number of racers at most max succeed.
	ClaimOneTimeCodeAttempt(ctx context.Context, tenantID, userID, purpose string, max int) (*models.OneTimeCode, error)
	// ConsumeOneTimeCode marks the live code with that id used; false when
	// it already was, expired, or was replaced. Of racers one wins.
	ConsumeOneTimeCode(ctx context.Context, id string) (bool, error)
}

// OneTimeCodesConfig tunes OneTimeCodes; zero values take the defaults.
type OneTimeCodesConfig struct {
	// TTL is how long a code works (default 5 minutes, seed 001).
	TTL time.Duration
	// MaxAttempts is how many verifications one code allows (default 5).
	MaxAttempts int
	// GenerateLimit bounds new codes per (user, purpose); CallerLimit new
	// codes per caller (a user or a service account), whatever the user;
	// VerifyLimit verification attempts per user, whatever the purpose.
	GenerateLimit Limit
	CallerLimit   Limit
	VerifyLimit   Limit
}

// Defaults of OneTimeCodesConfig.
const (
	DefaultOTPTTL         = 5 * time.Minute
	DefaultOTPMaxAttempts = 5
)

// DefaultOneTimeCodesConfig is the configuration without overrides.
func DefaultOneTimeCodesConfig() OneTimeCodesConfig {
	return OneTimeCodesConfig{
		TTL: DefaultOTPTTL, MaxAttempts: DefaultOTPMaxAttempts,
		GenerateLimit: Limit{Rate: 5, Period: 15 * time.Minute},
		CallerLimit:   Limit{Rate: 300, Period: time.Minute},
		VerifyLimit:   Limit{Rate: 30, Period: 15 * time.Minute},
	}
}

// OneTimeCodes generates and verifies short-lived codes for other services
// (seed 001: "generate and verify, 5-minute TTL"): a service confirms a
// payment or a sensitive change by having Identity mail the user a code
// and then asking Identity whether the code the user typed is right.
//
// Who may ask:
//   - a signed-in user (first-party user token), for themself only;
//   - a service account (its client-credentials token or an API key)
//     holding identity.otp.send (generate) or identity.otp.verify
//     (verify), for a user of its own tenant named by id (another
//     tenant's user is NotFound).
//
// The permissions act only for service accounts: a user who holds them
// (the Owner and Admin roles do, so that they may grant them to a service
// account) still asks only for themself.
//
// A code is 6 digits from crypto/rand, bound to (tenant, user, purpose),
// works once, for TTL, for at most MaxAttempts verifications claimed
// atomically, and is stored as a keyed hash; a new code for the same
// (user, purpose) replaces the pending one. A failed verification never
// says whether the code was wrong, expired, used or replaced.
type OneTimeCodes struct {
	store   OneTimeCodeStore
	tx      Tx
	audit   Auditor
	keys    KeyedHasher
	mail    Mailer
	limiter Limiter
	cfg     OneTimeCodesConfig
	now     func() time.Time
	log     *slog.Logger
}

// OneTimeCodesDeps are what NewOneTimeCodes needs; Config, Now and Log are
// optional.
type OneTimeCodesDeps struct {
	Store   OneTimeCodeStore
	Tx      Tx
	Auditor Auditor
	// Keys makes the keyed hash a code is stored as (keyring.Keyring).
	Keys KeyedHasher
	// Mailer sends the e-mail channel's message (the outbox: it joins the
	// transaction that stores the code).
	Mailer  Mailer
	Limiter Limiter
	Config  OneTimeCodesConfig
	Now     func() time.Time
	Log     *slog.Logger
}

// NewOneTimeCodes checks d and returns the service.
func NewOneTimeCodes(d OneTimeCodesDeps) (*OneTimeCodes, error) {
	if err := checkDeps("OneTimeCodes", dep{"Store", d.Store == nil}, dep{"Tx", d.Tx == nil}, dep{"Auditor", d.Auditor.Store == nil},
		dep{"Keys", d.Keys == nil}, dep{"Mailer", d.Mailer == nil}, dep{"Limiter", d.Limiter == nil}); err != nil {
		return nil, err
	}
	cfg, def := d.Config, DefaultOneTimeCodesConfig()
	if cfg.TTL <= 0 {
		cfg.TTL = def.TTL
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = def.MaxAttempts
	}
	cfg.GenerateLimit.Name, cfg.CallerLimit.Name, cfg.VerifyLimit.Name = "otp_generate", "otp_caller", "otp_verify"
	return &OneTimeCodes{store: d.Store, tx: d.Tx, audit: d.Auditor, keys: d.Keys, mail: d.Mailer, limiter: d.Limiter,
		cfg: cfg, now: clockOr(d.Now), log: logOr(d.Log)}, nil
}

// TTL is how long a new code works.
func (s *OneTimeCodes) TTL() time.Duration { return s.cfg.TTL }

// GenerateOTP asks for a new code.
type GenerateOTP struct {
	// Purpose is what the code confirms: 1 to 64 of a-z, 0-9 and _ . : -
	Purpose string
	// UserID is the user the code is for: required for a service account;
	// a user may leave it empty or name themself.
	UserID string
	// Channel is how the code reaches the user: "email" (the default and,
	// for now, the only one).
	Channel string
}

// IssuedOTP is what Generate reports: never the code.
type IssuedOTP struct {
	UserID    string
	Purpose   string
	Channel   string
	ExpiresAt time.Time
	// TTL is the code's lifetime from its generation.
	TTL time.Duration
}

// VerifyOTP asks whether code is the user's pending code for purpose.
type VerifyOTP struct {
	Purpose string
	Code    string
	UserID  string
}

// otpMACPurpose is the keyring purpose of code hashes.
const otpMACPurpose = "identity/one-time-code/v1"

// ValidOTPPurpose reports whether p is a purpose: a short token of
// lower-case letters, digits and _ . : - (1 to 64 bytes).
func ValidOTPPurpose(p string) bool {
	if len(p) == 0 || len(p) > 64 {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !('a' <= c && c <= 'z' || '0' <= c && c <= '9' || c == '_' || c == '.' || c == ':' || c == '-') {
			return false
		}
	}
	return true
}

const otpPurposeRule = "Use 1 to 64 lower-case letters, digits, or _ . : -"

// Generate makes a code for the user and sends it by the channel,
// replacing the user's pending code of that purpose. The code, its e-mail
// and the audit row commit together.
func (s *OneTimeCodes) Generate(ctx context.Context, a Actor, in GenerateOTP) (*IssuedOTP, error) {
	fields := map[string]string{}
	if !ValidOTPPurpose(in.Purpose) {
		fields["purpose"] = otpPurposeRule + "."
	}
	if in.Channel == "" {
		in.Channel = OTPChannelEmail
	}
	if in.Channel != OTPChannelEmail {
		fields["channel"] = `Use "email".`
	}
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	user, err := s.subject(ctx, a, in.UserID, PermOTPSend)
	if err != nil {
		return nil, err
	}
	if err := s.allow(ctx, s.cfg.CallerLimit, a.Kind+":"+a.TenantID+":"+a.UserID); err != nil {
		return nil, err
	}
	if err := s.allow(ctx, s.cfg.GenerateLimit, user.TenantID+":"+user.ID+":"+in.Purpose); err != nil {
		return nil, err
	}
	code, err := randomDigits(6)
	if err != nil {
		return nil, models.ErrInternal(fmt.Errorf("one-time code: %w", err))
	}
	row := &models.OneTimeCode{TenantID: user.TenantID, UserID: user.ID, Purpose: in.Purpose,
		CodeHash: s.hash(user.TenantID, user.ID, in.Purpose, code), ExpiresAt: s.now().Add(s.cfg.TTL)}
	err = s.tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.ReplaceOneTimeCode(ctx, row); err != nil {
			return err
		}
		if err := s.mail.Send(ctx, otpMessage(user, in.Purpose, code, s.cfg.TTL)); err != nil {
			return models.ErrInternal(fmt.Errorf("one-time code: queue e-mail: %w", err))
		}
		return s.audit.Record(ctx, a.Principal, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditOTPGenerated, Meta: a.Meta,
			Metadata: map[string]any{"purpose": in.Purpose, "channel": in.Channel, "expires_at": row.ExpiresAt}})
	})
	if err != nil {
		return nil, err
	}
	return &IssuedOTP{UserID: user.ID, Purpose: in.Purpose, Channel: in.Channel, ExpiresAt: row.ExpiresAt, TTL: s.cfg.TTL}, nil
}

// Verify checks code against the user's pending code for purpose and, when
// it matches, consumes it. Every verification takes one of the code's
// attempts first (atomically), so at most MaxAttempts comparisons of one
// code ever happen and at most one verification succeeds however many
// race. A wrong, expired, used, replaced or exhausted code is one answer:
// ErrInvalidCode.
func (s *OneTimeCodes) Verify(ctx context.Context, a Actor, in VerifyOTP) error {
	fields := map[string]string{}
	if !ValidOTPPurpose(in.Purpose) {
		fields["purpose"] = otpPurposeRule + "."
	}
	if !sixDigits(in.Code) {
		fields["code"] = "Use the 6 digits of the code."
	}
	if len(fields) > 0 {
		return models.ErrInvalid(fields)
	}
	user, err := s.subject(ctx, a, in.UserID, PermOTPVerify)
	if err != nil {
		return err
	}
	if err := s.allow(ctx, s.cfg.VerifyLimit, user.TenantID+":"+user.ID); err != nil {
		return err
	}
	fail := func(attempt int) error {
		md := map[string]any{"purpose": in.Purpose}
		if attempt > 0 {
			md["attempt"] = attempt
		}
		if err := s.audit.Record(ctx, a.Principal, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditOTPFailed, Meta: a.Meta, Metadata: md}); err != nil {
			return err
		}
		return errInvalidOTP()
	}
	pending, err := s.store.ClaimOneTimeCodeAttempt(ctx, user.TenantID, user.ID, in.Purpose, s.cfg.MaxAttempts)
	if models.IsKind(err, models.KindNotFound) {
		return fail(0)
	}
	if err != nil {
		return err
	}
	want := s.hash(user.TenantID, user.ID, in.Purpose, in.Code)
	if subtle.ConstantTimeCompare([]byte(want), []byte(pending.CodeHash)) != 1 {
		return fail(pending.Attempts)
	}
	consumed := false
	err = s.tx.InTx(ctx, func(ctx context.Context) error {
		ok, err := s.store.ConsumeOneTimeCode(ctx, pending.ID)
		if err != nil || !ok {
			return err
		}
		consumed = true
		return s.audit.Record(ctx, a.Principal, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditOTPVerified, Meta: a.Meta,
			Metadata: map[string]any{"purpose": in.Purpose, "attempt": pending.Attempts}})
	})
	if err != nil {
		return err
	}
	if !consumed {
		// Another verification of the same code won the race, or it was
		// replaced or expired between the claim and now.
		return fail(pending.Attempts)
	}
	return nil
}

// subject is the user a code is for, after the caller rule (see
// OneTimeCodes): a user for themself; a service account with perm for a
// user of its tenant.
func (s *OneTimeCodes) subject(ctx context.Context, a Actor, userID, perm string) (*models.User, error) {
	if a.ActorID != "" {
		return nil, ErrImpersonationForbidden()
	}
	switch a.Kind {
	case models.PrincipalUser, "":
		if userID != "" && userID != a.UserID {
			return nil, models.ErrForbidden("").WithMessage("A user may ask for one-time codes only for themself; another user's codes are a service's (with " + perm + ").")
		}
		return s.store.GetUser(ctx, a.TenantID, a.UserID)
	case models.PrincipalServiceAccount:
		if !a.Perms.Has(perm) {
			return nil, models.ErrForbidden(perm)
		}
		if userID == "" {
			return nil, models.ErrInvalid(map[string]string{"user_id": "Name the user the code is for."})
		}
		user, err := s.store.GetUser(ctx, a.TenantID, userID)
		if err != nil {
			return nil, err
		}
		if !user.IsActive {
			return nil, models.ErrUserInactive()
		}
		return user, nil
	default:
		return nil, models.ErrPrincipalNotAllowed()
	}
}

func (s *OneTimeCodes) allow(ctx context.Context, l Limit, key string) error {
	if l.Rate <= 0 || l.Period <= 0 {
		return nil
	}
	ok, retry, err := s.limiter.Allow(ctx, l.Name+":"+key, l)
	if err != nil {
		return models.ErrInternal(fmt.Errorf("rate limit %s: %w", l.Name, err))
	}
	if !ok {
		return models.ErrRateLimited(retry)
	}
	return nil
}

// hash is the keyed hash a code is stored as, bound to its tenant, user and
// purpose.
func (s *OneTimeCodes) hash(tenantID, userID, purpose, code string) string {
	return s.keys.MAC(otpMACPurpose, []byte(tenantID), []byte(userID), []byte(purpose), []byte(code))
}

func errInvalidOTP() *models.Error {
	return models.ErrInvalidCode().WithMessage("The code is not correct or is no longer valid. Ask for a new code.")
}

func sixDigits(code string) bool {
	if len(code) != 6 {
		return false
	}
	for i := 0; i < len(code); i++ {
		if code[i] < '0' || code[i] > '9' {
			return false
		}
	}
	return true
}

// otpMessage is the e-mail of a code: what it is for, how long it works,
// and what to do when it was not asked for.
func otpMessage(user *models.User, purpose, code string, ttl time.Duration) Message {
	return Message{TenantID: user.TenantID, UserID: user.ID, To: user.Email, Subject: "Your one-time code",
		Text: fmt.Sprintf("Hello,\n\nYour one-time code is %s.\n\n"+
			"It was requested to confirm this action: %s\n"+
			"It expires in %s and works only once.\n\n"+
			"If you did not ask for this code, ignore this message. Never share the code with anyone.\n",
			code, purpose, otpTTLText(ttl))}
}

// otpTTLText writes a lifetime for people: "5 minutes", "1 minute", "30 seconds".
func otpTTLText(d time.Duration) string {
	plural := func(n int64, unit string) string {
		if n == 1 {
			return "1 " + unit
		}
		return fmt.Sprintf("%d %ss", n, unit)
	}
	if d >= time.Minute && d%time.Minute == 0 {
		return plural(int64(d/time.Minute), "minute")
	}
	return plural(int64((d+time.Second-1)/time.Second), "second")
}
