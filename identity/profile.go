package identity

import (
	"context"
	"crypto/subtle"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	_ "time/tzdata" // zoneinfo is checked with time.LoadLocation: the zone database travels in every binary, whatever the host (distroless images have none)
	"unicode/utf8"

	"golang.org/x/text/language"

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// SMS is one text message to a phone number (E.164).
type SMS struct {
	To   string
	Text string
}

// SMSSender sends text messages. Identity has no SMS provider: the
// deployment's sender is the log sender (mailer.LogSMS), which logs the
// recipient at info level and the text (which carries codes) only at debug
// level with IDENTITY_DEV_LOG_SMS=1. A provider is one small type that
// implements this.
type SMSSender interface {
	SendSMS(ctx context.Context, m SMS) error
}

// Profile field limits.
const (
	maxNameLen    = 200
	maxLocaleLen  = 35 // BCP 47 tags in practice (RFC 5646 §4.4.1 suggests 35)
	maxPictureLen = 2048
	phoneCodeKind = "phone" // the EmailCode purpose of phone verification codes
)

// ProfileChange is a partial update of the caller's profile: a nil field
// is left as it is; a pointer to "" clears a text field (explicit null in
// the API).
type ProfileChange struct {
	Name, GivenName, FamilyName, Locale, Zoneinfo, Picture, PhoneNumber *string
	MarketingEmails, ProfileVisibleToColleagues                         *bool
}

// ProfileConfig are the tunables of phone verification.
type ProfileConfig struct {
	// PhoneCodeTTL is how long a phone code lives; MaxCodeAttempts how many
	// comparisons one code allows.
	PhoneCodeTTL    time.Duration
	MaxCodeAttempts int
	// PhoneCodeLimit bounds the codes sent per user (each is an SMS).
	PhoneCodeLimit Limit
}

// DefaultProfileConfig: codes live 10 minutes, allow 5 attempts, and at
// most 5 are sent to one user an hour.
func DefaultProfileConfig() ProfileConfig {
	return ProfileConfig{PhoneCodeTTL: 10 * time.Minute, MaxCodeAttempts: 5,
		PhoneCodeLimit: Limit{Name: "phone_code", Rate: 5, Period: time.Hour}}
}

// e164 is "+", a country code that does not start with 0, and at most 15
// digits in all (ITU-T E.164 §6).
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)

// NormalisePhone strips the spaces, dots, dashes and brackets people type
// and checks E.164; ok is false for anything else.
func NormalisePhone(s string) (string, bool) {
	s = strings.Map(func(r rune) rune {
		if strings.ContainsRune(" .-()\u00a0", r) {
			return -1
		}
		return r
	}, strings.TrimSpace(s))
	return s, e164.MatchString(s)
}

// validateProfile normalises and checks the given fields, saying in plain
// words what is wrong with each; it returns the problems and the names of
// the fields given.
func validateProfile(ch *ProfileChange) (map[string]string, []string) {
	bad := map[string]string{}
	var fields []string
	text := func(key string, v *string, max int) {
		if v == nil {
			return
		}
		fields = append(fields, key)
		*v = strings.TrimSpace(*v)
		switch {
		case BadText(*v, false):
			bad[key] = "Remove the control characters."
		case utf8.RuneCountInString(*v) > max:
			bad[key] = fmt.Sprintf("Use at most %d characters.", max)
		}
	}
	text("name", ch.Name, maxNameLen)
	text("given_name", ch.GivenName, maxNameLen)
	text("family_name", ch.FamilyName, maxNameLen)
	if ch.Locale != nil {
		fields = append(fields, "locale")
		*ch.Locale = strings.TrimSpace(*ch.Locale)
		if *ch.Locale != "" {
			tag, err := language.Parse(*ch.Locale)
			if err != nil || len(*ch.Locale) > maxLocaleLen || BadText(*ch.Locale, false) {
				bad["locale"] = "Use a language tag such as en, en-GB or pt-BR."
			} else {
				*ch.Locale = tag.String()
			}
		}
	}
	if ch.Zoneinfo != nil {
		fields = append(fields, "zoneinfo")
		*ch.Zoneinfo = strings.TrimSpace(*ch.Zoneinfo)
		if z := *ch.Zoneinfo; z != "" {
			// "Local" is the server's zone, not a name; LoadLocation also
			// reads files, so a path is never a zone.
			if _, err := time.LoadLocation(z); err != nil || z == "Local" || len(z) > 64 || strings.Contains(z, "..") || strings.HasPrefix(z, "/") || BadText(z, false) {
				bad["zoneinfo"] = "Use a time zone name such as Europe/Paris or America/New_York."
			}
		}
	}
	if ch.Picture != nil {
		fields = append(fields, "picture")
		*ch.Picture = strings.TrimSpace(*ch.Picture)
		if p := *ch.Picture; p != "" {
			u, err := url.Parse(p)
			switch {
			case len(p) > maxPictureLen:
				bad["picture"] = fmt.Sprintf("Use a web address of at most %d characters.", maxPictureLen)
			case err != nil || BadText(p, false) || u.Scheme != "https" || u.Hostname() == "" || u.User != nil || u.Opaque != "":
				bad["picture"] = "Use a web address that starts with https://."
			}
		}
	}
	if ch.PhoneNumber != nil {
		fields = append(fields, "phone_number")
		if *ch.PhoneNumber != "" {
			n, ok := NormalisePhone(*ch.PhoneNumber)
			if !ok {
				bad["phone_number"] = "Use the international format: + and the country code, for example +44 20 7946 0958."
			}
			*ch.PhoneNumber = n
		}
	}
	if ch.MarketingEmails != nil {
		fields = append(fields, "marketing_emails")
	}
	if ch.ProfileVisibleToColleagues != nil {
		fields = append(fields, "profile_visible_to_colleagues")
	}
	return bad, fields
}

