package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
)

// roleIDOf returns the id of the tenant's role called name.
func roleIDOf(t *testing.T, e *clientsEnv, name string) string {
	t.Helper()
	r, err := e.Server.Store.GetRoleByName(t.Context(), e.Tenant.ID, name)
	require.NoError(t, err)
	return r.ID
}

// newAPIKey creates an API key through the API and returns its id and key.
func newAPIKey(t *testing.T, e *clientsEnv, saID string, body any) (string, string) {
	t.Helper()
	res := e.Server.Call(t, http.MethodPost, "/api/service-accounts/"+saID+"/api-keys", e.token, body).NotServerError(t)
	m := requireAnswer(t, res, http.StatusCreated, "")
	require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	key, _ := m["key"].(string)
	id, _ := m["id"].(string)
	require.NotEmpty(t, id)
	require.True(t, strings.HasPrefix(key, "idk_"), "key %q", key)
	require.Len(t, key, 4+43, "idk_ + 32 bytes base64url")
	require.True(t, strings.HasPrefix(key, m["prefix"].(string)))
	return id, key
}

func TestAdminServiceAccounts(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newClientsEnv(t, b, nil)
		srv := e.Server
		other := otherClientsTenant(t, e)
		base := "/api/service-accounts"

		// CRUD.
		sa := requireAnswer(t, srv.Call(t, http.MethodPost, base, e.token, map[string]any{
			"name": "billing-bot", "description": "Bills", "tenant_id": other.Tenant.ID, "is_active": true}).NotServerError(t),
			http.StatusCreated, "")
		saID := sa["id"].(string)
		require.Equal(t, true, sa["is_active"])
		requireAnswer(t, srv.Call(t, http.MethodPost, base, e.token, map[string]any{"name": "billing-bot"}).NotServerError(t), http.StatusConflict, "service_account_exists")
		for _, body := range []any{map[string]any{}, map[string]any{"name": "  "}, map[string]any{"name": "a\u0000"}, map[string]any{"name": strings.Repeat("n", 201)}, `{"name": 5}`, "{"} {
			r := srv.Call(t, http.MethodPost, base, e.token, body).NotServerError(t)
			require.Equal(t, http.StatusUnprocessableEntity, r.Status, "%v: %s", body, r.Body)
		}
		list := requireAnswer(t, srv.Call(t, http.MethodGet, base, e.token, nil).NotServerError(t), http.StatusOK, "")
		require.Len(t, list["service_accounts"], 1)
		upd := requireAnswer(t, srv.Call(t, http.MethodPatch, base+"/"+saID, e.token, map[string]any{"description": "Sends bills"}).NotServerError(t), http.StatusOK, "")
		require.Equal(t, "Sends bills", upd["description"])
		require.Equal(t, "billing-bot", upd["name"])
		got := requireAnswer(t, srv.Call(t, http.MethodGet, base+"/"+saID, e.token, nil).NotServerError(t), http.StatusOK, "")
		require.Equal(t, "Sends bills", got["description"])
		require.Empty(t, got["roles"])
		requireAnswer(t, srv.Call(t, http.MethodGet, base+"/not-a-uuid", e.token, nil).NotServerError(t), http.StatusNotFound, "service_account_not_found")

		// Roles: assigning is a danger action (identity.membership.assign_role).
		adminRole := roleIDOf(t, e, identity.RoleAdmin)
		requireStepUpRequired(t, srv.Call(t, http.MethodPost, base+"/"+saID+"/roles", e.token, map[string]any{"role_id": adminRole}).NotServerError(t), "")
		srv.StepUp(t, e.token, apptest.Password)
		requireAnswer(t, srv.Call(t, http.MethodPost, base+"/"+saID+"/roles", e.token, map[string]any{"role_id": roleIDOf(t, other, identity.RoleAdmin)}).NotServerError(t), http.StatusNotFound, "role_not_found")
		requireAnswer(t, srv.Call(t, http.MethodPost, base+"/"+saID+"/roles", e.token, map[string]any{"role_id": "nope"}).NotServerError(t), http.StatusNotFound, "role_not_found")
		requireAnswer(t, srv.Call(t, http.MethodPost, base+"/"+saID+"/roles", e.token, map[string]any{}).NotServerError(t), http.StatusUnprocessableEntity, "validation_failed")
		requireAnswer(t, srv.Call(t, http.MethodPost, base+"/"+saID+"/roles", e.token, map[string]any{"role_id": adminRole}).NotServerError(t), http.StatusCreated, "")
		requireAnswer(t, srv.Call(t, http.MethodPost, base+"/"+saID+"/roles", e.token, map[string]any{"role_id": adminRole}).NotServerError(t), http.StatusConflict, "")
		got = requireAnswer(t, srv.Call(t, http.MethodGet, base+"/"+saID, e.token, nil).NotServerError(t), http.StatusOK, "")
		require.Len(t, got["roles"], 1)

		// API keys: shown once, stored only as a keyed hash.
		keyID, key := newAPIKey(t, e, saID, map[string]any{"name": "ci", "expires_in_days": 30})
		keys := requireAnswer(t, srv.Call(t, http.MethodGet, base+"/"+saID+"/api-keys", e.token, nil).NotServerError(t), http.StatusOK, "")
		require.Len(t, keys["api_keys"], 1)
		k0 := keys["api_keys"].([]any)[0].(map[string]any)
		require.ElementsMatch(t, []string{"id", "prefix", "name", "created_at", "last_used_at", "expires_at"}, keysOf(k0))
		require.Nil(t, k0["last_used_at"])
		require.NotNil(t, k0["expires_at"])
		for _, row := range srv.Rows(t, "SELECT * FROM api_keys") {
			for _, col := range row {
				require.NotContains(t, col, key[4:], "the api_keys table holds the key in plaintext")
			}
		}
		hashes := srv.Rows(t, "SELECT key_hash FROM api_keys WHERE id = '"+keyID+"'")
		require.Len(t, hashes, 1)
		require.Len(t, hashes[0][0], 64)
		require.Equal(t, srv.Ring.MAC("identity/lookup/v1", []byte(key)), hashes[0][0], "keyed SHA-256 under the lookup key")
		for _, days := range []any{0, -1, 3651, "ten", 1.5} {
			r := srv.Call(t, http.MethodPost, base+"/"+saID+"/api-keys", e.token, map[string]any{"expires_in_days": days}).NotServerError(t)
			require.Equal(t, http.StatusUnprocessableEntity, r.Status, "%v: %s", days, r.Body)
		}

		// The key authenticates as the service account (role Admin): allowed
		// where Admin is, 403 naming the permission where it is not.
		requireAnswer(t, srv.Call(t, http.MethodGet, "/api/clients", key, nil).NotServerError(t), http.StatusOK, "")
		sal := requireAnswer(t, srv.Call(t, http.MethodGet, base, key, nil).NotServerError(t), http.StatusOK, "")
		require.Len(t, sal["service_accounts"], 1)
		requireForbidden(t, srv.Call(t, http.MethodDelete, base+"/"+saID, key, nil).NotServerError(t), "identity.service_accounts.delete")
		requireForbidden(t, srv.Call(t, http.MethodPost, base+"/"+saID+"/roles", key, map[string]any{"role_id": adminRole}).NotServerError(t), "identity.membership.assign_role")
		chk := requireAnswer(t, srv.Call(t, http.MethodPost, "/api/authorizations/check", key, map[string]any{"permission": "identity.oauth_clients.read"}).NotServerError(t), http.StatusOK, "")
		require.Equal(t, true, chk["allowed"])
		keys = requireAnswer(t, srv.Call(t, http.MethodGet, base+"/"+saID+"/api-keys", e.token, nil).NotServerError(t), http.StatusOK, "")
		require.NotNil(t, keys["api_keys"].([]any)[0].(map[string]any)["last_used_at"], "use is recorded")
		require.Len(t, srv.Rows(t, "SELECT id FROM audit_logs WHERE actor_id = '"+saID+"'"), 0, "reads leave no audit rows")

		// Bad keys are 401, never 500.
		for _, bad := range []string{"idk_", "idk_" + strings.Repeat("A", 43), key + "x", key[:len(key)-1] + "A", "idk_%00"} {
			if bad == key {
				continue
			}
			requireAnswer(t, srv.Call(t, http.MethodGet, "/api/clients", bad, nil).NotServerError(t), http.StatusUnauthorized, "invalid_token")
		}

		// Expired.
		expID, expKey := newAPIKey(t, e, saID, map[string]any{"name": "short", "expires_in_days": 1})
		requireAnswer(t, srv.Call(t, http.MethodGet, "/api/clients", expKey, nil).NotServerError(t), http.StatusOK, "")
		srv.Exec(t, "UPDATE api_keys SET expires_at = '2001-01-01 00:00:00+00:00' WHERE id = '"+expID+"'")
		requireAnswer(t, srv.Call(t, http.MethodGet, "/api/clients", expKey, nil).NotServerError(t), http.StatusUnauthorized, "invalid_token")

		// Deactivated service account: its keys stop; reactivated, they work.
		requireAnswer(t, srv.Call(t, http.MethodPatch, base+"/"+saID, e.token, map[string]any{"is_active": false}).NotServerError(t), http.StatusOK, "")
		requireAnswer(t, srv.Call(t, http.MethodGet, "/api/clients", key, nil).NotServerError(t), http.StatusUnauthorized, "invalid_token")
		requireAnswer(t, srv.Call(t, http.MethodPatch, base+"/"+saID, e.token, map[string]any{"is_active": true}).NotServerError(t), http.StatusOK, "")
		requireAnswer(t, srv.Call(t, http.MethodGet, "/api/clients", key, nil).NotServerError(t), http.StatusOK, "")

		// Rotate: a new key, the old one revoked at once.
		rot := requireAnswer(t, srv.Call(t, http.MethodPost, base+"/"+saID+"/api-keys/"+keyID+"/rotate", e.token, nil).NotServerError(t), http.StatusOK, "")
		newKey := rot["key"].(string)
		require.NotEqual(t, key, newKey)
		require.Equal(t, "ci", rot["name"])
		requireAnswer(t, srv.Call(t, http.MethodGet, "/api/clients", key, nil).NotServerError(t), http.StatusUnauthorized, "invalid_token")
		requireAnswer(t, srv.Call(t, http.MethodGet, "/api/clients", newKey, nil).NotServerError(t), http.StatusOK, "")
		requireAnswer(t, srv.Call(t, http.MethodPost, base+"/"+saID+"/api-keys/"+keyID+"/rotate", e.token, nil).NotServerError(t), http.StatusConflict, "api_key_inactive")

		// Revoke.
		requireAnswer(t, srv.Call(t, http.MethodDelete, base+"/"+saID+"/api-keys/"+rot["id"].(string), e.token, nil).NotServerError(t), http.StatusNoContent, "")
		requireAnswer(t, srv.Call(t, http.MethodGet, "/api/clients", newKey, nil).NotServerError(t), http.StatusUnauthorized, "invalid_token")
		keys = requireAnswer(t, srv.Call(t, http.MethodGet, base+"/"+saID+"/api-keys", e.token, nil).NotServerError(t), http.StatusOK, "")
		for _, k := range keys["api_keys"].([]any) {
			require.NotEqual(t, rot["id"], k.(map[string]any)["id"], "revoked keys are not listed")
		}
		requireAnswer(t, srv.Call(t, http.MethodDelete, base+"/"+saID+"/api-keys/not-a-uuid", e.token, nil).NotServerError(t), http.StatusNotFound, "api_key_not_found")

		// Cross-tenant: every route answers 404 to the other tenant.
		srv.StepUp(t, other.token, apptest.Password)
		liveID, liveKey := newAPIKey(t, e, saID, map[string]any{"name": "live"})
		otherRole := roleIDOf(t, other, identity.RoleMember)
		for _, r := range []struct{ method, path string }{
			{http.MethodGet, base + "/" + saID},
			{http.MethodPatch, base + "/" + saID},
			{http.MethodDelete, base + "/" + saID},
			{http.MethodPost, base + "/" + saID + "/roles"},
			{http.MethodDelete, base + "/" + saID + "/roles/" + adminRole},
			{http.MethodPost, base + "/" + saID + "/api-keys"},
			{http.MethodGet, base + "/" + saID + "/api-keys"},
			{http.MethodDelete, base + "/" + saID + "/api-keys/" + liveID},
			{http.MethodPost, base + "/" + saID + "/api-keys/" + liveID + "/rotate"},
		} {
			res := srv.Call(t, r.method, r.path, other.token, map[string]any{"name": "stolen", "role_id": otherRole, "is_active": false}).NotServerError(t)
			require.Equal(t, http.StatusNotFound, res.Status, "%s %s: %s", r.method, r.path, res.Body)
		}
		olist := requireAnswer(t, srv.Call(t, http.MethodGet, base, other.token, nil).NotServerError(t), http.StatusOK, "")
		require.Empty(t, olist["service_accounts"])
		// The other tenant's key does not reach this tenant's objects either.
		osa := requireAnswer(t, srv.Call(t, http.MethodPost, base, other.token, map[string]any{"name": "spy"}).NotServerError(t), http.StatusCreated, "")
		requireAnswer(t, srv.Call(t, http.MethodPost, base+"/"+osa["id"].(string)+"/roles", other.token, map[string]any{"role_id": roleIDOf(t, other, identity.RoleAdmin)}).NotServerError(t), http.StatusCreated, "")
		_, spyKey := newAPIKey(t, other, osa["id"].(string), map[string]any{})
		requireAnswer(t, srv.Call(t, http.MethodGet, base+"/"+saID, spyKey, nil).NotServerError(t), http.StatusNotFound, "service_account_not_found")
		requireAnswer(t, srv.Call(t, http.MethodGet, base+"/"+saID+"/api-keys", spyKey, nil).NotServerError(t), http.StatusNotFound, "service_account_not_found")
		requireAnswer(t, srv.Call(t, http.MethodGet, "/api/clients", liveKey, nil).NotServerError(t), http.StatusOK, "")

		// Remove the role: the key loses its permissions.
		requireAnswer(t, srv.Call(t, http.MethodDelete, base+"/"+saID+"/roles/"+adminRole, e.token, nil).NotServerError(t), http.StatusNoContent, "")
		requireAnswer(t, srv.Call(t, http.MethodDelete, base+"/"+saID+"/roles/"+adminRole, e.token, nil).NotServerError(t), http.StatusNotFound, "")
		requireForbidden(t, srv.Call(t, http.MethodGet, "/api/clients", liveKey, nil).NotServerError(t), "identity.oauth_clients.read")

		// Delete (danger; the session is still elevated): keys die with it.
		requireAnswer(t, srv.Call(t, http.MethodDelete, base+"/"+saID, e.token, nil).NotServerError(t), http.StatusNoContent, "")
		requireAnswer(t, srv.Call(t, http.MethodGet, "/api/clients", liveKey, nil).NotServerError(t), http.StatusUnauthorized, "invalid_token")
		requireAnswer(t, srv.Call(t, http.MethodGet, base+"/"+saID, e.token, nil).NotServerError(t), http.StatusNotFound, "service_account_not_found")
		require.Empty(t, srv.Rows(t, "SELECT role_id FROM role_assignments WHERE principal_id = '"+saID+"'"))

		actions := auditActions(t, srv, e.Tenant.ID)
		for _, a := range []string{identity.AuditServiceAccountCreated, identity.AuditServiceAccountUpdated, identity.AuditServiceAccountDeleted,
			identity.AuditServiceAccountRoleAssigned, identity.AuditServiceAccountRoleRemoved,
			identity.AuditAPIKeyCreated, identity.AuditAPIKeyRotated, identity.AuditAPIKeyRevoked} {
			require.Contains(t, actions, a)
		}
		for _, r := range srv.Rows(t, "SELECT metadata FROM audit_logs") {
			for _, k := range []string{key, newKey, liveKey, expKey} {
				require.NotContains(t, r[0], k[4:], "an audit row holds a key")
			}
		}
	})
}

