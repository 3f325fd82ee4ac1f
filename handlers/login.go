package handlers

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
)

// LoginService signs users in and keeps their browser sessions
// (identity.Login). Every credential failure is an *models.Error whose Msg
// is safe to show.
type LoginService interface {
	// WithPassword checks a password and completes the login or names the
	// next step (second factor, forced password change).
	WithPassword(ctx context.Context, in identity.LoginInput) (*identity.LoginResult, error)
	// VerifySecondFactor completes a second-factor step.
	VerifySecondFactor(ctx context.Context, in identity.VerifyInput) (*identity.LoginResult, error)
	// SecondFactorMethods returns what a live second-factor step offers
	// (nil when it is dead), for the page shown again after a wrong code.
	SecondFactorMethods(ctx context.Context, challenge string) []string
	// ResendEmailCode mails a fresh code for a pending second-factor step.
	ResendEmailCode(ctx context.Context, challenge string, meta identity.Meta) error
	// ChangeRequiredPassword completes a forced password change; the login
	// then continues.
	ChangeRequiredPassword(ctx context.Context, challenge, newPassword string, meta identity.Meta) (*identity.LoginResult, error)
	// WithPIN signs in with the PIN from a known device.
	WithPIN(ctx context.Context, in identity.PINLoginInput) (*identity.LoginResult, error)
	// BrowserSession returns the live browser login of a session cookie
	// and its active user, or NotFound.
	BrowserSession(ctx context.Context, cookieToken string) (*models.LoginSession, *models.User, error)
	// BrowserSessionAMR returns how a browser login was authenticated.
	BrowserSessionAMR(ctx context.Context, ls *models.LoginSession) []string
	// Refresh rotates a remembered API login's refresh token.
	Refresh(ctx context.Context, refreshToken string) (*identity.LoginResult, error)
	// EndBrowserSession signs a browser out (an unknown cookie is not an error).
	EndBrowserSession(ctx context.Context, cookieToken string, meta identity.Meta) error
	// ActiveUser returns the user of a bearer token, or an error when it is
	// gone, deactivated or its tenant suspended.
	ActiveUser(ctx context.Context, tenantID, userID string) (*models.User, error)
	// The forced second-factor enrolment step (ChallengeTwoFactorEnrolment):
	// an authenticator app (set up, then confirmed with a code) or e-mailed
	// codes (a code sent, then confirmed); each confirmation completes the
	// login with the new recovery codes.
	EnrolmentSetupTOTP(ctx context.Context, challenge string, again bool) (*identity.TOTPSetup, error)
	EnrolTOTP(ctx context.Context, in identity.EnrolmentInput) (*identity.LoginResult, error)
	EnrolmentSendEmailCode(ctx context.Context, challenge string, meta identity.Meta) error
	EnrolEmail(ctx context.Context, in identity.EnrolmentInput) (*identity.LoginResult, error)
}

// loginTarget is what a signed return_to tells the login page: where to go
// back to, and the client's tenant and name when the flow came from a client.
type loginTarget struct {
	signed     string
	path       string
	tenantSlug string
	clientName string
	// formTargets are the CSP sources of the client's redirect URIs.
	formTargets []string
	// next is where a plain login (no authorization request) goes once
	// done: a path on this server or a URL of an allowed redirect origin
	// (IDENTITY_REDIRECT_ALLOWED_ORIGINS); anything else is dropped.
	next string
	// mfa: the authorization request's acr_values ask for multi-factor.
	mfa bool
}

func (s *Server) loginTarget(c echo.Context, signed string) loginTarget {
	u, ok := s.verifyReturnTo(signed)
	if !ok {
		t := loginTarget{}
		next := c.FormValue("next")
		if next == "" {
			next = c.FormValue("redirect_uri")
		}
		if s.allowedRedirect(next, nil) {
			t.next = next
			if o := originOf(next); o != "" {
				t.formTargets = redirectSources([]string{o})
			}
		}
		return t
	}
	t := loginTarget{signed: signed, path: u.String(),
		mfa: slices.Contains(strings.Fields(u.Query().Get("acr_values")), oauth.ACRMultiFactor)}
	ctx := c.Request().Context()
	if cl, err := s.Clients.GetClient(ctx, u.Query().Get("client_id")); err == nil {
		if tc, ok := cl.(tenantClient); ok {
			if tenant, err := s.Tenants.GetTenant(ctx, tc.GetTenantID()); err == nil {
				t.tenantSlug = tenant.Slug
			}
		}
		if n, ok := cl.(interface{ GetName() string }); ok {
			t.clientName = n.GetName()
		}
		if t.clientName == "" {
			t.clientName = cl.GetID()
		}
		t.formTargets = redirectSources(cl.GetRedirectURIs())
	}
	return t
}

