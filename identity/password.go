package identity

import (
	"context"
	"fmt"
	"net/url"
	"strings"
	"unicode"

	"github.com/identityd/identityd/models"
)

// PasswordRule is one rule of the password policy.
type PasswordRule struct {
	Code string
	Msg  string
	fail func(pw, email string) bool
}

// MinPasswordLen is the shortest password the policy accepts.
const MinPasswordLen = 12

// maxPasswordBytes is what bcrypt reads.
const maxPasswordBytes = 72

func hasRune(s string, f func(rune) bool) bool { return strings.IndexFunc(s, f) >= 0 }

// PasswordRules is the policy: every rule is checked and every failure reported.
var PasswordRules = []PasswordRule{
	{"min_length", "Use at least 12 characters.", func(pw, _ string) bool { return len([]rune(pw)) < MinPasswordLen }},
	{"max_length", "Use at most 72 bytes.", func(pw, _ string) bool { return len(pw) > maxPasswordBytes }},
	{"uppercase", "Include an upper-case letter.", func(pw, _ string) bool { return !hasRune(pw, unicode.IsUpper) }},
	{"lowercase", "Include a lower-case letter.", func(pw, _ string) bool { return !hasRune(pw, unicode.IsLower) }},
	{"digit", "Include a digit.", func(pw, _ string) bool { return !hasRune(pw, unicode.IsDigit) }},
	{"special", "Include a special character (not a letter or digit).", func(pw, _ string) bool {
		return !hasRune(pw, func(r rune) bool { return !unicode.IsLetter(r) && !unicode.IsDigit(r) && !unicode.IsSpace(r) })
	}},
	{"contains_email", "Do not use your e-mail name inside the password.", func(pw, email string) bool {
		local, _, _ := strings.Cut(strings.ToLower(email), "@")
		return len(local) >= 3 && strings.Contains(strings.ToLower(pw), local)
	}},
}

// CheckPassword applies the policy; the error lists every failed rule as
// fields "password.<rule>" (422).
func CheckPassword(pw, email string) error {
	return CheckPasswordMin(pw, email, MinPasswordLen)
}

// CheckPasswordMin is CheckPassword with a tenant's minimum length
// (never below MinPasswordLen).
func CheckPasswordMin(pw, email string, minLen int) error {
	fields := map[string]string{}
	for _, r := range PasswordRules {
		if r.fail(pw, email) {
			fields["password."+r.Code] = r.Msg
		}
	}
	if minLen > MinPasswordLen && len([]rune(pw)) < minLen {
		fields["password.min_length"] = fmt.Sprintf("Use at least %d characters.", minLen)
	}
	if len(fields) == 0 {
		return nil
	}
	return models.ErrPasswordPolicy(fields)
}

// Password is a user's password: changing it, and forgetting and resetting
// it with an e-mailed code. (The forced change at login is Login's.)
type Password struct {
	*credentials
	tx       Tx
	revoker  SessionRevoker
	resetURL string
}

// PasswordDeps are what NewPassword needs; every field is required.
// Revoker ends the sessions a changed password ends.
type PasswordDeps struct {
	AccountDeps
	CredentialStores
	Tx      Tx
	Revoker SessionRevoker
	// ResetURL is the absolute URL of the reset page (the issuer's
	// /reset-password); the reset e-mail links to it with the code.
	ResetURL string
}

// NewPassword builds the password service.
func NewPassword(d PasswordDeps) (*Password, error) {
	c, err := newCredentials("NewPassword", d.CredentialStores, d.AccountDeps)
	if err != nil {
		return nil, err
	}
	if err := checkDeps("Password", dep{"Tx", d.Tx == nil}, dep{"Revoker", d.Revoker == nil}, dep{"ResetURL", d.ResetURL == ""}); err != nil {
		return nil, err
	}
	return &Password{credentials: c, tx: d.Tx, revoker: d.Revoker, resetURL: d.ResetURL}, nil
}

