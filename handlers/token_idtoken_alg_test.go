package handlers_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rsa"
	"encoding/json"
	"net/http"
	"net/url"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
)

// idTokenHeader returns the JWS header of a compact ID token, parsed with
// either algorithm allowed.
func idTokenHeader(t *testing.T, raw string) jose.Header {
	t.Helper()
	jws, err := jose.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256, jose.ES256})
	require.NoError(t, err)
	require.Len(t, jws.Signatures, 1)
	return jws.Signatures[0].Header
}

// TestE2EIDTokenSigningAlg: a client registered with
// id_token_signed_response_alg ES256 gets ES256 ID tokens, from the code
// exchange and from every refresh, that a real relying party (go-oidc,
// from discovery and the JWKS alone) verifies, signed by the key the JWKS
// publishes under the header's kid; a client that registered nothing gets
// RS256 ones as before. Discovery names both algorithms, and an ES256 ID
// token is a valid id_token_hint.
func TestE2EIDTokenSigningAlg(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		ctx := t.Context()
		e := apptest.NewEnv(t, b, nil)

		// Discovery and the JWKS.
		resp, err := http.Get(e.Server.URL + "/.well-known/openid-configuration")
		require.NoError(t, err)
		res := apptest.ReadResult(t, resp)
		var disc struct {
			Algs []string `json:"id_token_signing_alg_values_supported"`
		}
		require.NoError(t, json.Unmarshal([]byte(res.Body), &disc), "discovery: %s", res.Body)
		require.Equal(t, []string{"RS256", "ES256"}, disc.Algs)
		byAlg := map[string]jose.JSONWebKey{}
		for _, k := range fetchJWKS(t, e.Server).Keys {
			require.NotEmpty(t, k.KeyID)
			require.Equal(t, "sig", k.Use, "key %s", k.KeyID)
			byAlg[k.Algorithm] = k
		}
		require.IsType(t, &rsa.PublicKey{}, byAlg["RS256"].Key, "the JWKS publishes an RS256 key")
		ec, ok := byAlg["ES256"].Key.(*ecdsa.PublicKey)
		require.True(t, ok, "the JWKS publishes an ES256 key: %v", byAlg)
		require.Equal(t, elliptic.P256(), ec.Curve)

		provider, err := oidc.NewProvider(ctx, e.Server.URL)
		require.NoError(t, err, "discovery")
		rs := e.ServiceClient(t, nil)
		const bye = "https://client.example/signed-out"

		for _, tc := range []struct {
			name, registered, want string
		}{
			{"ES256 client", models.SigningAlgES256, "ES256"},
			{"default client", "", "RS256"},
			{"RS256 client", models.SigningAlgRS256, "RS256"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				web := e.WebClient(t, func(in *apptest.NewClient) {
					in.SkipConsent = true
					in.IDTokenSignedResponseAlg = tc.registered
					in.PostLogoutRedirectURIs = []string{bye}
				})
				cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID, "email", oidc.ScopeOfflineAccess)
				br := e.Server.NewBrowser(t)
				tok, ar := loggedInGrant(t, e, br, cfg)
				raw := tok.Extra("id_token").(string)

				// go-oidc: discovery, the JWKS, signature, iss, aud, exp,
				// nonce, at_hash.
				idt, _ := verifyIDToken(t, provider, web.Client.ID, tok, ar.Nonce)
				require.Equal(t, e.User.ID, idt.Subject)
				h := idTokenHeader(t, raw)
				require.Equal(t, tc.want, h.Algorithm, "the code exchange's ID token")
				require.Equal(t, tc.want, byAlg[tc.want].Algorithm)
				require.Equal(t, byAlg[tc.want].KeyID, h.KeyID, "signed by the JWKS's %s key", tc.want)
				// A relying party that accepts only the other algorithm refuses it:
				// the algorithm is really the one the header names.
				other := map[string]string{"RS256": "ES256", "ES256": "RS256"}[tc.want]
				_, err := provider.Verifier(&oidc.Config{ClientID: web.Client.ID, SupportedSigningAlgs: []string{other}}).Verify(ctx, raw)
				require.Error(t, err, "a %s-only verifier accepted a %s ID token", other, tc.want)

				// Refresh: a new ID token of the same algorithm, twice.
				refresh := tok.RefreshToken
				for i := range 2 {
					r := requireTokens(t, refreshRequest(t, e.Server, web, refresh))
					require.NotEmpty(t, r.ID, "refresh %d: a new ID token", i+1)
					idt, err := provider.Verifier(&oidc.Config{ClientID: web.Client.ID}).Verify(ctx, r.ID)
					require.NoError(t, err, "refresh %d: go-oidc verifies the ID token", i+1)
					require.Equal(t, e.User.ID, idt.Subject)
					require.NoError(t, idt.VerifyAccessToken(r.Access), "at_hash")
					h := idTokenHeader(t, r.ID)
					require.Equal(t, tc.want, h.Algorithm, "refresh %d", i+1)
					require.Equal(t, byAlg[tc.want].KeyID, h.KeyID, "refresh %d", i+1)
					e.Server.RequireActive(t, rs, r.Access)
					refresh = r.Refresh
				}

				// The ID token is a valid id_token_hint at logout: it alone
				// names the client whose post-logout URI the browser returns to.
				q := url.Values{"id_token_hint": {raw}, "post_logout_redirect_uri": {bye}}
				page := br.Get(e.Server.URL + "/logout?" + q.Encode())
				require.Equal(t, http.StatusOK, page.Status, "%s", page.Body)
				f := apptest.ParseForm(t, page)
				out := br.Post(f.Action, f.Fields)
				require.Equal(t, http.StatusSeeOther, out.Status, "%s", out.Body)
				require.Equal(t, bye, out.Header.Get("Location"), "the %s hint was verified", tc.want)
			})
		}
	})
}

