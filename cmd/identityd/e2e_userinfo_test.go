package main

import (
	"net/http"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity/identitytest"
	"github.com/identityd/identityd/storage/storagetest"
)

// TestE2EClaimsOmitEmptyName: the ID token and userinfo release the same
// claims (oauth.UserClaims), and a user without a name gets no "name" in
// either, not "name": "" (OpenID Connect Core §5.3.2: a claim that is not
// returned is omitted, never present with an empty string).
func TestE2EClaimsOmitEmptyName(t *testing.T) {
	e2eEachBackend(t, func(t *testing.T, b storagetest.Backend, redisURL string) {
		e := newE2E(t, b, redisURL, nil)
		nameless, err := e.srv.Admin.CreateUser(t.Context(), identitytest.NewUser{
			TenantSlug: e.tenant.Slug, Email: "nameless." + e.tenant.Slug + "@example.com", Password: e2ePassword,
		})
		require.NoError(t, err, "create user")
		require.Empty(t, nameless.Name)

		for _, tc := range []struct {
			name string
			env  *e2eEnv
		}{
			{"named", e},
			{"nameless", &e2eEnv{srv: e.srv, tenant: e.tenant, user: nameless}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				web := tc.env.webClient(t, nil)
				cfg := oauthConfig(e.srv, web, oidc.ScopeOpenID, "email", "profile")
				ar := newAuthRequest(cfg)
				tok := ar.exchange(t, cfg, newBrowser(t, e.srv).authorize(tc.env, ar.URL, true, "allow").Code(t, ar.State))

				raw, ok := tok.Extra("id_token").(string)
				require.True(t, ok, "an id_token")
				_, idClaims := verifyJWT(t, e.srv, raw)
				res := apiCall(t, e.srv, http.MethodGet, "/api/oauth/userinfo", tok.AccessToken, nil)
				require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
				ui := res.JSON(t)

				require.Equal(t, tc.env.user.ID, ui["sub"])
				for _, k := range []string{"email", "email_verified", "tenant_id"} {
					require.Equal(t, idClaims[k], ui[k], "%s: the ID token and userinfo agree", k)
				}
				if tc.env.user.Name == "" {
					require.NotContains(t, ui, "name", "userinfo leaves out an empty name")
					require.NotContains(t, idClaims, "name", "the ID token leaves out an empty name")
				} else {
					require.Equal(t, tc.env.user.Name, ui["name"])
					require.Equal(t, tc.env.user.Name, idClaims["name"])
				}
			})
		}
	})
}
