package identity

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"slices"
	"strings"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/identityd/identityd/models"
)

// The tenant's sign-in rules (issue 10 §3), asked by Login.complete, the
// one place every way in (password, second factor, forced password change,
// PIN, trusted device, an accepted invitation) ends, so no path can pass
// them by:
//   - while the tenant's deletion is pending, only its Owners sign in (to
//     restore it); everyone else gets tenant_pending_deletion;
//   - a holder of a role in settings.require_2fa_roles who has no second
//     factor enrols one before the login completes: a path that proved
//     the password gets a ChallengeTwoFactorEnrolment step, any other path
//     (a PIN) is refused with two_factor_enrolment_required.

// enrolmentMethods are the factors a forced enrolment offers.
var enrolmentMethods = []string{"totp", "email"}

// emailEnrolPurpose is the purpose of the code that proves the mailbox of
// an e-mail factor being enrolled.
const emailEnrolPurpose = "2fa_enrol"

// signInRules applies the tenant's rules to a user who has proven who they
// are, on every sign-in path (password, second factor, forced change, PIN,
// an accepted invitation): an unverified address where the tenant wants it
// verified, and a tenant pending deletion for anyone but an Owner, are
// refused; enrol reports that the user must enrol a second factor first.
func (l *Login) signInRules(ctx context.Context, tenant *models.Tenant, user *models.User) (enrol bool, err error) {
	if err := emailVerifiedForSignIn(tenant, user); err != nil {
		return false, err
	}
	settings := SettingsOf(tenant)
	need := len(settings.Require2FARoles) > 0 && !user.HasSecondFactor()
	if tenant.DeletesAt == nil && !need {
		return false, nil // the common case asks nothing more
	}
	held, err := l.roles.PrincipalRoles(ctx, user.TenantID, []string{user.ID})
	if err != nil {
		return false, err
	}
	names := make([]string, 0, len(held[user.ID]))
	for _, r := range held[user.ID] {
		names = append(names, r.Name)
	}
	if tenant.DeletesAt != nil && !slices.Contains(names, RoleOwner) {
		return false, models.ErrTenantPendingDeletion()
	}
	return need && settings.RequiresSecondFactor(names), nil
}

// newTOTPKey makes an authenticator key for user: a fresh secret, or the
// given one (base32, as shown) again.
func newTOTPKey(issuer string, user *models.User, secret string) (*otp.Key, error) {
	opts := totp.GenerateOpts{Issuer: issuer, AccountName: user.Email, Period: totpPeriod, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1, SecretSize: 20}
	if secret != "" {
		raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
		if err != nil {
			return nil, fmt.Errorf("decode totp secret: %w", err)
		}
		opts.Secret = raw
	}
	key, err := totp.Generate(opts)
	if err != nil {
		return nil, fmt.Errorf("generate totp: %w", err)
	}
	return key, nil
}

