package handlers_test

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	jose "github.com/go-jose/go-jose/v4"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

// twoInstances starts two servers on the same database and Redis, behind one
// issuer (A's URL), as behind a load balancer; keys reload every second.
func twoInstances(t *testing.T, b apptest.Backend) (*apptest.Server, *apptest.Server) {
	t.Helper()
	if b.RedisURL == "" {
		// Instances share rate limits and step-up flags through Redis:
		// without it, one instance is the design.
		t.Skip("several instances share state through Redis: set IDENTITY_TEST_REDIS_URL")
	}
	a := apptest.Start(t, apptest.Config(t, b), func(c *app.Config) { c.KeyReloadInterval = time.Second })
	bb := apptest.Start(t, apptest.Config(t, b), func(c *app.Config) {
		c.KeyReloadInterval = time.Second
		c.Issuer = a.URL
	})
	require.NotEqual(t, a.URL, bb.URL)
	return a, bb
}

// idTokenVerifier verifies ID tokens of issuer against the JWKS that srv
// serves (a fresh key set, so nothing is cached between calls).
func idTokenVerifier(t *testing.T, srv *apptest.Server, issuer, clientID string) *oidc.IDTokenVerifier {
	keys := oidc.NewRemoteKeySet(t.Context(), srv.URL+"/.well-known/jwks.json")
	return oidc.NewVerifier(issuer, keys, &oidc.Config{ClientID: clientID})
}

func jwtKID(t *testing.T, token string) string {
	t.Helper()
	jws, err := jose.ParseSigned(token, []jose.SignatureAlgorithm{jose.RS256})
	require.NoError(t, err)
	return jws.Signatures[0].Header.KeyID
}

func jwksKIDs(t *testing.T, srv *apptest.Server) []string {
	t.Helper()
	var out []string
	for _, k := range fetchJWKS(t, srv).Keys {
		out = append(out, k.KeyID)
	}
	return out
}

func TestE2EMultiInstanceTokens(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		ctx := t.Context()
		a, bb := twoInstances(t, b)
		e := apptest.Seed(t, a)
		svc := e.ServiceClient(t, nil)
		rs := e.ServiceClient(t, nil)

		// Issued by A, active on B; revoked on B, inactive on B at once and
		// on A once the notification arrives.
		tok, err := a.ClientCredentialsConfig(svc.Client.ID, svc.Secret, oauth2.AuthStyleInHeader, "orders.read").Token(ctx)
		require.NoError(t, err)
		m := bb.RequireActive(t, rs, tok.AccessToken)
		require.Equal(t, e.Tenant.ID, m["tenant_id"])
		require.Equal(t, svc.Client.ID, m["sub"])
		bb.Revoke(t, svc, tok.AccessToken)
		bb.RequireInactive(t, rs, tok.AccessToken)
		a.RequireInactiveSoon(t, rs, tok.AccessToken)

		// And the other way round.
		tok, err = bb.ClientCredentialsConfig(svc.Client.ID, svc.Secret, oauth2.AuthStyleInHeader, "orders.read").Token(ctx)
		require.NoError(t, err)
		a.RequireActive(t, rs, tok.AccessToken)
		a.Revoke(t, svc, tok.AccessToken)
		bb.RequireInactiveSoon(t, rs, tok.AccessToken)

		// A secret rotated on A (no window) is refused on B, although B has
		// just verified and cached it.
		a.SetSecretRotationWindow(0)
		_, err = bb.ClientCredentialsConfig(svc.Client.ID, svc.Secret, oauth2.AuthStyleInHeader).Token(ctx)
		require.NoError(t, err)
		newSecret, err := a.RotateClientSecret(t, e.Tenant.ID, svc.Client.ID)
		require.NoError(t, err)
		soon(t, "the old secret is refused on B", func() bool {
			_, err = bb.ClientCredentialsConfig(svc.Client.ID, svc.Secret, oauth2.AuthStyleInHeader).Token(ctx)
			return err != nil
		})
		require.Equal(t, "invalid_client", apptest.RetrieveError(t, err).ErrorCode)
		rotated := *svc
		rotated.Secret = newSecret
		_, err = bb.ClientCredentialsConfig(rotated.Client.ID, rotated.Secret, oauth2.AuthStyleInHeader).Token(ctx)
		require.NoError(t, err)

		// The browser flow across instances: signed in on A, code exchanged
		// on B, refreshed on A; reuse of the old refresh token on B revokes
		// the grant everywhere.
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		br := a.NewBrowser(t)
		cfgA := a.OAuthConfig(web, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
		cfgB := bb.OAuthConfig(web, oidc.ScopeOpenID, oidc.ScopeOfflineAccess)
		ar := newAuthRequest(cfgA)
		code := br.Authorize(e, ar.URL, true, "").Code(t, ar.State)
		ut := ar.exchange(t, cfgB, code)
		a.RequireActive(t, rs, ut.AccessToken)
		// The code is spent for A too.
		_, err = cfgA.Exchange(ctx, code, oauth2.VerifierOption(ar.Verifier))
		require.Equal(t, "invalid_grant", apptest.RetrieveError(t, err).ErrorCode)
		bb.RequireInactiveSoon(t, rs, ut.AccessToken)

		ar = newAuthRequest(cfgA)
		ut = ar.exchange(t, cfgB, br.Authorize(e, ar.URL, false, "").Code(t, ar.State))
		r1 := requireTokens(t, refreshRequest(t, a, web, ut.RefreshToken))
		bb.RequireActive(t, rs, r1.Access)
		apptest.RequireOAuthError(t, refreshRequest(t, bb, web, ut.RefreshToken), http.StatusBadRequest, "invalid_grant")
		a.RequireInactiveSoon(t, rs, r1.Access)
		a.RequireInactiveSoon(t, rs, r1.Refresh)
	})
}

