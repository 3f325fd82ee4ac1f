package identity

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// Audit actions of e-mail verification; their metadata names addresses and
// purposes, never a token or a code. A completed change of address is
// AuditUserEmailChanged (by "self").
const (
	AuditEmailVerified        = "user.email_verified"
	AuditEmailChangeRequested = "user.email_change_requested"
)

// Defaults of EmailVerificationConfig.
const (
	// DefaultEmailVerificationTTL is how long a link and its code work
	// (IDENTITY_EMAIL_VERIFICATION_TTL).
	DefaultEmailVerificationTTL = 24 * time.Hour
	// DefaultEmailVerificationMaxAttempts is how many codes one message
	// allows to be tried.
	DefaultEmailVerificationMaxAttempts = 5
)

// EmailVerificationStore is what EmailVerification needs of the pending
// verifications: one per (tenant, user, purpose), replaced by each new
// message, code attempts claimed and the use consumed in one statement
// each. now is the service's clock.
type EmailVerificationStore interface {
	// ReplaceEmailVerification stores v (a fresh id) as the pending
	// verification of its (tenant, user, purpose), replacing an earlier
	// one with its attempts, in the transaction of ctx if any.
	ReplaceEmailVerification(ctx context.Context, v *models.EmailVerification) error
	// GetEmailVerificationByTokenHash returns the verification of a link,
	// whatever its state, or NotFound "email_verification".
	GetEmailVerificationByTokenHash(ctx context.Context, hash string) (*models.EmailVerification, error)
	// ClaimEmailVerificationAttempts takes one code attempt (at most max)
	// of every live verification of the tenant for the address and
	// returns them; of any number of racers at most max claim each.
	ClaimEmailVerificationAttempts(ctx context.Context, tenantID, email string, max int, now time.Time) ([]models.EmailVerification, error)
	// ConsumeEmailVerification marks the live verification used; false
	// when it was used, expired or replaced. Of racers one wins.
	ConsumeEmailVerification(ctx context.Context, id string, now time.Time) (bool, error)
}

// EmailVerificationConfig tunes EmailVerification; zero values take the
// defaults.
type EmailVerificationConfig struct {
	TTL         time.Duration
	MaxAttempts int
	// SendLimit bounds the messages per address (a resend, a change of
	// address); VerifyLimit the verification attempts per IP and, for
	// codes, per address.
	SendLimit   Limit
	VerifyLimit Limit
}

// DefaultEmailVerificationConfig is the configuration without overrides.
func DefaultEmailVerificationConfig() EmailVerificationConfig {
	return EmailVerificationConfig{TTL: DefaultEmailVerificationTTL, MaxAttempts: DefaultEmailVerificationMaxAttempts,
		SendLimit:   Limit{Rate: 5, Period: time.Hour},
		VerifyLimit: Limit{Rate: 30, Period: 15 * time.Minute}}
}

// EmailVerification proves that a user holds their e-mail address (issue 10
// §2), and changes a user's address only once the new one is proved.
//
// A message carries a link (/verify-email?token=…: a 256-bit random token
// from crypto/rand, stored only as a keyed hash) and a 6-digit code for
// apps (stored as a keyed hash bound to the tenant, user, purpose and
// address). Both work once, for TTL; the code for at most MaxAttempts
// tries, claimed atomically before each comparison, as one-time codes are.
// A new message for the same user and purpose replaces the pending one.
//
// Who may ask: anyone with the link; anyone with the tenant, the address
// and the code (one answer, invalid_code, whatever was wrong, so the code
// route tells nothing about accounts); the signed-in user for a new
// message, or anyone for the tenant and address, answered the same
// whether or not there is such an unverified account.
//
// One rule for every address: an address set without proof is unverified
// (setEmail). An administrator's change, the CLI and the admin API create
// unverified addresses; a verification, an accepted invitation (the link
// went to the address) or a confirmed change of address set it verified.
type EmailVerification struct {
	*credentials
	store   EmailVerificationStore
	tx      Tx
	cfg     EmailVerificationConfig
	pageURL string
	// override is a clock set by SetClock (tests); nil: credentials' clock.
	override atomic.Pointer[func() time.Time]
}

// EmailVerificationDeps are what NewEmailVerification needs; Config is
// optional. The credential stores re-check the password of a change of
// address with the lockout every password check counts towards.
type EmailVerificationDeps struct {
	AccountDeps
	CredentialStores
	Store EmailVerificationStore
	Tx    Tx
	// Issuer is the public base URL the link is built on.
	Issuer string
	Config EmailVerificationConfig
}

