package handlers_test

import (
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
)

// refreshRequest posts a refresh_token grant as the client cc.
func refreshRequest(t *testing.T, srv *apptest.Server, cc *apptest.CreatedClient, refreshToken string) *apptest.Result {
	t.Helper()
	return srv.TokenRequest(t, cc, url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}})
}

// tokenSet is a token response.
type tokenSet struct {
	Access, Refresh, ID string
}

func requireTokens(t *testing.T, res *apptest.Result) tokenSet {
	t.Helper()
	require.Equal(t, http.StatusOK, res.Status, "token response: %s", res.Body)
	m := res.JSON(t)
	ts := tokenSet{}
	ts.Access, _ = m["access_token"].(string)
	ts.Refresh, _ = m["refresh_token"].(string)
	ts.ID, _ = m["id_token"].(string)
	require.NotEmpty(t, ts.Access)
	return ts
}

// loggedInGrant runs the authorization code flow for a skip-consent client
// with openid and offline_access and returns the tokens and the request.
func loggedInGrant(t *testing.T, e *apptest.Env, br *apptest.Browser, cfg *oauth2.Config) (*oauth2.Token, authRequest) {
	t.Helper()
	ar := newAuthRequest(cfg)
	f := br.Authorize(e, ar.URL, true, "")
	tok := ar.exchange(t, cfg, f.Code(t, ar.State))
	require.NotEmpty(t, tok.RefreshToken)
	return tok, ar
}

func TestE2ERefreshRotationAndReuse(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		ctx := t.Context()
		e := apptest.NewEnv(t, b, nil)
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		rs := e.ServiceClient(t, nil)
		cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID, "email", oidc.ScopeOfflineAccess)
		tok, ar := loggedInGrant(t, e, e.Server.NewBrowser(t), cfg)
		provider, err := oidc.NewProvider(ctx, e.Server.URL)
		require.NoError(t, err)
		_, first := verifyIDToken(t, provider, web.Client.ID, tok, ar.Nonce)

		// Refresh: new access, refresh and ID tokens.
		r1 := requireTokens(t, refreshRequest(t, e.Server, web, tok.RefreshToken))
		require.NotEqual(t, tok.RefreshToken, r1.Refresh, "the refresh token rotates")
		require.NotEmpty(t, r1.Refresh)
		require.NotEqual(t, tok.AccessToken, r1.Access)
		require.NotEmpty(t, r1.ID, "a new ID token")
		require.NotEqual(t, tok.Extra("id_token"), r1.ID)
		idt, err := provider.Verifier(&oidc.Config{ClientID: web.Client.ID}).Verify(ctx, r1.ID)
		require.NoError(t, err)
		require.Equal(t, e.User.ID, idt.Subject)
		require.NoError(t, idt.VerifyAccessToken(r1.Access))
		var c idTokenClaims
		require.NoError(t, idt.Claims(&c))
		require.Equal(t, first.AuthTime, c.AuthTime, "auth_time is the original login's")
		require.Equal(t, e.Tenant.ID, c.TenantID)

		m := e.Server.RequireActive(t, rs, r1.Access)
		require.Equal(t, e.User.ID, m["sub"])
		require.Equal(t, "openid email offline_access", m["scope"])
		e.Server.RequireActive(t, rs, r1.Refresh)
		e.Server.RequireInactive(t, rs, tok.AccessToken)
		e.Server.RequireInactive(t, rs, tok.RefreshToken)

		// The new pair refreshes again (and so the chain goes on).
		r2 := requireTokens(t, refreshRequest(t, e.Server, web, r1.Refresh))
		e.Server.RequireActive(t, rs, r2.Access)
		e.Server.RequireInactive(t, rs, r1.Access)

		// The old refresh token is refused, and presenting it is treated as
		// theft: the grant is revoked, newest tokens included.
		apptest.RequireOAuthError(t, refreshRequest(t, e.Server, web, r1.Refresh), http.StatusBadRequest, "invalid_grant")
		e.Server.RequireInactive(t, rs, r2.Access)
		e.Server.RequireInactive(t, rs, r2.Refresh)
		apptest.RequireOAuthError(t, refreshRequest(t, e.Server, web, r2.Refresh), http.StatusBadRequest, "invalid_grant")
		apptest.RequireOAuthError(t, refreshRequest(t, e.Server, web, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")

		// Another grant of the same user is untouched.
		tok2, _ := loggedInGrant(t, e, e.Server.NewBrowser(t), cfg)
		other := requireTokens(t, refreshRequest(t, e.Server, web, tok2.RefreshToken))
		e.Server.RequireActive(t, rs, other.Access)

		// A refresh token works only for the client it was issued to.
		web2 := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		apptest.RequireOAuthError(t, refreshRequest(t, e.Server, web2, other.Refresh), http.StatusBadRequest, "invalid_grant")

		// Revoking the refresh token revokes the grant's access token too.
		e.Server.Revoke(t, web, other.Refresh)
		e.Server.RequireInactive(t, rs, other.Refresh)
		e.Server.RequireInactive(t, rs, other.Access)
	})
}

