package main

import (
	"context"
	"encoding/json"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"
	"golang.org/x/oauth2/clientcredentials"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/storage/storagetest"
)

func ccConfig(srv *testServer, cc *identity.CreatedClient, style oauth2.AuthStyle, scopes ...string) *clientcredentials.Config {
	return &clientcredentials.Config{
		ClientID:     cc.Client.ID,
		ClientSecret: cc.Secret,
		TokenURL:     srv.URL + "/api/oauth/token",
		Scopes:       scopes,
		AuthStyle:    style,
	}
}

func TestE2EClientCredentials(t *testing.T) {
	e2eEachBackend(t, func(t *testing.T, b storagetest.Backend, redisURL string) {
		ctx := context.Background()
		e := newE2E(t, b, redisURL, nil)
		svc := e.serviceClient(t, nil)
		rs := e.serviceClient(t, nil) // a resource server that introspects

		tok, err := ccConfig(e.srv, svc, oauth2.AuthStyleInHeader, "orders.read").Token(ctx)
		require.NoError(t, err)
		require.True(t, strings.HasPrefix(tok.AccessToken, "idt_at_"), "opaque access token: %q", tok.AccessToken)
		require.True(t, strings.EqualFold(tok.TokenType, "bearer"), "token_type %q", tok.TokenType)
		require.Empty(t, tok.RefreshToken, "client credentials issue no refresh token")
		require.WithinDuration(t, time.Now().Add(time.Hour), tok.Expiry, time.Minute)

		m := requireActive(t, e.srv, rs, tok.AccessToken)
		require.Equal(t, e.tenant.ID, m["tenant_id"])
		require.Equal(t, svc.Client.ID, m["client_id"])
		require.Equal(t, svc.Client.ID, m["sub"])
		require.Equal(t, "orders.read", m["scope"])
		t.Logf("introspection: %v", m)
		require.Equal(t, "client", m["principal_type"])

		// A token the client introspects itself is just as active.
		requireActive(t, e.srv, svc, tok.AccessToken)

		// Introspection requires client authentication.
		res := postForm(t, e.srv.URL+"/api/oauth/introspect", url.Values{"token": {tok.AccessToken}}, "", "")
		require.Equal(t, http.StatusUnauthorized, res.Status, "%s", res.Body)
		res = postForm(t, e.srv.URL+"/api/oauth/introspect", url.Values{"token": {tok.AccessToken}}, rs.Client.ID, "wrong-secret-wrong-secret")
		require.Equal(t, http.StatusUnauthorized, res.Status, "%s", res.Body)

		// A scope the client does not have is refused.
		_, err = ccConfig(e.srv, svc, oauth2.AuthStyleInHeader, "admin").Token(ctx)
		re := retrieveError(t, err)
		require.Equal(t, "invalid_scope", re.ErrorCode)

		// Revocation (RFC 7009) ends the token at once.
		revoke(t, e.srv, svc, tok.AccessToken)
		requireInactive(t, e.srv, rs, tok.AccessToken)
		// Revoking again, or an unknown token, is still 200.
		revoke(t, e.srv, svc, tok.AccessToken)
		revoke(t, e.srv, svc, "idt_at_not-a-token.at-all")

		// Garbage and unknown tokens are inactive.
		requireInactive(t, e.srv, rs, "idt_at_bogus.bogus")
		requireInactive(t, e.srv, rs, "not-a-token")
	})
}