func (s *Server) loginPage(c echo.Context) error {
	t := s.loginTarget(c, c.QueryParam("return_to"))
	tenant := t.tenantSlug
	if tenant == "" {
		tenant = c.QueryParam("tenant")
	}
	return s.renderLogin(c, http.StatusOK, t, tenant, "", "")
}

func (s *Server) renderLogin(c echo.Context, status int, t loginTarget, tenant, email, errMsg string) error {
	return s.renderLoginPage(c, status, t, tenant, email, errMsg, false)
}

// renderLoginPage is renderLogin; unverified adds the form that sends the
// e-mail verification link again (a tenant that lets only verified
// addresses sign in refused this one).
func (s *Server) renderLoginPage(c echo.Context, status int, t loginTarget, tenant, email, errMsg string, unverified bool) error {
	// Issue 12 §1: the tenant's upstream providers' buttons (links: no
	// JavaScript), and the single sign-on button when one claims domains.
	buttons, discovery := s.federationButtons(c.Request().Context(), tenant, t)
	return s.renderPage(c, status, "login", map[string]any{
		"Title": "Sign in", "CSRF": csrfToken(c), "ReturnTo": t.signed, "Next": t.next,
		"Tenant": tenant, "TenantLocked": t.tenantSlug != "", "Email": email,
		"ClientName": t.clientName, "Error": errMsg, "Unverified": unverified,
		"SignUp":    s.Registration.Options().Enabled,
		"Providers": buttons, "Discovery": discovery,
		// Issue 12 §2: "Sign in with a passkey" (shown by passkeys.js).
		"Passkeys": s.Passkeys.Available(),
	}, t.formTargets)
}

// loginSubmit runs the one login implementation (identity.Login.WithPassword)
// for the page: a browser session cookie, or the next step's page (second
// factor, forced password change). Every credential failure shows the same
// sentence, whatever was wrong.
func (s *Server) loginSubmit(c echo.Context) error {
	ctx := c.Request().Context()
	t := s.loginTarget(c, c.FormValue("return_to"))
	tenant := strings.TrimSpace(c.FormValue("tenant"))
	if t.tenantSlug != "" {
		tenant = t.tenantSlug
	}
	email := strings.TrimSpace(c.FormValue("email"))
	// Issue 12 §1: an address whose domain a provider of the tenant claims
	// goes straight to that provider, without a password.
	if start := s.federationDiscovery(ctx, tenant, email, t, c.FormValue("remember") != ""); start != "" {
		return c.Redirect(http.StatusSeeOther, start)
	}
	if c.FormValue("sso") != "" {
		return s.renderLogin(c, http.StatusOK, t, tenant, email, "No single sign-on is set up for this address: enter your password.")
	}
	res, err := s.Login.WithPassword(ctx, identity.LoginInput{
		Tenant: tenant, Email: email, Password: c.FormValue("password"),
		Remember: c.FormValue("remember") != "", DeviceToken: cookieValue(c, deviceCookie),
		Browser: true, ForceSecondFactor: t.mfa, Meta: meta(c),
	})
	if err != nil {
		var me *models.Error
		if errors.As(err, &me) && me.Kind != models.KindInternal {
			status := http.StatusUnauthorized
			if me.Kind == models.KindLocked || me.Kind == models.KindRateLimited {
				status = http.StatusTooManyRequests
			}
			if me.Code == models.CodeEmailNotVerified {
				return s.renderLoginPage(c, http.StatusForbidden, t, tenant, email,
					"Please confirm your e-mail address first: open the link in the e-mail we sent you. No e-mail? We can send it again.", true)
			}
			return s.renderLogin(c, status, t, tenant, email, me.Msg)
		}
		return err
	}
	return s.loginNext(c, t, res, "")
}

