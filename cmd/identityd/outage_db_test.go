package main

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/storage/storagetest"
)

// With the database unreachable (here: its pool closed), the OAuth endpoints
// and login answer 503 temporarily_unavailable with Retry-After — never a
// false "inactive" or "invalid_client", never a 500, and never a 200 for a
// revocation that did not happen — and every 503 is logged with its cause.
// After the database returns the token is still active: nothing was lost.
func TestOutageDatabaseUnreachable(t *testing.T) {
	e2eEachBackend(t, func(t *testing.T, b storagetest.Backend, redisURL string) {
		e := newE2E(t, b, redisURL, nil)
		cc := e.serviceClient(t, nil)
		res := tokenRequest(t, e.srv, cc, url.Values{"grant_type": {"client_credentials"}})
		require.Equal(t, http.StatusOK, res.Status, res.Body)
		tok, _ := res.JSON(t)["access_token"].(string)
		require.NotEmpty(t, tok)

		require.NoError(t, e.srv.Store.Close())
		login, _ := json.Marshal(map[string]string{"tenant": e.tenant.Slug, "email": e.user.Email, "password": e2ePassword})
		cases := []struct {
			name string
			do   func() *httpResult
		}{
			{"token", func() *httpResult {
				return tokenRequest(t, e.srv, cc, url.Values{"grant_type": {"client_credentials"}})
			}},
			{"introspection of a valid, uncached token", func() *httpResult {
				return postForm(t, e.srv.URL+"/api/oauth/introspect", url.Values{"token": {tok}}, cc.Client.ID, cc.Secret)
			}},
			{"revocation", func() *httpResult {
				return postForm(t, e.srv.URL+"/api/oauth/revoke", url.Values{"token": {tok}}, cc.Client.ID, cc.Secret)
			}},
			{"login", func() *httpResult {
				req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/api/auth/login", strings.NewReader(string(login)))
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				require.NoError(t, err)
				return readResult(t, resp)
			}},
			{"bearer API call", func() *httpResult {
				return apiCall(t, e.srv, http.MethodGet, "/api/auth/me", tok, nil)
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
		logs := e.srv.Logs.String()
		require.Contains(t, logs, "database is closed", "the 503s are logged with their cause")
	})
}
