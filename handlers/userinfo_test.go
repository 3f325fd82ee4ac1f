package handlers_test

import (
	"net/http"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/internal/apptest"
)

// TestE2EClaimsOmitEmptyName: the ID token and userinfo release the same
// claims (oauth.UserClaims), and a user without a name gets no "name" in
// either, not "name": "" (OpenID Connect Core §5.3.2: a claim that is not
// returned is omitted, never present with an empty string).
func TestE2EClaimsOmitEmptyName(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		nameless := e.AddUser(t, apptest.NewUser{
			TenantSlug: e.Tenant.Slug, Email: "nameless." + e.Tenant.Slug + "@example.com", Password: apptest.Password,
		})
		require.Empty(t, nameless.Name)

		web := e.WebClient(t, nil)
		for _, tc := range []struct {
			name string
			env  *apptest.Env
		}{
			{"named", e},
			{"nameless", &apptest.Env{Server: e.Server, Tenant: e.Tenant, User: nameless}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID, "email", "profile")
				ar := newAuthRequest(cfg)
				tok := ar.exchange(t, cfg, e.Server.NewBrowser(t).Authorize(tc.env, ar.URL, true, "allow").Code(t, ar.State))

				raw, ok := tok.Extra("id_token").(string)
				require.True(t, ok, "an id_token")
				_, idClaims := verifyJWT(t, e.Server, raw)
				res := e.Call(t, http.MethodGet, "/api/oauth/userinfo", tok.AccessToken, nil)
				require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
				ui := res.JSON(t)

				require.Equal(t, tc.env.User.ID, ui["sub"])
				for _, k := range []string{"email", "email_verified", "tenant_id"} {
					require.Equal(t, idClaims[k], ui[k], "%s: the ID token and userinfo agree", k)
				}
				if tc.env.User.Name == "" {
					require.NotContains(t, ui, "name", "userinfo leaves out an empty name")
					require.NotContains(t, idClaims, "name", "the ID token leaves out an empty name")
				} else {
					require.Equal(t, tc.env.User.Name, ui["name"])
					require.Equal(t, tc.env.User.Name, idClaims["name"])
				}
			})
		}
	})
}
