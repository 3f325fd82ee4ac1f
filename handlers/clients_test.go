package handlers_test

import (
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

// clientsAdminRole is the role the machine tests give their administrator:
// every permission of the client and service-account APIs, danger ones too.
const clientsAdminRole = "Machine Admin"

var clientsAdminPerms = []string{
	"identity.oauth_clients.*", "identity.oauth_client.rotate",
	"identity.service_accounts.*", "identity.api_keys.*", "identity.service_account.api_keys.list",
	"identity.membership.assign_role",
}

// clientsEnv is a server with a tenant whose user administers its machines,
// signed in through the login API.
type clientsEnv struct {
	*apptest.Env
	token string
}

// newClientsEnv starts a server on b and signs in a machine administrator.
func newClientsEnv(t *testing.T, b apptest.Backend, mutate func(*app.Config)) *clientsEnv {
	t.Helper()
	return withClientsAdmin(t, apptest.NewEnv(t, b, mutate))
}

// withClientsAdmin gives e's user the machine-admin role and signs it in.
func withClientsAdmin(t *testing.T, e *apptest.Env) *clientsEnv {
	t.Helper()
	ctx := t.Context()
	st := e.Server.Store
	// It also holds the Admin role's permissions, so it covers (and may
	// give service accounts) that role (issue 8: nobody grants more than
	// they hold, service accounts included).
	perms := append(slices.Clone(clientsAdminPerms), identity.SystemRoles()[identity.RoleAdmin]...)
	require.NoError(t, st.SeedTenantRoles(ctx, e.Tenant.ID, map[string][]string{clientsAdminRole: perms}, identity.DangerZonePolicy, identity.DangerActions))
	r, err := st.GetRoleByName(ctx, e.Tenant.ID, clientsAdminRole)
	require.NoError(t, err)
	require.NoError(t, st.AssignRole(ctx, e.Tenant.ID, e.User.ID, models.PrincipalUser, r.ID))
	return &clientsEnv{Env: e, token: e.Server.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)}
}

// otherClientsTenant makes a second tenant with its own administrator on the same server.
func otherClientsTenant(t *testing.T, e *clientsEnv) *clientsEnv {
	t.Helper()
	return withClientsAdmin(t, apptest.Seed(t, e.Server))
}

// requireAnswer asserts a status and, for errors, the documented shape and code.
func requireAnswer(t *testing.T, res *apptest.Result, status int, code string) map[string]any {
	t.Helper()
	require.Equal(t, status, res.Status, "body: %s", res.Body)
	if len(res.Body) == 0 {
		return nil
	}
	m := res.JSON(t)
	if code != "" {
		require.Equal(t, code, m["error"], "body: %s", res.Body)
		require.NotEmpty(t, m["message"], "error has a message: %s", res.Body)
	}
	return m
}

// auditActions lists the tenant's audit actions.
func auditActions(t *testing.T, srv *apptest.Server, tenantID string) []string {
	t.Helper()
	var out []string
	for _, r := range srv.Rows(t, "SELECT action, metadata FROM audit_logs WHERE tenant_id = '"+tenantID+"'") {
		out = append(out, r[0])
	}
	return out
}

// clientCreds is a client the API created, as the OAuth helpers take it.
func clientCreds(id, secret string) *apptest.CreatedClient {
	return &apptest.CreatedClient{Client: &models.Client{ID: id, TokenEndpointAuthMethod: "client_secret_basic"}, Secret: secret}
}

// clientCredentials asks for a client-credentials token and returns the result.
func clientCredentials(t *testing.T, srv *apptest.Server, id, secret string) *apptest.Result {
	t.Helper()
	return srv.TokenRequest(t, clientCreds(id, secret), url.Values{"grant_type": {"client_credentials"}})
}

func clientCredentialsToken(t *testing.T, srv *apptest.Server, id, secret string) string {
	t.Helper()
	res := clientCredentials(t, srv, id, secret)
	require.Equal(t, http.StatusOK, res.Status, "client credentials: %s", res.Body)
	tok, _ := res.JSON(t)["access_token"].(string)
	require.NotEmpty(t, tok)
	return tok
}

