package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/keyring"
)

func TestE2EClientCredentials(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		ctx := t.Context()
		e := apptest.NewEnv(t, b, nil)
		svc := e.ServiceClient(t, nil)
		rs := e.ServiceClient(t, nil) // a resource server that introspects

		tok, err := e.Server.ClientCredentialsConfig(svc.Client.ID, svc.Secret, oauth2.AuthStyleInHeader, "orders.read").Token(ctx)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(tok.AccessToken, "idt_at_"), "opaque access token: %q", tok.AccessToken)
		require.True(t, strings.EqualFold(tok.TokenType, "bearer"), "token_type %q", tok.TokenType)
		require.Empty(t, tok.RefreshToken, "client credentials issue no refresh token")
		require.WithinDuration(t, time.Now().Add(time.Hour), tok.Expiry, time.Minute)

		m := e.Server.RequireActive(t, rs, tok.AccessToken)
		require.Equal(t, e.Tenant.ID, m["tenant_id"])
		require.Equal(t, svc.Client.ID, m["client_id"])
		require.Equal(t, svc.Client.ID, m["sub"])
		require.Equal(t, "orders.read", m["scope"])
		t.Logf("introspection: %v", m)
		require.Equal(t, "client", m["principal_type"])

		// A token the client introspects itself is just as active.
		e.Server.RequireActive(t, svc, tok.AccessToken)

		// Introspection requires client authentication.
		res := apptest.PostForm(t, e.Server.URL+"/api/oauth/introspect", url.Values{"token": {tok.AccessToken}}, "", "")
		require.Equal(t, http.StatusUnauthorized, res.Status, "%s", res.Body)
		res = apptest.PostForm(t, e.Server.URL+"/api/oauth/introspect", url.Values{"token": {tok.AccessToken}}, rs.Client.ID, "wrong-secret-wrong-secret")
		require.Equal(t, http.StatusUnauthorized, res.Status, "%s", res.Body)

		// A scope the client does not have is refused.
		_, err = e.Server.ClientCredentialsConfig(svc.Client.ID, svc.Secret, oauth2.AuthStyleInHeader, "admin").Token(ctx)
		re := apptest.RetrieveError(t, err)
		require.Equal(t, "invalid_scope", re.ErrorCode)

		// Revocation (RFC 7009) ends the token at once.
		e.Server.Revoke(t, svc, tok.AccessToken)
		e.Server.RequireInactive(t, rs, tok.AccessToken)
		// Revoking again, or an unknown token, is still 200.
		e.Server.Revoke(t, svc, tok.AccessToken)
		e.Server.Revoke(t, svc, "idt_at_not-a-token.at-all")

		// Garbage and unknown tokens are inactive.
		e.Server.RequireInactive(t, rs, "idt_at_bogus.bogus")
		e.Server.RequireInactive(t, rs, "not-a-token")
	})
}

func TestE2EClientCredentialsAuthentication(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		ctx := t.Context()
		e := apptest.NewEnv(t, b, nil)
		// Each client is restricted to the one method named (a client
		// created without one accepts both: TestE2EClientAuthBothMethods).
		basic := e.ServiceClient(t, func(in *apptest.NewClient) { in.AuthMethod = "client_secret_basic" })
		post := e.ServiceClient(t, func(in *apptest.NewClient) { in.AuthMethod = "client_secret_post" })

		// Wrong secret: 401 invalid_client, with either method.
		wrong := *basic
		wrong.Secret = "not-the-secret-not-the-secret"
		_, err := e.Server.ClientCredentialsConfig(wrong.Client.ID, wrong.Secret, oauth2.AuthStyleInHeader).Token(ctx)
		re := apptest.RetrieveError(t, err)
		require.Equal(t, http.StatusUnauthorized, re.Response.StatusCode)
		require.Equal(t, "invalid_client", re.ErrorCode)
		res := e.Server.TokenRequest(t, &wrong, url.Values{"grant_type": {"client_credentials"}})
		apptest.RequireOAuthError(t, res, http.StatusUnauthorized, "invalid_client")

		wrongPost := *post
		wrongPost.Secret = "not-the-secret-not-the-secret"
		res = e.Server.TokenRequest(t, &wrongPost, url.Values{"grant_type": {"client_credentials"}})
		apptest.RequireOAuthError(t, res, http.StatusUnauthorized, "invalid_client")

		// An unknown client is invalid_client too.
		unknown := *basic
		c := *basic.Client
		c.ID = "no-such-client"
		unknown.Client = &c
		res = e.Server.TokenRequest(t, &unknown, url.Values{"grant_type": {"client_credentials"}})
		apptest.RequireOAuthError(t, res, http.StatusUnauthorized, "invalid_client")

		// client_secret_post: form credentials work, Basic is refused.
		tok, err := e.Server.ClientCredentialsConfig(post.Client.ID, post.Secret, oauth2.AuthStyleInParams).Token(ctx)
		require.NoError(t, err)
		e.Server.RequireActive(t, basic, tok.AccessToken)
		_, err = e.Server.ClientCredentialsConfig(post.Client.ID, post.Secret, oauth2.AuthStyleInHeader).Token(ctx)
		re = apptest.RetrieveError(t, err)
		require.Equal(t, "invalid_client", re.ErrorCode)

		// client_secret_basic: Basic works, form credentials are refused.
		tok, err = e.Server.ClientCredentialsConfig(basic.Client.ID, basic.Secret, oauth2.AuthStyleInHeader).Token(ctx)
		require.NoError(t, err)
		e.Server.RequireActive(t, basic, tok.AccessToken)
		_, err = e.Server.ClientCredentialsConfig(basic.Client.ID, basic.Secret, oauth2.AuthStyleInParams).Token(ctx)
		re = apptest.RetrieveError(t, err)
		require.Equal(t, "invalid_client", re.ErrorCode)
	})
}

