package handlers_test

import (
	"bytes"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

func TestAccountLoginAPI(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		u := e.newUser(t)

		t.Run("token", func(t *testing.T) {
			t.Parallel()
			l := e.token(t, u)
			m := l.Body
			require.Equal(t, "Bearer", m["token_type"])
			require.InDelta(t, (24 * time.Hour).Seconds(), m["expires_in"], 60, "24 hours")
			require.NotEmpty(t, l.Device, "a new device gets a device token")
			require.NotEmpty(t, l.SessionID)
			user := m["user"].(map[string]any)
			require.Equal(t, u.ID, user["id"])
			require.Equal(t, u.Email, user["email"])
			require.Equal(t, e.Tenant.ID, user["tenant_id"])
			require.NotContains(t, user, "password_hash")

			in := e.Server.RequireActive(t, e.rs, l.Token)
			require.Equal(t, e.Tenant.ID, in["tenant_id"])
			require.Equal(t, u.ID, in["sub"])
			require.InDelta(t, float64(time.Now().Add(24*time.Hour).Unix()), in["exp"], 60)

			res := e.Do(t, apptest.Request{Method: http.MethodGet, Path: "/api/auth/me", Token: l.Token})
			require.Equal(t, http.StatusOK, res.Status, "me: %s", res.Body)
			me := res.JSON(t)
			require.Equal(t, u.ID, me["user"].(map[string]any)["id"])
			require.Equal(t, l.SessionID, me["session"].(map[string]any)["id"])
		})

		t.Run("remember", func(t *testing.T) {
			t.Parallel()
			// A remembered login: the usual access token, and a refresh
			// token that lasts the 30-day session (issue 10 §10).
			l := e.login(t, u, apptest.Password, func(_ *apptest.Request, b map[string]any) { b["remember"] = true })
			require.NotEmpty(t, l.Token)
			require.InDelta(t, (24 * time.Hour).Seconds(), l.Body["expires_in"], 60, "24 hours")
			in := e.Server.RequireActive(t, e.rs, l.Token)
			require.InDelta(t, float64(time.Now().Add(24*time.Hour).Unix()), in["exp"], 60)
			rt, _ := l.Body["refresh_token"].(string)
			rin := e.Server.RequireActive(t, e.rs, rt)
			require.InDelta(t, float64(time.Now().Add(30*24*time.Hour).Unix()), rin["exp"], 60, "30 days")
		})

		t.Run("no or bad token", func(t *testing.T) {
			t.Parallel()
			requireErrorShape(t, e.Do(t, apptest.Request{Method: http.MethodGet, Path: "/api/auth/me"}), http.StatusUnauthorized, "unauthenticated")
			requireErrorShape(t, e.Do(t, apptest.Request{Method: http.MethodGet, Path: "/api/auth/me", Token: "idt_at_nonsense"}), http.StatusUnauthorized, "invalid_token")
			// A client-credentials token is valid but not a user's (nor a
			// service account's): authenticated, and refused.
			cc := e.ServiceClient(t, nil)
			tok := requireTokens(t, e.Server.TokenRequest(t, cc, map[string][]string{"grant_type": {"client_credentials"}}))
			requireErrorShape(t, e.Do(t, apptest.Request{Method: http.MethodGet, Path: "/api/auth/me", Token: tok.Access}), http.StatusForbidden, "principal_not_allowed")
		})

		t.Run("third-party token refused", func(t *testing.T) {
			t.Parallel()
			web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
			cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
			tok, _ := loggedInGrant(t, e.Env, e.Server.NewBrowser(t), cfg)
			e.Server.RequireActive(t, e.rs, tok.AccessToken)
			requireErrorShape(t, e.Do(t, apptest.Request{Method: http.MethodGet, Path: "/api/auth/me", Token: tok.AccessToken}), http.StatusForbidden, "first_party_token_required")
			requireErrorShape(t, e.Do(t, apptest.Request{Method: http.MethodPost, Path: "/api/auth/logout-all", Token: tok.AccessToken}), http.StatusForbidden, "first_party_token_required")
		})
	})
}

