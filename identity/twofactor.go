package identity

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// TOTP parameters (RFC 6238): 6 digits, 30 s steps, SHA-1, ±1 step.
const (
	totpPeriod    = 30
	totpSkew      = 1
	recoveryCount = 8
)

var totpOpts = totp.ValidateOpts{Period: totpPeriod, Skew: 0, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

func errInvalidCode() *models.Error {
	return models.ErrInvalidCode()
}

// EmailCodeStore keeps the e-mailed one-time codes (second factor,
// password reset), stored as keyed hashes.
type EmailCodeStore interface {
	// CreateEmailCode stores a new code and retires the user's earlier
	// unused codes of the same purpose; it gives c its id.
	CreateEmailCode(ctx context.Context, c *models.EmailCode) error
	// LatestEmailCode returns the user's live (unexpired, unused) code for
	// purpose, or NotFound "email_code".
	LatestEmailCode(ctx context.Context, tenantID, userID, purpose string) (*models.EmailCode, error)
	// ClaimEmailCodeAttempt takes one of the code's max attempts before the
	// caller compares, in one statement (UPDATE … WHERE attempts < max):
	// false when they are spent, so no more than max comparisons ever
	// happen, however many requests race.
	ClaimEmailCodeAttempt(ctx context.Context, id string, max int) (bool, error)
	// ConsumeEmailCode marks the code used; false if it already was (a
	// concurrent request won).
	ConsumeEmailCode(ctx context.Context, id string) (bool, error)
}

// RecoveryCodeStore keeps a user's recovery codes, stored as keyed hashes.
type RecoveryCodeStore interface {
	// ReplaceRecoveryCodes drops the user's codes and stores hashes (none:
	// the user has no codes left).
	ReplaceRecoveryCodes(ctx context.Context, tenantID, userID string, hashes []string) error
	// ClaimRecoveryCode marks the user's unused code with that hash used,
	// in one statement; false if there is no such unused code (wrong, or
	// claimed by a concurrent request).
	ClaimRecoveryCode(ctx context.Context, tenantID, userID, hash string) (bool, error)
	// CountRecoveryCodes returns how many unused codes the user has (0 for
	// an unknown user).
	CountRecoveryCodes(ctx context.Context, tenantID, userID string) (int, error)
}

// TwoFactor is the second factor of a signed-in user: TOTP set-up and
// confirmation, e-mailed codes, recovery codes, and turning it off.
type TwoFactor struct {
	*credentials
	tx     Tx
	issuer string
}

// TwoFactorDeps are what NewTwoFactor needs; every field is required.
type TwoFactorDeps struct {
	AccountDeps
	CredentialStores
	Tx Tx
	// Issuer names this service in authenticator apps.
	Issuer string
}

// NewTwoFactor builds the second-factor service.
func NewTwoFactor(d TwoFactorDeps) (*TwoFactor, error) {
	c, err := newCredentials("NewTwoFactor", d.CredentialStores, d.AccountDeps)
	if err != nil {
		return nil, err
	}
	if err := checkDeps("TwoFactor", dep{"StepUps", d.StepUps == nil}, dep{"Tx", d.Tx == nil}, dep{"Issuer", d.Issuer == ""}); err != nil {
		return nil, err
	}
	return &TwoFactor{credentials: c, tx: d.Tx, issuer: d.Issuer}, nil
}

// checkSecondFactor verifies a recovery code, or a TOTP or e-mail code.
func (c *credentials) checkSecondFactor(ctx context.Context, user *models.User, code, recovery string) (string, bool, error) {
	if strings.TrimSpace(recovery) != "" {
		ok, err := c.recovery.ClaimRecoveryCode(ctx, user.TenantID, user.ID, c.recoveryHash(user.ID, recovery))
		return "recovery_code", ok, err
	}
	code = strings.TrimSpace(code)
	switch {
	case user.TOTPEnabled:
		ok, err := c.checkTOTP(ctx, user, user.TOTPSecretSealed, code, true)
		return "totp", ok, err
	case user.Email2FAEnabled:
		ok, err := c.checkEmailCode(ctx, user, "2fa", code)
		return "email", ok, err
	}
	return "none", false, nil
}

// checkTOTP compares code with the codes of the current step and one either
// side, in constant time; with claim, the matching step is recorded
// atomically so a code is accepted once.
func (c *credentials) checkTOTP(ctx context.Context, user *models.User, sealed []byte, code string, claim bool) (bool, error) {
	if len(sealed) == 0 || len(code) != 6 {
		return false, nil
	}
	secret, err := c.sealer.Open(sealed, []byte("totp:"+user.ID))
	if err != nil {
		return false, models.ErrInternal(fmt.Errorf("open totp secret: %w", err))
	}
	step := c.now().Unix() / totpPeriod
	for off := int64(-totpSkew); off <= totpSkew; off++ {
		s := step + off
		want, err := totp.GenerateCodeCustom(string(secret), time.Unix(s*totpPeriod, 0), totpOpts)
		if err != nil {
			return false, models.ErrInternal(err)
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			if !claim {
				return true, nil
			}
			return c.counters.ClaimTOTPStep(ctx, user.TenantID, user.ID, s)
		}
	}
	return false, nil
}

// TOTPSetup is a new authenticator secret, shown once.
type TOTPSetup struct {
	Secret     string `json:"secret"`
	OTPAuthURI string `json:"otpauth_uri"`
	QRCode     string `json:"qr_code"` // data:image/png;base64,…
}

// SetupTOTP creates a pending TOTP secret (sealed at rest) for the user to
// scan; EnableTOTP confirms it. Both need the current password (or a
// step-up with it in this session).
func (t *TwoFactor) SetupTOTP(ctx context.Context, p Principal, password string, meta Meta) (*TOTPSetup, error) {
	user, err := t.proveForFactorChange(ctx, p, password, meta)
	if err != nil {
		return nil, err
	}
	if user.TOTPEnabled {
		return nil, models.Err2FAAlreadyEnabled().WithMessage("Two-factor authentication is already on. Turn it off first.")
	}
	key, err := newTOTPKey(t.issuer, user, "")
	if err != nil {
		return nil, models.ErrInternal(err)
	}
	sealed, err := t.sealer.Seal([]byte(key.Secret()), []byte("totp:"+user.ID))
	if err != nil {
		return nil, models.ErrInternal(err)
	}
	if _, err := t.updater.UpdateUser(ctx, p.TenantID, p.UserID, func(u *models.User) error {
		u.TOTPPendingSealed = sealed
		return nil
	}); err != nil {
		return nil, err
	}
	return totpSetupOf(key)
}

// EnableTOTP confirms the pending secret with a code from it, turns 2FA on
// and returns the recovery codes, shown once.
func (t *TwoFactor) EnableTOTP(ctx context.Context, p Principal, code, password string, meta Meta) ([]string, error) {
	user, err := t.proveForFactorChange(ctx, p, password, meta)
	if err != nil {
		return nil, err
	}
	if user.TOTPEnabled {
		return nil, models.Err2FAAlreadyEnabled()
	}
	if len(user.TOTPPendingSealed) == 0 {
		return nil, models.Err2FANotSetUp()
	}
	ok, err := t.checkTOTP(ctx, user, user.TOTPPendingSealed, strings.TrimSpace(code), true)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errInvalidCode()
	}
	codes, hashes, err := t.newRecoveryCodes(user.ID)
	if err != nil {
		return nil, err
	}
	err = t.tx.InTx(ctx, func(ctx context.Context) error {
		if _, err := t.updater.UpdateUser(ctx, p.TenantID, p.UserID, func(u *models.User) error {
			u.TOTPEnabled, u.TOTPSecretSealed, u.TOTPPendingSealed = true, user.TOTPPendingSealed, nil
			u.TOTPSessionID = p.SessionID
			return nil
		}); err != nil {
			return err
		}
		if err := t.recovery.ReplaceRecoveryCodes(ctx, p.TenantID, p.UserID, hashes); err != nil {
			return err
		}
		return t.audit.Record(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: Audit2FAEnabled, Meta: meta, Metadata: map[string]any{"method": "totp"}})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// Disable turns 2FA off (TOTP and e-mail codes); it needs the
// password and a current code (or a recovery code).
func (t *TwoFactor) Disable(ctx context.Context, p Principal, password, code, recovery string, meta Meta) error {
	user, err := t.verifyPassword(ctx, p, password, meta)
	if err != nil {
		return err
	}
	if !user.TwoFactorEnabled() {
		return models.Err2FANotEnabled()
	}
	if _, ok, err := t.checkSecondFactor(ctx, user, code, recovery); err != nil {
		return err
	} else if !ok {
		t.recordOutside(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: Audit2FAFailed, Meta: meta, Metadata: map[string]any{"purpose": "disable"}})
		return errInvalidCode()
	}
	return t.tx.InTx(ctx, func(ctx context.Context) error {
		if _, err := t.updater.UpdateUser(ctx, p.TenantID, p.UserID, func(u *models.User) error {
			u.TOTPEnabled, u.TOTPSecretSealed, u.TOTPPendingSealed, u.Email2FAEnabled = false, nil, nil, false
			u.TOTPSessionID, u.Email2FASessionID = "", ""
			return nil
		}); err != nil {
			return err
		}
		if err := t.recovery.ReplaceRecoveryCodes(ctx, p.TenantID, p.UserID, nil); err != nil {
			return err
		}
		return t.audit.Record(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: Audit2FADisabled, Meta: meta, Data: map[string]any{"method": "all"}})
	})
}