// TestE2EClientSecretCache proves that a verified secret is cached (the
// cache holds the entry the Hasher looks up) and that the cache never
// outlives a rotation: the old secret is refused at once although it was
// just cached.
func TestE2EClientSecretCache(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		ctx := t.Context()
		e := apptest.NewEnv(t, b, func(c *app.Config) { c.SecretRotation = 0 })
		svc := e.ServiceClient(t, nil)

		cacheKey := func() string {
			t.Helper()
			m, err := e.Server.Store.GetTenantClient(ctx, e.Tenant.ID, svc.Client.ID)
			require.NoError(t, err)
			return "cs:" + e.Server.Ring.MAC(keyring.PurposeSecretCache, []byte(m.SecretHash), []byte(svc.Secret))
		}
		key := cacheKey()
		_, hit, err := e.Server.Cache.Get(ctx, key)
		require.NoError(t, err)
		require.False(t, hit, "nothing cached before the first request")

		cfg := e.Server.ClientCredentialsConfig(svc.Client.ID, svc.Secret, oauth2.AuthStyleInHeader)
		_, err = cfg.Token(ctx)
		require.NoError(t, err)
		_, hit, err = e.Server.Cache.Get(ctx, key)
		require.NoError(t, err)
		require.True(t, hit, "the verified secret is cached after the first success")

		// A wrong secret is never cached as verified.
		wrong := *svc
		wrong.Secret = "not-the-secret-not-the-secret"
		_, err = e.Server.ClientCredentialsConfig(wrong.Client.ID, wrong.Secret, oauth2.AuthStyleInHeader).Token(ctx)
		require.Equal(t, "invalid_client", apptest.RetrieveError(t, err).ErrorCode)
		m, err := e.Server.Store.GetTenantClient(ctx, e.Tenant.ID, svc.Client.ID)
		require.NoError(t, err)
		_, hit, err = e.Server.Cache.Get(ctx, "cs:"+e.Server.Ring.MAC(keyring.PurposeSecretCache, []byte(m.SecretHash), []byte(wrong.Secret)))
		require.NoError(t, err)
		require.False(t, hit)

		// The second request is served (from the cache entry above).
		tok, err := cfg.Token(ctx)
		require.NoError(t, err)
		e.Server.RequireActive(t, svc, tok.AccessToken)

		// Rotation with no window: the old secret stops at once.
		newSecret, err := e.Server.RotateClientSecret(t, e.Tenant.ID, svc.Client.ID)
		require.NoError(t, err)
		_, hit, err = e.Server.Cache.Get(ctx, key)
		require.NoError(t, err)
		require.True(t, hit, "the old entry may still sit in the cache")
		_, err = cfg.Token(ctx)
		re := apptest.RetrieveError(t, err)
		require.Equal(t, http.StatusUnauthorized, re.Response.StatusCode)
		require.Equal(t, "invalid_client", re.ErrorCode)
		// Nor does the old secret authenticate introspection.
		res := apptest.PostForm(t, e.Server.URL+"/api/oauth/introspect", url.Values{"token": {tok.AccessToken}}, svc.Client.ID, svc.Secret)
		require.Equal(t, http.StatusUnauthorized, res.Status)

		rotated := *svc
		rotated.Secret = newSecret
		tok2, err := e.Server.ClientCredentialsConfig(rotated.Client.ID, rotated.Secret, oauth2.AuthStyleInHeader).Token(ctx)
		require.NoError(t, err)
		e.Server.RequireActive(t, &rotated, tok2.AccessToken)
		// Tokens issued before the rotation stay valid.
		e.Server.RequireActive(t, &rotated, tok.AccessToken)
	})
}