// NewEmailVerification checks d and returns the service.
func NewEmailVerification(d EmailVerificationDeps) (*EmailVerification, error) {
	c, err := newCredentials("NewEmailVerification", d.CredentialStores, d.AccountDeps)
	if err != nil {
		return nil, err
	}
	if err := checkDeps("EmailVerification", dep{"Store", d.Store == nil}, dep{"Tx", d.Tx == nil}, dep{"Issuer", d.Issuer == ""}); err != nil {
		return nil, err
	}
	cfg, def := d.Config, DefaultEmailVerificationConfig()
	if cfg.TTL <= 0 {
		cfg.TTL = def.TTL
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = def.MaxAttempts
	}
	if cfg.SendLimit == (Limit{}) {
		cfg.SendLimit = def.SendLimit
	}
	if cfg.VerifyLimit == (Limit{}) {
		cfg.VerifyLimit = def.VerifyLimit
	}
	cfg.SendLimit.Name, cfg.VerifyLimit.Name = "email_verification_send", "email_verification_verify"
	return &EmailVerification{credentials: c, store: d.Store, tx: d.Tx, cfg: cfg,
		pageURL: strings.TrimRight(d.Issuer, "/") + "/verify-email"}, nil
}

// SetClock replaces the service's clock (tests move it past an expiry).
func (s *EmailVerification) SetClock(now func() time.Time) { s.override.Store(&now) }

func (s *EmailVerification) now() time.Time {
	if f := s.override.Load(); f != nil {
		return (*f)().UTC()
	}
	return s.credentials.now()
}

// TTL is how long a new link and code work.
func (s *EmailVerification) TTL() time.Duration { return s.cfg.TTL }

// emailVerificationMAC is the keyring purpose of the codes' hashes.
const emailVerificationMAC = "identity/email-verification-code/v1"

func (s *EmailVerification) tokenHash(token string) string {
	return s.sealer.MAC(keyring.PurposeLookup, []byte("email-verification"), []byte(token))
}

func (s *EmailVerification) codeHash(v *models.EmailVerification, code string) string {
	return s.sealer.MAC(emailVerificationMAC, []byte(v.TenantID), []byte(v.UserID), []byte(v.Purpose), []byte(v.NewEmail), []byte(code))
}

// VerifyURL is the page link of a token.
func (s *EmailVerification) VerifyURL(token string) string {
	return s.pageURL + "?token=" + url.QueryEscape(token)
}

// setEmail is the one way a user's address or its verified flag changes
// (TestEmailIsSetOnlyThroughSetEmail keeps it so): an address set without
// proof is unverified; proven says the holder of the mailbox confirmed it.
func setEmail(u *models.User, email string, proven bool) {
	u.Email, u.EmailVerified = email, proven
}

// emailVerifiedForSignIn is the one rule of the tenant setting
// allow_unverified_sign_in, asked by every sign-in path (Login): a user
// whose address is unverified may sign in only where the tenant allows it.
func emailVerifiedForSignIn(t *models.Tenant, u *models.User) error {
	if u.EmailVerified || SettingsOf(t).AllowUnverifiedSignIn {
		return nil
	}
	return models.ErrEmailNotVerified()
}

// StartVerification sends the user the verification message of their
// current address (a link and a code), replacing a pending one; nothing
// when the address is already verified. Sign-up calls it for a new user;
// the message and its row commit together (the mailer is the outbox, which
// joins the transaction of ctx).
func (s *EmailVerification) StartVerification(ctx context.Context, tenantID, userID string) error {
	u, err := s.users.GetUser(ctx, tenantID, userID)
	if err != nil {
		return err
	}
	if u.EmailVerified {
		return nil
	}
	return s.send(ctx, u, models.EmailVerificationSignup, u.Email)
}

