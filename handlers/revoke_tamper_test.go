package handlers_test

// Finding of the attack run (issue 13): revoking a token whose key (the
// part before the dot) was altered but whose signature part was real
// revoked the real token, because storage is keyed by the signature and
// fosite's revocation handler took it without validating the rest. Every
// path that turns a presented token into a signature now verifies the
// whole token first (oauth.TokenStrategy's *Signature methods).

import (
	"encoding/base64"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/internal/apptest"
)

// tamperKey changes the first character of an HMAC token's key (after its
// idt_xx_ prefix), keeping the real signature: a well-formed token whose
// HMAC no longer matches.
func tamperKey(t *testing.T, token string) string {
	t.Helper()
	const prefixLen = len("idt_at_")
	require.Greater(t, len(token), prefixLen+1)
	require.Contains(t, token[prefixLen:], ".")
	b := []byte(token)
	if b[prefixLen] == 'A' {
		b[prefixLen] = 'B'
	} else {
		b[prefixLen] = 'A'
	}
	out := string(b)
	require.NotEqual(t, token, out)
	return out
}

// tamperJWT rewrites a JWT's payload (its scope claim), keeping the real
// header and signature.
func tamperJWT(t *testing.T, token string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	require.Len(t, parts, 3, "a JWT")
	raw, err := base64.RawURLEncoding.DecodeString(parts[1])
	require.NoError(t, err)
	var claims map[string]any
	require.NoError(t, json.Unmarshal(raw, &claims))
	claims["scope"] = "orders.read orders.write admin"
	raw, err = json.Marshal(claims)
	require.NoError(t, err)
	return parts[0] + "." + base64.RawURLEncoding.EncodeToString(raw) + "." + parts[2]
}

// revokeAs posts an RFC 7009 revocation with an optional token_type_hint
// and returns the answer.
func revokeAs(t *testing.T, srv *apptest.Server, cc *apptest.CreatedClient, token, hint string) *apptest.Result {
	t.Helper()
	form := url.Values{"token": {token}}
	if hint != "" {
		form.Set("token_type_hint", hint)
	}
	return apptest.PostForm(t, srv.URL+"/api/oauth/revoke", form, cc.Client.ID, cc.Secret)
}

// TestE2ERevokeTamperedToken: a token with a real signature but an altered
// key (HMAC) or payload (JWT) is unknown to revocation: 200 and nothing
// revoked, whatever the hint; the real token stays active until it is
// revoked itself.
func TestE2ERevokeTamperedToken(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		rs := e.ServiceClient(t, nil) // a resource server of the tenant, to introspect with

		opaque := e.ServiceClient(t, nil)
		jwtClient := e.ServiceClient(t, func(in *apptest.NewClient) { in.AccessTokenFormat = "jwt" })
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })

		cc := requireTokens(t, e.Server.TokenRequest(t, opaque, url.Values{"grant_type": {"client_credentials"}}))
		jc := requireTokens(t, e.Server.TokenRequest(t, jwtClient, url.Values{"grant_type": {"client_credentials"}}))
		require.Equal(t, 2, strings.Count(jc.Access, "."), "the jwt client gets a JWT access token")
		grant, _ := loggedInGrant(t, e, e.Server.NewBrowser(t), e.Server.OAuthConfig(web, oidc.ScopeOpenID, "offline_access"))

		tests := []struct {
			name   string
			client *apptest.CreatedClient
			real   string
			forged string
			hint   string
		}{
			{"client credentials access token", opaque, cc.Access, tamperKey(t, cc.Access), ""},
			{"client credentials access token, hinted", opaque, cc.Access, tamperKey(t, cc.Access), "access_token"},
			{"client credentials access token, wrong hint", opaque, cc.Access, tamperKey(t, cc.Access), "refresh_token"},
			{"JWT access token", jwtClient, jc.Access, tamperJWT(t, jc.Access), ""},
			{"JWT access token, hinted", jwtClient, jc.Access, tamperJWT(t, jc.Access), "access_token"},
			{"authorization code access token", web, grant.AccessToken, tamperKey(t, grant.AccessToken), ""},
			{"refresh token", web, grant.RefreshToken, tamperKey(t, grant.RefreshToken), ""},
			{"refresh token, hinted", web, grant.RefreshToken, tamperKey(t, grant.RefreshToken), "refresh_token"},
			{"refresh token, wrong hint", web, grant.RefreshToken, tamperKey(t, grant.RefreshToken), "access_token"},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				res := revokeAs(t, e.Server, tt.client, tt.forged, tt.hint)
				require.Equal(t, http.StatusOK, res.Status, "RFC 7009 §2.2: an unknown token is a 200: %s", res.Body)
				e.Server.RequireInactive(t, rs, tt.forged)
				e.Server.RequireActive(t, rs, tt.real)
			})
		}

		// Each real token, revoked itself, is revoked (with its grant).
		for _, real := range []struct {
			client *apptest.CreatedClient
			token  string
			also   []string
		}{
			{opaque, cc.Access, nil},
			{jwtClient, jc.Access, nil},
			{web, grant.RefreshToken, []string{grant.AccessToken}},
		} {
			e.Server.Revoke(t, real.client, real.token)
			e.Server.RequireInactive(t, rs, real.token)
			for _, tok := range real.also {
				e.Server.RequireInactive(t, rs, tok)
			}
		}
	})
}

// TestE2ERevokeTamperedFirstPartyToken: the first-party logout primitive
// (Provider.RevokeAccessToken, behind identity.Sessions.Logout) ignores a
// token whose key was altered, and revokes the real one.
func TestE2ERevokeTamperedFirstPartyToken(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		rs := e.ServiceClient(t, nil)
		token := e.Server.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
		e.Server.RequireActive(t, rs, token)

		require.NoError(t, e.Server.Provider.RevokeAccessToken(t.Context(), tamperKey(t, token)))
		e.Server.RequireActive(t, rs, token)
		// The logout endpoint does not take the forged token either.
		res := e.Server.Call(t, http.MethodPost, "/api/auth/logout", tamperKey(t, token), nil)
		require.Equal(t, http.StatusUnauthorized, res.Status, "%s", res.Body)
		e.Server.RequireActive(t, rs, token)

		require.NoError(t, e.Server.Provider.RevokeAccessToken(t.Context(), token))
		e.Server.RequireInactive(t, rs, token)
	})
}