// TestE2EClientSecretRotationWindow: with a rotation window, old and new
// secrets both work.
func TestE2EClientSecretRotationWindow(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		ctx := t.Context()
		e := apptest.NewEnv(t, b, func(c *app.Config) { c.SecretRotation = time.Hour })
		svc := e.ServiceClient(t, nil)
		_, err := e.Server.ClientCredentialsConfig(svc.Client.ID, svc.Secret, oauth2.AuthStyleInHeader).Token(ctx)
		require.NoError(t, err)
		newSecret, err := e.Server.RotateClientSecret(t, e.Tenant.ID, svc.Client.ID)
		require.NoError(t, err)
		_, err = e.Server.ClientCredentialsConfig(svc.Client.ID, svc.Secret, oauth2.AuthStyleInHeader).Token(ctx)
		require.NoError(t, err, "the old secret works inside the window")
		rotated := *svc
		rotated.Secret = newSecret
		_, err = e.Server.ClientCredentialsConfig(rotated.Client.ID, rotated.Secret, oauth2.AuthStyleInHeader).Token(ctx)
		require.NoError(t, err, "the new secret works")
	})
}

// fetchJWKS reads the key set a server publishes.
func fetchJWKS(t *testing.T, srv *apptest.Server) jose.JSONWebKeySet {
	t.Helper()
	resp, err := http.Get(srv.URL + "/.well-known/jwks.json")
	require.NoError(t, err)
	res := apptest.ReadResult(t, resp)
	require.Equal(t, http.StatusOK, res.Status)
	var set jose.JSONWebKeySet
	require.NoError(t, json.Unmarshal(res.Body, &set))
	require.NotEmpty(t, set.Keys)
	for _, k := range set.Keys {
		require.True(t, k.IsPublic(), "the JWKS publishes only public keys")
	}
	return set
}

// verifyJWT checks a compact JWS against the JWKS of srv and returns its
// header and claims.
func verifyJWT(t *testing.T, srv *apptest.Server, token string) (jose.Header, map[string]any) {
	t.Helper()
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	require.NoError(t, err)
	require.Len(t, jws.Signatures, 1)
	h := jws.Signatures[0].Header
	require.NotEmpty(t, h.KeyID)
	set := fetchJWKS(t, srv)
	keys := set.Key(h.KeyID)
	require.Len(t, keys, 1, "kid %s is published in the JWKS", h.KeyID)
	payload, err := jws.Verify(keys[0].Key)
	require.NoError(t, err, "signature verifies against the JWKS")
	var claims map[string]any
	require.NoError(t, json.Unmarshal(payload, &claims))
	return h, claims
}

func TestE2EJWTAccessToken(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		ctx := t.Context()
		e := apptest.NewEnv(t, b, nil)
		svc := e.ServiceClient(t, func(in *apptest.NewClient) {
			in.AccessTokenFormat = "jwt"
			in.Audience = []string{"https://api.example.com"}
		})
		rs := e.ServiceClient(t, nil)

		cfg := e.Server.ClientCredentialsConfig(svc.Client.ID, svc.Secret, oauth2.AuthStyleInHeader, "orders.read", "orders.write")
		cfg.EndpointParams = url.Values{"audience": {"https://api.example.com"}}
		tok, err := cfg.Token(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, strings.Count(tok.AccessToken, "."), "a JWS: %q", tok.AccessToken)

		h, claims := verifyJWT(t, e.Server, tok.AccessToken)
		require.Equal(t, "at+jwt", h.ExtraHeaders[jose.HeaderType])
		require.Equal(t, "RS256", h.Algorithm)
		require.Equal(t, e.Server.Config.Issuer, claims["iss"])
		require.Equal(t, svc.Client.ID, claims["sub"])
		require.Equal(t, svc.Client.ID, claims["client_id"])
		require.Equal(t, []any{"https://api.example.com"}, claims["aud"])
		require.Equal(t, "orders.read orders.write", claims["scope"])
		require.Equal(t, e.Tenant.ID, claims["tenant_id"])
		require.NotEmpty(t, claims["jti"])
		now := float64(time.Now().Unix())
		require.InDelta(t, now, claims["iat"], 60)
		require.InDelta(t, now+3600, claims["exp"], 60)

		m := e.Server.RequireActive(t, rs, tok.AccessToken)
		require.Equal(t, e.Tenant.ID, m["tenant_id"])
		require.Equal(t, svc.Client.ID, m["client_id"])
		require.Equal(t, svc.Client.ID, m["sub"])

		// Each token is distinct.
		tok2, err := cfg.Token(ctx)
		require.NoError(t, err)
		_, claims2 := verifyJWT(t, e.Server, tok2.AccessToken)
		require.NotEqual(t, claims["jti"], claims2["jti"])

		// A JWT whose signature was tampered with is inactive.
		parts := strings.Split(tok2.AccessToken, ".")
		forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
		e.Server.RequireInactive(t, rs, forged)

		e.Server.Revoke(t, svc, tok.AccessToken)
		e.Server.RequireInactive(t, rs, tok.AccessToken)
		e.Server.RequireActive(t, rs, tok2.AccessToken)
	})
}