func TestE2ERefreshConcurrent(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
		tok, _ := loggedInGrant(t, e, e.Server.NewBrowser(t), cfg)
		// Warm the verified-secret cache so the requests meet at the database.
		rs := e.ServiceClient(t, nil)
		e.Server.RequireActive(t, web, tok.AccessToken)
		e.Server.RequireActive(t, rs, tok.RefreshToken)

		const n = 20
		form := url.Values{"grant_type": {"refresh_token"}, "refresh_token": {tok.RefreshToken}}.Encode()
		start := make(chan struct{})
		type result struct {
			status int
			body   string
			err    error
		}
		results := make([]result, n)
		var wg sync.WaitGroup
		for i := range n {
			wg.Go(func() {
				<-start
				req, err := http.NewRequest(http.MethodPost, e.Server.URL+"/api/oauth/token", strings.NewReader(form))
				if err != nil {
					results[i].err = err
					return
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.SetBasicAuth(url.QueryEscape(web.Client.ID), url.QueryEscape(web.Secret))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					results[i].err = err
					return
				}
				defer resp.Body.Close()
				body, err := io.ReadAll(resp.Body)
				results[i] = result{status: resp.StatusCode, body: string(body), err: err}
			})
		}
		close(start)
		wg.Wait()

		ok := 0
		for i, r := range results {
			require.NoError(t, r.err, "request %d", i)
			switch r.status {
			case http.StatusOK:
				ok++
			case http.StatusBadRequest:
				require.Contains(t, r.body, `"invalid_grant"`, "request %d", i)
			default:
				t.Fatalf("request %d: unexpected %d %s", i, r.status, r.body)
			}
		}
		require.Equal(t, 1, ok, "exactly one concurrent refresh wins: %v", results)
		require.NotContains(t, e.Server.Logs.String(), `"level":"ERROR"`, "no request failed on the server side")
	})
}

func TestE2ERefreshGracePeriod(t *testing.T) {
	t.Parallel()
	const grace = 8 * time.Second // headroom for two refreshes on a loaded machine
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, func(c *app.Config) { c.RefreshGrace = grace })
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		rs := e.ServiceClient(t, nil)
		cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
		tok, _ := loggedInGrant(t, e, e.Server.NewBrowser(t), cfg)

		firstUse := time.Now()
		r1 := requireTokens(t, refreshRequest(t, e.Server, web, tok.RefreshToken))
		require.NotEqual(t, tok.RefreshToken, r1.Refresh)
		// Inside the window the old refresh token works again (a client that
		// lost the response retries), and what it gave before stays valid.
		r2 := requireTokens(t, refreshRequest(t, e.Server, web, tok.RefreshToken))
		require.NotEqual(t, r1.Refresh, r2.Refresh)
		require.Less(t, time.Since(firstUse), grace, "the retry happened inside the window")
		e.Server.RequireActive(t, rs, r2.Access)
		e.Server.RequireActive(t, rs, r1.Refresh)
		e.Server.RequireActive(t, rs, r2.Refresh)

		// After the window (counted from the first use), the old token is
		// reuse: refused, and the grant is revoked.
		time.Sleep(time.Until(firstUse.Add(grace + 500*time.Millisecond)))
		apptest.RequireOAuthError(t, refreshRequest(t, e.Server, web, tok.RefreshToken), http.StatusBadRequest, "invalid_grant")
		e.Server.RequireInactive(t, rs, r2.Access)
		e.Server.RequireInactive(t, rs, r2.Refresh)
		e.Server.RequireInactive(t, rs, r1.Refresh)
	})
}
