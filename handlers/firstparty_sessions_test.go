package handlers_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

// The first-party sessions of issue 10 §10: a remembered API login's
// refresh token, rotated by the token endpoint's one rule, and the browser
// session a same-origin JSON login may start beside its tokens.

// refreshFirstParty posts POST /api/auth/refresh.
func refreshFirstParty(t *testing.T, e *accountEnv, refreshToken string) *apptest.Result {
	t.Helper()
	return e.Do(t, apptest.Request{Path: "/api/auth/refresh", Body: map[string]any{"refresh_token": refreshToken}}).NotServerError(t)
}

// remembered logs u in with remember and returns the login and its refresh token.
func remembered(t *testing.T, e *accountEnv, u *models.User) (apptest.LoginAnswer, string) {
	t.Helper()
	l := e.login(t, u, apptest.Password, func(_ *apptest.Request, b map[string]any) { b["remember"] = true })
	rt, _ := l.Body["refresh_token"].(string)
	require.NotEmpty(t, rt, "a remembered login gets a refresh token: %v", l.Body)
	return l, rt
}

// rotated is a successful refresh's answer.
type rotated struct{ access, refresh string }

func requireRotated(t *testing.T, res *apptest.Result, sessionID string) rotated {
	t.Helper()
	require.Equal(t, http.StatusOK, res.Status, "refresh: %s", res.Body)
	require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	m := res.JSON(t)
	r := rotated{access: m["access_token"].(string), refresh: m["refresh_token"].(string)}
	require.NotEmpty(t, r.access)
	require.NotEmpty(t, r.refresh)
	require.Equal(t, "Bearer", m["token_type"])
	require.Equal(t, sessionID, m["session_id"], "the refreshed grant stays on its login session")
	require.InDelta(t, (24 * time.Hour).Seconds(), m["expires_in"], 60, "the usual access-token lifetime")
	return r
}

