package handlers

import (
	"encoding/json"
	"errors"
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// The passkey pages (issue 12 §2): the sign-in page's "Sign in with a
// passkey", the two-step page's "Use a passkey", and the Passkeys section
// of /account/security. WebAuthn itself needs JavaScript
// (templates/static/passkeys.js); its answer comes back as the credential
// field of a CSRF-protected form, so each finish step is a plain page
// handler that ends like its password twin. Rename and remove are plain
// forms.

// passkeyPageData adds the Passkeys section's data to the account page.
func (s *Server) passkeyPageData(c echo.Context, p identity.Principal, d accountPageData, data map[string]any) error {
	if !s.Passkeys.Available() {
		return nil
	}
	list, err := s.Passkeys.List(c.Request().Context(), p)
	if err != nil {
		return err
	}
	data["Passkeys"] = true
	data["PasskeyList"] = list
	if d.passkeyOptions != "" {
		data["PasskeyOptions"] = d.passkeyOptions
		data["PasskeyName"] = d.passkeyName
	}
	return nil
}

// accountPasskeyBegin proves the password and begins a registration; the
// page comes back with the options for passkeys.js.
func (s *Server) accountPasskeyBegin(c echo.Context, p identity.Principal) (accountPageData, error) {
	o, err := s.Passkeys.RegisterBegin(c.Request().Context(), p, c.FormValue("password"), meta(c))
	if err != nil {
		return accountPageData{}, err
	}
	return accountPageData{passkeyOptions: string(o.Options), passkeyName: c.FormValue("name")}, nil
}

// accountPasskeyFinish stores the passkey passkeys.js created.
func (s *Server) accountPasskeyFinish(c echo.Context, p identity.Principal) (accountPageData, error) {
	reg, err := s.Passkeys.RegisterFinish(c.Request().Context(), p, c.FormValue("name"), json.RawMessage(c.FormValue("credential")), meta(c))
	if err != nil {
		return accountPageData{}, err
	}
	return accountPageData{notice: "Passkey “" + reg.Credential.Name + "” added. You can now sign in with it.", codes: reg.RecoveryCodes}, nil
}

func (s *Server) accountPasskeyRename(c echo.Context, p identity.Principal) (accountPageData, error) {
	cred, err := s.Passkeys.Rename(c.Request().Context(), p, c.Param("id"), c.FormValue("name"), meta(c))
	if err != nil {
		return accountPageData{}, err
	}
	return accountPageData{notice: "Passkey renamed to “" + cred.Name + "”."}, nil
}

func (s *Server) accountPasskeyRemove(c echo.Context, p identity.Principal) (accountPageData, error) {
	err := s.Passkeys.Delete(c.Request().Context(), p, c.Param("id"), c.FormValue("password"), meta(c))
	return accountPageData{notice: "Passkey removed."}, err
}

// loginPasskeySubmit finishes a passwordless sign-in from the sign-in
// page: the browser session cookie, or the next step, as after a password.
func (s *Server) loginPasskeySubmit(c echo.Context) error {
	t := s.loginTarget(c, c.FormValue("return_to"))
	res, err := s.Passkeys.PasswordlessFinish(c.Request().Context(), identity.PasswordlessInput{
		Credential: json.RawMessage(c.FormValue("credential")), Browser: true, Remember: c.FormValue("remember") != "",
		DeviceToken: cookieValue(c, deviceCookie), ForceSecondFactor: t.mfa, Meta: meta(c)})
	if err != nil {
		var me *models.Error
		if errors.As(err, &me) && me.Kind != models.KindInternal {
			status := statusOf(me.Kind)
			if me.Kind == models.KindLocked || me.Kind == models.KindRateLimited {
				status = http.StatusTooManyRequests
			}
			tenant := t.tenantSlug
			if tenant == "" {
				tenant = c.FormValue("tenant")
			}
			return s.renderLogin(c, status, t, tenant, "", me.Msg)
		}
		return err
	}
	return s.loginNext(c, t, res, "")
}

// twoFactorPasskeySubmit finishes the second step with a passkey.
func (s *Server) twoFactorPasskeySubmit(c echo.Context) error {
	t := s.loginTarget(c, c.FormValue("return_to"))
	challenge := c.FormValue("challenge")
	res, err := s.Passkeys.SecondFactorFinish(c.Request().Context(), challenge, json.RawMessage(c.FormValue("credential")),
		c.FormValue("trust_device") != "", meta(c))
	if err != nil {
		var me *models.Error
		if errors.As(err, &me) && me.Kind != models.KindInternal {
			if me.Code == models.CodeInvalidChallenge {
				return s.renderLogin(c, http.StatusUnauthorized, t, t.tenantSlug, "", me.Msg)
			}
			return s.loginNext(c, t, &identity.LoginResult{ChallengeKind: models.ChallengeTwoFactor, Challenge: challenge,
				Methods: s.Login.SecondFactorMethods(c.Request().Context(), challenge)}, me.Msg)
		}
		return err
	}
	return s.loginNext(c, t, res, "")
}
