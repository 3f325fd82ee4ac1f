package handlers_test

import (
	"bytes"
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/identityd/identityd/internal/apptest"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// With the lookup cache warm on instance B, a revocation made through
// instance A is seen by A at once and by B as soon as the database's
// notification reaches it (on SQLite with Redis the cache is off, so at
// once): B's cache never goes on answering "active" for a revoked token.
func TestLookupCacheRevocationSeenOnSecondInstance(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		ctx := t.Context()
		a, bb := twoInstances(t, b)
		e := apptest.Seed(t, a)
		svc := e.ServiceClient(t, nil)
		rs := e.ServiceClient(t, nil)

		tok, err := a.ClientCredentialsConfig(svc.Client.ID, svc.Secret, oauth2.AuthStyleInHeader, "orders.read").Token(ctx)
		require.NoError(t, err)
		for i := 0; i < 3; i++ { // warm both caches
			bb.RequireActive(t, rs, tok.AccessToken)
			a.RequireActive(t, rs, tok.AccessToken)
		}
		a.Revoke(t, svc, tok.AccessToken)
		a.RequireInactive(t, rs, tok.AccessToken)
		bb.RequireInactiveSoon(t, rs, tok.AccessToken)

		// A first-party token cached on B dies when its session is signed
		// out on A.
		login := func(srv *apptest.Server) string {
			body, _ := json.Marshal(map[string]string{"tenant": e.Tenant.Slug, "email": e.User.Email, "password": apptest.Password})
			resp, err := http.Post(srv.URL+"/api/auth/login", "application/json", bytes.NewReader(body))
			require.NoError(t, err)
			defer resp.Body.Close()
			require.Equal(t, http.StatusOK, resp.StatusCode)
			var out struct {
				AccessToken string `json:"access_token"`
			}
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
			return out.AccessToken
		}
		me := func(srv *apptest.Server, token string) int {
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/auth/me", nil)
			req.Header.Set("Authorization", "Bearer "+token)
			resp, err := http.DefaultClient.Do(req)
			require.NoError(t, err)
			resp.Body.Close()
			return resp.StatusCode
		}
		userTok := login(a)
		for i := 0; i < 3; i++ {
			require.Equal(t, http.StatusOK, me(bb, userTok))
		}
		req, _ := http.NewRequest(http.MethodPost, a.URL+"/api/auth/logout", nil)
		req.Header.Set("Authorization", "Bearer "+userTok)
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		require.Equal(t, http.StatusNoContent, resp.StatusCode)
		require.Equal(t, http.StatusUnauthorized, me(a, userTok))
		soon(t, "B refuses the signed-out token", func() bool { return me(bb, userTok) == http.StatusUnauthorized })

		// A rotated client secret is refused on the instance whose client
		// cache held the old hash.
		_, err = bb.ClientCredentialsConfig(svc.Client.ID, svc.Secret, oauth2.AuthStyleInHeader, "orders.read").Token(ctx)
		require.NoError(t, err)
		_, err = a.RotateClientSecret(t, e.Tenant.ID, svc.Client.ID)
		require.NoError(t, err)
		if a.Config.SecretRotation == 0 {
			soon(t, "the old secret stops working on B", func() bool {
				_, err := bb.ClientCredentialsConfig(svc.Client.ID, svc.Secret, oauth2.AuthStyleInHeader, "orders.read").Token(ctx)
				return err != nil
			})
		} else {
			_, err = bb.ClientCredentialsConfig(svc.Client.ID, svc.Secret, oauth2.AuthStyleInHeader, "orders.read").Token(ctx)
			require.NoError(t, err, "the old secret stays valid for the rotation window")
		}
	})
}

// soon waits (10 s at most) until cond holds: what one instance changes
// reaches another's lookup cache when the database's notification arrives.
func soon(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		require.True(t, time.Now().Before(deadline), "%s: not within 10 s", what)
		time.Sleep(20 * time.Millisecond)
	}
}
