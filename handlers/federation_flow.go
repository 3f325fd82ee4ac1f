package handlers

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// FederationService is the sign-in through a tenant's upstream identity
// provider (identity.Federation, issue 12 §1).
type FederationService interface {
	// SignInProviders returns the tenant's enabled providers for the
	// sign-in page (none for an unknown tenant).
	SignInProviders(ctx context.Context, tenantSlug string) ([]identity.SignInProvider, error)
	// DiscoverProvider returns the id of the tenant's enabled provider
	// that claims the address's domain, or "".
	DiscoverProvider(ctx context.Context, tenantSlug, email string) (string, error)
	// Begin returns the upstream authorization URL of a new flow.
	Begin(ctx context.Context, tenantSlug, providerID, returnTo string, mode identity.FederationMode) (redirect, state string, err error)
	// Callback finishes a flow (a sign-in, a second-factor step, a link
	// step, or a link to the signed-in account).
	Callback(ctx context.Context, in identity.CallbackInput) (*identity.FederationResult, error)
	// LinkInfo, SendLinkCode and Link are the link step's page, its
	// e-mailed code and its proof.
	LinkInfo(ctx context.Context, challenge string) (email, providerName, returnTo string, err error)
	SendLinkCode(ctx context.Context, challenge string, meta identity.Meta) error
	Link(ctx context.Context, in identity.LinkProof) (*identity.FederationResult, error)
	// UpstreamLogout returns the upstream end-session URL of a federated
	// session, or "".
	UpstreamLogout(ctx context.Context, tenantID, sessionID, postLogout, state string) string
}

// federationStartPath is where a provider's button (and e-mail domain
// discovery) sends the browser.
func federationStartPath(providerID string) string {
	return "/api/auth/federation/" + url.PathEscape(providerID) + "/start"
}

// federationStartURL is the start URL for the login page's context: the
// tenant, and the way back (the signed return_to of an authorization
// request, or an allowed next URL).
func federationStartURL(providerID, tenant string, t loginTarget, remember bool) string {
	q := url.Values{}
	q.Set("tenant", tenant)
	if t.signed != "" {
		q.Set("return_to", t.signed)
	} else if t.next != "" {
		q.Set("next", t.next)
	}
	if remember {
		q.Set("remember", "1")
	}
	return federationStartPath(providerID) + "?" + q.Encode()
}

// federationStart (GET /api/auth/federation/:id/start?tenant=&return_to=)
// sends the browser to the provider. return_to is checked exactly as the
// sign-in page checks it (a signed authorization return_to, or an allowed
// next URL); anything else is dropped. With link=1 and a browser signed
// in to the tenant, the flow links the provider to that account.
func (s *Server) federationStart(c echo.Context) error {
	if s.Federation == nil {
		return echo.ErrNotFound
	}
	ctx := c.Request().Context()
	t := s.loginTarget(c, c.QueryParam("return_to"))
	tenant := t.tenantSlug
	if tenant == "" {
		tenant = strings.TrimSpace(c.QueryParam("tenant"))
	}
	returnTo := t.signed
	if returnTo == "" {
		returnTo = t.next
	}
	mode := identity.FederationMode{Browser: true, Remember: c.QueryParam("remember") != "", ForceSecondFactor: t.mfa}
	if c.QueryParam("link") != "" {
		ls, u := s.currentLogin(c)
		if ls == nil || u == nil {
			return s.federationError(c, tenant, models.ErrFederationFailed("Sign in first, then link your account."))
		}
		if tn, err := s.Tenants.GetTenant(ctx, u.TenantID); err != nil || tn.Slug != tenant {
			return s.federationError(c, tenant, models.ErrNotFound("identity_provider"))
		}
		mode.LinkUserID = u.ID
	}
	target, state, err := s.Federation.Begin(ctx, tenant, c.Param("id"), returnTo, mode)
	if err != nil {
		return s.federationError(c, tenant, err)
	}
	// The flow is bound to this browser: the callback must bring the same
	// state in this cookie (SameSite=Lax: sent on the upstream's redirect
	// back, a top-level GET).
	c.SetCookie(&http.Cookie{Name: federationStateCookie, Value: state, Path: "/api/auth/federation", HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteLaxMode, MaxAge: 600})
	return c.Redirect(http.StatusFound, target)
}