func TestE2EClientCredentialsAuthentication(t *testing.T) {
	e2eEachBackend(t, func(t *testing.T, b storagetest.Backend, redisURL string) {
		ctx := context.Background()
		e := newE2E(t, b, redisURL, nil)
		// Each client is restricted to the one method named (a client
		// created without one accepts both: TestE2EClientAuthBothMethods).
		basic := e.serviceClient(t, func(in *identity.NewClient) { in.AuthMethod = "client_secret_basic" })
		post := e.serviceClient(t, func(in *identity.NewClient) { in.AuthMethod = "client_secret_post" })

		// Wrong secret: 401 invalid_client, with either method.
		wrong := *basic
		wrong.Secret = "not-the-secret-not-the-secret"
		_, err := ccConfig(e.srv, &wrong, oauth2.AuthStyleInHeader).Token(ctx)
		re := retrieveError(t, err)
		require.Equal(t, http.StatusUnauthorized, re.Response.StatusCode)
		require.Equal(t, "invalid_client", re.ErrorCode)
		res := tokenRequest(t, e.srv, &wrong, url.Values{"grant_type": {"client_credentials"}})
		requireOAuthError(t, res, http.StatusUnauthorized, "invalid_client")

		wrongPost := *post
		wrongPost.Secret = "not-the-secret-not-the-secret"
		res = tokenRequest(t, e.srv, &wrongPost, url.Values{"grant_type": {"client_credentials"}})
		requireOAuthError(t, res, http.StatusUnauthorized, "invalid_client")

		// An unknown client is invalid_client too.
		unknown := *basic
		c := *basic.Client
		c.ID = "no-such-client"
		unknown.Client = &c
		res = tokenRequest(t, e.srv, &unknown, url.Values{"grant_type": {"client_credentials"}})
		requireOAuthError(t, res, http.StatusUnauthorized, "invalid_client")

		// client_secret_post: form credentials work, Basic is refused.
		tok, err := ccConfig(e.srv, post, oauth2.AuthStyleInParams).Token(ctx)
		require.NoError(t, err)
		requireActive(t, e.srv, basic, tok.AccessToken)
		_, err = ccConfig(e.srv, post, oauth2.AuthStyleInHeader).Token(ctx)
		re = retrieveError(t, err)
		require.Equal(t, "invalid_client", re.ErrorCode)

		// client_secret_basic: Basic works, form credentials are refused.
		tok, err = ccConfig(e.srv, basic, oauth2.AuthStyleInHeader).Token(ctx)
		require.NoError(t, err)
		requireActive(t, e.srv, basic, tok.AccessToken)
		_, err = ccConfig(e.srv, basic, oauth2.AuthStyleInParams).Token(ctx)
		re = retrieveError(t, err)
		require.Equal(t, "invalid_client", re.ErrorCode)
	})
}

// TestE2EClientSecretCache proves that a verified secret is cached (the
// cache holds the entry the Hasher looks up) and that the cache never
// outlives a rotation: the old secret is refused at once although it was
// just cached.
func TestE2EClientSecretCache(t *testing.T) {
	e2eEachBackend(t, func(t *testing.T, b storagetest.Backend, redisURL string) {
		ctx := context.Background()
		e := newE2E(t, b, redisURL, func(c *Config) { c.SecretRotation = 0 })
		svc := e.serviceClient(t, nil)

		cacheKey := func() string {
			t.Helper()
			m, err := e.srv.Store.GetTenantClient(ctx, e.tenant.ID, svc.Client.ID)
			require.NoError(t, err)
			return "cs:" + e.srv.Ring.MAC(keyring.PurposeSecretCache, []byte(m.SecretHash), []byte(svc.Secret))
		}
		key := cacheKey()
		_, hit, err := e.srv.Cache.Get(ctx, key)
		require.NoError(t, err)
		require.False(t, hit, "nothing cached before the first request")

		cfg := ccConfig(e.srv, svc, oauth2.AuthStyleInHeader)
		_, err = cfg.Token(ctx)
		require.NoError(t, err)
		_, hit, err = e.srv.Cache.Get(ctx, key)
		require.NoError(t, err)
		require.True(t, hit, "the verified secret is cached after the first success")

		// A wrong secret is never cached as verified.
		wrong := *svc
		wrong.Secret = "not-the-secret-not-the-secret"
		_, err = ccConfig(e.srv, &wrong, oauth2.AuthStyleInHeader).Token(ctx)
		require.Equal(t, "invalid_client", retrieveError(t, err).ErrorCode)
		m, err := e.srv.Store.GetTenantClient(ctx, e.tenant.ID, svc.Client.ID)
		require.NoError(t, err)
		_, hit, err = e.srv.Cache.Get(ctx, "cs:"+e.srv.Ring.MAC(keyring.PurposeSecretCache, []byte(m.SecretHash), []byte(wrong.Secret)))
		require.NoError(t, err)
		require.False(t, hit)

		// The second request is served (from the cache entry above).
		tok, err := cfg.Token(ctx)
		require.NoError(t, err)
		requireActive(t, e.srv, svc, tok.AccessToken)

		// Rotation with no window: the old secret stops at once.
		newSecret, err := e.srv.Admin.RotateClientSecret(ctx, e.tenant.ID, svc.Client.ID)
		require.NoError(t, err)
		_, hit, err = e.srv.Cache.Get(ctx, key)
		require.NoError(t, err)
		require.True(t, hit, "the old entry may still sit in the cache")
		_, err = cfg.Token(ctx)
		re := retrieveError(t, err)
		require.Equal(t, http.StatusUnauthorized, re.Response.StatusCode)
		require.Equal(t, "invalid_client", re.ErrorCode)
		// Nor does the old secret authenticate introspection.
		res := postForm(t, e.srv.URL+"/api/oauth/introspect", url.Values{"token": {tok.AccessToken}}, svc.Client.ID, svc.Secret)
		require.Equal(t, http.StatusUnauthorized, res.Status)

		rotated := *svc
		rotated.Secret = newSecret
		tok2, err := ccConfig(e.srv, &rotated, oauth2.AuthStyleInHeader).Token(ctx)
		require.NoError(t, err)
		requireActive(t, e.srv, &rotated, tok2.AccessToken)
		// Tokens issued before the rotation stay valid.
		requireActive(t, e.srv, &rotated, tok.AccessToken)
	})
}

