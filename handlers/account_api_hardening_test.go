package handlers_test

// Issue 8, account and token hardening: bearer credentials, login steps of
// deactivated users, forced password changes, the throttled password
// re-check, factor enrolment, impersonation.

import (
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
)

// hdBearer sends method path with the bearer token placed as where says:
// "header", "query" (?access_token=) or "form" (access_token field).
func hdBearer(t *testing.T, srv *apptest.Server, method, path, token, where string) *apptest.Result {
	t.Helper()
	target := srv.URL + path
	var body *strings.Reader
	switch where {
	case "query":
		target += "?access_token=" + url.QueryEscape(token)
	case "form":
		body = strings.NewReader(url.Values{"access_token": {token}}.Encode())
	}
	var req *http.Request
	var err error
	if body != nil {
		req, err = http.NewRequest(method, target, body)
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	} else {
		req, err = http.NewRequest(method, target, nil)
		require.NoError(t, err)
	}
	if where == "header" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return apptest.ReadResult(t, resp)
}

// TestBearerAccessTokensOnly: a refresh token or an authorization code is
// never a bearer credential, at userinfo or on the API (401 invalid_token).
func TestBearerAccessTokensOnly(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID, "email", oidc.ScopeOfflineAccess)
		br := e.Server.NewBrowser(t)
		tok, _ := loggedInGrant(t, e.Env, br, cfg)
		ar := newAuthRequest(cfg)
		code := br.Authorize(e.Env, ar.URL, false, "").Code(t, ar.State)

		res := hdBearer(t, e.Server, http.MethodGet, "/api/oauth/userinfo", tok.AccessToken, "header")
		require.Equal(t, http.StatusOK, res.Status, "the access token works: %s", res.Body)
		for name, cred := range map[string]string{"refresh token": tok.RefreshToken, "authorization code": code} {
			t.Run(name, func(t *testing.T) {
				for _, path := range []string{"/api/oauth/userinfo", "/api/auth/me", "/api/users"} {
					res := hdBearer(t, e.Server, http.MethodGet, path, cred, "header")
					require.Equal(t, http.StatusUnauthorized, res.Status, "%s at %s: %s", name, path, res.Body)
					require.Equal(t, "invalid_token", res.JSON(t)["error"], "%s at %s: %s", name, path, res.Body)
				}
			})
		}
		// The refresh token itself still refreshes: only its bearer use is refused.
		requireTokens(t, refreshRequest(t, e.Server, web, tok.RefreshToken))
	})
}

// TestBearerHeaderOnly: access tokens and API keys are read from the
// Authorization header only, never from ?access_token= or a form field.
func TestBearerHeaderOnly(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		m := withClientsAdmin(t, e.Env)
		sa := requireAnswer(t, e.Server.Call(t, http.MethodPost, "/api/service-accounts", m.token, map[string]any{"name": "hd-bot"}).NotServerError(t), http.StatusCreated, "")
		e.Server.StepUp(t, m.token, apptest.Password)
		_, key := newAPIKey(t, m, sa["id"].(string), map[string]any{"name": "hd"})
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
		oidcTok, _ := loggedInGrant(t, e.Env, e.Server.NewBrowser(t), cfg)

		cases := []struct {
			name, method, path, token string
		}{
			{"first-party token", http.MethodGet, "/api/auth/me", e.token(t, e.User).Token},
			{"API key", http.MethodPost, "/api/authorizations/check", key},
			{"userinfo access token", http.MethodGet, "/api/oauth/userinfo", oidcTok.AccessToken},
			{"userinfo access token (POST)", http.MethodPost, "/api/oauth/userinfo", oidcTok.AccessToken},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				for _, where := range []string{"query", "form"} {
					if where == "form" && tc.method == http.MethodGet {
						continue
					}
					res := hdBearer(t, e.Server, tc.method, tc.path, tc.token, where)
					require.Equal(t, http.StatusUnauthorized, res.Status, "%s in the %s: %s", tc.name, where, res.Body)
				}
				res := hdBearer(t, e.Server, tc.method, tc.path, tc.token, "header")
				require.NotEqual(t, http.StatusUnauthorized, res.Status, "%s in the header: %s", tc.name, res.Body)
				require.Less(t, res.Status, 500, "%s in the header: %s", tc.name, res.Body)
			})
		}
	})
}