// federationCallback (GET /api/auth/federation/:id/callback) is the
// redirect URI registered upstream. A finished sign-in sets the session
// cookie the sign-in page sets and goes on to return_to (an authorization
// request continues at /api/oauth/authorize); a second factor continues on
// the second-factor page; an existing account with the address gets the
// link page; every refusal the error page with a way back to /login.
func (s *Server) federationCallback(c echo.Context) error {
	if s.Federation == nil {
		return echo.ErrNotFound
	}
	ctx := c.Request().Context()
	signedIn := ""
	if _, u := s.currentLogin(c); u != nil {
		signedIn = u.ID
	}
	res, err := s.Federation.Callback(ctx, identity.CallbackInput{ProviderID: c.Param("id"), State: c.QueryParam("state"), Code: c.QueryParam("code"),
		Iss: c.QueryParam("iss"), Error: c.QueryParam("error"), BrowserState: cookieValue(c, federationStateCookie), SignedInUserID: signedIn,
		DeviceToken: cookieValue(c, deviceCookie), Meta: meta(c)})
	c.SetCookie(&http.Cookie{Name: federationStateCookie, Value: "", Path: "/api/auth/federation", MaxAge: -1, HttpOnly: true, Secure: s.secure,
		SameSite: http.SameSiteLaxMode})
	var t loginTarget
	if res != nil {
		t = s.federationTarget(c, res.ReturnTo)
	}
	if err != nil {
		return s.federationError(c, t.tenantSlug, err)
	}
	switch {
	case res.LinkChallenge != "":
		return s.setFederationStep(c, federationStep{Kind: identity.ChallengeFederationLink, Challenge: res.LinkChallenge,
			Email: res.LinkEmail, Provider: res.ProviderName, ReturnTo: res.ReturnTo})
	case res.LoginResult != nil && res.ChallengeKind != "":
		return s.setFederationStep(c, federationStep{Kind: res.ChallengeKind, Challenge: res.Challenge, Methods: res.Methods, ReturnTo: res.ReturnTo})
	}
	return s.federationNext(c, t, res)
}

// federationStepCookie carries a callback's pending step (the link step,
// or a second factor) to its page, GET /login/federation: the callback is
// an /api route without the pages' CSRF guard, so it renders no form. The
// value is signed (Ring.Sign) and HttpOnly, scoped to /login, and lives as
// long as a login challenge; it holds the step's challenge token, never a
// password or an upstream token.
const federationStepCookie = "identity_federation_step"

// federationStateCookie binds a started flow to its browser (login CSRF).
const federationStateCookie = "identity_federation_state"

type federationStep struct {
	Kind      string   `json:"k"`
	Challenge string   `json:"c"`
	Methods   []string `json:"m,omitempty"`
	Email     string   `json:"e,omitempty"`
	Provider  string   `json:"p,omitempty"`
	ReturnTo  string   `json:"r,omitempty"`
}

func (s *Server) setFederationStep(c echo.Context, st federationStep) error {
	raw, err := json.Marshal(st)
	if err != nil {
		return err
	}
	c.SetCookie(&http.Cookie{Name: federationStepCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(s.Ring.Sign(string(raw)))),
		Path: "/login", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode, MaxAge: 600})
	return c.Redirect(http.StatusSeeOther, "/login/federation")
}

// federationStepPage (GET /login/federation) renders the pending step a
// callback left: the link page or the second-factor page.
func (s *Server) federationStepPage(c echo.Context) error {
	var st federationStep
	raw, err := base64.RawURLEncoding.DecodeString(cookieValue(c, federationStepCookie))
	v, ok := s.Ring.Verify(string(raw))
	if err != nil || !ok || json.Unmarshal([]byte(v), &st) != nil || st.Challenge == "" {
		return s.federationError(c, "", models.ErrFederationFailed("This sign-in step has expired. Go back to the sign-in page and start again."))
	}
	t := s.federationTarget(c, st.ReturnTo)
	if st.Kind == identity.ChallengeFederationLink {
		return s.renderFederationLink(c, http.StatusOK, t, st.Challenge, st.Email, st.Provider, "", false)
	}
	return s.loginNext(c, t, &identity.LoginResult{ChallengeKind: st.Kind, Challenge: st.Challenge, Methods: st.Methods}, "")
}

// federationNext renders what a finished callback or link step asks for.
func (s *Server) federationNext(c echo.Context, t loginTarget, res *identity.FederationResult) error {
	switch {
	case res.Linked:
		next := "/account/security"
		if t.next != "" {
			next = t.next
		}
		return c.Redirect(http.StatusSeeOther, next)
	case res.LinkChallenge != "":
		return s.renderFederationLink(c, http.StatusOK, t, res.LinkChallenge, res.LinkEmail, res.ProviderName, "", false)
	case res.LoginResult == nil:
		return s.federationError(c, t.tenantSlug, models.ErrFederationFailed(""))
	}
	return s.loginNext(c, t, res.LoginResult, "")
}

// federationTarget resolves the way back a flow stored: a signed
// authorization return_to, or an allowed next URL; anything else is none.
func (s *Server) federationTarget(c echo.Context, stored string) loginTarget {
	if stored == "" {
		return loginTarget{}
	}
	if _, ok := s.verifyReturnTo(stored); ok {
		return s.loginTarget(c, stored)
	}
	t := loginTarget{}
	if s.allowedRedirect(stored, nil) {
		t.next = stored
		if o := originOf(stored); o != "" {
			t.formTargets = redirectSources([]string{o})
		}
	}
	return t
}