// TestClientsAPIIDTokenSigningAlg: id_token_signed_response_alg through
// the admin API: RS256 by default, ES256 on request, changed by PATCH, and
// anything else refused with 422 validation_failed naming the field. A
// client switched to ES256 gets ES256 ID tokens from its next refresh.
func TestClientsAPIIDTokenSigningAlg(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newClientsEnv(t, b, nil)
		srv := e.Server
		create := func(t *testing.T, body map[string]any) map[string]any {
			t.Helper()
			body["grant_types"] = []string{"authorization_code", "refresh_token"}
			body["redirect_uris"] = []string{apptest.RedirectURI}
			body["scopes"] = []string{"openid", "offline_access"}
			body["skip_consent"] = true
			return requireAnswer(t, srv.Call(t, http.MethodPost, "/api/clients", e.token, body).NotServerError(t), http.StatusCreated, "")
		}
		def := create(t, map[string]any{"name": "default"})
		require.Equal(t, "RS256", def["id_token_signed_response_alg"], "RS256 by default")
		es := create(t, map[string]any{"name": "es", "id_token_signed_response_alg": "ES256"})
		require.Equal(t, "ES256", es["id_token_signed_response_alg"])
		got := requireAnswer(t, srv.Call(t, http.MethodGet, "/api/clients/"+es["client_id"].(string), e.token, nil).NotServerError(t), http.StatusOK, "")
		require.Equal(t, "ES256", got["id_token_signed_response_alg"])

		for _, bad := range []any{"HS256", "none", "es256", "RS512", "PS256", 256} {
			body := map[string]any{"grant_types": []string{"client_credentials"}, "id_token_signed_response_alg": bad}
			r := srv.Call(t, http.MethodPost, "/api/clients", e.token, body).NotServerError(t)
			if _, isString := bad.(string); !isString {
				require.Contains(t, []int{400, 422}, r.Status, "%v: %s", bad, r.Body)
				continue
			}
			m := requireAnswer(t, r, http.StatusUnprocessableEntity, "validation_failed")
			fields, _ := m["fields"].(map[string]any)
			require.Equal(t, "Use RS256 or ES256.", fields["id_token_signed_response_alg"], "create with %v: %v", bad, m)
		}
		id := def["client_id"].(string)
		for _, bad := range []string{"HS256", ""} {
			m := requireAnswer(t, srv.Call(t, http.MethodPatch, "/api/clients/"+id, e.token, map[string]any{"id_token_signed_response_alg": bad}).NotServerError(t), http.StatusUnprocessableEntity, "validation_failed")
			require.Contains(t, m["fields"], "id_token_signed_response_alg", "update with %q", bad)
		}
		got = requireAnswer(t, srv.Call(t, http.MethodGet, "/api/clients/"+id, e.token, nil).NotServerError(t), http.StatusOK, "")
		require.Equal(t, "RS256", got["id_token_signed_response_alg"], "a refused update changes nothing")

		// The default client signs in (RS256), then switches to ES256: its
		// next refresh is ES256, and other settings kept.
		secret := def["client_secret"].(string)
		stored, err := srv.Store.GetTenantClient(t.Context(), e.Tenant.ID, id)
		require.NoError(t, err)
		cc := &apptest.CreatedClient{Client: stored, Secret: secret}
		cfg := srv.OAuthConfig(cc, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
		tok, _ := loggedInGrant(t, e.Env, srv.NewBrowser(t), cfg)
		require.Equal(t, "RS256", idTokenHeader(t, tok.Extra("id_token").(string)).Algorithm)
		upd := requireAnswer(t, srv.Call(t, http.MethodPatch, "/api/clients/"+id, e.token, map[string]any{"id_token_signed_response_alg": "ES256"}).NotServerError(t), http.StatusOK, "")
		require.Equal(t, "ES256", upd["id_token_signed_response_alg"])
		require.Equal(t, "default", upd["name"])
		r := requireTokens(t, refreshRequest(t, srv, cc, tok.RefreshToken))
		require.Equal(t, "ES256", idTokenHeader(t, r.ID).Algorithm, "the refresh after the switch")
		provider, err := oidc.NewProvider(t.Context(), srv.URL)
		require.NoError(t, err)
		_, err = provider.Verifier(&oidc.Config{ClientID: id}).Verify(t.Context(), r.ID)
		require.NoError(t, err)
	})
}

