package handlers_test

import (
	"crypto/rand"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
)

// authRequest is one authorization request a relying party starts.
type authRequest struct {
	URL, State, Nonce, Verifier string
}

// newAuthRequest builds an authorization URL with state, nonce and an S256
// PKCE challenge, plus any extra options.
func newAuthRequest(cfg *oauth2.Config, opts ...oauth2.AuthCodeOption) authRequest {
	r := authRequest{State: rand.Text(), Nonce: rand.Text(), Verifier: oauth2.GenerateVerifier()}
	opts = append([]oauth2.AuthCodeOption{oauth2.S256ChallengeOption(r.Verifier), oauth2.SetAuthURLParam("nonce", r.Nonce)}, opts...)
	r.URL = cfg.AuthCodeURL(r.State, opts...)
	return r
}

// exchange trades a code for tokens with the request's PKCE verifier.
func (r authRequest) exchange(t *testing.T, cfg *oauth2.Config, code string) *oauth2.Token {
	t.Helper()
	tok, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(r.Verifier))
	require.NoError(t, err, "exchange code")
	return tok
}

// idTokenClaims are the claims the tests read beyond what go-oidc exposes.
type idTokenClaims struct {
	AuthTime      int64  `json:"auth_time"`
	TenantID      string `json:"tenant_id"`
	Email         string `json:"email"`
	EmailVerified *bool  `json:"email_verified"`
	Name          string `json:"name"`
	AtHash        string `json:"at_hash"`
}

// verifyIDToken verifies the token's ID token with go-oidc against the
// provider's discovery and JWKS: signature (kid), issuer, audience, expiry,
// nonce, at_hash; and returns it with its claims.
func verifyIDToken(t *testing.T, provider *oidc.Provider, clientID string, tok *oauth2.Token, nonce string) (*oidc.IDToken, idTokenClaims) {
	t.Helper()
	raw, ok := tok.Extra("id_token").(string)
	require.True(t, ok, "the token response carries an id_token")
	idt, err := provider.Verifier(&oidc.Config{ClientID: clientID}).Verify(t.Context(), raw)
	require.NoError(t, err, "ID token verifies")
	require.Equal(t, nonce, idt.Nonce, "nonce")
	require.NotEmpty(t, idt.AccessTokenHash, "at_hash present")
	require.NoError(t, idt.VerifyAccessToken(tok.AccessToken), "at_hash matches the access token")
	var c idTokenClaims
	require.NoError(t, idt.Claims(&c))
	require.NotZero(t, c.AuthTime, "auth_time present")
	require.LessOrEqual(t, c.AuthTime, time.Now().Unix()+5)
	return idt, c
}