// send stores a new verification of address for u and mails its link and
// code there, in one transaction.
func (s *EmailVerification) send(ctx context.Context, u *models.User, purpose, address string) error {
	token, err := keyring.RandomToken(32)
	if err != nil {
		return models.ErrInternal(fmt.Errorf("e-mail verification token: %w", err))
	}
	code, err := randomDigits(6)
	if err != nil {
		return models.ErrInternal(fmt.Errorf("e-mail verification code: %w", err))
	}
	v := &models.EmailVerification{TenantID: u.TenantID, UserID: u.ID, Purpose: purpose,
		NewEmail: strings.ToLower(strings.TrimSpace(address)), TokenHash: s.tokenHash(token), ExpiresAt: s.now().Add(s.cfg.TTL)}
	v.CodeHash = s.codeHash(v, code)
	company := s.tenantName(ctx, u.TenantID)
	return s.tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.ReplaceEmailVerification(ctx, v); err != nil {
			return err
		}
		m := verificationMessage(u.TenantID, u.ID, v.NewEmail, company, purpose, s.VerifyURL(token), code, s.cfg.TTL)
		if err := s.mailer.Send(ctx, m); err != nil {
			return models.ErrInternal(fmt.Errorf("e-mail verification: queue e-mail: %w", err))
		}
		return nil
	})
}

func (s *EmailVerification) tenantName(ctx context.Context, tenantID string) string {
	if t, err := s.users.GetTenant(ctx, tenantID); err == nil && t.Name != "" {
		return t.Name
	}
	return "your organisation"
}

// ResendMine sends the signed-in user a new message for their own address;
// false (nothing sent) when it is already verified. At most SendLimit per
// user.
func (s *EmailVerification) ResendMine(ctx context.Context, p Principal, meta Meta) (bool, error) {
	u, err := s.users.GetUser(ctx, p.TenantID, p.UserID)
	if err != nil {
		return false, err
	}
	if u.EmailVerified {
		return false, nil
	}
	if err := s.limit(ctx, s.cfg.SendLimit, accountKey(u.TenantID, u.Email)); err != nil {
		return false, err
	}
	return true, s.send(ctx, u, models.EmailVerificationSignup, u.Email)
}

// Resend sends a new message to the address when it belongs to an active,
// unverified user of the tenant; it answers nil either way (only the rate
// limits speak: SendLimit per tenant and address, VerifyLimit per IP), so
// it tells nothing about accounts.
func (s *EmailVerification) Resend(ctx context.Context, tenant, email string, meta Meta) error {
	fields := map[string]string{}
	if strings.TrimSpace(tenant) == "" {
		fields["tenant"] = "Required."
	}
	email = checkEmail(fields, email)
	if len(fields) > 0 {
		return models.ErrInvalid(fields)
	}
	if err := s.limit(ctx, s.cfg.VerifyLimit, "ip:"+meta.IP); err != nil {
		return err
	}
	if err := s.limit(ctx, s.cfg.SendLimit, accountKey(tenant, email)); err != nil {
		return err
	}
	t, err := s.users.GetTenantBySlug(ctx, strings.TrimSpace(tenant))
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			return nil
		}
		return err
	}
	u, err := s.users.GetUserByEmail(ctx, t.ID, email)
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			return nil
		}
		return err
	}
	if u.EmailVerified || !u.IsActive {
		return nil
	}
	return s.send(ctx, u, models.EmailVerificationSignup, u.Email)
}

// VerifyEmailInput is a verification: Token (the link's), or Tenant, Email
// (the address the message went to) and Code.
type VerifyEmailInput struct {
	Token  string
	Tenant string
	Email  string
	Code   string
	Meta   Meta
}

// VerifiedEmail is a completed verification.
type VerifiedEmail struct {
	User *models.User
	// Purpose is models.EmailVerificationSignup or models.EmailVerificationChange.
	Purpose    string
	TenantSlug string
}

// EmailVerificationLookup is what the holder of a link may see of it.
type EmailVerificationLookup struct {
	Email      string
	Purpose    string
	TenantName string
	TenantSlug string
	// Status is "pending", "used" or "expired".
	Status string
}

func errVerificationLink() *models.Error {
	return models.ErrNotFound("email_verification").WithMessage(
		"This link is not valid. It may have been replaced by a newer one: use the latest e-mail, or ask for a new link.")
}

func errVerificationCode() *models.Error {
	return models.ErrInvalidCode().WithMessage("The code is not correct or is no longer valid. Ask for a new e-mail.")
}

func (s *EmailVerification) byToken(ctx context.Context, token string) (*models.EmailVerification, error) {
	token = strings.TrimSpace(token)
	if token == "" || len(token) > 100 {
		return nil, errVerificationLink()
	}
	v, err := s.store.GetEmailVerificationByTokenHash(ctx, s.tokenHash(token))
	if models.IsKind(err, models.KindNotFound) {
		return nil, errVerificationLink()
	}
	return v, err
}