// loginNext renders what a login result asks for next, or finishes it.
func (s *Server) loginNext(c echo.Context, t loginTarget, res *identity.LoginResult, errMsg string) error {
	switch res.ChallengeKind {
	case models.ChallengeTwoFactor:
		return s.renderPage(c, http.StatusOK, "twofactor", map[string]any{
			"Title": "Two-step verification", "CSRF": csrfToken(c), "ReturnTo": t.signed, "Next": t.next, "Challenge": res.Challenge,
			"Email": slices.Contains(res.Methods, "email") && !slices.Contains(res.Methods, "totp"), "Error": errMsg,
			// Issue 12 §2: "Use a passkey" when the user has one.
			"Passkeys": slices.Contains(res.Methods, "webauthn") && s.Passkeys.Available(),
		}, t.formTargets)
	case models.ChallengePasswordChange:
		return s.renderPage(c, http.StatusOK, "password_change", map[string]any{
			"Title": "Choose a new password", "CSRF": csrfToken(c), "ReturnTo": t.signed, "Next": t.next, "Challenge": res.Challenge,
			"Rules": identity.PasswordRules, "Error": errMsg,
		}, t.formTargets)
	case models.ChallengeTwoFactorEnrolment:
		return s.renderEnrolment(c, t, res.Challenge, false, false, errMsg)
	}
	s.setLoginCookies(c, res)
	next := "/account/security"
	switch {
	case t.path != "":
		next = t.path
	case t.next != "":
		next = t.next
	}
	if len(res.RecoveryCodes) > 0 {
		// A forced enrolment just ended: the recovery codes are shown once,
		// then the person goes on where the login was going.
		return s.renderPage(c, http.StatusOK, "twofactor_enrolled", map[string]any{
			"Title": "Two-step verification is on", "RecoveryCodes": res.RecoveryCodes, "Continue": next,
		}, t.formTargets)
	}
	return c.Redirect(http.StatusSeeOther, next)
}

// setLoginCookies sets the browser session cookie of a finished login (and
// the device cookie when the login made a new device), ending the session
// of any older cookie: a new login never keeps the old one. The sign-in
// page and an API login with "session": true share it.
func (s *Server) setLoginCookies(c echo.Context, res *identity.LoginResult) {
	if ck, err := c.Cookie(sessionCookie); err == nil && ck.Value != "" && ck.Value != res.BrowserToken {
		_ = s.Login.EndBrowserSession(c.Request().Context(), ck.Value, meta(c))
	}
	ck := &http.Cookie{Name: sessionCookie, Value: res.BrowserToken, Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode}
	if res.Remember {
		ck.Expires = res.BrowserExpiresAt
		ck.MaxAge = int(time.Until(res.BrowserExpiresAt).Seconds())
	}
	c.SetCookie(ck)
	if res.DeviceToken != "" {
		c.SetCookie(&http.Cookie{Name: deviceCookie, Value: res.DeviceToken, Path: "/", HttpOnly: true, Secure: s.secure,
			SameSite: http.SameSiteLaxMode, MaxAge: int(deviceCookieTTL.Seconds())})
	}
}

// twoFactorSubmit checks the code of the second step. One field takes a
// TOTP or e-mail code (6 digits) or a recovery code.
func (s *Server) twoFactorSubmit(c echo.Context) error {
	t := s.loginTarget(c, c.FormValue("return_to"))
	code := strings.TrimSpace(c.FormValue("code"))
	in := identity.VerifyInput{Challenge: c.FormValue("challenge"), TrustDevice: c.FormValue("trust_device") != "", Meta: meta(c)}
	if isSixDigits(code) {
		in.Code = code
	} else {
		in.RecoveryCode = code
	}
	res, err := s.Login.VerifySecondFactor(c.Request().Context(), in)
	if err != nil {
		var me *models.Error
		if errors.As(err, &me) && me.Kind != models.KindInternal {
			if me.Code == "invalid_challenge" {
				return s.renderLogin(c, http.StatusUnauthorized, t, t.tenantSlug, "", me.Msg)
			}
			return s.loginNext(c, t, &identity.LoginResult{ChallengeKind: models.ChallengeTwoFactor, Challenge: in.Challenge,
				Methods: s.Login.SecondFactorMethods(c.Request().Context(), in.Challenge)}, me.Msg)
		}
		return err
	}
	return s.loginNext(c, t, res, "")
}

// passwordChangeSubmit completes a forced password change.
func (s *Server) passwordChangeSubmit(c echo.Context) error {
	t := s.loginTarget(c, c.FormValue("return_to"))
	challenge := c.FormValue("challenge")
	pw := c.FormValue("new_password")
	if pw != c.FormValue("confirm_password") {
		return s.loginNext(c, t, &identity.LoginResult{ChallengeKind: models.ChallengePasswordChange, Challenge: challenge}, "The two passwords differ.")
	}
	res, err := s.Login.ChangeRequiredPassword(c.Request().Context(), challenge, pw, meta(c))
	if err != nil {
		var me *models.Error
		if errors.As(err, &me) && me.Kind != models.KindInternal {
			if me.Code == "invalid_challenge" {
				return s.renderLogin(c, http.StatusUnauthorized, t, t.tenantSlug, "", me.Msg)
			}
			msg := me.Msg
			for _, f := range sortedValues(me.Fields) {
				msg += " " + f
			}
			return s.loginNext(c, t, &identity.LoginResult{ChallengeKind: models.ChallengePasswordChange, Challenge: challenge}, msg)
		}
		return err
	}
	return s.loginNext(c, t, res, "")
}

