package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/identityd/identityd/internal/apptest"
	"github.com/stretchr/testify/require"
)

// With the database unreachable (here: its pool closed), the OAuth endpoints
// and login answer 503 temporarily_unavailable with Retry-After — never a
// false "inactive" or "invalid_client", never a 500, and never a 200 for a
// revocation that did not happen — and every 503 is logged with its cause.
// After the database returns the token is still active: nothing was lost.
func TestOutageDatabaseUnreachable(t *testing.T) {
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		cc := e.ServiceClient(t, nil)
		res := e.Server.TokenRequest(t, cc, url.Values{"grant_type": {"client_credentials"}})
		require.Equal(t, http.StatusOK, res.Status, res.Body)
		tok, _ := res.JSON(t)["access_token"].(string)
		require.NotEmpty(t, tok)

		require.NoError(t, e.Server.Store.Close())
		login, _ := json.Marshal(map[string]string{"tenant": e.Tenant.Slug, "email": e.User.Email, "password": apptest.Password})
		cases := []struct {
			name string
			do   func() *apptest.Result
		}{
			{"token", func() *apptest.Result {
				return e.Server.TokenRequest(t, cc, url.Values{"grant_type": {"client_credentials"}})
			}},
			{"introspection of a valid, uncached token", func() *apptest.Result {
				return apptest.PostForm(t, e.Server.URL+"/api/oauth/introspect", url.Values{"token": {tok}}, cc.Client.ID, cc.Secret)
			}},
			{"revocation", func() *apptest.Result {
				return apptest.PostForm(t, e.Server.URL+"/api/oauth/revoke", url.Values{"token": {tok}}, cc.Client.ID, cc.Secret)
			}},
			{"login", func() *apptest.Result {
				req, _ := http.NewRequest(http.MethodPost, e.Server.URL+"/api/auth/login", strings.NewReader(string(login)))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				return apptest.ReadResult(t, resp)
			}},
			{"bearer API call", func() *apptest.Result {
				return e.Server.Call(t, http.MethodGet, "/api/auth/me", tok, nil)
			}},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				res := c.do()
				require.Equal(t, http.StatusServiceUnavailable, res.Status, "body: %s", res.Body)
				require.Equal(t, "temporarily_unavailable", res.JSON(t)["error"], "body: %s", res.Body)
				require.NotEmpty(t, res.Header.Get("Retry-After"), "503 carries Retry-After")
				require.NotContains(t, string(res.Body), "sql")
			})
		}
		logs := e.Server.Logs.String()
		require.Contains(t, logs, "database is closed", "the 503s are logged with their cause")
	})
}