// UpdateMe applies a partial profile change: each given field is
// validated (every problem reported at once, validation_failed), the row
// changed through the updater, and user.profile_updated recorded with the
// names of the fields that really changed (never the values). A new phone
// number is unverified and gets a 6-digit code by SMS; clearing it clears
// the verification.
func (a *Account) UpdateMe(ctx context.Context, p Principal, ch ProfileChange, meta Meta) (*models.User, error) {
	bad, given := validateProfile(&ch)
	if len(bad) > 0 {
		return nil, models.ErrInvalid(bad)
	}
	if len(given) == 0 {
		return nil, models.ErrInvalid(map[string]string{"name": "Send at least one field to change."})
	}
	var changed []string
	var code string
	err := a.tx.InTx(ctx, func(ctx context.Context) error {
		changed, code = nil, ""
		u, err := a.updater.UpdateUser(ctx, p.TenantID, p.UserID, func(u *models.User) error {
			set := func(key string, dst *string, v *string) {
				if v != nil && *dst != *v {
					*dst = *v
					changed = append(changed, key)
				}
			}
			setBool := func(key string, dst *bool, v *bool) {
				if v != nil && *dst != *v {
					*dst = *v
					changed = append(changed, key)
				}
			}
			set("name", &u.Name, ch.Name)
			set("given_name", &u.GivenName, ch.GivenName)
			set("family_name", &u.FamilyName, ch.FamilyName)
			set("locale", &u.Locale, ch.Locale)
			set("zoneinfo", &u.Zoneinfo, ch.Zoneinfo)
			set("picture", &u.Picture, ch.Picture)
			if ch.PhoneNumber != nil && u.PhoneNumber != *ch.PhoneNumber {
				u.PhoneNumber, u.PhoneNumberVerified = *ch.PhoneNumber, false
				changed = append(changed, "phone_number")
			}
			setBool("marketing_emails", &u.MarketingEmails, ch.MarketingEmails)
			setBool("profile_visible_to_colleagues", &u.ProfileVisibleToColleagues, ch.ProfileVisibleToColleagues)
			if len(changed) > 0 {
				now := a.now()
				u.ProfileUpdatedAt = &now
			}
			return nil
		})
		if err != nil || len(changed) == 0 {
			return err
		}
		if slices.Contains(changed, "phone_number") && u.PhoneNumber != "" {
			if code, err = a.newPhoneCode(ctx, p, u.PhoneNumber); err != nil {
				return err
			}
		}
		return a.audit.Record(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditProfileUpdated, Meta: meta, Metadata: map[string]any{"fields": changed},
			Data: mergeData(userData(u), map[string]any{"fields": changed})})
	})
	if err != nil {
		return nil, err
	}
	u, err := a.users.GetUser(ctx, p.TenantID, p.UserID)
	if err != nil {
		return nil, err
	}
	if code != "" {
		a.sendPhoneCode(ctx, u.PhoneNumber, code)
	}
	return u, nil
}

// newPhoneCode takes one of the user's sends (rate limit), then stores a
// fresh code as a keyed hash bound to the user and the number (retiring
// the earlier one), and returns it for sending after the commit.
func (a *Account) newPhoneCode(ctx context.Context, p Principal, phone string) (string, error) {
	ok, retry, err := a.limiter.Allow(ctx, "phone_code:"+p.TenantID+":"+p.UserID, a.cfg.PhoneCodeLimit)
	if err != nil {
		return "", models.ErrInternal(err)
	}
	if !ok {
		return "", models.ErrRateLimited(retry).WithMessage("Too many codes were sent to your phone. Wait a while and try again.")
	}
	code, err := randomDigits(6)
	if err != nil {
		return "", models.ErrInternal(err)
	}
	ec := &models.EmailCode{TenantID: p.TenantID, UserID: p.UserID, Purpose: phoneCodeKind,
		CodeHash: a.phoneCodeHash(p.UserID, phone, code), ExpiresAt: a.now().Add(a.cfg.PhoneCodeTTL)}
	if err := a.codes.CreateEmailCode(ctx, ec); err != nil {
		return "", err
	}
	return code, nil
}