func TestAccountLoginValidation(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		tok := e.token(t, e.newUser(t)).Token
		cases := []struct {
			name   string
			req    apptest.Request
			status int
			code   string
			fields []string
		}{
			{"login/empty object", apptest.Request{Path: "/api/auth/login", Body: map[string]any{}}, 422, "validation_failed", []string{"email", "password", "tenant"}},
			{"login/no password", apptest.Request{Path: "/api/auth/login", Body: map[string]any{"tenant": e.Tenant.Slug, "email": e.User.Email}}, 422, "validation_failed", []string{"password"}},
			{"login/no tenant", apptest.Request{Path: "/api/auth/login", Body: map[string]any{"email": e.User.Email, "password": "x"}}, 422, "validation_failed", []string{"tenant"}},
			{"login/bad json", apptest.Request{Path: "/api/auth/login", Body: `{"tenant":`}, 0, "invalid_body", nil},
			{"login/wrong types", apptest.Request{Path: "/api/auth/login", Body: `{"tenant":1,"email":[],"password":{}}`}, 0, "invalid_body", nil},
			{"login/array", apptest.Request{Path: "/api/auth/login", Body: `[]`}, 0, "invalid_body", nil},
			{"verify/missing code", apptest.Request{Path: "/api/auth/2fa/verify", Body: map[string]any{"challenge": "x"}}, 422, "validation_failed", []string{"code"}},
			{"verify/bad json", apptest.Request{Path: "/api/auth/2fa/verify", Body: `nope`}, 0, "invalid_body", nil},
			{"verify/unknown challenge", apptest.Request{Path: "/api/auth/2fa/verify", Body: map[string]any{"challenge": "x", "code": "123456"}}, 401, "invalid_challenge", nil},
			{"change-required/bad json", apptest.Request{Path: "/api/auth/password/change-required", Body: `{`}, 0, "invalid_body", nil},
			{"change-required/unknown challenge", apptest.Request{Path: "/api/auth/password/change-required", Body: map[string]any{"challenge": "x", "new_password": "Good-Password-42"}}, 401, "invalid_challenge", nil},
			{"pin login/bad json", apptest.Request{Path: "/api/auth/pin/login", Body: `{"pin":`}, 0, "invalid_body", nil},
			{"reset/bad json", apptest.Request{Path: "/api/auth/password/reset", Body: `{"code":`}, 0, "invalid_body", nil},
			{"me/patch without name", apptest.Request{Method: http.MethodPatch, Path: "/api/auth/me", Token: tok, Body: map[string]any{}}, 422, "validation_failed", []string{"name"}},
			{"me/patch long name", apptest.Request{Method: http.MethodPatch, Path: "/api/auth/me", Token: tok, Body: map[string]any{"name": strings.Repeat("n", 201)}}, 422, "validation_failed", []string{"name"}},
			{"password/bad json", apptest.Request{Path: "/api/auth/password", Token: tok, Body: `{{`}, 0, "invalid_body", nil},
			{"pin/bad json", apptest.Request{Method: http.MethodPut, Path: "/api/auth/pin", Token: tok, Body: `1`}, 0, "invalid_body", nil},
			{"audit/bad limit", apptest.Request{Method: http.MethodGet, Path: "/api/audit/me?limit=0", Token: tok}, 422, "validation_failed", []string{"limit"}},
			{"audit/bad cursor", apptest.Request{Method: http.MethodGet, Path: "/api/audit/me?cursor=zzz", Token: tok}, 422, "validation_failed", []string{"cursor"}},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				res := e.Do(t, tc.req)
				require.Less(t, res.Status, 500, "never a server error: %s", res.Body)
				status := tc.status
				if status == 0 { // a malformed body: 400 or 422, in our shape
					require.Contains(t, []int{400, 422}, res.Status, "body: %s", res.Body)
					status = res.Status
				}
				m := requireErrorShape(t, res, status, tc.code)
				if tc.fields != nil {
					require.ElementsMatch(t, tc.fields, errorFields(t, m))
				}
			})
		}
	})
}

