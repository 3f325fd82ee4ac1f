package identity

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"fmt"
	"image/png"
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
	return models.NewError(models.KindUnauthenticated, "invalid_code", "The code is not correct.", nil)
}

// checkSecondFactor verifies a recovery code, or a TOTP or e-mail code.
func (a *Accounts) checkSecondFactor(ctx context.Context, user *models.User, code, recovery string) (string, bool, error) {
	if strings.TrimSpace(recovery) != "" {
		ok, err := a.Store.ClaimRecoveryCode(ctx, user.TenantID, user.ID, a.recoveryHash(user.ID, recovery))
		return "recovery_code", ok, err
	}
	code = strings.TrimSpace(code)
	switch {
	case user.TOTPEnabled:
		ok, err := a.checkTOTP(ctx, user, user.TOTPSecretSealed, code, true)
		return "totp", ok, err
	case user.Email2FAEnabled:
		ok, err := a.checkEmailCode(ctx, user, "2fa", code)
		return "email", ok, err
	}
	return "none", false, nil
}

// checkTOTP compares code with the codes of the current step and one either
// side, in constant time; with claim, the matching step is recorded
// atomically so a code is accepted once.
func (a *Accounts) checkTOTP(ctx context.Context, user *models.User, sealed []byte, code string, claim bool) (bool, error) {
	if len(sealed) == 0 || len(code) != 6 {
		return false, nil
	}
	secret, err := a.Sealer.Open(sealed, []byte("totp:"+user.ID))
	if err != nil {
		return false, models.ErrInternal(fmt.Errorf("open totp secret: %w", err))
	}
	step := a.now().Unix() / totpPeriod
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
			return a.Store.ClaimTOTPStep(ctx, user.TenantID, user.ID, s)
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
func (a *Accounts) SetupTOTP(ctx context.Context, p Principal, password string, meta Meta) (*TOTPSetup, error) {
	user, err := a.proveForFactorChange(ctx, p, password, meta)
	if err != nil {
		return nil, err
	}
	if user.TOTPEnabled {
		return nil, models.NewError(models.KindConflict, "2fa_already_enabled", "Two-factor authentication is already on. Turn it off first.", nil)
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: a.Issuer, AccountName: user.Email, Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, SecretSize: 20})
	if err != nil {
		return nil, models.ErrInternal(fmt.Errorf("generate totp: %w", err))
	}
	sealed, err := a.Sealer.Seal([]byte(key.Secret()), []byte("totp:"+user.ID))
	if err != nil {
		return nil, models.ErrInternal(err)
	}
	if err := a.Store.UpdateUserFields(ctx, p.TenantID, p.UserID, map[string]any{"totp_pending_sealed": sealed}); err != nil {
		return nil, err
	}
	img, err := key.Image(240, 240)
	if err != nil {
		return nil, models.ErrInternal(fmt.Errorf("qr code: %w", err))
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return nil, models.ErrInternal(fmt.Errorf("qr code: %w", err))
	}
	return &TOTPSetup{Secret: key.Secret(), OTPAuthURI: key.URL(), QRCode: "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes())}, nil
}

// EnableTOTP confirms the pending secret with a code from it, turns 2FA on
// and returns the recovery codes, shown once.
func (a *Accounts) EnableTOTP(ctx context.Context, p Principal, code, password string, meta Meta) ([]string, error) {
	user, err := a.proveForFactorChange(ctx, p, password, meta)
	if err != nil {
		return nil, err
	}
	if user.TOTPEnabled {
		return nil, models.NewError(models.KindConflict, "2fa_already_enabled", "Two-factor authentication is already on.", nil)
	}
	if len(user.TOTPPendingSealed) == 0 {
		return nil, models.NewError(models.KindConflict, "2fa_not_set_up", "Start the set-up first.", nil)
	}
	ok, err := a.checkTOTP(ctx, user, user.TOTPPendingSealed, strings.TrimSpace(code), true)
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errInvalidCode()
	}
	codes, hashes, err := a.newRecoveryCodes(user.ID)
	if err != nil {
		return nil, err
	}
	err = a.Store.InTx(ctx, func(ctx context.Context) error {
		if err := a.Store.UpdateUserFields(ctx, p.TenantID, p.UserID, map[string]any{
			"totp_enabled": true, "totp_secret_sealed": user.TOTPPendingSealed, "totp_pending_sealed": nil,
			"totp_session_id": nullable(p.SessionID),
		}); err != nil {
			return err
		}
		if err := a.Store.ReplaceRecoveryCodes(ctx, p.TenantID, p.UserID, hashes); err != nil {
			return err
		}
		return a.auditTx(ctx, Event{TenantID: p.TenantID, UserID: p.UserID, Action: Audit2FAEnabled, Meta: meta, Metadata: map[string]any{"method": "totp"}})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// DisableTwoFactor turns 2FA off (TOTP and e-mail codes); it needs the
// password and a current code (or a recovery code).
func (a *Accounts) DisableTwoFactor(ctx context.Context, p Principal, password, code, recovery string, meta Meta) error {
	user, err := a.verifyPassword(ctx, p, password, meta)
	if err != nil {
		return err
	}
	if !user.TwoFactorEnabled() {
		return models.NewError(models.KindConflict, "2fa_not_enabled", "Two-factor authentication is off.", nil)
	}
	if _, ok, err := a.checkSecondFactor(ctx, user, code, recovery); err != nil {
		return err
	} else if !ok {
		a.audit(ctx, Event{TenantID: p.TenantID, UserID: p.UserID, Action: Audit2FAFailed, Meta: meta, Metadata: map[string]any{"purpose": "disable"}})
		return errInvalidCode()
	}
	return a.Store.InTx(ctx, func(ctx context.Context) error {
		if err := a.Store.UpdateUserFields(ctx, p.TenantID, p.UserID, map[string]any{
			"totp_enabled": false, "totp_secret_sealed": nil, "totp_pending_sealed": nil, "email_2fa_enabled": false,
			"totp_session_id": nil, "email_2fa_session_id": nil,
		}); err != nil {
			return err
		}
		if err := a.Store.ReplaceRecoveryCodes(ctx, p.TenantID, p.UserID, nil); err != nil {
			return err
		}
		return a.auditTx(ctx, Event{TenantID: p.TenantID, UserID: p.UserID, Action: Audit2FADisabled, Meta: meta})
	})
}

// RegenerateRecoveryCodes replaces the recovery codes (the old set stops
// working) and returns the new ones, shown once. It needs the password.
func (a *Accounts) RegenerateRecoveryCodes(ctx context.Context, p Principal, password string, meta Meta) ([]string, error) {
	user, err := a.proveForFactorChange(ctx, p, password, meta)
	if err != nil {
		return nil, err
	}
	if !user.TwoFactorEnabled() {
		return nil, models.NewError(models.KindConflict, "2fa_not_enabled", "Turn two-factor authentication on first.", nil)
	}
	codes, hashes, err := a.newRecoveryCodes(user.ID)
	if err != nil {
		return nil, err
	}
	err = a.Store.InTx(ctx, func(ctx context.Context) error {
		if err := a.Store.ReplaceRecoveryCodes(ctx, p.TenantID, p.UserID, hashes); err != nil {
			return err
		}
		return a.auditTx(ctx, Event{TenantID: p.TenantID, UserID: p.UserID, Action: Audit2FARecoveryRegen, Meta: meta})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// EnableEmailTwoFactor makes e-mailed codes the second factor, for users
// without an authenticator app. It needs the password.
func (a *Accounts) EnableEmailTwoFactor(ctx context.Context, p Principal, password string, meta Meta) ([]string, error) {
	user, err := a.proveForFactorChange(ctx, p, password, meta)
	if err != nil {
		return nil, err
	}
	if user.TwoFactorEnabled() {
		return nil, models.NewError(models.KindConflict, "2fa_already_enabled", "Two-factor authentication is already on.", nil)
	}
	codes, hashes, err := a.newRecoveryCodes(user.ID)
	if err != nil {
		return nil, err
	}
	err = a.Store.InTx(ctx, func(ctx context.Context) error {
		if err := a.Store.UpdateUserFields(ctx, p.TenantID, p.UserID, map[string]any{"email_2fa_enabled": true, "email_2fa_session_id": nullable(p.SessionID)}); err != nil {
			return err
		}
		if err := a.Store.ReplaceRecoveryCodes(ctx, p.TenantID, p.UserID, hashes); err != nil {
			return err
		}
		return a.auditTx(ctx, Event{TenantID: p.TenantID, UserID: p.UserID, Action: Audit2FAEnabled, Meta: meta, Metadata: map[string]any{"method": "email"}})
	})
	if err != nil {
		return nil, err
	}
	return codes, nil
}

// sendEmailCode creates a 6-digit code (stored as a keyed hash) and mails it.
func (a *Accounts) sendEmailCode(ctx context.Context, user *models.User, purpose string) error {
	code, err := randomDigits(6)
	if err != nil {
		return models.ErrInternal(err)
	}
	c := &models.EmailCode{TenantID: user.TenantID, UserID: user.ID, Purpose: purpose,
		CodeHash: a.emailCodeHash(user.ID, purpose, code), ExpiresAt: a.now().Add(a.Config.EmailCodeTTL)}
	if err := a.Store.CreateEmailCode(ctx, c); err != nil {
		return err
	}
	a.mail(ctx, Message{To: user.Email, Subject: "Your sign-in code",
		Text: fmt.Sprintf("Your sign-in code is %s. It expires in %d minutes.\nIf you did not try to sign in, change your password.\n", code, int(a.Config.EmailCodeTTL.Minutes()))})
	return nil
}

// checkEmailCode claims one of the code's attempts (UPDATE … WHERE
// attempts < max) before comparing, so no more than max comparisons happen.
func (a *Accounts) checkEmailCode(ctx context.Context, user *models.User, purpose, code string) (bool, error) {
	c, err := a.Store.LatestEmailCode(ctx, user.TenantID, user.ID, purpose)
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			return false, nil
		}
		return false, err
	}
	ok, err := a.Store.ClaimEmailCodeAttempt(ctx, c.ID, a.Config.MaxCodeAttempts)
	if err != nil || !ok {
		return false, err
	}
	want := a.emailCodeHash(user.ID, purpose, code)
	if subtle.ConstantTimeCompare([]byte(want), []byte(c.CodeHash)) != 1 {
		return false, nil
	}
	return a.Store.ConsumeEmailCode(ctx, c.ID)
}

func (a *Accounts) emailCodeHash(userID, purpose, code string) string {
	return a.Sealer.MAC(keyring.PurposeLookup, []byte("email-code"), []byte(userID), []byte(purpose), []byte(code))
}

// recoveryHash normalises a recovery code (case, dashes, spaces) and hashes it.
func (a *Accounts) recoveryHash(userID, code string) string {
	norm := strings.ToUpper(strings.NewReplacer("-", "", " ", "").Replace(strings.TrimSpace(code)))
	return a.Sealer.MAC(keyring.PurposeLookup, []byte("recovery-code"), []byte(userID), []byte(norm))
}

// recoveryAlphabet leaves out look-alikes (0/O, 1/I/L).
const recoveryAlphabet = "ABCDEFGHJKMNPQRSTUVWXYZ23456789"

func (a *Accounts) newRecoveryCodes(userID string) ([]string, []string, error) {
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
		hashes[i] = a.recoveryHash(userID, codes[i])
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

// nullable stores "" as NULL.
func nullable(s string) any {
	if s == "" {
		return nil
	}
	return s
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