func (a *Account) sendPhoneCode(ctx context.Context, phone, code string) {
	msg := SMS{To: phone, Text: fmt.Sprintf("Your verification code is %s. It expires in %d minutes.", code, int(a.cfg.PhoneCodeTTL.Minutes()))}
	if err := a.sms.SendSMS(ctx, msg); err != nil {
		// The number stays unverified; resending (ResendPhoneCode) tries again.
		a.log.ErrorContext(ctx, "send phone code", "err", err)
	}
}

// phoneCodeHash binds a code to the user and to the number it was sent to,
// so a code sent to an earlier number never verifies a later one.
func (a *Account) phoneCodeHash(userID, phone, code string) string {
	return a.keys.MAC(keyring.PurposeLookup, []byte("phone-code"), []byte(userID), []byte(phone), []byte(code))
}

// ResendPhoneCode sends a fresh code to the user's unverified number
// (rate-limited with the codes PATCH sends).
func (a *Account) ResendPhoneCode(ctx context.Context, p Principal) error {
	u, err := a.users.GetUser(ctx, p.TenantID, p.UserID)
	if err != nil {
		return err
	}
	if u.PhoneNumber == "" || u.PhoneNumberVerified {
		return models.ErrInvalid(map[string]string{"phone_number": "There is no phone number waiting to be verified."})
	}
	code, err := a.newPhoneCode(ctx, p, u.PhoneNumber)
	if err != nil {
		return err
	}
	a.sendPhoneCode(ctx, u.PhoneNumber, code)
	return nil
}

// VerifyPhone checks the code sent to the user's phone number: it claims
// one of the code's attempts first (UPDATE … WHERE attempts < max, so no
// more than max comparisons happen however many requests race), compares
// in constant time, consumes the code, and marks the number verified
// (user.phone_verified). A wrong, spent or expired code is invalid_code.
func (a *Account) VerifyPhone(ctx context.Context, p Principal, code string, meta Meta) (*models.User, error) {
	code = strings.TrimSpace(code)
	if len(code) != 6 || strings.Trim(code, "0123456789") != "" {
		return nil, models.ErrInvalid(map[string]string{"code": "Enter the 6-digit code we sent to your phone."})
	}
	u, err := a.users.GetUser(ctx, p.TenantID, p.UserID)
	if err != nil {
		return nil, err
	}
	if u.PhoneNumber == "" || u.PhoneNumberVerified {
		return nil, models.ErrInvalid(map[string]string{"phone_number": "There is no phone number waiting to be verified."})
	}
	ec, err := a.codes.LatestEmailCode(ctx, p.TenantID, p.UserID, phoneCodeKind)
	if models.IsKind(err, models.KindNotFound) {
		return nil, errPhoneCode()
	}
	if err != nil {
		return nil, err
	}
	ok, err := a.codes.ClaimEmailCodeAttempt(ctx, ec.ID, a.cfg.MaxCodeAttempts)
	if err != nil {
		return nil, err
	}
	if !ok || subtle.ConstantTimeCompare([]byte(a.phoneCodeHash(p.UserID, u.PhoneNumber, code)), []byte(ec.CodeHash)) != 1 {
		return nil, errPhoneCode()
	}
	phone := u.PhoneNumber
	err = a.tx.InTx(ctx, func(ctx context.Context) error {
		consumed, err := a.codes.ConsumeEmailCode(ctx, ec.ID)
		if err != nil {
			return err
		}
		if !consumed {
			return errPhoneCode()
		}
		after, err := a.updater.UpdateUser(ctx, p.TenantID, p.UserID, func(u *models.User) error {
			if u.PhoneNumber != phone { // changed since the code was checked
				return errPhoneCode()
			}
			u.PhoneNumberVerified = true
			now := a.now()
			u.ProfileUpdatedAt = &now
			return nil
		})
		if err != nil {
			return err
		}
		return a.audit.Record(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditPhoneVerified, Meta: meta,
			Data: mergeData(userData(after), map[string]any{"fields": []string{"phone_number_verified"}})})
	})
	if err != nil {
		return nil, err
	}
	return a.users.GetUser(ctx, p.TenantID, p.UserID)
}

func errPhoneCode() *models.Error {
	return models.ErrInvalidCode().WithMessage("The code is not correct or has expired. Ask for a new one if you need to.")
}