func TestFirstPartyRefresh(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		t.Run("no remember, no refresh token", func(t *testing.T) {
			t.Parallel()
			l := e.token(t, e.newUser(t))
			require.NotContains(t, l.Body, "refresh_token")
			require.NotContains(t, l.Body, "browser_session")
		})

		t.Run("remember gives a refresh token for the session", func(t *testing.T) {
			t.Parallel()
			u := e.newUser(t)
			l, rt := remembered(t, e, u)
			require.True(t, strings.HasPrefix(rt, "idt_rt_"), "an ordinary refresh token")
			require.InDelta(t, (24 * time.Hour).Seconds(), l.Body["expires_in"], 60, "the access token keeps the usual lifetime")
			in := e.Server.RequireActive(t, e.rs, l.Token)
			require.Equal(t, "offline_access", in["scope"])
			rin := e.Server.RequireActive(t, e.rs, rt)
			s, err := e.Server.Store.GetSession(t.Context(), u.TenantID, u.ID, l.SessionID)
			require.NoError(t, err)
			require.Equal(t, 720*time.Hour, s.ExpiresAt.Sub(s.CreatedAt).Round(time.Minute), "a remembered session")
			require.InDelta(t, float64(s.ExpiresAt.Unix()), rin["exp"], 2, "the refresh token ends with its session")
			// A refresh token is no bearer credential.
			requireErrorShape(t, e.Do(t, apptest.Request{Method: http.MethodGet, Path: "/api/auth/me", Token: rt}), http.StatusUnauthorized, "invalid_token")
		})

		t.Run("the second-factor step finishes a remembered login", func(t *testing.T) {
			t.Parallel()
			u := e.newUser(t)
			secret, _ := e.enableTOTP(t, e.token(t, u).Token)
			same := func(r *apptest.Request, b map[string]any) {
				b["remember"], b["session"] = true, true
				r.Header = map[string]string{"Origin": e.Server.URL}
			}
			// A browser session was asked for: the finishing step must be
			// same-origin too.
			l := e.login(t, u, apptest.Password, same)
			require.NotEmpty(t, l.Challenge)
			requireErrorShape(t, e.verify(t, map[string]any{"challenge": l.Challenge, "code": apptest.TOTP(t, secret, 0)}),
				http.StatusForbidden, "same_origin_required")
			l = e.login(t, u, apptest.Password, same)
			res := e.Do(t, apptest.Request{Path: "/api/auth/2fa/verify", Header: map[string]string{"Origin": e.Server.URL},
				Body: map[string]any{"challenge": l.Challenge, "code": apptest.TOTP(t, secret, 1)}})
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			done := apptest.ParseLogin(t, res)
			require.Equal(t, true, done.Body["browser_session"])
			require.Contains(t, res.Header.Get("Set-Cookie"), "identity_session=")
			rt, _ := done.Body["refresh_token"].(string)
			require.NotEmpty(t, rt, "remember carried through the challenge")
			r := requireRotated(t, refreshFirstParty(t, e, rt), done.SessionID)
			in := e.Server.RequireActive(t, e.rs, r.access)
			require.Contains(t, in["amr"], "otp", "the refreshed token keeps how the login was made")
		})

		t.Run("rotation and reuse", func(t *testing.T) {
			t.Parallel()
			u := e.newUser(t)
			l, rt := remembered(t, e, u)
			r1 := requireRotated(t, refreshFirstParty(t, e, rt), l.SessionID)
			require.NotEqual(t, rt, r1.refresh, "the refresh token rotates")
			e.Server.RequireActive(t, e.rs, r1.access)
			e.Server.RequireInactive(t, e.rs, l.Token)
			e.Server.RequireInactive(t, e.rs, rt)
			me := e.Do(t, apptest.Request{Method: http.MethodGet, Path: "/api/auth/me", Token: r1.access})
			require.Equal(t, http.StatusOK, me.Status, "%s", me.Body)
			require.Equal(t, l.SessionID, me.JSON(t)["session"].(map[string]any)["id"])

			r2 := requireRotated(t, refreshFirstParty(t, e, r1.refresh), l.SessionID)
			e.Server.RequireInactive(t, e.rs, r1.access)

			// The rotated token again: reuse, and the whole grant ends.
			// (Introspecting a rotated token above counts as a sighting too.)
			reuses := e.auditCount(t, u, identity.AuditRefreshReuse)
			requireErrorShape(t, refreshFirstParty(t, e, r1.refresh), http.StatusUnauthorized, "invalid_refresh_token")
			e.Server.RequireInactive(t, e.rs, r2.access)
			e.Server.RequireInactive(t, e.rs, r2.refresh)
			requireErrorShape(t, refreshFirstParty(t, e, r2.refresh), http.StatusUnauthorized, "invalid_refresh_token")
			require.Equal(t, reuses+1, e.auditCount(t, u, identity.AuditRefreshReuse), "the reuse is audited once")

			// Another remembered login of the user goes on.
			l2, rt2 := remembered(t, e, u)
			requireRotated(t, refreshFirstParty(t, e, rt2), l2.SessionID)
		})

		t.Run("concurrent refreshes of one token", func(t *testing.T) {
			t.Parallel()
			u := e.newUser(t)
			_, rt := remembered(t, e, u)
			const n = 20
			results := make([]*apptest.Result, n)
			errs := make([]error, n)
			start := make(chan struct{})
			var wg sync.WaitGroup
			for i := range n {
				wg.Go(func() {
					<-start
					results[i], errs[i] = apptest.Send(e.Server.URL, apptest.Request{Path: "/api/auth/refresh", Body: map[string]any{"refresh_token": rt}})
				})
			}
			close(start)
			wg.Wait()
			ok := 0
			for i, r := range results {
				require.NoError(t, errs[i])
				switch r.Status {
				case http.StatusOK:
					ok++
				case http.StatusUnauthorized:
					require.Equal(t, "invalid_refresh_token", r.Str("error"), "request %d: %s", i, r.Body)
				default:
					t.Fatalf("request %d: unexpected %d %s", i, r.Status, r.Body)
				}
			}
			require.Equal(t, 1, ok, "exactly one concurrent refresh wins, as at the token endpoint")
			require.NotContains(t, e.Server.ErrorLogs(), "refresh", "no refresh failed on the server side")
		})

		t.Run("refused for a user who may no longer sign in", func(t *testing.T) {
			t.Parallel()
			tests := []struct {
				name   string
				before func(t *testing.T, u *models.User, l apptest.LoginAnswer)
				status int
				code   string
				after  func(t *testing.T, u *models.User) // undoes before; the token then works again
			}{
				{"logout", func(t *testing.T, _ *models.User, l apptest.LoginAnswer) {
					require.Equal(t, http.StatusNoContent, e.Do(t, apptest.Request{Path: "/api/auth/logout", Token: l.Token}).Status)
				}, 401, "invalid_refresh_token", nil},
				{"logout-all", func(t *testing.T, u *models.User, _ apptest.LoginAnswer) {
					other := e.token(t, u)
					require.Equal(t, http.StatusOK, e.Do(t, apptest.Request{Path: "/api/auth/logout-all", Token: other.Token}).Status)
				}, 401, "invalid_refresh_token", nil},
				{"session revoked", func(t *testing.T, _ *models.User, l apptest.LoginAnswer) {
					res := e.Do(t, apptest.Request{Method: http.MethodDelete, Path: "/api/sessions/" + l.SessionID, Token: l.Token})
					require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)
				}, 401, "invalid_refresh_token", nil},
				{"deactivated", func(t *testing.T, u *models.User, _ apptest.LoginAnswer) {
					e.Exec(t, "UPDATE users SET is_active = ? WHERE id = ?", false, u.ID)
				}, 401, "invalid_refresh_token", func(t *testing.T, u *models.User) {
					e.Exec(t, "UPDATE users SET is_active = ? WHERE id = ?", true, u.ID)
				}},
				{"locked", func(t *testing.T, u *models.User, _ apptest.LoginAnswer) {
					e.Exec(t, "UPDATE users SET locked_until = ? WHERE id = ?", time.Now().Add(time.Hour).UTC(), u.ID)
				}, 429, "account_locked", func(t *testing.T, u *models.User) {
					e.Exec(t, "UPDATE users SET locked_until = NULL WHERE id = ?", u.ID)
				}},
				{"password change pending", func(t *testing.T, u *models.User, _ apptest.LoginAnswer) {
					e.Exec(t, "UPDATE users SET force_password_change = ? WHERE id = ?", true, u.ID)
				}, 403, "password_change_required", func(t *testing.T, u *models.User) {
					e.Exec(t, "UPDATE users SET force_password_change = ? WHERE id = ?", false, u.ID)
				}},
				{"erased", func(t *testing.T, _ *models.User, l apptest.LoginAnswer) {
					e.Server.StepUp(t, l.Token, apptest.Password)
					res := e.Do(t, apptest.Request{Method: http.MethodDelete, Path: "/api/auth/me", Token: l.Token, Body: map[string]any{"password": apptest.Password}})
					require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)
				}, 401, "invalid_refresh_token", nil},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					t.Parallel()
					u := e.newUser(t)
					l, rt := remembered(t, e, u)
					tt.before(t, u, l)
					requireErrorShape(t, refreshFirstParty(t, e, rt), tt.status, tt.code)
					if tt.after != nil {
						tt.after(t, u)
						requireRotated(t, refreshFirstParty(t, e, rt), l.SessionID)
					}
				})
			}
		})

		t.Run("bad input", func(t *testing.T) {
			t.Parallel()
			// An OAuth client's refresh token is refused here and left alone.
			web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
			tok, _ := loggedInGrant(t, e.Env, e.Server.NewBrowser(t), e.Server.OAuthConfig(web, oidc.ScopeOpenID, oidc.ScopeOfflineAccess))
			access := e.token(t, e.newUser(t)).Token
			cases := []struct {
				name   string
				body   any
				status int
				code   string
				fields []string
			}{
				{"empty object", map[string]any{}, 422, "validation_failed", []string{"refresh_token"}},
				{"empty token", map[string]any{"refresh_token": ""}, 422, "validation_failed", []string{"refresh_token"}},
				{"not json", `{"refresh_token":`, 0, "invalid_body", nil},
				{"wrong type", `{"refresh_token": 42}`, 0, "invalid_body", nil},
				{"array", `[]`, 0, "invalid_body", nil},
				{"unknown token", map[string]any{"refresh_token": "idt_rt_nonsense.nonsense"}, 401, "invalid_refresh_token", nil},
				{"no prefix", map[string]any{"refresh_token": strings.Repeat("x", 80)}, 401, "invalid_refresh_token", nil},
				{"an access token", map[string]any{"refresh_token": access}, 401, "invalid_refresh_token", nil},
				{"an OAuth client's refresh token", map[string]any{"refresh_token": tok.RefreshToken}, 401, "invalid_refresh_token", nil},
				{"huge token", map[string]any{"refresh_token": "idt_rt_" + strings.Repeat("a", 5000)}, 401, "invalid_refresh_token", nil},
			}
			for _, tc := range cases {
				res := e.Do(t, apptest.Request{Path: "/api/auth/refresh", Body: tc.body}).NotServerError(t)
				status := tc.status
				if status == 0 {
					require.Contains(t, []int{400, 422}, res.Status, "%s: %s", tc.name, res.Body)
					status = res.Status
				}
				m := requireErrorShape(t, res, status, tc.code)
				for _, f := range tc.fields {
					require.Contains(t, m["fields"], f, tc.name)
				}
			}
			// The OAuth grant was not touched: it refreshes at the token endpoint.
			requireTokens(t, refreshRequest(t, e.Server, web, tok.RefreshToken))
		})
	})
}