// TestLoginStepsRefuseInactive: a user deactivated (or a tenant suspended)
// while a login waits at the second factor or the forced password change
// cannot finish it, on the API and the HTML pages; and a bearer token of an
// inactive user (or a suspended tenant) is refused.
func TestLoginStepsRefuseInactive(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		deactivate := func(t *testing.T, u *models.User) {
			e.Exec(t, "UPDATE users SET is_active = ? WHERE id = ?", false, u.ID)
		}
		suspend := func(t *testing.T, u *models.User) {
			// A tenant of its own, so other subtests keep theirs.
			e.Exec(t, "UPDATE tenants SET suspended_at = ? WHERE id = ?", time.Now().UTC(), u.TenantID)
		}
		newUser := func(t *testing.T, own bool) (*accountEnv, *models.User) {
			if !own {
				return e, e.newUser(t)
			}
			o := &accountEnv{Env: apptest.Seed(t, e.Server), rs: e.rs, mail: e.mail}
			return o, o.User
		}
		type step struct {
			name string
			// start readies a pending step and returns a func that tries
			// to finish it.
			start func(t *testing.T, env *accountEnv, u *models.User) func() *apptest.Result
		}
		steps := []step{
			{"2fa api", func(t *testing.T, env *accountEnv, u *models.User) func() *apptest.Result {
				secret, _ := env.enableTOTP(t, env.token(t, u).Token)
				ch := env.challenge(t, u, "")
				return func() *apptest.Result {
					return env.verify(t, map[string]any{"challenge": ch.Challenge, "code": apptest.TOTP(t, secret, 0)})
				}
			}},
			{"forced change api", func(t *testing.T, env *accountEnv, u *models.User) func() *apptest.Result {
				env.Exec(t, "UPDATE users SET force_password_change = ? WHERE id = ?", true, u.ID)
				l := env.login(t, u, apptest.Password, nil)
				require.Equal(t, true, l.Body["password_change_required"], "%v", l.Body)
				return func() *apptest.Result {
					return env.Do(t, apptest.Request{Path: "/api/auth/password/change-required", Body: map[string]any{"challenge": l.Challenge, "new_password": "Another#Password42"}})
				}
			}},
		}
		for _, st := range steps {
			for _, what := range []string{"deactivated", "suspended"} {
				t.Run(st.name+"/"+what, func(t *testing.T) {
					env, u := newUser(t, what == "suspended")
					finish := st.start(t, env, u)
					if what == "deactivated" {
						deactivate(t, u)
					} else {
						suspend(t, u)
					}
					res := finish()
					require.Contains(t, []int{http.StatusUnauthorized, http.StatusForbidden}, res.Status, "the pending step is refused: %s", res.Body)
					require.NotContains(t, res.JSON(t), "access_token")
				})
			}
		}
		t.Run("2fa page", func(t *testing.T) {
			u := e.newUser(t)
			secret, _ := e.enableTOTP(t, e.token(t, u).Token)
			web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
			ar := newAuthRequest(e.Server.OAuthConfig(web, oidc.ScopeOpenID))
			br := e.Server.NewBrowser(t)
			page := br.Get(ar.URL)
			require.True(t, br.IsPage(page, "/login"), "the login page: %s", page.Body)
			res := br.LoginAs(page, e.Tenant.Slug, u.Email, apptest.Password)
			require.Equal(t, http.StatusOK, res.Status)
			form := apptest.ParseForm(t, res)
			require.Contains(t, form.Action, "/login/2fa", "the 2FA page: %s", res.Body)
			deactivate(t, u)
			form.Fields.Set("code", apptest.TOTP(t, secret, 0))
			out := br.Post(form.Action, form.Fields)
			if loc := out.Location(t); loc != nil {
				require.NotContains(t, loc.String(), "code=", "no authorization code for a deactivated user")
			}
			require.Less(t, out.Status, 500, "%s", out.Body)
		})
		t.Run("forced change page", func(t *testing.T) {
			u := e.newUser(t)
			e.Exec(t, "UPDATE users SET force_password_change = ? WHERE id = ?", true, u.ID)
			web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
			ar := newAuthRequest(e.Server.OAuthConfig(web, oidc.ScopeOpenID))
			br := e.Server.NewBrowser(t)
			page := br.Get(ar.URL)
			require.True(t, br.IsPage(page, "/login"), "the login page: %s", page.Body)
			res := br.LoginAs(page, e.Tenant.Slug, u.Email, apptest.Password)
			form := apptest.ParseForm(t, res)
			require.Contains(t, form.Action, "/login/password", "the forced-change page: %s", res.Body)
			deactivate(t, u)
			form.Fields.Set("new_password", "Another#Password42")
			form.Fields.Set("confirm_password", "Another#Password42")
			out := br.Post(form.Action, form.Fields)
			if loc := out.Location(t); loc != nil {
				require.NotContains(t, loc.String(), "code=", "no authorization code for a deactivated user")
			}
			require.Less(t, out.Status, 500, "%s", out.Body)
			// The password was not changed either: the step stopped first.
			e.Exec(t, "UPDATE users SET is_active = ? WHERE id = ?", true, u.ID)
			l := e.login(t, u, apptest.Password, nil)
			require.Equal(t, true, l.Body["password_change_required"], "the old password still signs in: %v", l.Body)
		})
		t.Run("bearer of an inactive user", func(t *testing.T) {
			for _, what := range []string{"deactivated", "suspended"} {
				env, u := newUser(t, what == "suspended")
				tok := env.token(t, u).Token
				require.Equal(t, http.StatusOK, env.me(t, tok))
				if what == "deactivated" {
					deactivate(t, u)
				} else {
					suspend(t, u)
				}
				res := env.Do(t, apptest.Request{Method: http.MethodGet, Path: "/api/auth/me", Token: tok})
				requireErrorShape(t, res, http.StatusUnauthorized, "invalid_token")
			}
		})
	})
}