func TestE2EMultiInstanceKeyRotation(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		ctx := t.Context()
		a, bb := twoInstances(t, b)
		e := apptest.Seed(t, a)
		eb := e.On(bb)
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		rs := e.ServiceClient(t, nil)
		jwtSvc := e.ServiceClient(t, func(in *apptest.NewClient) { in.AccessTokenFormat = "jwt" })
		cfgB := bb.OAuthConfig(web, oidc.ScopeOpenID)
		br := bb.NewBrowser(t)

		oldKID, _, err := a.Keys.Signer(ctx, models.SigningAlgRS256)
		require.NoError(t, err)
		ar := newAuthRequest(cfgB)
		before := ar.exchange(t, cfgB, br.Authorize(eb, ar.URL, true, "").Code(t, ar.State))
		beforeID := before.Extra("id_token").(string)
		require.Equal(t, oldKID, jwtKID(t, beforeID))

		require.NoError(t, a.Keys.Rotate(ctx))
		newKID, _, err := a.Keys.Signer(ctx, models.SigningAlgRS256)
		require.NoError(t, err)
		require.NotEqual(t, oldKID, newKID)
		// Both instances publish both keys at once: the JWKS is read from
		// the database.
		for _, srv := range []*apptest.Server{a, bb} {
			kids := jwksKIDs(t, srv)
			require.Contains(t, kids, oldKID)
			require.Contains(t, kids, newKID)
		}

		// Right after the rotation B may still sign with the old key (it
		// reloads every KeyReloadInterval); either way its ID token verifies.
		ar = newAuthRequest(cfgB)
		soon := ar.exchange(t, cfgB, br.Authorize(eb, ar.URL, false, "").Code(t, ar.State))
		soonID := soon.Extra("id_token").(string)
		require.Contains(t, []string{oldKID, newKID}, jwtKID(t, soonID))

		// After its reload interval B signs with the new key too.
		time.Sleep(bb.Config.KeyReloadInterval + 200*time.Millisecond)
		ar = newAuthRequest(cfgB)
		f := br.Authorize(eb, ar.URL, false, "")
		require.Zero(t, f.LoginPages)
		after := ar.exchange(t, cfgB, f.Code(t, ar.State))
		afterID := after.Extra("id_token").(string)
		require.Equal(t, newKID, jwtKID(t, afterID), "B signs with the key A rotated in")

		// A JWT access token A signs with the new key is active on B.
		jt, err := a.ClientCredentialsConfig(jwtSvc.Client.ID, jwtSvc.Secret, oauth2.AuthStyleInHeader).Token(ctx)
		require.NoError(t, err)
		require.Equal(t, newKID, jwtKID(t, jt.AccessToken))
		bb.RequireActive(t, rs, jt.AccessToken)

		// Every ID token verifies with go-oidc against either instance's JWKS.
		for _, srv := range []*apptest.Server{a, bb} {
			for _, raw := range []string{beforeID, soonID, afterID} {
				idt, err := idTokenVerifier(t, srv, a.URL, web.Client.ID).Verify(ctx, raw)
				require.NoError(t, err, "ID token (kid %s) against the JWKS of %s", jwtKID(t, raw), srv.URL)
				require.Equal(t, e.User.ID, idt.Subject)
			}
		}
		// Discovery on A names A's JWKS; the provider verifies B's token.
		provider, err := oidc.NewProvider(ctx, a.URL)
		require.NoError(t, err)
		verifyIDToken(t, provider, web.Client.ID, after, ar.Nonce)

		// A token signed by a key that is not published is refused.
		parts := strings.Split(afterID, ".")
		forged := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))
		_, err = idTokenVerifier(t, bb, a.URL, web.Client.ID).Verify(ctx, forged)
		require.Error(t, err)
	})
}
