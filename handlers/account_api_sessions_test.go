package handlers_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/uuid"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/stretchr/testify/require"
)

func jsonTime(t *testing.T, v any) time.Time {
	t.Helper()
	s, _ := v.(string)
	ts, err := time.Parse(time.RFC3339Nano, s)
	require.NoError(t, err, "time %v", v)
	return ts
}

func TestAccountSessionsAndDevices(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		u := e.newUser(t)

		t.Run("list, revoke, logout", func(t *testing.T) {
			t.Parallel()
			start := time.Now()
			a := e.token(t, u)
			b := e.login(t, u, apptest.Password, func(r *apptest.Request, body map[string]any) {
				r.UA = apptest.FirefoxUA
				body["device_name"] = "work laptop"
			})
			c := e.token(t, u)

			list := e.devices(t, a.Token)
			require.GreaterOrEqual(t, len(list), 3)
			da := findSession(list, a.SessionID)
			require.NotNil(t, da, "session a listed: %v", list)
			require.Equal(t, true, da["current"])
			require.Contains(t, da["browser"], "Chrome")
			require.Contains(t, da["os"], "Windows")
			require.Equal(t, "Chrome on Windows", da["device_name"])
			require.Equal(t, "127.0.0.1", da["ip_address"])
			require.Equal(t, "api", da["kind"])
			require.NotEmpty(t, da["device_id"])
			require.Equal(t, false, da["trusted"])
			require.Equal(t, []string{"pwd"}, stringList(t, da["auth_methods"]))
			for _, k := range []string{"created_at", "last_active_at"} {
				ts := jsonTime(t, da[k])
				require.WithinRange(t, ts, start.Add(-5*time.Second), time.Now().Add(5*time.Second), k)
			}
			require.WithinDuration(t, time.Now().Add(24*time.Hour), jsonTime(t, da["expires_at"]), time.Minute)
			db := findSession(list, b.SessionID)
			require.NotNil(t, db)
			require.Equal(t, false, db["current"])
			require.Contains(t, db["browser"], "Firefox")
			require.Contains(t, db["os"], "Linux")
			require.Equal(t, "work laptop", db["device_name"])
			require.NotEqual(t, da["device_id"], db["device_id"])
			currents := 0
			for _, d := range list {
				if d["current"] == true {
					currents++
				}
			}
			require.Equal(t, 1, currents, "one session is the current one")
			require.Equal(t, true, findSession(e.devices(t, b.Token), b.SessionID)["current"], "current is per token")

			// Revoking a session stops its token at once.
			res := e.Do(t, apptest.Request{Method: http.MethodDelete, Path: "/api/sessions/" + b.SessionID, Token: a.Token})
			require.Equal(t, http.StatusNoContent, res.Status, "revoke: %s", res.Body)
			e.requireDead(t, b.Token)
			require.Nil(t, findSession(e.devices(t, a.Token), b.SessionID), "a revoked session is not listed")
			requireErrorShape(t, e.Do(t, apptest.Request{Method: http.MethodDelete, Path: "/api/sessions/" + b.SessionID, Token: a.Token}), http.StatusNotFound, "session_not_found")
			// Unknown and other users' sessions are not found.
			other := e.token(t, e.newUser(t))
			for _, id := range []string{uuid.NewString(), "not-a-uuid", other.SessionID} {
				requireErrorShape(t, e.Do(t, apptest.Request{Method: http.MethodDelete, Path: "/api/sessions/" + id, Token: a.Token}), http.StatusNotFound, "session_not_found")
			}
			e.requireLive(t, other.Token)

			// Logout ends this token's session only.
			require.Equal(t, http.StatusNoContent, e.Do(t, apptest.Request{Path: "/api/auth/logout", Token: a.Token}).Status)
			e.requireDead(t, a.Token)
			e.requireLive(t, c.Token)
			require.Nil(t, findSession(e.devices(t, c.Token), a.SessionID))
		})

		t.Run("last activity is not written on every request", func(t *testing.T) {
			t.Parallel()
			l := e.token(t, u)
			first := findSession(e.devices(t, l.Token), l.SessionID)["last_active_at"]
			time.Sleep(50 * time.Millisecond)
			for i := 0; i < 3; i++ {
				require.Equal(t, http.StatusOK, e.me(t, l.Token))
			}
			require.Equal(t, first, findSession(e.devices(t, l.Token), l.SessionID)["last_active_at"])
			for _, row := range e.Server.TableRows(t, "sessions") {
				if row["id"] == l.SessionID {
					require.Equal(t, row["created_at"], row["last_active_at"], "no write within the minute")
				}
			}
		})
	})
}

func TestAccountLogoutAll(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		u := e.User // the e2e user, whom the browser flow signs in
		a := e.token(t, u)
		b := e.login(t, u, apptest.Password, func(r *apptest.Request, _ map[string]any) { r.UA = apptest.FirefoxUA })
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
		br := e.Server.NewBrowser(t)
		grant, _ := loggedInGrant(t, e.Env, br, cfg)
		e.Server.RequireActive(t, e.rs, grant.AccessToken)
		e.Server.RequireActive(t, e.rs, grant.RefreshToken)
		// Another user's tokens are not touched.
		other := e.token(t, e.newUser(t))

		res := e.Do(t, apptest.Request{Path: "/api/auth/logout-all", Token: a.Token})
		require.Equal(t, http.StatusOK, res.Status, "logout-all: %s", res.Body)
		require.GreaterOrEqual(t, res.JSON(t)["sessions_revoked"], float64(3), "two API sessions and the browser's")
		e.requireDead(t, a.Token)
		e.requireDead(t, b.Token)
		e.Server.RequireInactive(t, e.rs, grant.AccessToken)
		e.Server.RequireInactive(t, e.rs, grant.RefreshToken)
		apptest.RequireOAuthError(t, refreshRequest(t, e.Server, web, grant.RefreshToken), http.StatusBadRequest, "invalid_grant")
		e.requireLive(t, other.Token)
		// The browser is signed out too: the next authorization asks for a login.
		f := br.Authorize(e.Env, newAuthRequest(cfg).URL, false, "")
		require.Equal(t, 1, f.LoginPages, "the browser session ended")
		require.True(t, strings.HasPrefix(f.Last.URL.Path, "/login"))
	})
}