// newPasswordHash checks a new password against the policy and the
// history, and hashes it: every bcrypt run of a change (one per remembered
// password, and the new hash), before the transaction that stores it
// (storePassword), which would otherwise hold SQLite's one writer for
// seconds.
func (c *credentials) newPasswordHash(ctx context.Context, user *models.User, newPassword string) ([]byte, error) {
	if err := checkTenantPassword(ctx, c.users, user.TenantID, newPassword, user.Email); err != nil {
		return nil, err
	}
	history, err := c.counters.ListPasswordHistory(ctx, user.TenantID, user.ID, c.cfg.PasswordHistory)
	if err != nil {
		return nil, err
	}
	for _, h := range append([]string{user.PasswordHash}, history...) {
		reused, err := passwordMatches(ctx, []byte(h), newPassword)
		if err != nil {
			return nil, err
		}
		if reused {
			return nil, models.ErrPasswordReused(map[string]string{"password.history": "Do not reuse any of your last 5 passwords."})
		}
	}
	return hashPassword(ctx, newPassword, c.cfg.PasswordCost)
}

// storePassword stores a hash from newPasswordHash, keeps the old one in
// the history, and clears a forced change: in the caller's tx.
func (c *credentials) storePassword(ctx context.Context, user *models.User, hash []byte) error {
	if err := c.counters.AddPasswordHistory(ctx, user.TenantID, user.ID, user.PasswordHash, c.cfg.PasswordHistory); err != nil {
		return err
	}
	now := c.now()
	_, err := c.updater.UpdateUser(ctx, user.TenantID, user.ID, func(u *models.User) error {
		u.PasswordHash, u.PasswordChangedAt, u.ForcePasswordChange = string(hash), &now, false
		return nil
	})
	return err
}

// Change changes the password (current one required) and ends every
// other session of the user.
func (pw *Password) Change(ctx context.Context, p Principal, current, newPassword string, meta Meta) error {
	user, err := pw.verifyPassword(ctx, p, current, meta)
	if err != nil {
		return err
	}
	hash, err := pw.newPasswordHash(ctx, user, newPassword)
	if err != nil {
		return err
	}
	return pw.tx.InTx(ctx, func(ctx context.Context) error {
		if err := pw.storePassword(ctx, user, hash); err != nil {
			return err
		}
		n, err := pw.revoker.RevokeUserSessions(ctx, p.TenantID, p.UserID, p.SessionID, true)
		if err != nil {
			return err
		}
		return pw.audit.Record(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditPasswordChanged, Meta: meta, Metadata: map[string]any{"sessions_revoked": n},
			Publish: []string{EventPasswordChanged, EventSessionsRevoked}, Data: map[string]any{"reason": "password_changed", "kept_session_id": p.SessionID}})
	})
}

// Forgot queues a reset code for an active account; it answers the
// same (nil) whether or not the account exists, and fast either way: the
// code and its e-mail are written in one transaction and the mail worker
// sends it (MailQueue), so no request waits on SMTP. 5 per hour per IP and
// account. Every request counts against the address's failure budget: a
// request never "succeeds" in a way the caller can see, and counting only
// unknown accounts would let the budget tell them apart.
func (pw *Password) Forgot(ctx context.Context, tenant, email string, meta Meta) error {
	at, err := pw.beginAttempt(ctx, pw.cfg.ForgotLimit, meta.IP, accountKey(tenant, email))
	if err != nil {
		return err
	}
	at.failed(ctx)
	t, err := pw.users.GetTenantBySlug(ctx, strings.TrimSpace(tenant))
	if err != nil {
		return nil
	}
	user, err := pw.users.GetUserByEmail(ctx, t.ID, email)
	if err != nil || !user.IsActive {
		return nil
	}
	return pw.tx.InTx(ctx, func(ctx context.Context) error { return pw.sendResetCode(ctx, t.Slug, user) })
}

