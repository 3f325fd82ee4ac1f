package apptest

import (
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"
)

// OAuthConfig is the golang.org/x/oauth2 configuration of a client of s,
// redirecting to RedirectURI.
func (s *Server) OAuthConfig(cc *CreatedClient, scopes ...string) *oauth2.Config {
	style := oauth2.AuthStyleInHeader
	if cc.Client.TokenEndpointAuthMethod != "client_secret_basic" {
		style = oauth2.AuthStyleInParams
	}
	return &oauth2.Config{
		ClientID:     cc.Client.ID,
		ClientSecret: cc.Secret,
		RedirectURL:  RedirectURI,
		Scopes:       scopes,
		Endpoint: oauth2.Endpoint{
			AuthURL:   s.URL + "/api/oauth/authorize",
			TokenURL:  s.URL + "/api/oauth/token",
			AuthStyle: style,
		},
	}
}

// Introspect asks s about token, authenticating as the client cc (Basic).
func (s *Server) Introspect(t testing.TB, cc *CreatedClient, token string) map[string]any {
	t.Helper()
	res := PostForm(t, s.URL+"/api/oauth/introspect", url.Values{"token": {token}}, cc.Client.ID, cc.Secret)
	require.Equal(t, http.StatusOK, res.Status, "introspection: %s", res.Body)
	return res.JSON(t)
}

// RequireActive asserts that introspection says token is active and
// returns the response.
func (s *Server) RequireActive(t testing.TB, cc *CreatedClient, token string) map[string]any {
	t.Helper()
	m := s.Introspect(t, cc, token)
	require.Equal(t, true, m["active"], "token should be active: %v", m)
	return m
}

// RequireInactive asserts that introspection answers exactly
// {"active":false}.
func (s *Server) RequireInactive(t testing.TB, cc *CreatedClient, token string) {
	t.Helper()
	m := s.Introspect(t, cc, token)
	require.Equal(t, map[string]any{"active": false}, m, "token should be inactive")
}

// RequireInactiveSoon is RequireInactive for a token revoked through
// another instance: its lookup cache hears of the revocation when the
// database's notification arrives (docs/architecture.md, "The lookup
// cache"), so the answer may be active for that moment. It waits (10 s at
// most) until introspection answers exactly {"active":false}.
func (s *Server) RequireInactiveSoon(t testing.TB, cc *CreatedClient, token string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		m := s.Introspect(t, cc, token)
		if len(m) == 1 && m["active"] == false {
			return
		}
		require.Equal(t, true, m["active"], "introspection answers active or inactive: %v", m)
		require.True(t, time.Now().Before(deadline), "token still active on %s 10 s after its revocation elsewhere", s.URL)
		time.Sleep(20 * time.Millisecond)
	}
}

// Revoke revokes token (RFC 7009), authenticating as cc.
func (s *Server) Revoke(t testing.TB, cc *CreatedClient, token string) {
	t.Helper()
	form := url.Values{"token": {token}}
	var res *Result
	switch cc.Client.TokenEndpointAuthMethod {
	case "client_secret_basic":
		res = PostForm(t, s.URL+"/api/oauth/revoke", form, cc.Client.ID, cc.Secret)
	default:
		form.Set("client_id", cc.Client.ID)
		if cc.Secret != "" {
			form.Set("client_secret", cc.Secret)
		}
		res = PostForm(t, s.URL+"/api/oauth/revoke", form, "", "")
	}
	require.Equal(t, http.StatusOK, res.Status, "revoke: %s", res.Body)
}

// TokenRequest posts a raw token request (client_secret_basic when the
// client uses it, else form credentials) and returns the result.
func (s *Server) TokenRequest(t testing.TB, cc *CreatedClient, form url.Values) *Result {
	t.Helper()
	if cc.Client.TokenEndpointAuthMethod == "client_secret_basic" {
		return PostForm(t, s.URL+"/api/oauth/token", form, cc.Client.ID, cc.Secret)
	}
	form.Set("client_id", cc.Client.ID)
	if cc.Secret != "" {
		form.Set("client_secret", cc.Secret)
	}
	return PostForm(t, s.URL+"/api/oauth/token", form, "", "")
}

// RequireOAuthError asserts an RFC 6749 §5.2 error answer.
func RequireOAuthError(t testing.TB, res *Result, status int, code string) {
	t.Helper()
	require.Equal(t, status, res.Status, "body: %s", res.Body)
	require.Equal(t, code, res.JSON(t)["error"], "body: %s", res.Body)
}

// RetrieveError unwraps a golang.org/x/oauth2 token error.
func RetrieveError(t testing.TB, err error) *oauth2.RetrieveError {
	t.Helper()
	require.Error(t, err)
	var re *oauth2.RetrieveError
	require.ErrorAs(t, err, &re)
	return re
}

// ClientCredentialsConfig is the golang.org/x/oauth2 client-credentials
// configuration of client id with secret at s's token endpoint.
func (s *Server) ClientCredentialsConfig(id, secret string, style oauth2.AuthStyle, scopes ...string) *clientcredentials.Config {
	return &clientcredentials.Config{ClientID: id, ClientSecret: secret, TokenURL: s.URL + "/api/oauth/token", AuthStyle: style, Scopes: scopes}
}