func TestE2EAuthorizationCodeOIDC(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		ctx := t.Context()
		e := apptest.NewEnv(t, b, nil)
		web := e.WebClient(t, nil)
		rs := e.ServiceClient(t, nil)
		cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID, "email", "profile", oidc.ScopeOfflineAccess)
		br := e.Server.NewBrowser(t)

		ar := newAuthRequest(cfg)
		f := br.Authorize(e, ar.URL, true, "allow")
		require.Equal(t, 1, f.LoginPages, "signed in once")
		require.Equal(t, 1, f.ConsentPages, "asked for consent once")
		require.NotEmpty(t, br.Cookie("identity_session"), "a browser session was started")
		code := f.Code(t, ar.State)
		require.True(t, strings.HasPrefix(code, "idt_ac_"))
		tok := ar.exchange(t, cfg, code)
		require.NotEmpty(t, tok.AccessToken)
		require.NotEmpty(t, tok.RefreshToken, "offline_access gives a refresh token")

		provider, err := oidc.NewProvider(ctx, e.Server.URL)
		require.NoError(t, err, "discovery")
		idt, claims := verifyIDToken(t, provider, web.Client.ID, tok, ar.Nonce)
		require.Equal(t, e.User.ID, idt.Subject)
		require.Equal(t, e.Server.URL, idt.Issuer)
		require.Equal(t, []string{web.Client.ID}, idt.Audience)
		require.Equal(t, e.Tenant.ID, claims.TenantID)
		require.InDelta(t, time.Now().Unix(), claims.AuthTime, 120)
		firstAuthTime := claims.AuthTime

		// The ID token's kid is in the JWKS (go-oidc found it; check explicitly).
		h, _ := verifyJWT(t, e.Server, tok.Extra("id_token").(string))
		require.NotEmpty(t, h.KeyID)

		ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		require.NoError(t, err, "userinfo")
		require.Equal(t, e.User.ID, ui.Subject)
		require.Equal(t, e.User.Email, ui.Email)
		require.False(t, ui.EmailVerified)
		var uiClaims map[string]any
		require.NoError(t, ui.Claims(&uiClaims))
		require.Equal(t, "Ada Lovelace", uiClaims["name"])
		require.Equal(t, e.Tenant.ID, uiClaims["tenant_id"])
		require.Contains(t, uiClaims, "email_verified")

		m := e.Server.RequireActive(t, rs, tok.AccessToken)
		require.Equal(t, e.User.ID, m["sub"])
		require.Equal(t, e.Tenant.ID, m["tenant_id"])
		require.Equal(t, web.Client.ID, m["client_id"])
		require.Equal(t, "user", m["principal_type"])
		require.Equal(t, "openid email profile offline_access", m["scope"])

		// A second flow in the same browser, already consented: straight back
		// with a code, no login and no consent page.
		ar2 := newAuthRequest(cfg)
		f2 := br.Authorize(e, ar2.URL, false, "")
		require.Zero(t, f2.LoginPages)
		require.Zero(t, f2.ConsentPages)
		tok2 := ar2.exchange(t, cfg, f2.Code(t, ar2.State))
		_, claims2 := verifyIDToken(t, provider, web.Client.ID, tok2, ar2.Nonce)
		require.Equal(t, firstAuthTime, claims2.AuthTime, "the same login session")

		// Fewer scopes: userinfo follows the granted scopes.
		narrow := e.Server.OAuthConfig(web, oidc.ScopeOpenID)
		ar3 := newAuthRequest(narrow)
		f3 := br.Authorize(e, ar3.URL, false, "")
		require.Zero(t, f3.ConsentPages, "a subset of consented scopes needs no consent")
		tok3 := ar3.exchange(t, narrow, f3.Code(t, ar3.State))
		require.Empty(t, tok3.RefreshToken, "no offline_access, no refresh token")
		_, claims3 := verifyIDToken(t, provider, web.Client.ID, tok3, ar3.Nonce)
		require.Empty(t, claims3.Email)
		require.Nil(t, claims3.EmailVerified)
		require.Empty(t, claims3.Name)
		require.Equal(t, e.Tenant.ID, claims3.TenantID)
		ui3, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok3))
		require.NoError(t, err)
		require.Equal(t, e.User.ID, ui3.Subject)
		var ui3Claims map[string]any
		require.NoError(t, ui3.Claims(&ui3Claims))
		require.Equal(t, map[string]any{"sub": e.User.ID, "tenant_id": e.Tenant.ID}, ui3Claims)
	})
}

func TestE2EAuthorizationCodePromptLogin(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID)
		provider, err := oidc.NewProvider(t.Context(), e.Server.URL)
		require.NoError(t, err)

		// prompt=login right after a login (the same second, most likely)
		// and again later: the login form must show every time.
		for i := range 3 {
			br := e.Server.NewBrowser(t)
			ar := newAuthRequest(cfg)
			f := br.Authorize(e, ar.URL, true, "")
			require.Equal(t, 1, f.LoginPages)
			tok := ar.exchange(t, cfg, f.Code(t, ar.State))
			_, first := verifyIDToken(t, provider, web.Client.ID, tok, ar.Nonce)

			if i == 2 {
				time.Sleep(time.Until(time.Unix(first.AuthTime+1, 100_000_000)))
			}
			ar2 := newAuthRequest(cfg, oauth2.SetAuthURLParam("prompt", "login"))
			f2 := br.Authorize(e, ar2.URL, false, "")
			require.Equal(t, 1, f2.LoginPages, "prompt=login shows the login form although a session exists")
			require.Nil(t, f2.Callback)
			f2 = br.Authorize(e, ar2.URL, true, "")
			require.Equal(t, 1, f2.LoginPages)
			tok2 := ar2.exchange(t, cfg, f2.Code(t, ar2.State))
			_, second := verifyIDToken(t, provider, web.Client.ID, tok2, ar2.Nonce)
			require.GreaterOrEqual(t, second.AuthTime, first.AuthTime)

			// Without prompt, the new session is used as is.
			ar3 := newAuthRequest(cfg)
			f3 := br.Authorize(e, ar3.URL, false, "")
			require.Zero(t, f3.LoginPages)
			f3.Code(t, ar3.State)
		}
	})
}