// TestForcedPasswordChangeRevokesAndBinds: an admin's forced change ends
// the user's tokens at once, and no login path skips it: password (a
// change challenge), PIN (refused), a 2FA login pending when it was forced
// (a change challenge, not a token).
func TestForcedPasswordChangeRevokesAndBinds(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		owner := newRoleUser(t, e.Server, e.Tenant, userOpts{role: identity.RoleOwner})
		otok := e.Server.Login(t, e.Tenant.Slug, owner.Email, apptest.Password)
		force := func(t *testing.T, u *models.User) {
			res := e.Server.Call(t, http.MethodPost, "/api/users/"+u.ID+"/force-password-change", otok, nil)
			require.Equal(t, http.StatusOK, res.Status, "force: %s", res.Body)
		}

		u := e.newUser(t)
		l := e.token(t, u)
		require.Equal(t, http.StatusNoContent, e.Do(t, apptest.Request{Method: http.MethodPut, Path: "/api/auth/pin", Token: l.Token, Body: map[string]any{"pin": "258147", "password": apptest.Password}}).Status)
		e.requireLive(t, l.Token)
		force(t, u)
		e.requireDead(t, l.Token)
		// PIN login from the known device: refused, it cannot change the password.
		res := e.Do(t, apptest.Request{Path: "/api/auth/pin/login", Device: l.Device, Body: map[string]any{"tenant": e.Tenant.Slug, "email": u.Email, "pin": "258147"}})
		requireErrorShape(t, res, http.StatusForbidden, "password_change_required")
		// Password login: the change comes first.
		pl := e.login(t, u, apptest.Password, nil)
		require.Equal(t, true, pl.Body["password_change_required"], "%v", pl.Body)
		require.Empty(t, pl.Token)

		// Forced while a 2FA login is pending: the code does not give a token.
		v := e.newUser(t)
		secret, _ := e.enableTOTP(t, e.token(t, v).Token)
		ch := e.challenge(t, v, "")
		force(t, v)
		res = e.verify(t, map[string]any{"challenge": ch.Challenge, "code": apptest.TOTP(t, secret, 0)})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		m := res.JSON(t)
		require.Equal(t, true, m["password_change_required"], "the change comes before the token: %v", m)
		require.NotContains(t, m, "access_token")
	})
}