// federationError renders a refused sign-in in plain words with a way back
// to the sign-in page: 503 for an upstream that is down or slow.
func (s *Server) federationError(c echo.Context, tenant string, err error) error {
	var me *models.Error
	if !errors.As(err, &me) || me.Kind == models.KindInternal {
		return err
	}
	status := statusOf(me.Kind)
	if me.Kind == models.KindUnavailable {
		c.Response().Header().Set("Retry-After", "2")
	}
	back := "/login"
	if tenant != "" {
		back += "?tenant=" + url.QueryEscape(tenant)
	}
	msg := me.Msg
	if me.Kind == models.KindNotFound {
		msg = "This sign-in option does not exist or is switched off."
	}
	return s.render(c, status, "message", map[string]any{"Title": "Sign-in did not work", "Message": msg, "Error": true,
		"BackURL": back, "BackText": "Back to the sign-in page"})
}

func (s *Server) renderFederationLink(c echo.Context, status int, t loginTarget, challenge, email, provider, errMsg string, codeSent bool) error {
	return s.renderPage(c, status, "federation_link", map[string]any{
		"Title": "Link your account", "CSRF": csrfToken(c), "Challenge": challenge, "Email": email, "Provider": provider,
		"Error": errMsg, "CodeSent": codeSent, "Tenant": t.tenantSlug,
	}, t.formTargets)
}

// federationLinkSubmit (POST /login/federation/link) is the link step's
// form: the existing account's password, or a code e-mailed to it
// (action=send_code sends one). A wrong proof links nothing.
func (s *Server) federationLinkSubmit(c echo.Context) error {
	if s.Federation == nil {
		return echo.ErrNotFound
	}
	ctx := c.Request().Context()
	challenge := c.FormValue("challenge")
	email, provider, returnTo, err := s.Federation.LinkInfo(ctx, challenge)
	if err != nil {
		return s.federationError(c, "", err)
	}
	t := s.federationTarget(c, returnTo)
	if c.FormValue("action") == "send_code" {
		if err := s.Federation.SendLinkCode(ctx, challenge, meta(c)); err != nil {
			var me *models.Error
			if errors.As(err, &me) && me.Kind != models.KindInternal {
				return s.renderFederationLink(c, statusOf(me.Kind), t, challenge, email, provider, me.Msg, false)
			}
			return err
		}
		return s.renderFederationLink(c, http.StatusOK, t, challenge, email, provider, "", true)
	}
	res, err := s.Federation.Link(ctx, identity.LinkProof{Challenge: challenge, Password: c.FormValue("password"),
		Code: strings.TrimSpace(c.FormValue("code")), DeviceToken: cookieValue(c, deviceCookie), Meta: meta(c)})
	if err != nil {
		var me *models.Error
		if errors.As(err, &me) && me.Kind != models.KindInternal {
			if me.Code == "invalid_challenge" || me.Kind == models.KindUnavailable || strings.HasPrefix(me.Code, "federation_") {
				return s.federationError(c, t.tenantSlug, err)
			}
			return s.renderFederationLink(c, statusOf(me.Kind), t, challenge, email, provider, me.Msg, c.FormValue("code") != "")
		}
		return err
	}
	return s.federationNext(c, t, res)
}

// federationDiscovery is the sign-in page's e-mail domain discovery: the
// start URL of the tenant's provider that claims the address's domain, or
// "" (the password is checked as usual).
func (s *Server) federationDiscovery(ctx context.Context, tenant, email string, t loginTarget, remember bool) string {
	if s.Federation == nil || tenant == "" || email == "" {
		return ""
	}
	id, err := s.Federation.DiscoverProvider(ctx, tenant, email)
	if err != nil || id == "" {
		return ""
	}
	return federationStartURL(id, tenant, t, remember)
}

// loginButton is one provider's button on the sign-in page.
type loginButton struct {
	Label string
	URL   string
}

// federationButtons are the sign-in page's provider buttons for a known
// tenant, and whether any provider claims e-mail domains.
func (s *Server) federationButtons(ctx context.Context, tenant string, t loginTarget) ([]loginButton, bool) {
	if s.Federation == nil || tenant == "" {
		return nil, false
	}
	list, err := s.Federation.SignInProviders(ctx, tenant)
	if err != nil {
		return nil, false
	}
	var out []loginButton
	domains := false
	for _, p := range list {
		out = append(out, loginButton{Label: p.Label, URL: federationStartURL(p.ID, tenant, t, false)})
		domains = domains || len(p.Domains) > 0
	}
	return out, domains
}

// federationLogoutState carries the relying party's post-logout target
// through the upstream logout: signed, so /logout only ever returns to a
// target logoutTarget accepted.
func (s *Server) federationLogoutState(target string) string {
	if target == "" {
		return ""
	}
	return s.Ring.Sign("fedlogout:" + target)
}

// federationLogoutReturn is the relying party's target a signed state
// names, back from the upstream logout.
func (s *Server) federationLogoutReturn(state string) string {
	if state == "" {
		return ""
	}
	v, ok := s.Ring.Verify(state)
	if !ok {
		return ""
	}
	target, ok := strings.CutPrefix(v, "fedlogout:")
	if !ok {
		return ""
	}
	return target
}