func (s *EmailVerification) status(v *models.EmailVerification) string {
	switch {
	case v.UsedAt != nil:
		return "used"
	case !s.now().Before(v.ExpiresAt):
		return "expired"
	}
	return "pending"
}

func stateOfLink(status string) error {
	switch status {
	case "used":
		return models.ErrEmailVerificationUsed()
	case "expired":
		return models.ErrEmailVerificationExpired()
	}
	return nil
}

// Lookup describes the verification of a link without using it (the page
// shows it before the person confirms): an unknown token is NotFound.
func (s *EmailVerification) Lookup(ctx context.Context, token string) (*EmailVerificationLookup, error) {
	v, err := s.byToken(ctx, token)
	if err != nil {
		return nil, err
	}
	out := &EmailVerificationLookup{Email: v.NewEmail, Purpose: v.Purpose, Status: s.status(v)}
	if t, err := s.users.GetTenant(ctx, v.TenantID); err == nil {
		out.TenantName, out.TenantSlug = t.Name, t.Slug
	}
	return out, nil
}

// Verify completes a verification by its link's token, or by the tenant,
// address and code. Every attempt counts against VerifyLimit (per IP, and
// per address for codes). A link that is used or expired says so; a code
// that is wrong, used, expired, replaced or out of attempts is one answer
// (invalid_code). Of concurrent verifications of one message one succeeds.
func (s *EmailVerification) Verify(ctx context.Context, in VerifyEmailInput) (*VerifiedEmail, error) {
	in.Token, in.Code = strings.TrimSpace(in.Token), strings.TrimSpace(in.Code)
	switch {
	case in.Token != "" && (in.Code != "" || in.Email != ""):
		return nil, models.ErrInvalid(map[string]string{"token": "Send either the token of the link, or tenant, email and code."})
	case in.Token == "":
		fields := map[string]string{}
		if strings.TrimSpace(in.Tenant) == "" {
			fields["tenant"] = "Required with a code."
		}
		if addr := checkEmail(fields, in.Email); addr != "" {
			in = VerifyEmailInput{Tenant: in.Tenant, Email: addr, Code: in.Code, Meta: in.Meta}
		}
		if !sixDigits(in.Code) {
			fields["code"] = "Use the 6 digits of the code."
		}
		if len(fields) > 0 {
			return nil, models.ErrInvalid(fields)
		}
	}
	if err := s.limit(ctx, s.cfg.VerifyLimit, "ip:"+in.Meta.IP); err != nil {
		return nil, err
	}
	if in.Token != "" {
		v, err := s.byToken(ctx, in.Token)
		if err != nil {
			return nil, err
		}
		if err := stateOfLink(s.status(v)); err != nil {
			return nil, err
		}
		return s.apply(ctx, v, in.Meta, func() error {
			cur, err := s.store.GetEmailVerificationByTokenHash(ctx, v.TokenHash)
			if err != nil {
				return errVerificationLink()
			}
			if err := stateOfLink(s.status(cur)); err != nil {
				return err
			}
			return models.ErrEmailVerificationUsed()
		})
	}
	if err := s.limit(ctx, s.cfg.VerifyLimit, accountKey(in.Tenant, in.Email)); err != nil {
		return nil, err
	}
	t, err := s.users.GetTenantBySlug(ctx, strings.TrimSpace(in.Tenant))
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			return nil, errVerificationCode()
		}
		return nil, err
	}
	rows, err := s.store.ClaimEmailVerificationAttempts(ctx, t.ID, in.Email, s.cfg.MaxAttempts, s.now())
	if err != nil {
		return nil, err
	}
	for k := range rows {
		v := &rows[k]
		if subtle.ConstantTimeCompare([]byte(s.codeHash(v, in.Code)), []byte(v.CodeHash)) == 1 {
			// Another verification of the same message may win the race to
			// consume it: the same answer as a wrong code.
			return s.apply(ctx, v, in.Meta, func() error { return errVerificationCode() })
		}
	}
	return nil, errVerificationCode()
}