// TestPasswordRecheckCountsTowardsLockout: every endpoint that re-checks a
// signed-in user's password counts a wrong one as a failed login, so
// MaxFailedLogins wrong passwords lock the account (login refuses the right
// password afterwards), and the re-check itself is throttled like login.
func TestPasswordRecheckCountsTowardsLockout(t *testing.T) {
	t.Parallel()
	endpoints := []struct {
		method, path string
		body         func(pw string) map[string]any
	}{
		{http.MethodPost, "/api/auth/password", func(pw string) map[string]any {
			return map[string]any{"current_password": pw, "new_password": "Brand#NewPassword9"}
		}},
		{http.MethodPost, "/api/auth/2fa/recovery-codes", func(pw string) map[string]any { return map[string]any{"password": pw} }},
		{http.MethodPut, "/api/auth/pin", func(pw string) map[string]any { return map[string]any{"pin": "258147", "password": pw} }},
		{http.MethodPost, "/api/auth/pin/unlock", func(pw string) map[string]any { return map[string]any{"password": pw} }},
		{http.MethodPost, "/api/auth/2fa/email/enable", func(pw string) map[string]any { return map[string]any{"password": pw} }},
		{http.MethodPost, "/api/auth/2fa/disable", func(pw string) map[string]any { return map[string]any{"password": pw, "code": "123456"} }},
		{http.MethodPost, "/api/auth/2fa/setup", func(pw string) map[string]any { return map[string]any{"password": pw} }},
		{http.MethodPost, "/api/auth/2fa/enable", func(pw string) map[string]any { return map[string]any{"password": pw, "code": "123456"} }},
		{http.MethodPost, "/api/auth/step-up", func(pw string) map[string]any { return map[string]any{"password": pw} }},
	}
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		for _, ep := range endpoints {
			t.Run(ep.method+" "+ep.path, func(t *testing.T) {
				u := e.newUser(t)
				tok := e.token(t, u).Token
				for i := 1; i <= 5; i++ {
					res := e.Do(t, apptest.Request{Method: ep.method, Path: ep.path, Token: tok, Body: ep.body("Wrong-Password-1")})
					requireErrorShape(t, res, http.StatusUnauthorized, "invalid_password")
				}
				res := e.Do(t, apptest.Request{Method: ep.method, Path: ep.path, Token: tok, Body: ep.body(apptest.Password)})
				requireErrorShape(t, res, http.StatusTooManyRequests, "account_locked")
				res = e.PasswordLogin(t, e.Tenant.Slug, u.Email, apptest.Password, nil)
				requireErrorShape(t, res, http.StatusTooManyRequests, "account_locked")
			})
		}
	})
	// Throttled like login: the 6th re-check in a minute from one address
	// is 429 rate_limited before the password is compared.
	eachAccountEnv(t, rlProduction, func(t *testing.T, e *accountEnv) {
		u := e.newUser(t)
		tok := e.token(t, u).Token
		for i := 1; i <= 5; i++ {
			res := e.Do(t, apptest.Request{Path: "/api/auth/step-up", Token: tok, Body: map[string]any{"password": "Wrong-Password-1"}})
			requireErrorShape(t, res, http.StatusUnauthorized, "invalid_password")
		}
		requireErrorShape(t, e.Do(t, apptest.Request{Path: "/api/auth/step-up", Token: tok, Body: map[string]any{"password": apptest.Password}}), http.StatusTooManyRequests, "rate_limited")
	})
}