func TestAccountLoginEnumeration(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		inactive := e.newUser(t)
		_, err := e.Server.Store.UpdateUser(t.Context(), e.Tenant.ID, inactive.ID, func(u *models.User) error { u.IsActive = false; return nil })
		require.NoError(t, err)
		attempt := func(tenant, email, password string) *apptest.Result {
			return e.PasswordLogin(t, tenant, email, password, nil)
		}
		wrong := attempt(e.Tenant.Slug, e.User.Email, "Wrong-Password-1")
		requireErrorShape(t, wrong, http.StatusUnauthorized, "invalid_credentials")
		for name, res := range map[string]*apptest.Result{
			"unknown e-mail":         attempt(e.Tenant.Slug, "nobody-"+apptest.RandomID(t, 6)+"@example.com", "Wrong-Password-1"),
			"unknown tenant":         attempt("no-such-tenant-"+apptest.RandomID(t, 6), e.User.Email, apptest.Password),
			"inactive user":          attempt(e.Tenant.Slug, inactive.Email, apptest.Password),
			"e-mail in other case":   attempt(e.Tenant.Slug, strings.ToUpper(e.User.Email), "Wrong-Password-1"),
			"over-long password":     attempt(e.Tenant.Slug, e.User.Email, strings.Repeat("p", 100)),
			"wrong password (again)": attempt(e.Tenant.Slug, e.User.Email, "another wrong one"),
		} {
			require.Equal(t, wrong.Status, res.Status, name)
			require.True(t, bytes.Equal(wrong.Body, res.Body), "%s: body %q differs from %q", name, res.Body, wrong.Body)
			require.Equal(t, wrong.Header.Get("Content-Type"), res.Header.Get("Content-Type"), name)
		}
	})
}

func TestAccountLockout(t *testing.T) {
	t.Parallel()
	const lock = 3 * time.Second
	eachAccountEnv(t, func(c *app.Config) { c.LockoutDuration = lock }, func(t *testing.T, e *accountEnv) {
		wrong := func(u string) *apptest.Result {
			return e.PasswordLogin(t, e.Tenant.Slug, u, "Wrong-Password-1", nil)
		}
		right := func(u string) *apptest.Result {
			return e.PasswordLogin(t, e.Tenant.Slug, u, apptest.Password, nil)
		}

		t.Run("locks after 5 and unlocks", func(t *testing.T) {
			t.Parallel()
			u := e.newUser(t)
			for i := 0; i < 5; i++ {
				requireErrorShape(t, wrong(u.Email), http.StatusUnauthorized, "invalid_credentials")
			}
			res := right(u.Email)
			requireErrorShape(t, res, http.StatusTooManyRequests, "account_locked")
			ra, err := strconv.Atoi(res.Header.Get("Retry-After"))
			require.NoError(t, err, "Retry-After is whole seconds")
			require.GreaterOrEqual(t, ra, 1)
			require.LessOrEqual(t, ra, int(lock.Seconds()))
			// A wrong password during the lock gets the answer of any wrong
			// password (the lock shows only to the right one), and does not
			// extend it.
			requireErrorShape(t, wrong(u.Email), http.StatusUnauthorized, "invalid_credentials")
			msgs := e.mail.Sent(u.Email)
			require.Len(t, msgs, 1, "the user is told once")
			require.Contains(t, strings.ToLower(msgs[0].Subject), "locked")
			require.NotContains(t, msgs[0].Text, apptest.Password)

			time.Sleep(lock + 500*time.Millisecond)
			l := e.token(t, u)
			e.requireLive(t, l.Token)
			// The counter starts again from zero after the lock ends.
			for i := 0; i < 4; i++ {
				requireErrorShape(t, wrong(u.Email), http.StatusUnauthorized, "invalid_credentials")
			}
			e.token(t, u)
		})

		t.Run("success resets the counter", func(t *testing.T) {
			t.Parallel()
			u := e.newUser(t)
			for i := 0; i < 4; i++ {
				requireErrorShape(t, wrong(u.Email), http.StatusUnauthorized, "invalid_credentials")
			}
			e.token(t, u)
			for i := 0; i < 4; i++ {
				requireErrorShape(t, wrong(u.Email), http.StatusUnauthorized, "invalid_credentials")
			}
			e.token(t, u)
			require.Empty(t, e.mail.Sent(u.Email), "never locked")
		})

		t.Run("lock is per account", func(t *testing.T) {
			t.Parallel()
			a, b := e.newUser(t), e.newUser(t)
			for i := 0; i < 5; i++ {
				wrong(a.Email)
			}
			requireErrorShape(t, right(a.Email), http.StatusTooManyRequests, "account_locked")
			e.token(t, b)
		})
	})
}