// apply consumes v and applies it, in one transaction with its audit rows:
// a sign-up verification marks the address verified (if it is still the
// user's); a change replaces the address, verified, unless another user
// of the tenant has it by now (409 email_taken: the one who proved the
// new mailbox learns it), and tells the old address. lost answers a
// verification that another one consumed first.
func (s *EmailVerification) apply(ctx context.Context, v *models.EmailVerification, meta Meta, lost func() error) (*VerifiedEmail, error) {
	out := &VerifiedEmail{Purpose: v.Purpose}
	var notice *Message
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		notice = nil
		ok, err := s.store.ConsumeEmailVerification(ctx, v.ID, s.now())
		if err != nil {
			return err
		}
		if !ok {
			return lost()
		}
		u, err := s.users.GetUser(ctx, v.TenantID, v.UserID)
		if err != nil {
			return err
		}
		ev := Event{TenantID: u.TenantID, UserID: u.ID, Action: AuditEmailVerified, Meta: meta,
			Metadata: map[string]any{"purpose": v.Purpose, "email": v.NewEmail}}
		switch v.Purpose {
		case models.EmailVerificationChange:
			other, err := s.users.GetUserByEmail(ctx, u.TenantID, v.NewEmail)
			if err != nil && !models.IsKind(err, models.KindNotFound) {
				return err
			}
			if other != nil && other.ID != u.ID {
				return models.ErrEmailTaken().WithMessage("Another account of this organisation uses that address by now, so your address was not changed.")
			}
			old := u.Email
			if u, err = s.updater.UpdateUser(ctx, u.TenantID, u.ID, func(row *models.User) error {
				setEmail(row, v.NewEmail, true)
				return nil
			}); err != nil {
				if models.IsKind(err, models.KindConflict) {
					return models.ErrEmailTaken().WithMessage("Another account of this organisation uses that address by now, so your address was not changed.")
				}
				return err
			}
			if err := s.audit.Record(ctx, Principal{}, Event{TenantID: u.TenantID, UserID: u.ID, Action: AuditUserEmailChanged, Meta: meta,
				Metadata: map[string]any{"old_email": old, "new_email": u.Email, "by": "self", "old_address_notified": true},
				Data:     mergeData(userData(u), map[string]any{"fields": []string{"email", "email_verified"}})}); err != nil {
				return err
			}
			m := changedMessage(u.TenantID, u.ID, old, s.tenantName(ctx, u.TenantID), u.Email)
			notice = &m
		default:
			if !strings.EqualFold(u.Email, v.NewEmail) {
				// The address changed since the message was sent: this link
				// proves an address the account no longer has.
				return errVerificationLink()
			}
			if !u.EmailVerified {
				if u, err = s.updater.UpdateUser(ctx, u.TenantID, u.ID, func(row *models.User) error {
					setEmail(row, row.Email, true)
					return nil
				}); err != nil {
					return err
				}
			}
		}
		out.User = u
		ev.Data = userData(u)
		if notice != nil {
			if err := s.mailer.Send(ctx, *notice); err != nil {
				return models.ErrInternal(fmt.Errorf("e-mail change: queue notice: %w", err))
			}
		}
		return s.audit.Record(ctx, Principal{}, ev)
	})
	if err != nil {
		return nil, err
	}
	if t, err := s.users.GetTenant(ctx, out.User.TenantID); err == nil {
		out.TenantSlug = t.Slug
	}
	return out, nil
}

// RequestChange starts a change of the signed-in user's address: the
// password is re-checked (throttled, and a wrong one counts towards the
// lockout, as every password check does), then the new address gets a
// link and a code and the old one a notice; the address changes only when
// the new one is proved (Verify). When another user of the tenant already
// has the new address, the answer is the same (nothing tells the caller),
// no verification is made, and the new address is told instead that it is
// already in use; a race that makes it taken later is refused at Verify.
// At most SendLimit per user.
func (s *EmailVerification) RequestChange(ctx context.Context, p Principal, newEmail, password string, meta Meta) error {
	fields := map[string]string{}
	email := checkEmail(fields, newEmail)
	if password == "" {
		fields["password"] = "Required: your current password."
	}
	if len(fields) > 0 {
		return models.ErrInvalid(fields)
	}
	user, err := s.verifyPassword(ctx, p, password, meta)
	if err != nil {
		return err
	}
	if strings.EqualFold(email, user.Email) {
		return models.ErrInvalid(map[string]string{"email": "This is already your address."})
	}
	if err := s.limit(ctx, s.cfg.SendLimit, "change:"+user.TenantID+":"+user.ID); err != nil {
		return err
	}
	existing, err := s.users.GetUserByEmail(ctx, user.TenantID, email)
	if err != nil && !models.IsKind(err, models.KindNotFound) {
		return err
	}
	company := s.tenantName(ctx, user.TenantID)
	return s.tx.InTx(ctx, func(ctx context.Context) error {
		if existing == nil {
			if err := s.send(ctx, user, models.EmailVerificationChange, email); err != nil {
				return err
			}
		} else if err := s.mailer.Send(ctx, inUseMessage(existing.TenantID, existing.ID, email, company)); err != nil {
			return models.ErrInternal(fmt.Errorf("e-mail change: queue notice: %w", err))
		}
		if err := s.mailer.Send(ctx, changingMessage(user.TenantID, user.ID, user.Email, company, email)); err != nil {
			return models.ErrInternal(fmt.Errorf("e-mail change: queue notice: %w", err))
		}
		// The metadata never says whether the address was taken: the user
		// reads their own audit trail (GET /api/audit/me).
		return s.audit.Record(ctx, p, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditEmailChangeRequested, Meta: meta,
			Metadata: map[string]any{"new_email": email}})
	})
}