// RegenerateRecoveryCodes replaces the recovery codes (the old set stops
// working) and returns the new ones, shown once. It needs the password.
func (t *TwoFactor) RegenerateRecoveryCodes(ctx context.Context, p Principal, password string, meta Meta) ([]string, error) {
	user, err := t.proveForFactorChange(ctx, p, password, meta)
	if err != nil {
		return nil, err
	}
	if !user.HasSecondFactor() {
		return nil, models.Err2FANotEnabled().WithMessage("Turn two-factor authentication on first.")
	}
	codes, hashes, err := t.newRecoveryCodes(user.ID)
	if err != nil {
		return nil, err
	}
	err = t.tx.InTx(ctx, func(ctx context.Context) error {
		if err := t.recovery.ReplaceRecoveryCodes(ctx, p.TenantID, p.UserID, hashes); err != nil {
			return err
		}
		return t.audit.Record(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: Audit2FARecoveryRegen, Meta: meta})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// EnableEmail makes e-mailed codes the second factor, for users
// without an authenticator app. It needs the password.
func (t *TwoFactor) EnableEmail(ctx context.Context, p Principal, password string, meta Meta) ([]string, error) {
	user, err := t.proveForFactorChange(ctx, p, password, meta)
	if err != nil {
		return nil, err
	}
	if user.TwoFactorEnabled() {
		return nil, models.Err2FAAlreadyEnabled()
	}
	codes, hashes, err := t.newRecoveryCodes(user.ID)
	if err != nil {
		return nil, err
	}
	err = t.tx.InTx(ctx, func(ctx context.Context) error {
		if _, err := t.updater.UpdateUser(ctx, p.TenantID, p.UserID, func(u *models.User) error {
			u.Email2FAEnabled, u.Email2FASessionID = true, p.SessionID
			return nil
		}); err != nil {
			return err
		}
		if err := t.recovery.ReplaceRecoveryCodes(ctx, p.TenantID, p.UserID, hashes); err != nil {
			return err
		}
		return t.audit.Record(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: Audit2FAEnabled, Meta: meta, Metadata: map[string]any{"method": "email"}})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// newEmailCode creates a 6-digit code (stored as a keyed hash) and returns it.
func (c *credentials) newEmailCode(ctx context.Context, user *models.User, purpose string) (string, error) {
	code, err := randomDigits(6)
	if err != nil {
		return "", models.ErrInternal(err)
	}
	ec := &models.EmailCode{TenantID: user.TenantID, UserID: user.ID, Purpose: purpose,
		CodeHash: c.emailCodeHash(user.ID, purpose, code), ExpiresAt: c.now().Add(c.cfg.EmailCodeTTL)}
	if err := c.codes.CreateEmailCode(ctx, ec); err != nil {
		return "", err
	}
	return code, nil
}

// sendEmailCode creates a sign-in code and mails it.
func (c *credentials) sendEmailCode(ctx context.Context, user *models.User, purpose string) error {
	code, err := c.newEmailCode(ctx, user, purpose)
	if err != nil {
		return err
	}
	c.mail(ctx, Message{TenantID: user.TenantID, UserID: user.ID, To: user.Email, Subject: "Your sign-in code",
		Text: fmt.Sprintf("Your sign-in code is %s. It expires in %d minutes.\nIf you did not try to sign in, change your password.\n", code, int(c.cfg.EmailCodeTTL.Minutes()))})
	return nil
}

// checkEmailCode claims one of the code's attempts (UPDATE … WHERE
// attempts < max) before comparing, so no more than max comparisons happen.
func (c *credentials) checkEmailCode(ctx context.Context, user *models.User, purpose, code string) (bool, error) {
	ec, err := c.codes.LatestEmailCode(ctx, user.TenantID, user.ID, purpose)
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			return false, nil
		}
		return false, err
	}
	ok, err := c.codes.ClaimEmailCodeAttempt(ctx, ec.ID, c.cfg.MaxCodeAttempts)
	if err != nil || !ok {
		return false, err
	}
	want := c.emailCodeHash(user.ID, purpose, code)
	if subtle.ConstantTimeCompare([]byte(want), []byte(ec.CodeHash)) != 1 {
		return false, nil
	}
	return c.codes.ConsumeEmailCode(ctx, ec.ID)
}

func (c *credentials) emailCodeHash(userID, purpose, code string) string {
	return c.sealer.MAC(keyring.PurposeLookup, []byte("email-code"), []byte(userID), []byte(purpose), []byte(code))
}

// recoveryHash normalises a recovery code (case, dashes, spaces) and hashes it.
func (c *credentials) recoveryHash(userID, code string) string {
	norm := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(code)))
	return c.sealer.MAC(keyring.PurposeLookup, []byte("recovery-code"), []byte(userID), []byte(norm))
}