func TestE2EAuthorizationCodeConsent(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		web := e.WebClient(t, nil)
		first := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })

		// Deny: back to the client with access_denied and the state.
		br := e.Server.NewBrowser(t)
		cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID, "email")
		ar := newAuthRequest(cfg)
		f := br.Authorize(e, ar.URL, true, "deny")
		require.Equal(t, 1, f.ConsentPages)
		require.Equal(t, "access_denied", f.Error(t))
		require.Equal(t, ar.State, f.Callback.Query().Get("state"))

		// A denial grants nothing: the next request asks again.
		ar = newAuthRequest(cfg)
		f = br.Authorize(e, ar.URL, false, "")
		require.Zero(t, f.LoginPages)
		require.Equal(t, 1, f.ConsentPages)

		// prompt=none with a session but no consent: consent_required.
		ar = newAuthRequest(cfg, oauth2.SetAuthURLParam("prompt", "none"))
		f = br.Authorize(e, ar.URL, false, "")
		require.Equal(t, "consent_required", f.Error(t))

		// A skip-consent client never shows the consent page.
		br2 := e.Server.NewBrowser(t)
		fcfg := e.Server.OAuthConfig(first, oidc.ScopeOpenID, "email", "profile")
		ar = newAuthRequest(fcfg)
		f = br2.Authorize(e, ar.URL, true, "")
		require.Equal(t, 1, f.LoginPages)
		require.Zero(t, f.ConsentPages)
		tok := ar.exchange(t, fcfg, f.Code(t, ar.State))
		require.NotEmpty(t, tok.Extra("id_token"))
	})
}

func TestE2EAuthorizationCodePromptNone(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID)
		br := e.Server.NewBrowser(t)

		ar := newAuthRequest(cfg, oauth2.SetAuthURLParam("prompt", "none"))
		f := br.Authorize(e, ar.URL, false, "")
		require.Zero(t, f.LoginPages, "prompt=none never shows the login page")
		require.Equal(t, "login_required", f.Error(t))
		require.Equal(t, ar.State, f.Callback.Query().Get("state"))

		// With a session, prompt=none answers with a code.
		ar = newAuthRequest(cfg)
		f = br.Authorize(e, ar.URL, true, "")
		f.Code(t, ar.State)
		ar = newAuthRequest(cfg, oauth2.SetAuthURLParam("prompt", "none"))
		f = br.Authorize(e, ar.URL, false, "")
		require.Zero(t, f.LoginPages)
		ar.exchange(t, cfg, f.Code(t, ar.State))
	})
}

func TestE2EAuthorizationCodePublicClientPKCE(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		spa := e.WebClient(t, func(in *apptest.NewClient) { in.Public = true; in.SkipConsent = true })
		require.Empty(t, spa.Secret)
		require.Equal(t, "none", spa.Client.TokenEndpointAuthMethod)
		cfg := e.Server.OAuthConfig(spa, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
		br := e.Server.NewBrowser(t)

		// No code_challenge: refused, at the redirect URI.
		state := rand.Text()
		f := br.Authorize(e, cfg.AuthCodeURL(state, oauth2.SetAuthURLParam("nonce", rand.Text())), true, "")
		require.Equal(t, "invalid_request", f.Error(t))
		require.Equal(t, state, f.Callback.Query().Get("state"))

		// The plain method: refused.
		verifier := oauth2.GenerateVerifier()
		f = br.Authorize(e, cfg.AuthCodeURL(state,
			oauth2.SetAuthURLParam("code_challenge", verifier),
			oauth2.SetAuthURLParam("code_challenge_method", "plain")), true, "")
		require.Equal(t, "invalid_request", f.Error(t))

		// S256: works, and the verifier is checked.
		ar := newAuthRequest(cfg)
		f = br.Authorize(e, ar.URL, true, "")
		code := f.Code(t, ar.State)
		_, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(oauth2.GenerateVerifier()))
		require.Equal(t, "invalid_grant", apptest.RetrieveError(t, err).ErrorCode, "a wrong verifier")

		ar = newAuthRequest(cfg)
		f = br.Authorize(e, ar.URL, true, "")
		code = f.Code(t, ar.State)
		_, err = cfg.Exchange(t.Context(), code)
		re := apptest.RetrieveError(t, err)
		require.Contains(t, []string{"invalid_grant", "invalid_request"}, re.ErrorCode, "no verifier")

		ar = newAuthRequest(cfg)
		f = br.Authorize(e, ar.URL, true, "")
		tok := ar.exchange(t, cfg, f.Code(t, ar.State))
		require.NotEmpty(t, tok.Extra("id_token"))
		require.NotEmpty(t, tok.RefreshToken)
		provider, err := oidc.NewProvider(t.Context(), e.Server.URL)
		require.NoError(t, err)
		verifyIDToken(t, provider, spa.Client.ID, tok, ar.Nonce)

		// The public client refreshes with its client_id alone.
		fresh, err := cfg.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		require.NoError(t, err)
		require.NotEqual(t, tok.RefreshToken, fresh.RefreshToken)
	})
}