// TestE2EClientSecretRotationWindow: with a rotation window, old and new
// secrets both work.
func TestE2EClientSecretRotationWindow(t *testing.T) {
	e2eEachBackend(t, func(t *testing.T, b storagetest.Backend, redisURL string) {
		ctx := context.Background()
		e := newE2E(t, b, redisURL, func(c *Config) { c.SecretRotation = time.Hour })
		svc := e.serviceClient(t, nil)
		_, err := ccConfig(e.srv, svc, oauth2.AuthStyleInHeader).Token(ctx)
		require.NoError(t, err)
		newSecret, err := e.srv.Admin.RotateClientSecret(ctx, e.tenant.ID, svc.Client.ID)
		require.NoError(t, err)
		_, err = ccConfig(e.srv, svc, oauth2.AuthStyleInHeader).Token(ctx)
		require.NoError(t, err, "the old secret works inside the window")
		rotated := *svc
		rotated.Secret = newSecret
		_, err = ccConfig(e.srv, &rotated, oauth2.AuthStyleInHeader).Token(ctx)
		require.NoError(t, err, "the new secret works")
	})
}

// fetchJWKS reads the key set a server publishes.
func fetchJWKS(t *testing.T, srv *testServer) jose.JSONWebKeySet {
	t.Helper()
	resp, err := http.Get(srv.URL + "/.well-known/jwks.json")
	require.NoError(t, err)
	res := readResult(t, resp)
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
func verifyJWT(t *testing.T, srv *testServer, token string) (jose.Header, map[string]any) {
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
	e2eEachBackend(t, func(t *testing.T, b storagetest.Backend, redisURL string) {
		ctx := context.Background()
		e := newE2E(t, b, redisURL, nil)
		svc := e.serviceClient(t, func(in *identity.NewClient) {
			in.AccessTokenFormat = "jwt"
			in.Audience = []string{"https://api.example.com"}
		})
		rs := e.serviceClient(t, nil)

		cfg := ccConfig(e.srv, svc, oauth2.AuthStyleInHeader, "orders.read", "orders.write")
		cfg.EndpointParams = url.Values{"audience": {"https://api.example.com"}}
		tok, err := cfg.Token(ctx)
		require.NoError(t, err)
		require.Equal(t, 2, strings.Count(tok.AccessToken, "."), "a JWS: %q", tok.AccessToken)

		h, claims := verifyJWT(t, e.srv, tok.AccessToken)
		require.Equal(t, "at+jwt", h.ExtraHeaders[jose.HeaderType])
		require.Equal(t, "RS256", h.Algorithm)
		require.Equal(t, e.srv.Config.Issuer, claims["iss"])
		require.Equal(t, svc.Client.ID, claims["sub"])
		require.Equal(t, svc.Client.ID, claims["client_id"])
		require.Equal(t, []any{"https://api.example.com"}, claims["aud"])
		require.Equal(t, "orders.read orders.write", claims["scope"])
		require.Equal(t, e.tenant.ID, claims["tenant_id"])
		require.NotEmpty(t, claims["jti"])
		now := float64(time.Now().Unix())
		require.InDelta(t, now, claims["iat"], 60)
		require.InDelta(t, now+3600, claims["exp"], 60)

		m := requireActive(t, e.srv, rs, tok.AccessToken)
		require.Equal(t, e.tenant.ID, m["tenant_id"])
		require.Equal(t, svc.Client.ID, m["client_id"])
		require.Equal(t, svc.Client.ID, m["sub"])

		// Each token is distinct.
		tok2, err := cfg.Token(ctx)
		require.NoError(t, err)
		_, claims2 := verifyJWT(t, e.srv, tok2.AccessToken)
		require.NotEqual(t, claims["jti"], claims2["jti"])

		// A JWT whose signature was tampered with is inactive.
		parts := strings.Split(tok2.AccessToken, ".")
		forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
		requireInactive(t, e.srv, rs, forged)

		revoke(t, e.srv, svc, tok.AccessToken)
		requireInactive(t, e.srv, rs, tok.AccessToken)
		requireActive(t, e.srv, rs, tok2.AccessToken)
	})
}