func TestAdminClientsCRUD(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newClientsEnv(t, b, func(c *app.Config) { c.SecretRotation = time.Hour })
		srv := e.Server
		other := otherClientsTenant(t, e)

		// Unauthenticated, and a user without the permission.
		requireAnswer(t, srv.Call(t, http.MethodGet, "/api/clients", "", nil).NotServerError(t), http.StatusUnauthorized, "unauthenticated")
		plain, err := srv.CreateUser(t, apptest.NewUser{TenantSlug: e.Tenant.Slug, Email: "plain." + e.Tenant.Slug + "@example.com", Password: apptest.Password})
		require.NoError(t, err)
		plainToken := srv.Login(t, e.Tenant.Slug, plain.Email, apptest.Password)
		requireForbidden(t, srv.Call(t, http.MethodGet, "/api/clients", plainToken, nil).NotServerError(t), "identity.oauth_clients.read")
		requireForbidden(t, srv.Call(t, http.MethodPost, "/api/clients", plainToken, map[string]any{"grant_types": []string{"client_credentials"}}).NotServerError(t), "identity.oauth_clients.create")

		// Create: the tenant is the principal's, whatever the body says; the
		// secret is shown once.
		res := srv.Call(t, http.MethodPost, "/api/clients", e.token, map[string]any{
			"name": "billing", "grant_types": []string{"client_credentials"}, "scopes": []string{"orders.read"},
			"tenant_id": other.Tenant.ID, "id": "chosen-id", "client_id": "chosen-id", "client_secret": "chosen-secret-0123456789",
		}).NotServerError(t)

		created := requireAnswer(t, res, http.StatusCreated, "")
		id, _ := created["client_id"].(string)
		secret, _ := created["client_secret"].(string)
		require.NotEmpty(t, id)
		require.NotEqual(t, "chosen-id", id)
		require.NotEqual(t, "chosen-secret-0123456789", secret)
		require.GreaterOrEqual(t, len(secret), 32)
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		require.NotContains(t, created, "secret_hash")
		stored, err := srv.Store.GetTenantClient(t.Context(), e.Tenant.ID, id)
		require.NoError(t, err, "the client is the principal's tenant's")
		require.NotContains(t, stored.SecretHash, secret)
		clientCredentialsToken(t, srv, id, secret)

		// Validation: 422 with the field, never a 500.
		for _, tc := range []struct {
			name  string
			body  any
			field string
		}{
			{"no grants", map[string]any{"name": "x"}, "grant_types"},
			{"unknown grant", map[string]any{"grant_types": []string{"password"}}, "grant_types"},
			{"code without redirect", map[string]any{"grant_types": []string{"authorization_code"}}, "redirect_uris"},
			{"http redirect", map[string]any{"grant_types": []string{"authorization_code"}, "redirect_uris": []string{"http://evil.example/cb"}}, "redirect_uris"},
			{"public cc", map[string]any{"grant_types": []string{"client_credentials"}, "public": true}, "grant_types"},
			{"auth method", map[string]any{"grant_types": []string{"client_credentials"}, "token_endpoint_auth_method": "private_key_jwt"}, "token_endpoint_auth_method"},
			{"token format", map[string]any{"grant_types": []string{"client_credentials"}, "access_token_format": "paseto"}, "access_token_format"},
			{"NUL name", map[string]any{"grant_types": []string{"client_credentials"}, "name": "a\u0000b"}, "name"},
			{"bad scope", map[string]any{"grant_types": []string{"client_credentials"}, "scopes": []string{"a\"b"}}, "scopes"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				m := requireAnswer(t, srv.Call(t, http.MethodPost, "/api/clients", e.token, tc.body).NotServerError(t), http.StatusUnprocessableEntity, "validation_failed")
				fields, _ := m["fields"].(map[string]any)
				require.Contains(t, fields, tc.field, "body: %v", m)
			})
		}
		for _, raw := range []string{"{", "[]", `{"grant_types":"client_credentials"}`, `{"public":"yes"}`} {
			r := srv.Call(t, http.MethodPost, "/api/clients", e.token, raw).NotServerError(t)
			require.Contains(t, []int{400, 422}, r.Status, "%s: %s", raw, r.Body)
		}

		// List and get; first-party clients (the login API made one) are hidden.
		list := requireAnswer(t, srv.Call(t, http.MethodGet, "/api/clients", e.token, nil).NotServerError(t), http.StatusOK, "")
		var ids []string
		for _, c := range list["clients"].([]any) {
			ids = append(ids, c.(map[string]any)["client_id"].(string))
			require.NotContains(t, c, "client_secret")
		}
		require.Contains(t, ids, id)
		for _, cid := range ids {
			require.False(t, strings.HasPrefix(cid, "first-party-"), "first-party client listed: %v", ids)
		}
		_, err = srv.Store.GetClient(t.Context(), "first-party-"+e.Tenant.ID)
		require.NoError(t, err, "signing in made the first-party client")
		got := requireAnswer(t, srv.Call(t, http.MethodGet, "/api/clients/"+id, e.token, nil).NotServerError(t), http.StatusOK, "")
		require.Equal(t, "billing", got["name"])
		fp := "/api/clients/first-party-" + e.Tenant.ID
		requireAnswer(t, srv.Call(t, http.MethodGet, fp, e.token, nil).NotServerError(t), http.StatusNotFound, "client_not_found")
		requireAnswer(t, srv.Call(t, http.MethodPatch, fp, e.token, map[string]any{"name": "mine"}).NotServerError(t), http.StatusNotFound, "client_not_found")
		requireAnswer(t, srv.Call(t, http.MethodGet, "/api/clients/no-such-client", e.token, nil).NotServerError(t), http.StatusNotFound, "client_not_found")

		// Update: the administrable fields change, the tenant and secret never.
		res = srv.Call(t, http.MethodPatch, "/api/clients/"+id, e.token, map[string]any{
			"name": "billing v2", "scopes": []string{"orders.read", "orders.write"}, "audience": []string{"https://api.example"},
			"access_token_format": "jwt", "skip_consent": true,
			"tenant_id": other.Tenant.ID, "client_secret": "overwritten-secret-0123456789", "secret_hash": "x", "public": true,
		}).NotServerError(t)

		upd := requireAnswer(t, res, http.StatusOK, "")
		require.Equal(t, "billing v2", upd["name"])
		require.Equal(t, "jwt", upd["access_token_format"])
		require.Equal(t, true, upd["skip_consent"])
		require.Equal(t, false, upd["public"])
		require.ElementsMatch(t, []any{"orders.read", "orders.write"}, upd["scopes"])
		after, err := srv.Store.GetTenantClient(t.Context(), e.Tenant.ID, id)
		require.NoError(t, err)
		require.Equal(t, stored.SecretHash, after.SecretHash)
		clientCredentialsToken(t, srv, id, secret)
		m := requireAnswer(t, srv.Call(t, http.MethodPatch, "/api/clients/"+id, e.token, map[string]any{"grant_types": []string{"implicit"}}).NotServerError(t), http.StatusUnprocessableEntity, "validation_failed")
		require.Contains(t, m["fields"], "grant_types")
		requireAnswer(t, srv.Call(t, http.MethodPatch, "/api/clients/"+id, e.token, map[string]any{"access_token_format": ""}).NotServerError(t), http.StatusUnprocessableEntity, "validation_failed")
		requireForbidden(t, srv.Call(t, http.MethodPatch, "/api/clients/"+id, plainToken, map[string]any{"name": "x"}).NotServerError(t), "identity.oauth_clients.update")

		// Cross-tenant: the other tenant's administrator sees nothing of it.
		for _, r := range []*apptest.Result{
			srv.Call(t, http.MethodGet, "/api/clients/"+id, other.token, nil).NotServerError(t),
			srv.Call(t, http.MethodPatch, "/api/clients/"+id, other.token, map[string]any{"name": "stolen"}).NotServerError(t),
		} {
			requireAnswer(t, r, http.StatusNotFound, "client_not_found")
		}
		olist := requireAnswer(t, srv.Call(t, http.MethodGet, "/api/clients", other.token, nil).NotServerError(t), http.StatusOK, "")
		require.Empty(t, olist["clients"])
		srv.StepUp(t, other.token, apptest.Password)
		requireAnswer(t, srv.Call(t, http.MethodPost, "/api/clients/"+id+"/rotate-secret", other.token, nil).NotServerError(t), http.StatusNotFound, "client_not_found")
		requireAnswer(t, srv.Call(t, http.MethodDelete, "/api/clients/"+id, other.token, nil).NotServerError(t), http.StatusNotFound, "client_not_found")
		clientCredentialsToken(t, srv, id, secret)

		// Delete is a danger action: step-up first. It revokes the client's tokens.
		tok := clientCredentialsToken(t, srv, id, secret)
		introspector := e.ServiceClient(t, nil)
		srv.RequireActive(t, introspector, tok)
		requireStepUpRequired(t, srv.Call(t, http.MethodDelete, "/api/clients/"+id, e.token, nil).NotServerError(t), "")
		srv.StepUp(t, e.token, apptest.Password)
		requireAnswer(t, srv.Call(t, http.MethodDelete, fp, e.token, nil).NotServerError(t), http.StatusNotFound, "client_not_found")
		// Binding a client to a service account is a danger action too
		// (issue 8); stepped up, a bad account is a 422 with the field.
		for _, said := range []string{"0b7c3f9e-1d2a-4c5b-8e6f-7a8b9c0d1e2f", "x'; DROP TABLE oauth_clients; --"} {
			m := requireAnswer(t, srv.Call(t, http.MethodPost, "/api/clients", e.token, map[string]any{"grant_types": []string{"client_credentials"}, "service_account_id": said}).NotServerError(t),
				http.StatusUnprocessableEntity, "validation_failed")
			require.Contains(t, m["fields"], "service_account_id", "body: %v", m)
		}
		requireAnswer(t, srv.Call(t, http.MethodDelete, "/api/clients/"+id, e.token, nil).NotServerError(t), http.StatusNoContent, "")
		requireAnswer(t, srv.Call(t, http.MethodGet, "/api/clients/"+id, e.token, nil).NotServerError(t), http.StatusNotFound, "client_not_found")
		srv.RequireInactive(t, introspector, tok)
		apptest.RequireOAuthError(t, clientCredentials(t, srv, id, secret), http.StatusUnauthorized, "invalid_client")
		require.Empty(t, srv.Rows(t, "SELECT signature FROM oauth_access_tokens WHERE client_id = '"+id+"'"))

		actions := auditActions(t, srv, e.Tenant.ID)
		for _, a := range []string{identity.AuditClientCreated, identity.AuditClientUpdated, identity.AuditClientDeleted} {
			require.Contains(t, actions, a)
		}
		for _, r := range srv.Rows(t, "SELECT metadata FROM audit_logs WHERE tenant_id = '"+e.Tenant.ID+"'") {
			require.NotContains(t, r[0], secret, "an audit row holds the secret")
		}
	})
}