// lifetimeText writes a lifetime for people: "24 hours", "2 days",
// "1 hour", else as one-time codes do ("30 minutes").
func lifetimeText(d time.Duration) string {
	switch {
	case d >= 48*time.Hour && d%(24*time.Hour) == 0:
		return fmt.Sprintf("%d days", d/(24*time.Hour))
	case d == time.Hour:
		return "1 hour"
	case d > time.Hour && d%time.Hour == 0:
		return fmt.Sprintf("%d hours", d/time.Hour)
	}
	return otpTTLText(d)
}

// verificationMessage is the e-mail with the link and the code.
func verificationMessage(tenantID, userID, to, company, purpose, link, code string, ttl time.Duration) Message {
	intro := fmt.Sprintf("Please confirm that this is your e-mail address for your account at %s.", company)
	subject := "Confirm your e-mail address"
	ignore := "If you did not create an account, ignore this e-mail."
	if purpose == models.EmailVerificationChange {
		intro = fmt.Sprintf("Someone asked to use this address (%s) for their account at %s. If it was you, confirm it.", to, company)
		subject = "Confirm your new e-mail address"
		ignore = "If you did not ask for this, ignore this e-mail: nothing changes."
	}
	return Message{TenantID: tenantID, UserID: userID, To: to, Subject: subject, Text: fmt.Sprintf("Hello,\n\n%s\n\n"+
		"Open this link and press the button on the page:\n%s\n\n"+
		"Or, in the app, enter this code: %s\n\n"+
		"The link and the code work once and expire in %s.\n%s\n", intro, link, code, lifetimeText(ttl), ignore)}
}

// changingMessage tells the old address that a change was asked for.
func changingMessage(tenantID, userID, to, company, newEmail string) Message {
	return Message{TenantID: tenantID, UserID: userID, To: to, Subject: "Your e-mail address is being changed", Text: fmt.Sprintf("Hello,\n\n"+
		"Someone signed in to your account at %s asked to change its e-mail address to %s.\n"+
		"The change happens only once the new address is confirmed from a message sent to it.\n\n"+
		"If this wasn't you, change your password now and sign out of your other sessions; "+
		"then tell your administrator.\n", company, newEmail)}
}

// changedMessage tells the old address that the change is done.
func changedMessage(tenantID, userID, to, company, newEmail string) Message {
	return Message{TenantID: tenantID, UserID: userID, To: to, Subject: "Your e-mail address was changed", Text: fmt.Sprintf("Hello,\n\n"+
		"The e-mail address of your account at %s was changed from %s to %s.\n"+
		"Messages about your account now go to the new address.\n\n"+
		"If this wasn't you, contact your administrator at once.\n", company, to, newEmail)}
}

// inUseMessage tells an address that someone tried to move another account
// onto it.
func inUseMessage(tenantID, userID, to, company string) Message {
	return Message{TenantID: tenantID, UserID: userID, To: to, Subject: "Someone tried to use your e-mail address", Text: fmt.Sprintf("Hello,\n\n"+
		"Someone asked to change the e-mail address of an account at %s to this address (%s).\n"+
		"This address already has an account there, so nothing was changed.\n\n"+
		"If you did not ask for this, you can ignore this e-mail: your account is unchanged.\n", company, to)}
}