// sendResetCode creates a reset code and mails it as a password reset: a
// link to the reset page carrying the code, and the code for typing.
func (pw *Password) sendResetCode(ctx context.Context, tenantSlug string, user *models.User) error {
	code, err := pw.newEmailCode(ctx, user, "reset")
	if err != nil {
		return err
	}
	link := pw.resetURL + "?" + url.Values{"code": {code}, "tenant": {tenantSlug}, "email": {user.Email}}.Encode()
	pw.mail(ctx, Message{TenantID: user.TenantID, UserID: user.ID, To: user.Email, Subject: "Reset your password",
		Text: fmt.Sprintf("Someone asked to reset the password of your account %s.\n\n"+
			"To choose a new password, open this link:\n%s\n\n"+
			"Or enter this reset code on the password reset page: %s\n\n"+
			"The code expires in %d minutes and works once.\n"+
			"If you did not ask for this, ignore this e-mail: your password stays as it is.\n",
			user.Email, link, code, int(pw.cfg.EmailCodeTTL.Minutes()))})
	return nil
}

// errBadResetCode is the one answer to every reset that does not carry a
// valid code: unknown tenant, unknown account, wrong, used or expired code.
func errBadResetCode() *models.Error {
	return models.ErrInvalidCode().WithMessage("The reset code is not correct or has expired.")
}

// Reset sets a new password with an e-mailed reset code and ends
// every session of the user. The code is verified before anything else is
// said about the request, so a known and an unknown account get the same
// answer (401 invalid_code) until the caller proves it holds the mailbox;
// only then does the password policy speak (422). A policy failure leaves
// the code usable (its attempt is counted): the change, the code's
// consumption and the audit row commit together or not at all.
func (pw *Password) Reset(ctx context.Context, tenant, email, code, newPassword string, meta Meta) error {
	l := pw.cfg.ForgotLimit
	l.Name = "reset"
	at, err := pw.beginAttempt(ctx, l, meta.IP, accountKey(tenant, email))
	if err != nil {
		return err
	}
	err = pw.reset(ctx, tenant, email, code, newPassword, meta)
	at.finish(ctx, err)
	return err
}

func (pw *Password) reset(ctx context.Context, tenant, email, code, newPassword string, meta Meta) error {
	t, err := pw.users.GetTenantBySlug(ctx, strings.TrimSpace(tenant))
	if err != nil {
		if !models.IsKind(err, models.KindNotFound) {
			return err
		}
		return errBadResetCode()
	}
	user, err := pw.users.GetUserByEmail(ctx, t.ID, email)
	if err != nil {
		if !models.IsKind(err, models.KindNotFound) {
			return err
		}
		return errBadResetCode()
	}
	codeID, ok, err := pw.verifyEmailCode(ctx, user, "reset", strings.TrimSpace(code))
	if err != nil {
		return err
	}
	if !ok {
		return errBadResetCode()
	}
	hash, err := pw.newPasswordHash(ctx, user, newPassword)
	if err != nil {
		return err
	}
	return pw.tx.InTx(ctx, func(ctx context.Context) error {
		consumed, err := pw.codes.ConsumeEmailCode(ctx, codeID)
		if err != nil {
			return err
		}
		if !consumed { // a concurrent reset used it first
			return errBadResetCode()
		}
		if err := pw.storePassword(ctx, user, hash); err != nil {
			return err
		}
		if _, err := pw.revoker.RevokeUserSessions(ctx, user.TenantID, user.ID, "", true); err != nil {
			return err
		}
		return pw.audit.Record(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditPasswordChanged, Meta: meta, Metadata: map[string]any{"reset": true},
			Publish: []string{EventPasswordReset, EventSessionsRevoked}, Data: map[string]any{"reason": "password_reset"}})
	})
}

// TenantGetter reads a tenant (for its settings).
type TenantGetter interface {
	GetTenant(ctx context.Context, id string) (*models.Tenant, error)
}

// checkTenantPassword applies the policy with the tenant's password
// minimum (issue 10 §3): a tenant can only make it stricter.
func checkTenantPassword(ctx context.Context, tenants TenantGetter, tenantID, pw, email string) error {
	minLen := MinPasswordLen
	if tenants != nil {
		t, err := tenants.GetTenant(ctx, tenantID)
		if err != nil {
			return err
		}
		minLen = SettingsOf(t).PasswordMinLength
	}
	return CheckPasswordMin(pw, email, minLen)
}