// TestFactorEnrolmentNeedsPassword: a bearer token alone cannot enrol or
// change a factor; the password (or a step-up with it in this session)
// can, a step-up with another factor cannot.
func TestFactorEnrolmentNeedsPassword(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		u := e.newUser(t)
		tok := e.token(t, u).Token
		enrol := []apptest.Request{
			{Path: "/api/auth/2fa/setup", Body: map[string]any{}},
			{Path: "/api/auth/2fa/enable", Body: map[string]any{"code": "123456"}},
			{Path: "/api/auth/2fa/email/enable", Body: map[string]any{}},
			{Path: "/api/auth/2fa/recovery-codes", Body: map[string]any{}},
			{Method: http.MethodPut, Path: "/api/auth/pin", Body: map[string]any{"pin": "258147"}},
		}
		for _, r := range enrol {
			r.Token = tok
			requireErrorShape(t, e.Do(t, r), http.StatusForbidden, "password_required")
		}
		// A PIN step-up does not stand in for the password.
		require.Equal(t, http.StatusNoContent, e.Do(t, apptest.Request{Method: http.MethodPut, Path: "/api/auth/pin", Token: tok, Body: map[string]any{"pin": "258147", "password": apptest.Password}}).Status)
		other := e.token(t, u).Token
		require.Equal(t, http.StatusOK, e.Do(t, apptest.Request{Path: "/api/auth/step-up", Token: other, Body: map[string]any{"pin": "258147"}}).Status)
		requireErrorShape(t, e.Do(t, apptest.Request{Path: "/api/auth/2fa/setup", Token: other, Body: map[string]any{}}), http.StatusForbidden, "password_required")
		// A password step-up does, for this session only.
		require.Equal(t, http.StatusOK, e.Do(t, apptest.Request{Path: "/api/auth/step-up", Token: tok, Body: map[string]any{"password": apptest.Password}}).Status)
		res := e.Do(t, apptest.Request{Path: "/api/auth/2fa/setup", Token: tok, Body: map[string]any{}})
		require.Equal(t, http.StatusOK, res.Status, "setup after a password step-up: %s", res.Body)
		requireErrorShape(t, e.Do(t, apptest.Request{Path: "/api/auth/2fa/setup", Token: other, Body: map[string]any{}}), http.StatusForbidden, "password_required")
	})
}

// hdImpersonate mints an impersonation token for u on behalf of adminID, as
// POST /api/admin/impersonate does.
func hdImpersonate(t *testing.T, srv *apptest.Server, u *models.User, adminID string) string {
	t.Helper()
	fp := &oauth.FirstParty{Provider: srv.Provider, Clients: srv.Store}
	tok, _, err := fp.IssueImpersonationToken(t.Context(), u, adminID, u.TenantID, 10*time.Minute)
	require.NoError(t, err)
	return tok
}

// hdImpersonationAllowed are the account-API routes an impersonation token
// may use (mirrors handlers/impersonation.go: widening it needs this list
// to change too, on purpose).
var hdImpersonationAllowed = map[string]bool{
	"GET /api/auth/me": true, "PATCH /api/auth/me": true, "GET /api/devices": true,
	"GET /api/audit/me": true, "GET /api/auth/step-up/status": true, "POST /api/auth/logout": true,
}

// hdPublicAuth are the unauthenticated /api/auth routes (login steps).
var hdPublicAuth = map[string]bool{
	"POST /api/auth/login": true, "POST /api/auth/2fa/verify": true, "POST /api/auth/2fa/resend": true,
	"POST /api/auth/password/change-required": true, "POST /api/auth/password/forgot": true,
	"POST /api/auth/password/reset": true, "POST /api/auth/pin/login": true,
	"POST /api/auth/register": true, "POST /api/auth/email/verify": true, "POST /api/auth/refresh": true,
	"POST /api/auth/2fa/enrol/totp/setup": true, "POST /api/auth/2fa/enrol/totp": true,
	"POST /api/auth/2fa/enrol/email/send": true, "POST /api/auth/2fa/enrol/email": true,
	// Issue 12 §2: a login's passkey second step and passwordless sign-in.
	"POST /api/auth/webauthn/2fa/begin": true, "POST /api/auth/webauthn/2fa/finish": true,
	"POST /api/auth/webauthn/login/begin": true, "POST /api/auth/webauthn/login/finish": true,
	// Issue 12 §1: the browser's way to an upstream provider and back (no
	// bearer token; the start's link=1 reads the browser's cookie).
	"GET /api/auth/federation/:id/start": true, "GET /api/auth/federation/:id/callback": true,
}