func isSixDigits(s string) bool {
	if len(s) != 6 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

func cookieValue(c echo.Context, name string) string {
	ck, err := c.Cookie(name)
	if err != nil {
		return ""
	}
	return ck.Value
}

func sortedValues(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	out := make([]string, 0, len(keys))
	for _, k := range keys {
		out = append(out, m[k])
	}
	return out
}

// postLogoutClient is implemented by clients with registered post-logout
// redirect URIs (storage.Client).
type postLogoutClient interface{ GetPostLogoutRedirectURIs() []string }

// logoutTarget is where an RP-initiated logout (OpenID Connect RP-Initiated
// Logout 1.0 §2, §3) may send the browser afterwards: the relying party is
// identified by a verified id_token_hint (its audience; an expired hint is
// accepted) and/or client_id (both must agree), and post_logout_redirect_uri
// must equal one of that client's registered post_logout_redirect_uris
// exactly; state is passed back. Anything else — no client, an unknown or
// mismatched one, an unregistered URI, a hint we did not sign — ends on the
// signed-out page, never a redirect. The hidden fields of the confirmation
// form carry the client id the hint resolved to, not the hint.
func (s *Server) logoutTarget(c echo.Context) (target string, data map[string]any) {
	ctx := c.Request().Context()
	uri, clientID, state := c.FormValue("post_logout_redirect_uri"), c.FormValue("client_id"), c.FormValue("state")
	if uri == "" {
		return "", nil
	}
	if hint := c.FormValue("id_token_hint"); hint != "" {
		h, err := s.Provider.ParseIDTokenHint(ctx, hint)
		if err != nil || (clientID != "" && clientID != h.ClientID) {
			return "", nil
		}
		clientID = h.ClientID
	}
	if clientID == "" {
		return "", nil
	}
	cl, err := s.Clients.GetClient(ctx, clientID)
	if err != nil {
		return "", nil
	}
	pc, ok := cl.(postLogoutClient)
	if !ok || !slices.Contains(pc.GetPostLogoutRedirectURIs(), uri) {
		return "", nil
	}
	u, err := url.Parse(uri)
	if err != nil {
		return "", nil
	}
	if state != "" {
		q := u.Query()
		q.Set("state", state)
		u.RawQuery = q.Encode()
	}
	return u.String(), map[string]any{"PostLogoutRedirectURI": uri, "ClientID": clientID, "State": state}
}

// logoutPage asks a signed-in browser to confirm the logout; a browser with
// no session sees the signed-out page (no redirect: there is nothing to
// confirm, and a logout link must not become a redirector).
func (s *Server) logoutPage(c echo.Context) error {
	ls, user := s.currentLogin(c)
	// Back from an upstream logout (issue 12 §1): on to the relying
	// party's target, which logoutTarget accepted and we signed.
	if target := s.federationLogoutReturn(c.QueryParam("state")); ls == nil && target != "" {
		return c.Redirect(http.StatusSeeOther, target)
	}
	data := map[string]any{"Title": "Sign out", "CSRF": csrfToken(c), "SignedIn": ls != nil}
	var formTargets []string
	if ls != nil {
		target, hidden := s.logoutTarget(c)
		for k, v := range hidden {
			data[k] = v
		}
		if target != "" {
			formTargets = redirectSources([]string{originOf(target)})
		}
	}
	if user != nil {
		data["Email"] = user.Email
	}
	return s.renderPage(c, http.StatusOK, "logout", data, formTargets)
}

// logoutSubmit ends the browser session and, when a session was ended and
// logoutTarget allows it, returns to the relying party.
func (s *Server) logoutSubmit(c echo.Context) error {
	ls, _ := s.currentLogin(c)
	// Issue 12 §1: a federated session also ends upstream when the
	// provider has an end_session_endpoint (asked before the session ends).
	upstream := ""
	if ls != nil && ls.SessionID != nil && s.Federation != nil {
		target, _ := s.logoutTarget(c)
		upstream = s.Federation.UpstreamLogout(c.Request().Context(), ls.TenantID, *ls.SessionID, s.Issuer+"/logout", s.federationLogoutState(target))
	}
	if ck, err := c.Cookie(sessionCookie); err == nil {
		if err := s.Login.EndBrowserSession(c.Request().Context(), ck.Value, meta(c)); err != nil {
			return err
		}
	}
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	if upstream != "" {
		return c.Redirect(http.StatusSeeOther, upstream)
	}
	if ls != nil {
		if target, _ := s.logoutTarget(c); target != "" {
			return c.Redirect(http.StatusSeeOther, target)
		}
	}
	return s.renderMessage(c, http.StatusOK, "Signed out", "You are signed out.", false)
}
