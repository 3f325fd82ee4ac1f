package handlers

import (
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// The account security page: server-rendered, every action a CSRF-protected
// form, usable without JavaScript. Each action calls the same service method
// as its JSON API twin and renders the page again with the outcome.

// pagePrincipal is the principal of the browser's login session.
func (s *Server) pagePrincipal(c echo.Context) (identity.Principal, bool) {
	ck, err := c.Cookie(sessionCookie)
	if err != nil || ck.Value == "" {
		return identity.Principal{}, false
	}
	ls, u, err := s.Login.BrowserSession(c.Request().Context(), ck.Value)
	if err != nil {
		return identity.Principal{}, false
	}
	p := identity.Principal{TenantID: u.TenantID, UserID: u.ID, AuthTime: ls.AuthTime}
	if ls.SessionID != nil {
		p.SessionID = *ls.SessionID
	}
	return p, true
}

// accountPageData is what an action adds to the page.
type accountPageData struct {
	notice, errMsg string
	codes          []string
	setup          *identity.TOTPSetup
	// passkeyOptions, passkeyName: a begun passkey registration (issue 12 §2).
	passkeyOptions string
	passkeyName    string
}

func (s *Server) accountPage(c echo.Context) error {
	p, ok := s.pagePrincipal(c)
	if !ok {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	return s.renderAccount(c, p, http.StatusOK, accountPageData{})
}

func (s *Server) renderAccount(c echo.Context, p identity.Principal, status int, d accountPageData) error {
	ctx := c.Request().Context()
	user, _, err := s.Account.Me(ctx, p)
	if err != nil {
		return err
	}
	sessions, err := s.Sessions.List(ctx, p)
	if err != nil {
		return err
	}
	activity, err := s.Account.Activity(ctx, p, 20, "")
	if err != nil {
		return err
	}
	data := map[string]any{
		"Title": "Account security", "Wide": true, "CSRF": csrfToken(c), "User": user,
		"Sessions": sessions, "Activity": activity.Items, "Notice": d.notice, "Error": d.errMsg,
		"RecoveryCodes": d.codes, "PINLocked": user.PINLockedUntil != nil && s.Now().Before(*user.PINLockedUntil),
	}
	if err := s.linkedSignIn(ctx, p, data); err != nil { // issue 12 §1
		return err
	}
	if err := s.passkeyPageData(c, p, d, data); err != nil { // issue 12 §2
		return err
	}
	if d.setup != nil {
		data["Setup"] = d.setup
		// The QR code is a PNG we generated ourselves: a data URI is safe here.
		data["SetupQR"] = template.URL(d.setup.QRCode)
	}
	return s.render(c, status, "account", data)
}

// accountAction wraps one form action: it resolves the principal, runs fn,
// and renders the page with fn's outcome; a user-facing error is shown on
// the page, anything else goes to the error handler.
func (s *Server) accountAction(fn func(c echo.Context, p identity.Principal) (accountPageData, error)) echo.HandlerFunc {
	return s.pageAction(fn, s.renderAccount)
}

// pageAction is accountAction for a page rendered by render.
func (s *Server) pageAction(fn func(c echo.Context, p identity.Principal) (accountPageData, error),
	render func(c echo.Context, p identity.Principal, status int, d accountPageData) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, ok := s.pagePrincipal(c)
		if !ok {
			return c.Redirect(http.StatusSeeOther, "/login")
		}
		d, err := fn(c, p)
		if err != nil {
			var me *models.Error
			if !errors.As(err, &me) || me.Kind == models.KindInternal {
				return err
			}
			msg := me.Msg
			if len(me.Fields) > 0 {
				msg += " " + strings.Join(sortedValues(me.Fields), " ")
			}
			return render(c, p, statusOf(me.Kind), accountPageData{errMsg: msg})
		}
		if _, still := s.pagePrincipal(c); !still {
			return c.Redirect(http.StatusSeeOther, "/login")
		}
		return render(c, p, http.StatusOK, d)
	}
}

// accountChangePassword changes the password from the account page.
func (s *Server) accountChangePassword(c echo.Context, p identity.Principal) (accountPageData, error) {
	if c.FormValue("new_password") != c.FormValue("confirm_password") {
		return accountPageData{}, models.ErrInvalid(map[string]string{"confirm_password": "The two passwords differ."})
	}
	err := s.Password.Change(c.Request().Context(), p, c.FormValue("current_password"), c.FormValue("new_password"), meta(c))
	return accountPageData{notice: "Your password is changed; your other sessions were signed out."}, err
}

// accountSetupTOTP starts enrolling an authenticator app.
func (s *Server) accountSetupTOTP(c echo.Context, p identity.Principal) (accountPageData, error) {
	setup, err := s.TwoFactor.SetupTOTP(c.Request().Context(), p, c.FormValue("password"), meta(c))
	return accountPageData{setup: setup}, err
}

// accountEnableTOTP turns on the authenticator app with its first code.
func (s *Server) accountEnableTOTP(c echo.Context, p identity.Principal) (accountPageData, error) {
	codes, err := s.TwoFactor.EnableTOTP(c.Request().Context(), p, c.FormValue("code"), c.FormValue("password"), meta(c))
	return accountPageData{notice: "Two-step verification is on.", codes: codes}, err
}

// accountEnableEmail2FA turns on e-mailed codes as the second step.
func (s *Server) accountEnableEmail2FA(c echo.Context, p identity.Principal) (accountPageData, error) {
	codes, err := s.TwoFactor.EnableEmail(c.Request().Context(), p, c.FormValue("password"), meta(c))
	return accountPageData{notice: "Two-step verification with e-mailed codes is on.", codes: codes}, err
}

// accountRegenerateRecoveryCodes replaces the recovery codes.
func (s *Server) accountRegenerateRecoveryCodes(c echo.Context, p identity.Principal) (accountPageData, error) {
	codes, err := s.TwoFactor.RegenerateRecoveryCodes(c.Request().Context(), p, c.FormValue("password"), meta(c))
	return accountPageData{notice: "New recovery codes; the old ones no longer work.", codes: codes}, err
}

// accountDisable2FA turns the second step off.
func (s *Server) accountDisable2FA(c echo.Context, p identity.Principal) (accountPageData, error) {
	code := strings.TrimSpace(c.FormValue("code"))
	totp, recovery := code, ""
	if !isSixDigits(code) {
		totp, recovery = "", code
	}
	err := s.TwoFactor.Disable(c.Request().Context(), p, c.FormValue("password"), totp, recovery, meta(c))
	return accountPageData{notice: "Two-step verification is off."}, err
}

// accountSetPIN sets the PIN.
func (s *Server) accountSetPIN(c echo.Context, p identity.Principal) (accountPageData, error) {
	err := s.PIN.Set(c.Request().Context(), p, c.FormValue("pin"), c.FormValue("password"), meta(c))
	return accountPageData{notice: "Your PIN is saved."}, err
}

// accountUnlockPIN unlocks a locked PIN.
func (s *Server) accountUnlockPIN(c echo.Context, p identity.Principal) (accountPageData, error) {
	err := s.PIN.Unlock(c.Request().Context(), p, c.FormValue("password"), meta(c))
	return accountPageData{notice: "Your PIN is unlocked."}, err
}

// accountRevokeSession signs one session out.
func (s *Server) accountRevokeSession(c echo.Context, p identity.Principal) (accountPageData, error) {
	err := s.Sessions.Revoke(c.Request().Context(), p, c.Param("id"), meta(c))
	return accountPageData{notice: "The session was signed out."}, err
}

// accountUntrustSession makes a device ask for the second step again.
func (s *Server) accountUntrustSession(c echo.Context, p identity.Principal) (accountPageData, error) {
	err := s.Sessions.Untrust(c.Request().Context(), p, c.Param("id"), meta(c))
	return accountPageData{notice: "That device will be asked for the second step again."}, err
}

// accountLogoutAll signs every session out.
func (s *Server) accountLogoutAll(c echo.Context, p identity.Principal) (accountPageData, error) {
	_, err := s.Sessions.LogoutAll(c.Request().Context(), p, meta(c))
	return accountPageData{}, err
}