// TestImpersonationRefusedOnSecurityRoutes walks every route of the
// account and security API with an impersonation token: all but the few
// allowed ones answer 403 impersonation_forbidden before doing anything,
// so a security route added later is refused too. Admin routes that change
// someone's credentials are refused the same way, whatever the user holds.
func TestImpersonationRefusedOnSecurityRoutes(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		u := newRoleUser(t, e.Server, e.Tenant, userOpts{role: identity.RoleOwner, dangerZone: true})
		imp := hdImpersonate(t, e.Server, u, uuid.NewString())
		checked := 0
		for _, r := range e.Server.Echo.Routes() {
			key := r.Method + " " + r.Path
			account := strings.HasPrefix(r.Path, "/api/auth/") || strings.HasPrefix(r.Path, "/api/devices") || r.Path == "/api/audit/me"
			if !account || hdPublicAuth[key] || r.Method == "echo_route_not_found" || hdImpersonationAllowed[key] {
				continue
			}
			path := oaParamRE.ReplaceAllStringFunc(r.Path, func(string) string { return uuid.NewString() })
			res := e.Do(t, apptest.Request{Method: r.Method, Path: path, Token: imp, Body: map[string]any{"password": apptest.Password, "pin": "258147", "code": "123456"}})
			requireErrorShape(t, res, http.StatusForbidden, "impersonation_forbidden")
			checked++
		}
		require.GreaterOrEqual(t, checked, 12, "the walk reached the security routes")
		for key := range hdImpersonationAllowed {
			method, path, _ := strings.Cut(key, " ")
			if key == "POST /api/auth/logout" {
				continue // would end the token the walk uses
			}
			var body any
			if method == http.MethodPatch {
				body = map[string]any{"name": "Impersonated"}
			}
			res := e.Do(t, apptest.Request{Method: method, Path: path, Token: imp, Body: body})
			require.Equal(t, http.StatusOK, res.Status, "%s under impersonation: %s", key, res.Body)
		}
		// Admin routes that change someone's credentials or security settings.
		for _, r := range routesOf(e.Server) {
			last := r.Permission[strings.LastIndexByte(r.Permission, '.')+1:]
			if !(last == "force_password_change" || last == "unlock" || last == "reset_2fa" || last == "rotate" || strings.HasPrefix(r.Permission, "identity.api_keys.")) {
				continue
			}
			path := oaParamRE.ReplaceAllStringFunc(r.Path, func(string) string { return uuid.NewString() })
			requireErrorShape(t, e.Do(t, apptest.Request{Method: r.Method, Path: path, Token: imp, Body: map[string]any{}}), http.StatusForbidden, "impersonation_forbidden")
		}
		// The user's own token is not affected.
		utok := e.Server.Login(t, e.Tenant.Slug, u.Email, apptest.Password)
		require.Equal(t, http.StatusOK, e.Do(t, apptest.Request{Path: "/api/auth/step-up", Token: utok, Body: map[string]any{"password": apptest.Password}}).Status)
	})
}

// TestImpersonationAuditNamesAdmin: an action taken with an impersonation
// token is audited with the admin as actor_id and the user as subject.
func TestImpersonationAuditNamesAdmin(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		u := e.newUser(t)
		adminID := uuid.NewString()
		imp := hdImpersonate(t, e.Server, u, adminID)
		res := e.Do(t, apptest.Request{Method: http.MethodPatch, Path: "/api/auth/me", Token: imp, Body: map[string]any{"name": "Changed By Support"}})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		var found bool
		for _, row := range e.Server.TableRows(t, "audit_logs") {
			if row["action"] != identity.AuditProfileUpdated || row["user_id"] != u.ID {
				continue
			}
			found = true
			require.Equal(t, adminID, row["actor_id"], "the admin is the actor: %v", row)
			require.Contains(t, row["metadata"], adminID, "the metadata names the admin: %v", row)
		}
		require.True(t, found, "the profile change was audited")

		// The directory (another service, its own audit helper) follows the
		// same rule: an Owner impersonated renames a member.
		owner := newRoleUser(t, e.Server, e.Tenant, userOpts{role: identity.RoleOwner})
		member := e.newUser(t)
		imp = hdImpersonate(t, e.Server, owner, adminID)
		res = e.Do(t, apptest.Request{Method: http.MethodPatch, Path: "/api/users/" + member.ID, Token: imp, Body: map[string]any{"name": "Renamed By Support"}})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		found = false
		for _, row := range e.Server.TableRows(t, "audit_logs") {
			if row["action"] != identity.AuditUserUpdated || row["user_id"] != member.ID {
				continue
			}
			found = true
			require.Equal(t, adminID, row["actor_id"], "the admin is the actor: %v", row)
			require.Contains(t, row["metadata"], owner.ID, "the metadata names the impersonated user: %v", row)
		}
		require.True(t, found, "the rename was audited")
	})
}