// jsonLogin posts a JSON login through the browser b (its cookie jar), as
// the first-party SPA served from origin would.
func jsonLogin(t *testing.T, b *apptest.Browser, e *apptest.Env, origin string, body map[string]any, headers map[string]string) *apptest.Result {
	t.Helper()
	body["tenant"], body["email"], body["password"] = e.Tenant.Slug, e.User.Email, apptest.Password
	raw, err := json.Marshal(body)
	require.NoError(t, err)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.Server.URL+"/api/auth/login", bytes.NewReader(raw))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	if origin != "" {
		req.Header.Set("Origin", origin)
	}
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	resp, err := b.HTTPClient().Do(req)
	require.NoError(t, err)
	return apptest.ReadResult(t, resp).NotServerError(t)
}

func TestFirstPartyBrowserSession(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, be apptest.Backend) {
		e := apptest.NewEnv(t, be, nil)
		rs := e.ServiceClient(t, nil)
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
		origin := e.Server.URL

		t.Run("only a same-origin JSON login starts a browser session", func(t *testing.T) {
			t.Parallel()
			cases := []struct {
				name    string
				origin  string
				headers map[string]string
			}{
				{"no Origin", "", nil},
				{"another origin", "https://evil.example", nil},
				{"another port", strings.Replace(origin, "http://", "http://x", 1), nil},
				{"cross-site fetch", origin, map[string]string{"Sec-Fetch-Site": "cross-site"}},
				{"same-site fetch", origin, map[string]string{"Sec-Fetch-Site": "same-site"}},
			}
			for _, tc := range cases {
				b := e.Server.NewBrowser(t)
				res := jsonLogin(t, b, e, tc.origin, map[string]any{"session": true}, tc.headers)
				requireErrorShape(t, res, http.StatusForbidden, "same_origin_required")
				require.Empty(t, b.Cookie("identity_session"), tc.name)
			}
			// A body a cross-site form could send (text/plain) is no JSON.
			b0 := e.Server.NewBrowser(t)
			res0 := jsonLogin(t, b0, e, origin, map[string]any{"session": true}, map[string]string{"Content-Type": "text/plain"})
			requireErrorShape(t, res0, http.StatusUnprocessableEntity, "invalid_body")
			require.Empty(t, b0.Cookie("identity_session"))
			// A cross-site form post cannot pass for JSON either.
			b := e.Server.NewBrowser(t)
			res := b.Post(e.Server.URL+"/api/auth/login", map[string][]string{"tenant": {e.Tenant.Slug}, "email": {e.User.Email},
				"password": {apptest.Password}, "session": {"true"}})
			require.Less(t, res.Status, 500)
			require.NotEqual(t, http.StatusOK, res.Status, "%s", res.Body)
			require.Empty(t, b.Cookie("identity_session"))
			// Without "session" the JSON login is what it was: tokens, no cookie.
			res = jsonLogin(t, b, e, "", map[string]any{}, nil)
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			require.Empty(t, b.Cookie("identity_session"))
		})

		t.Run("the SPA's login is the authorization endpoint's", func(t *testing.T) {
			t.Parallel()
			b := e.Server.NewBrowser(t)
			res := jsonLogin(t, b, e, origin, map[string]any{"session": true}, map[string]string{"Sec-Fetch-Site": "same-origin"})
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			l := apptest.ParseLogin(t, res)
			require.Equal(t, true, l.Body["browser_session"])
			require.NotContains(t, l.Body, "refresh_token", "no remember, no refresh token")
			require.NotEmpty(t, b.Cookie("identity_session"), "the sign-in cookie is set")
			require.NotContains(t, string(res.Body), b.Cookie("identity_session"), "the cookie's token is not in the body")
			e.Server.RequireActive(t, rs, l.Token)

			// The authorization endpoint does not ask again.
			ar := newAuthRequest(cfg)
			f := b.Authorize(e, ar.URL, false, "")
			require.Zero(t, f.LoginPages, "no sign-in page")
			tok := ar.exchange(t, cfg, f.Code(t, ar.State))
			e.Server.RequireActive(t, rs, tok.AccessToken)

			// The API logout ends the browser session and the grant made in it.
			require.Equal(t, http.StatusNoContent, e.Server.Do(t, apptest.Request{Path: "/api/auth/logout", Token: l.Token}).Status)
			e.Server.RequireInactive(t, rs, l.Token)
			e.Server.RequireInactive(t, rs, tok.AccessToken)
			e.Server.RequireInactive(t, rs, tok.RefreshToken)
			f = b.Authorize(e, newAuthRequest(cfg).URL, false, "")
			require.Equal(t, 1, f.LoginPages, "signed out: the sign-in page again")
		})

		t.Run("the page sign-out ends the SPA's tokens", func(t *testing.T) {
			t.Parallel()
			b := e.Server.NewBrowser(t)
			res := jsonLogin(t, b, e, origin, map[string]any{"session": true, "remember": true}, nil)
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			l := apptest.ParseLogin(t, res)
			rt, _ := l.Body["refresh_token"].(string)
			require.NotEmpty(t, rt)
			s, err := e.Server.Store.GetSession(t.Context(), e.Tenant.ID, e.User.ID, l.SessionID)
			require.NoError(t, err)
			require.Equal(t, models.SessionBrowser, s.Kind)
			require.Equal(t, 720*time.Hour, s.ExpiresAt.Sub(s.CreatedAt).Round(time.Minute), "a remembered browser session")

			page := b.Get(e.Server.URL + "/logout")
			require.True(t, b.IsPage(page, "/logout"), "%s", page.Body)
			form := apptest.ParseForm(t, page)
			out := b.Post(form.Action, form.Fields)
			require.Equal(t, http.StatusOK, out.Status, "%s", out.Body)
			e.Server.RequireInactive(t, rs, l.Token)
			e.Server.RequireInactive(t, rs, rt)
			res = e.Server.Do(t, apptest.Request{Path: "/api/auth/refresh", Body: map[string]any{"refresh_token": rt}})
			requireErrorShape(t, res, http.StatusUnauthorized, "invalid_refresh_token")
			f := b.Authorize(e, newAuthRequest(cfg).URL, false, "")
			require.Equal(t, 1, f.LoginPages, "signed out: the sign-in page again")
		})
	})
}