func TestAdminClientRotateSecret(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		t.Run("window", func(t *testing.T) {
			// The window is closed below by editing the row behind the server's
			// back, which the lookup cache (rightly) does not see: run without it.
			e := newClientsEnv(t, b, func(c *app.Config) { c.SecretRotation = time.Hour; c.LookupCacheSize = 0 })
			srv := e.Server
			created := requireAnswer(t, srv.Call(t, http.MethodPost, "/api/clients", e.token, map[string]any{"grant_types": []string{"client_credentials"}}).NotServerError(t), http.StatusCreated, "")
			id, oldSecret := created["client_id"].(string), created["client_secret"].(string)
			clientCredentialsToken(t, srv, id, oldSecret) // warms the verified-secret cache

			path := "/api/clients/" + id + "/rotate-secret"
			requireStepUpRequired(t, srv.Call(t, http.MethodPost, path, e.token, nil).NotServerError(t), "")
			clientCredentialsToken(t, srv, id, oldSecret)
			srv.StepUp(t, e.token, apptest.Password)
			res := srv.Call(t, http.MethodPost, path, e.token, nil).NotServerError(t)
			rot := requireAnswer(t, res, http.StatusOK, "")
			newSecret, _ := rot["client_secret"].(string)
			require.NotEmpty(t, newSecret)
			require.NotEqual(t, oldSecret, newSecret)
			require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
			require.NotEmpty(t, rot["previous_secret_expires_at"])

			clientCredentialsToken(t, srv, id, newSecret)
			clientCredentialsToken(t, srv, id, oldSecret) // inside the window
			apptest.RequireOAuthError(t, clientCredentials(t, srv, id, "not-the-secret-at-all-0123"), http.StatusUnauthorized, "invalid_client")

			// The window closes: the old secret stops, the new one goes on.
			srv.Exec(t, "UPDATE oauth_clients SET rotated_secret_expires_at = '2001-01-01 00:00:00+00:00' WHERE id = '"+id+"'")
			apptest.RequireOAuthError(t, clientCredentials(t, srv, id, oldSecret), http.StatusUnauthorized, "invalid_client")
			clientCredentialsToken(t, srv, id, newSecret)

			// A public client has no secret to rotate; a first-party client is not the API's.
			pub := requireAnswer(t, srv.Call(t, http.MethodPost, "/api/clients", e.token, map[string]any{
				"grant_types": []string{"authorization_code"}, "redirect_uris": []string{"https://app.example/cb"}, "public": true}).NotServerError(t),
				http.StatusCreated, "")
			require.Empty(t, pub["client_secret"])
			requireAnswer(t, srv.Call(t, http.MethodPost, "/api/clients/"+pub["client_id"].(string)+"/rotate-secret", e.token, nil).NotServerError(t), http.StatusConflict, "public_client")
			requireAnswer(t, srv.Call(t, http.MethodPost, "/api/clients/first-party-"+e.Tenant.ID+"/rotate-secret", e.token, nil).NotServerError(t), http.StatusNotFound, "client_not_found")

			require.Contains(t, auditActions(t, srv, e.Tenant.ID), identity.AuditClientSecretRotated)
			for _, r := range srv.Rows(t, "SELECT metadata FROM audit_logs WHERE tenant_id = '"+e.Tenant.ID+"'") {
				require.NotContains(t, r[0], newSecret)
				require.NotContains(t, r[0], oldSecret)
			}
		})
		t.Run("no window", func(t *testing.T) {
			e := newClientsEnv(t, b, func(c *app.Config) { c.SecretRotation = 0 })
			srv := e.Server
			created := requireAnswer(t, srv.Call(t, http.MethodPost, "/api/clients", e.token, map[string]any{"grant_types": []string{"client_credentials"}}).NotServerError(t), http.StatusCreated, "")
			id, oldSecret := created["client_id"].(string), created["client_secret"].(string)
			clientCredentialsToken(t, srv, id, oldSecret)
			srv.StepUp(t, e.token, apptest.Password)
			rot := requireAnswer(t, srv.Call(t, http.MethodPost, "/api/clients/"+id+"/rotate-secret", e.token, nil).NotServerError(t), http.StatusOK, "")
			require.Nil(t, rot["previous_secret_expires_at"])
			apptest.RequireOAuthError(t, clientCredentials(t, srv, id, oldSecret), http.StatusUnauthorized, "invalid_client")
			clientCredentialsToken(t, srv, id, rot["client_secret"].(string))
		})
	})
}