// totpSetupOf is what a person is shown of key: the secret as text, the
// otpauth URI and the QR code as a PNG data URI (no script needed).
func totpSetupOf(key *otp.Key) (*TOTPSetup, error) {
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

// loadEnrolment returns the live enrolment step of challenge and its user,
// who must still lack a second factor.
func (l *Login) loadEnrolment(ctx context.Context, challenge string) (*models.AuthChallenge, *models.User, challengeData, error) {
	c, user, data, err := l.loadChallenge(ctx, challenge, models.ChallengeTwoFactorEnrolment)
	if err != nil {
		return nil, nil, data, err
	}
	if user.TwoFactorEnabled() {
		return nil, nil, data, models.Err2FAAlreadyEnabled().WithMessage("Two-step verification is already on. Sign in again.")
	}
	return c, user, data, nil
}

// EnrolmentSetupTOTP starts (or, with again, shows again) the authenticator
// app of a forced enrolment: a pending secret, sealed at rest, that
// EnrolTOTP confirms. again shows the pending secret of an earlier call
// (the page after a wrong code) instead of a new one.
func (l *Login) EnrolmentSetupTOTP(ctx context.Context, challenge string, again bool) (*TOTPSetup, error) {
	_, user, _, err := l.loadEnrolment(ctx, challenge)
	if err != nil {
		return nil, err
	}
	if again && len(user.TOTPPendingSealed) > 0 {
		secret, err := l.sealer.Open(user.TOTPPendingSealed, []byte("totp:"+user.ID))
		if err != nil {
			return nil, models.ErrInternal(fmt.Errorf("open totp secret: %w", err))
		}
		key, err := newTOTPKey(l.issuer, user, string(secret))
		if err != nil {
			return nil, models.ErrInternal(err)
		}
		return totpSetupOf(key)
	}
	key, err := newTOTPKey(l.issuer, user, "")
	if err != nil {
		return nil, models.ErrInternal(err)
	}
	sealed, err := l.sealer.Seal([]byte(key.Secret()), []byte("totp:"+user.ID))
	if err != nil {
		return nil, models.ErrInternal(err)
	}
	if _, err := l.updater.UpdateUser(ctx, user.TenantID, user.ID, func(u *models.User) error {
		u.TOTPPendingSealed = sealed
		return nil
	}); err != nil {
		return nil, err
	}
	return totpSetupOf(key)
}

// EnrolmentInput is the code that confirms the factor of a forced enrolment.
type EnrolmentInput struct {
	Challenge string
	Code      string
	Meta      Meta
}

// EnrolTOTP confirms the pending authenticator secret with a code from it,
// turns 2FA on (user.2fa_enabled, forced) and completes the login, which
// returns the new recovery codes. Each step allows MaxCodeAttempts tries.
func (l *Login) EnrolTOTP(ctx context.Context, in EnrolmentInput) (*LoginResult, error) {
	return l.enrol(ctx, in, "totp")
}

// EnrolmentSendEmailCode mails a code to the user's address: the e-mail
// factor of a forced enrolment is on once that code comes back (EnrolEmail).
func (l *Login) EnrolmentSendEmailCode(ctx context.Context, challenge string, meta Meta) error {
	at, err := l.beginAttempt(ctx, l.cfg.TwoFactorLimit, meta.IP, "")
	if err != nil {
		return err
	}
	_, user, _, err := l.loadEnrolment(ctx, challenge)
	if err != nil {
		at.failed(ctx)
		return err
	}
	if err := l.limit(ctx, l.cfg.TwoFactorLimit, "send:"+user.ID); err != nil {
		return err
	}
	return l.sendEmailCode(ctx, user, emailEnrolPurpose)
}

// EnrolEmail confirms the mailed code, makes e-mailed codes the user's
// second factor (user.2fa_enabled, forced) and completes the login.
func (l *Login) EnrolEmail(ctx context.Context, in EnrolmentInput) (*LoginResult, error) {
	return l.enrol(ctx, in, "email")
}

func (l *Login) enrol(ctx context.Context, in EnrolmentInput, method string) (*LoginResult, error) {
	first, err := l.beginAttempt(ctx, l.cfg.TwoFactorLimit, in.Meta.IP, "")
	if err != nil {
		return nil, err
	}
	c, user, data, err := l.loadEnrolment(ctx, in.Challenge)
	if err != nil {
		first.failed(ctx)
		return nil, err
	}
	if method == "totp" && len(user.TOTPPendingSealed) == 0 {
		return nil, models.Err2FANotSetUp()
	}
	at, err := l.claimCodeAttempt(ctx, c, user, in.Meta.IP)
	if err != nil {
		return nil, err
	}
	code := strings.TrimSpace(in.Code)
	var ok bool
	if method == "totp" {
		ok, err = l.checkTOTP(ctx, user, user.TOTPPendingSealed, code, true)
	} else {
		ok, err = l.checkEmailCode(ctx, user, emailEnrolPurpose, code)
	}
	if err != nil {
		return nil, err
	}
	if !ok {
		at.failed(ctx)
		l.recordOutside(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: Audit2FAFailed, Meta: in.Meta, Metadata: map[string]any{"method": method, "purpose": "enrolment"}})
		return nil, errInvalidCode()
	}
	at.succeeded(ctx)
	codes, hashes, err := l.newRecoveryCodes(user.ID)
	if err != nil {
		return nil, err
	}
	err = l.tx.InTx(ctx, func(ctx context.Context) error {
		consumed, err := l.challenges.ConsumeChallenge(ctx, c.ID)
		if err != nil {
			return err
		}
		if !consumed {
			return models.ErrInvalidChallenge().WithMessage("This sign-in step was already completed.")
		}
		if _, err := l.updater.UpdateUser(ctx, user.TenantID, user.ID, func(u *models.User) error {
			if u.TwoFactorEnabled() {
				return models.Err2FAAlreadyEnabled()
			}
			if method == "totp" {
				u.TOTPEnabled, u.TOTPSecretSealed, u.TOTPPendingSealed = true, user.TOTPPendingSealed, nil
			} else {
				u.Email2FAEnabled = true
			}
			return nil
		}); err != nil {
			return err
		}
		if err := l.recovery.ReplaceRecoveryCodes(ctx, user.TenantID, user.ID, hashes); err != nil {
			return err
		}
		return l.audit.Record(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: Audit2FAEnabled, Meta: in.Meta,
			Metadata: map[string]any{"method": method, "forced": true}})
	})
	if err != nil {
		return nil, err
	}
	data.AMR = append(data.AMR, "otp")
	res, err := l.complete(ctx, user, data, false, in.Meta)
	if err != nil {
		return nil, err
	}
	res.RecoveryCodes = codes
	return res, nil
}

// refused audits a sign-in the tenant's rules refused (login.failed, the
// refusal's code as the reason), outside any transaction.
func (l *Login) refused(ctx context.Context, user *models.User, meta Meta, err error) {
	reason := "refused"
	var me *models.Error
	if errors.As(err, &me) && me.Code != "" {
		reason = me.Code
	}
	l.recordOutside(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditLoginFailed, Meta: meta, Metadata: map[string]any{"reason": reason}})
}