func TestAccountForcedPasswordChange(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		ctx := t.Context()
		u := e.newUser(t)
		old := e.token(t, u)
		_, err := e.Server.Store.UpdateUser(ctx, e.Tenant.ID, u.ID, func(u *models.User) error { u.ForcePasswordChange = true; return nil })
		require.NoError(t, err)

		l := e.login(t, u, apptest.Password, nil)
		require.Equal(t, true, l.Body["password_change_required"], "body: %v", l.Body)
		require.NotEmpty(t, l.Challenge)
		require.NotContains(t, l.Body, "access_token")
		require.NotContains(t, l.Body, "device_token")

		change := func(challenge, pw string) *apptest.Result {
			return e.Do(t, apptest.Request{Path: "/api/auth/password/change-required", Body: map[string]any{"challenge": challenge, "new_password": pw}})
		}
		local := strings.Split(u.Email, "@")[0]
		for _, tc := range []struct {
			pw     string
			fields []string
		}{
			{"short", []string{"password.min_length", "password.uppercase", "password.digit", "password.special"}},
			{"", []string{"password.min_length", "password.uppercase", "password.lowercase", "password.digit", "password.special"}},
			{"ALLUPPERCASE99", []string{"password.lowercase", "password.special"}},
			{"X-" + local + "-99", []string{"password.contains_email"}},
		} {
			m := requireErrorShape(t, change(l.Challenge, tc.pw), http.StatusUnprocessableEntity, "password_policy")
			require.ElementsMatch(t, tc.fields, errorFields(t, m), "password %q", tc.pw)
		}
		// The old password is not a new one.
		requireErrorShape(t, change(l.Challenge, apptest.Password), http.StatusUnprocessableEntity, "password_policy")

		const next = "Brand-New-Passw0rd"
		res := change(l.Challenge, next)
		require.Equal(t, http.StatusOK, res.Status, "change: %s", res.Body)
		done := apptest.ParseLogin(t, res)
		require.NotEmpty(t, done.Token)
		e.requireLive(t, done.Token)
		require.Equal(t, false, done.Body["user"].(map[string]any)["force_password_change"])
		// The challenge is spent, and sessions from before the change are over.
		requireErrorShape(t, change(l.Challenge, "Another-Passw0rd!"), http.StatusUnauthorized, "invalid_challenge")
		e.requireDead(t, old.Token)

		requireErrorShape(t, e.PasswordLogin(t, e.Tenant.Slug, u.Email, apptest.Password, nil),
			http.StatusUnauthorized, "invalid_credentials")
		require.NotEmpty(t, e.login(t, u, next, nil).Token, "the next login is a normal one")
	})
}

// The first logins of a tenant race to create its first-party client; on
// PostgreSQL the loser's INSERT must not break its login transaction.
func TestAccountFirstLoginsConcurrent(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		const n = 8
		users := make([]*models.User, n)
		for i := range users {
			users[i] = e.newUser(t)
		}
		results := make([]*apptest.Result, n)
		var wg sync.WaitGroup
		for i, u := range users {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i] = e.PasswordLogin(t, e.Tenant.Slug, u.Email, apptest.Password, nil)
			}()
		}
		wg.Wait()
		for i, res := range results {
			require.Equal(t, http.StatusOK, res.Status, "login %d: %s %s", i, res.Body, e.Server.ErrorLogs())
			e.requireLive(t, apptest.ParseLogin(t, res).Token)
		}
	})
}