// TestFirstPartyRefreshTenantRules: a refresh is held to the tenant's
// sign-in rules as they are now, not as they were at the login: a verified
// address required since, or a second factor now required for the user's
// role (sign in with the password to enrol), refuse it until the rule is
// met or lifted.
func TestFirstPartyRefreshTenantRules(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		tenant := newTestTenant(t, srv)
		admin := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleAdmin})
		rt := apptest.ParseLogin(t, srv.PasswordLogin(t, tenant.Slug, admin.Email, apptest.Password,
			func(_ *apptest.Request, m map[string]any) { m["remember"] = true })).Body["refresh_token"].(string)
		refresh := func() *apptest.Result {
			return srv.Do(t, apptest.Request{Path: "/api/auth/refresh", Body: map[string]any{"refresh_token": rt}}).NotServerError(t)
		}
		settings := func(js string) {
			_, err := srv.Store.UpdateTenant(t.Context(), tenant.ID, map[string]any{"settings": js})
			require.NoError(t, err)
		}
		rotate := func() {
			res := refresh()
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			rt = res.Str("refresh_token")
		}
		rotate()

		settings(`{"allow_unverified_sign_in": false}`)
		requireErrorShape(t, refresh(), http.StatusForbidden, models.CodeEmailNotVerified)
		settings(`{}`)
		rotate()

		settings(`{"require_2fa_roles": ["` + identity.RoleAdmin + `"]}`)
		requireErrorShape(t, refresh(), http.StatusForbidden, models.CodeTwoFactorEnrolmentRequired)
		settings(`{"require_2fa_roles": ["` + identity.RoleOwner + `"]}`)
		rotate()
	})
}