// recoveryAlphabet leaves out look-alikes (0/O, 1/I/L).
const recoveryAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

func (c *credentials) newRecoveryCodes(userID string) ([]string, []string, error) {
	codes := make([]string, recoveryCount)
	hashes := make([]string, recoveryCount)
	for i := range codes {
		var b strings.Builder
		for j := 0; j < 10; j++ {
			if j == 5 {
				b.WriteByte('-')
			}
			n, err := rand.Int(rand.Reader, big.NewInt(int64(len(recoveryAlphabet))))
			if err != nil {
				return nil, nil, models.ErrInternal(err)
			}
			b.WriteByte(recoveryAlphabet[n.Int64()])
		}
		codes[i] = b.String()
		hashes[i] = c.recoveryHash(userID, codes[i])
	}
	return codes, hashes, nil
}

func randomDigits(n int) (string, error) {
	var b strings.Builder
	for i := 0; i < n; i++ {
		d, err := rand.Int(rand.Reader, big.NewInt(10))
		if err != nil {
			return "", err
		}
		b.WriteByte(byte('0' + d.Int64()))
	}
	return b.String(), nil
}

// verifyEmailCode claims one attempt of the latest code of purpose and
// compares it, without consuming it: the caller consumes it (by id) in the
// transaction of what the code allows.
func (c *credentials) verifyEmailCode(ctx context.Context, user *models.User, purpose, code string) (string, bool, error) {
	ec, err := c.codes.LatestEmailCode(ctx, user.TenantID, user.ID, purpose)
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			return "", false, nil
		}
		return "", false, err
	}
	ok, err := c.codes.ClaimEmailCodeAttempt(ctx, ec.ID, c.cfg.MaxCodeAttempts)
	if err != nil || !ok {
		return "", false, err
	}
	want := c.emailCodeHash(user.ID, purpose, code)
	if subtle.ConstantTimeCompare([]byte(want), []byte(ec.CodeHash)) != 1 {
		return "", false, nil
	}
	return ec.ID, true, nil
}