func TestE2EAuthorizationCodeRedirectURI(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		web := e.WebClient(t, nil)
		br := e.Server.NewBrowser(t)

		for _, evil := range []string{
			"https://evil.example/callback",
			apptest.RedirectURI + "/more",
			apptest.RedirectURI + "?x=1",
			"https://client.example.evil.example/callback",
		} {
			cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID)
			cfg.RedirectURL = evil
			ar := newAuthRequest(cfg)
			res := br.Get(ar.URL)
			require.NotContains(t, []int{http.StatusFound, http.StatusSeeOther, http.StatusMovedPermanently, http.StatusTemporaryRedirect}, res.Status,
				"no redirect for unregistered %s", evil)
			require.Empty(t, res.Header.Get("Location"))
			require.Equal(t, "/api/oauth/authorize", res.URL.Path, "the browser never left the authorization endpoint")
			require.GreaterOrEqual(t, res.Status, 400)
			require.NotContains(t, string(res.Body), "evil.example")
		}
	})
}

func TestE2ELoginWrongPassword(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID)
		br := e.Server.NewBrowser(t)
		ar := newAuthRequest(cfg)
		f := br.Authorize(e, ar.URL, false, "")
		require.Equal(t, 1, f.LoginPages)
		loginPage := f.Last

		sentence := identity.ErrBadCredentials().Msg
		var bodies []string
		for _, tc := range []struct{ email, password string }{
			{e.User.Email, "wrong password!"},
			{"nobody@example.com", apptest.Password},
			{e.User.Email, ""},
		} {
			res := br.LoginAs(loginPage, e.Tenant.Slug, tc.email, tc.password)
			require.Equal(t, http.StatusUnauthorized, res.Status)
			require.Equal(t, "/login", res.URL.Path)
			body := string(res.Body)
			require.Equal(t, 1, strings.Count(body, `role="alert"`), "one error message: %s", body)
			require.Equal(t, 1, strings.Count(body, sentence), "the generic sentence once: %s", body)
			for _, h := range res.Header.Values("Set-Cookie") {
				require.False(t, strings.HasPrefix(h, "identity_session="), "no session cookie: %s", h)
			}
			require.Empty(t, br.Cookie("identity_session"))
			// The page can be submitted again: it keeps the return_to.
			form := apptest.ParseForm(t, res)
			require.Equal(t, apptest.ParseForm(t, loginPage).Fields.Get("return_to"), form.Fields.Get("return_to"))
			bodies = append(bodies, strings.ReplaceAll(body, form.Fields.Get("csrf"), ""))
			loginPage = res
		}
		// A wrong password and an unknown e-mail read the same (but for the
		// echoed e-mail address).
		require.Equal(t, bodies[0], strings.ReplaceAll(bodies[1], "nobody@example.com", e.User.Email))

		// Signing in from the re-rendered page finishes the flow.
		res := br.LoginAs(loginPage, e.Tenant.Slug, e.User.Email, apptest.Password)
		loc := res.Location(t)
		require.NotNil(t, loc, "redirect to the client: %d %s", res.Status, res.Body)
		require.Equal(t, ar.State, loc.Query().Get("state"))
		require.NotEmpty(t, loc.Query().Get("code"))
		require.NotEmpty(t, br.Cookie("identity_session"))
	})
}

// TestE2EAuthorizationCodeSingleUse: a code works once; a second exchange
// fails and revokes what the first one issued (RFC 6749 §4.1.2).
func TestE2EAuthorizationCodeSingleUse(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		rs := e.ServiceClient(t, nil)
		cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
		br := e.Server.NewBrowser(t)

		ar := newAuthRequest(cfg)
		code := br.Authorize(e, ar.URL, true, "").Code(t, ar.State)
		tok := ar.exchange(t, cfg, code)
		require.NotEmpty(t, tok.RefreshToken)
		e.Server.RequireActive(t, rs, tok.AccessToken)
		e.Server.RequireActive(t, rs, tok.RefreshToken)

		_, err := cfg.Exchange(t.Context(), code, oauth2.VerifierOption(ar.Verifier))
		re := apptest.RetrieveError(t, err)
		require.Equal(t, "invalid_grant", re.ErrorCode)
		require.Equal(t, http.StatusBadRequest, re.Response.StatusCode)

		e.Server.RequireInactive(t, rs, tok.AccessToken)
		e.Server.RequireInactive(t, rs, tok.RefreshToken)
		_, err = cfg.TokenSource(t.Context(), &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		require.Equal(t, "invalid_grant", apptest.RetrieveError(t, err).ErrorCode)

		// Another client cannot use a code either.
		other := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		ocfg := e.Server.OAuthConfig(other, oidc.ScopeOpenID)
		ar = newAuthRequest(cfg)
		code = br.Authorize(e, ar.URL, false, "").Code(t, ar.State)
		_, err = ocfg.Exchange(t.Context(), code, oauth2.VerifierOption(ar.Verifier))
		require.Equal(t, "invalid_grant", apptest.RetrieveError(t, err).ErrorCode)
	})
}