// TestServiceAccountClientCredentials: a client held by a service account
// gets client-credentials tokens that act as the account on the API.
func TestServiceAccountClientCredentials(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newClientsEnv(t, b, nil)
		srv := e.Server
		other := otherClientsTenant(t, e)
		sa := requireAnswer(t, srv.Call(t, http.MethodPost, "/api/service-accounts", e.token, map[string]any{"name": "worker"}).NotServerError(t), http.StatusCreated, "")
		saID := sa["id"].(string)
		srv.StepUp(t, e.token, apptest.Password)
		requireAnswer(t, srv.Call(t, http.MethodPost, "/api/service-accounts/"+saID+"/roles", e.token, map[string]any{"role_id": roleIDOf(t, e, identity.RoleAdmin)}).NotServerError(t), http.StatusCreated, "")

		// Only a confidential client_credentials client of the same tenant.
		for _, body := range []map[string]any{
			{"grant_types": []string{"authorization_code"}, "redirect_uris": []string{"https://app.example/cb"}, "service_account_id": saID},
			{"grant_types": []string{"client_credentials"}, "service_account_id": saID, "public": true},
		} {
			requireAnswer(t, srv.Call(t, http.MethodPost, "/api/clients", e.token, body).NotServerError(t), http.StatusUnprocessableEntity, "validation_failed")
		}
		srv.StepUp(t, other.token, apptest.Password) // binding is a danger action (issue 8)
		m := requireAnswer(t, srv.Call(t, http.MethodPost, "/api/clients", other.token, map[string]any{"grant_types": []string{"client_credentials"}, "service_account_id": saID}).NotServerError(t), http.StatusUnprocessableEntity, "validation_failed")
		require.Contains(t, m["fields"], "service_account_id")

		held := requireAnswer(t, srv.Call(t, http.MethodPost, "/api/clients", e.token, map[string]any{"grant_types": []string{"client_credentials"}, "service_account_id": saID}).NotServerError(t), http.StatusCreated, "")
		require.Equal(t, saID, held["service_account_id"])
		id, secret := held["client_id"].(string), held["client_secret"].(string)
		tok := clientCredentialsToken(t, srv, id, secret)
		list := requireAnswer(t, srv.Call(t, http.MethodGet, "/api/service-accounts", tok, nil).NotServerError(t), http.StatusOK, "")
		require.Len(t, list["service_accounts"], 1)
		requireForbidden(t, srv.Call(t, http.MethodDelete, "/api/clients/"+id, tok, nil).NotServerError(t), "identity.oauth_clients.delete")
		requireAnswer(t, srv.Call(t, http.MethodGet, "/api/auth/me", tok, nil).NotServerError(t), http.StatusForbidden, "first_party_token_required")

		// A client that no service account holds cannot use the API.
		plain := requireAnswer(t, srv.Call(t, http.MethodPost, "/api/clients", e.token, map[string]any{"grant_types": []string{"client_credentials"}}).NotServerError(t), http.StatusCreated, "")
		ptok := clientCredentialsToken(t, srv, plain["client_id"].(string), plain["client_secret"].(string))
		requireAnswer(t, srv.Call(t, http.MethodGet, "/api/service-accounts", ptok, nil).NotServerError(t), http.StatusForbidden, "principal_not_allowed")

		// Deactivating the account stops its tokens at once.
		requireAnswer(t, srv.Call(t, http.MethodPatch, "/api/service-accounts/"+saID, e.token, map[string]any{"is_active": false}).NotServerError(t), http.StatusOK, "")
		requireAnswer(t, srv.Call(t, http.MethodGet, "/api/service-accounts", tok, nil).NotServerError(t), http.StatusUnauthorized, "invalid_token")
	})
}

func keysOf(m map[string]any) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	return out
}