// TestSignerRefusesAnotherAlg: a JWS is verified with the algorithm of the
// key its kid names, never the one its header claims (RFC 8725 §3.1). A
// token signed by our RSA key but labelled PS256 or RS512 (which go-jose
// would verify with that key) is refused, as an id_token_hint too.
func TestSignerRefusesAnotherAlg(t *testing.T) {
	t.Parallel()
	e := apptest.NewEnv(t, apptest.SQLite(t), nil)
	ctx := t.Context()
	p := e.Server.Provider
	claims := map[string]any{"iss": e.Server.URL, "sub": e.User.ID, "aud": "some-client",
		"exp": time.Now().Add(time.Hour).Unix(), "iat": time.Now().Unix()}
	payload, err := json.Marshal(claims)
	require.NoError(t, err)
	sign := func(t *testing.T, alg jose.SignatureAlgorithm, keyAlg string) string {
		t.Helper()
		kid, priv, err := p.Keys.Signer(ctx, keyAlg)
		require.NoError(t, err)
		signer, err := jose.NewSigner(jose.SigningKey{Algorithm: alg, Key: jose.JSONWebKey{Key: priv, KeyID: kid}}, nil)
		require.NoError(t, err)
		jws, err := signer.Sign(payload)
		require.NoError(t, err)
		out, err := jws.CompactSerialize()
		require.NoError(t, err)
		return out
	}
	for _, tc := range []struct {
		alg    jose.SignatureAlgorithm
		keyAlg string
		ok     bool
	}{
		{jose.RS256, models.SigningAlgRS256, true},
		{jose.ES256, models.SigningAlgES256, true},
		{jose.PS256, models.SigningAlgRS256, false},
		{jose.RS512, models.SigningAlgRS256, false},
	} {
		t.Run(string(tc.alg), func(t *testing.T) {
			tok := sign(t, tc.alg, tc.keyAlg)
			_, err := p.Signer.Decode(ctx, tok)
			_, hintErr := p.ParseIDTokenHint(ctx, tok)
			if tc.ok {
				require.NoError(t, err)
				require.NoError(t, hintErr)
				return
			}
			require.ErrorContains(t, err, "is not its key's")
			require.Error(t, hintErr)
		})
	}
}

// TestKeysEnsureAddsES256: a keyring from before ES256 (an RS256 key only,
// as the previous release left it) gains an ES256 key at the next start,
// and the RS256 key goes on signing: upgrading rotates nothing.
func TestKeysEnsureAddsES256(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		ctx := t.Context()
		srv := apptest.New(t, b, nil)
		rsaKID, _, err := srv.Keys.Signer(ctx, models.SigningAlgRS256)
		require.NoError(t, err)
		db, err := srv.Store.SQLDB()
		require.NoError(t, err)
		_, err = db.ExecContext(ctx, "DELETE FROM jwk_signing_keys WHERE algorithm <> 'RS256'")
		require.NoError(t, err)

		km := &oauth.KeyManager{Store: srv.Store, Ring: srv.Ring, ReloadEvery: time.Minute, Retain: time.Hour}
		require.NoError(t, km.Ensure(ctx))
		kid, _, err := km.Signer(ctx, models.SigningAlgRS256)
		require.NoError(t, err)
		require.Equal(t, rsaKID, kid, "the RS256 key still signs")
		ecKID, priv, err := km.Signer(ctx, models.SigningAlgES256)
		require.NoError(t, err)
		require.IsType(t, &ecdsa.PrivateKey{}, priv)
		keys, err := km.JWKS(ctx)
		require.NoError(t, err)
		require.Len(t, keys.Key(ecKID), 1, "the new ES256 key is published")
		require.Len(t, keys.Keys, 2)
		// A second start adds nothing.
		require.NoError(t, km.Ensure(ctx))
		keys, err = km.JWKS(ctx)
		require.NoError(t, err)
		require.Len(t, keys.Keys, 2)
	})
}
