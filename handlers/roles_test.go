package handlers_test

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

// arRoleNames lists the names in a GET /api/roles answer.
func arRoleNames(t *testing.T, m map[string]any) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, r := range m["roles"].([]any) {
		rm := r.(map[string]any)
		out[rm["name"].(string)] = rm
	}
	return out
}

// arCheck asks POST /api/authorizations/check whether the token's holder
// may do perm.
func arCheck(t *testing.T, srv *apptest.Server, token, perm string) bool {
	t.Helper()
	m := requireStatus(t, srv.Call(t, http.MethodPost, "/api/authorizations/check", token, map[string]any{"permission": perm}), http.StatusOK)
	return m["allowed"] == true
}

func TestAdminRolesCRUD(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newOwnerEnv(t, b)
		srv, tok := e.Server, e.ownerToken
		ctx := t.Context()

		// The seeded roles are listed, with their permissions; so are global roles.
		global := &models.Role{Name: "Auditor (global)", Permissions: models.StringList{"tenant.*.reports.read"}}
		require.NoError(t, srv.Store.CreateRole(ctx, global))
		roles := arRoleNames(t, requireStatus(t, srv.Call(t, http.MethodGet, "/api/roles", tok, nil), http.StatusOK))
		for _, n := range []string{"Owner", "Admin", "Manager", "Member", global.Name} {
			require.Contains(t, roles, n)
		}
		require.Equal(t, true, roles["Owner"]["system"])
		require.Equal(t, true, roles[global.Name]["global"])
		require.Nil(t, roles[global.Name]["tenant_id"])
		require.NotContains(t, roles["Owner"]["permissions"], "identity.users.delete")
		ownerID := roles["Owner"]["id"].(string)

		// Create: validated, 422 per field, 409 on a taken name.
		m := requireStatus(t, srv.Call(t, http.MethodPost, "/api/roles", tok, map[string]any{"name": "", "permissions": []string{"Not A Permission"}}), http.StatusUnprocessableEntity)
		require.Contains(t, m["fields"], "name")
		require.Contains(t, m["fields"], "permissions")
		for _, p := range []string{"*", "admin.*", "admin.tenants.delete"} {
			m = requireStatus(t, srv.Call(t, http.MethodPost, "/api/roles", tok, map[string]any{"name": "Up", "permissions": []string{p}}), http.StatusUnprocessableEntity)
			require.Contains(t, m["fields"], "permissions")
		}
		requireStatus(t, srv.Call(t, http.MethodPost, "/api/roles", tok, map[string]any{"name": "Owner"}), http.StatusConflict)
		requireStatus(t, srv.Call(t, http.MethodPost, "/api/roles", tok, map[string]any{"name": "G", "global": true}), http.StatusForbidden)
		// The Owner holds no danger action, so it cannot put one in a role.
		// The refusal names the pattern not covered.
		requireForbidden(t, srv.Call(t, http.MethodPost, "/api/roles", tok, map[string]any{"name": "Deleters", "permissions": []string{"identity.users.*"}}), "identity.users.*")
		// Nor a tenant permission it does not hold (issue 8); given it, it may.
		requireForbidden(t, srv.Call(t, http.MethodPost, "/api/roles", tok, map[string]any{"name": "Support", "permissions": []string{"tenant.*.crm.contacts.read"}}), "tenant.*.crm.contacts.read")
		e.grantPerms(t, e.owner, "tenant.*.crm.contacts.read")
		m = requireStatus(t, srv.Call(t, http.MethodPost, "/api/roles", tok, map[string]any{
			"name": "Support", "description": "Helps users", "permissions": []string{"identity.users.read", "identity.users.unlock", "tenant.*.crm.contacts.read"},
			"tenant_id": e.other.Tenant.ID, "system": true}),

			http.StatusCreated)
		support := m["id"].(string)
		require.Equal(t, e.Tenant.ID, m["tenant_id"])
		require.Equal(t, false, m["system"])

		// Read, update. Editing a role's permissions grants them to its
		// holders: a danger action (issue 8), like deleting a role.
		m = requireStatus(t, srv.Call(t, http.MethodGet, "/api/roles/"+support, tok, nil), http.StatusOK)
		require.Equal(t, "Support", m["name"])
		requireForbidden(t, srv.Call(t, http.MethodPatch, "/api/roles/"+support, tok, map[string]any{"name": "x"}), "identity.roles.update")
		requireForbidden(t, srv.Call(t, http.MethodDelete, "/api/roles/"+support, tok, nil), "identity.roles.delete")
		e.grantDangerZone(t, e.owner)
		requireStepUpRequired(t, srv.Call(t, http.MethodPatch, "/api/roles/"+support, tok, map[string]any{"name": "x"}), "identity.roles.update")
		requireStepUpRequired(t, srv.Call(t, http.MethodDelete, "/api/roles/"+support, tok, nil), "identity.roles.delete")
		srv.StepUp(t, tok, apptest.Password)
		m = requireStatus(t, srv.Call(t, http.MethodPatch, "/api/roles/"+support, tok, map[string]any{
			"name": "Support desk", "permissions": []string{"identity.users.read"}, "system": true, "tenant_id": e.other.Tenant.ID}),
			http.StatusOK)
		require.Equal(t, "Support desk", m["name"])
		require.Equal(t, []any{"identity.users.read"}, m["permissions"])
		require.Equal(t, "Helps users", m["description"])
		require.Equal(t, false, m["system"])
		require.Equal(t, e.Tenant.ID, m["tenant_id"])
		m = requireStatus(t, srv.Call(t, http.MethodPatch, "/api/roles/"+support, tok, map[string]any{"permissions": []string{"bad perm"}}), http.StatusUnprocessableEntity)
		require.Contains(t, m["fields"], "permissions")

		// System roles: no rename, no delete; global roles: read-only here.
		requireStatus(t, srv.Call(t, http.MethodPatch, "/api/roles/"+ownerID, tok, map[string]any{"name": "Boss"}), http.StatusConflict)
		requireStatus(t, srv.Call(t, http.MethodGet, "/api/roles/"+global.ID, tok, nil), http.StatusOK)
		m = requireStatus(t, srv.Call(t, http.MethodPatch, "/api/roles/"+global.ID, tok, map[string]any{"description": "mine"}), http.StatusForbidden)
		require.Equal(t, "forbidden", m["error"])

		// Delete (stepped up above).
		requireStatus(t, srv.Call(t, http.MethodDelete, "/api/roles/"+ownerID, tok, nil), http.StatusConflict)
		requireStatus(t, srv.Call(t, http.MethodDelete, "/api/roles/"+global.ID, tok, nil), http.StatusForbidden)
		requireStatus(t, srv.Call(t, http.MethodDelete, "/api/roles/"+support, tok, nil), http.StatusNoContent)
		requireStatus(t, srv.Call(t, http.MethodGet, "/api/roles/"+support, tok, nil), http.StatusNotFound)

		// Another tenant's role: 404 everywhere.
		otherRole := e.roleID(t, e.other.Tenant.ID, "Member")
		for _, method := range []string{http.MethodGet, http.MethodPatch, http.MethodDelete} {
			requireStatus(t, srv.Call(t, method, "/api/roles/"+otherRole, tok, map[string]any{"description": "x"}), http.StatusNotFound)
		}
		requireStatus(t, srv.Call(t, http.MethodGet, "/api/roles/not-a-uuid", tok, nil), http.StatusNotFound)
		otherNames := arRoleNames(t, requireStatus(t, srv.Call(t, http.MethodGet, "/api/roles", tok, nil), http.StatusOK))
		for _, r := range otherNames {
			if r["tenant_id"] != nil {
				require.Equal(t, e.Tenant.ID, r["tenant_id"], "another tenant's role is listed")
			}
		}
	})
}

func TestAdminPoliciesCRUD(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newOwnerEnv(t, b)
		srv, tok := e.Server, e.ownerToken

		m := requireStatus(t, srv.Call(t, http.MethodGet, "/api/policies", tok, nil), http.StatusOK)
		require.Len(t, m["policies"], 1)
		require.Equal(t, identity.DangerZonePolicy, m["policies"].([]any)[0].(map[string]any)["name"])

		requireForbidden(t, srv.Call(t, http.MethodPost, "/api/policies", tok, map[string]any{"name": "Shop", "permissions": []string{"tenant.*.webshop.orders.read"}}), "tenant.*.webshop.orders.read")
		e.grantPerms(t, e.owner, "tenant.*.webshop.orders.read")
		m = requireStatus(t, srv.Call(t, http.MethodPost, "/api/policies", tok, map[string]any{"name": "Shop", "permissions": []string{"tenant.*.webshop.orders.read"}}), http.StatusCreated)
		shop := m["id"].(string)
		requireStatus(t, srv.Call(t, http.MethodPost, "/api/policies", tok, map[string]any{"name": "Shop"}), http.StatusConflict)
		m = requireStatus(t, srv.Call(t, http.MethodPost, "/api/policies", tok, map[string]any{"name": "X", "permissions": []string{"admin.users.read"}}), http.StatusUnprocessableEntity)
		require.Contains(t, m["fields"], "permissions")
		requireForbidden(t, srv.Call(t, http.MethodPost, "/api/policies", tok,
			map[string]any{"name": "Refunds", "permissions": []string{"tenant.*.webshop.orders.refund"}}),
			"tenant.*.webshop.orders.refund")
		// Editing a policy is a danger action (issue 8).
		requireForbidden(t, srv.Call(t, http.MethodPatch, "/api/policies/"+shop, tok, map[string]any{"description": "Shop staff"}), "identity.policies.update")
		e.grantDangerZone(t, e.owner)
		requireStepUpRequired(t, srv.Call(t, http.MethodPatch, "/api/policies/"+shop, tok, map[string]any{"description": "Shop staff"}), "identity.policies.update")
		requireStepUpRequired(t, srv.Call(t, http.MethodDelete, "/api/policies/"+shop, tok, nil), "identity.policies.delete")
		srv.StepUp(t, tok, apptest.Password)
		m = requireStatus(t, srv.Call(t, http.MethodPatch, "/api/policies/"+shop, tok, map[string]any{"description": "Shop staff", "tenant_id": e.other.Tenant.ID}), http.StatusOK)
		require.Equal(t, "Shop staff", m["description"])
		require.Equal(t, e.Tenant.ID, m["tenant_id"])
		requireStatus(t, srv.Call(t, http.MethodGet, "/api/policies/"+shop, tok, nil), http.StatusOK)

		// A Manager may read roles but not policies, nor change them.
		managerToken := e.Login(t, e.Tenant.Slug, e.addUser(t, "manager", identity.RoleManager, false).Email, apptest.Password)
		requireStatus(t, srv.Call(t, http.MethodGet, "/api/roles", managerToken, nil), http.StatusOK)
		requireForbidden(t, srv.Call(t, http.MethodGet, "/api/policies", managerToken, nil), "identity.policies.read")
		requireForbidden(t, srv.Call(t, http.MethodPatch, "/api/policies/"+shop, managerToken, map[string]any{"name": "y"}), "identity.policies.update")

		// Another tenant's policy: 404.
		ps, err := srv.Store.ListPolicies(t.Context(), e.other.Tenant.ID)
		require.NoError(t, err)
		for _, method := range []string{http.MethodGet, http.MethodPatch} {
			requireStatus(t, srv.Call(t, method, "/api/policies/"+ps[0].ID, tok, map[string]any{"name": "z"}), http.StatusNotFound)
		}
		requireStatus(t, srv.Call(t, http.MethodPost, "/api/users/"+e.User.ID+"/policies/"+ps[0].ID, tok, nil), http.StatusNotFound)

		requireStatus(t, srv.Call(t, http.MethodDelete, "/api/policies/"+ps[0].ID, tok, nil), http.StatusNotFound)
		requireStatus(t, srv.Call(t, http.MethodDelete, "/api/policies/"+shop, tok, nil), http.StatusNoContent)
		requireStatus(t, srv.Call(t, http.MethodGet, "/api/policies/"+shop, tok, nil), http.StatusNotFound)
	})
}

// A user's permissions are the union of its direct policies, its global
// roles and its roles in the tenant.
func TestAdminRolesPermissionUnion(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newOwnerEnv(t, b)
		srv, tok := e.Server, e.ownerToken
		ctx := t.Context()
		e.grantDangerZone(t, e.owner)
		e.grantPerms(t, e.owner, "tenant.*.reports.read", "tenant.*.crm.contacts.*", "tenant.acme.warehouse.items.read")
		srv.StepUp(t, tok, apptest.Password)

		global := &models.Role{Name: "Reports (global)", Permissions: models.StringList{"tenant.*.reports.read"}}
		require.NoError(t, srv.Store.CreateRole(ctx, global))
		m := requireStatus(t, srv.Call(t, http.MethodPost, "/api/roles", tok, map[string]any{"name": "CRM", "permissions": []string{"tenant.*.crm.contacts.*"}}), http.StatusCreated)
		crm := m["id"].(string)
		m = requireStatus(t, srv.Call(t, http.MethodPost, "/api/policies", tok, map[string]any{"name": "Stock", "permissions": []string{"tenant.acme.warehouse.items.read"}}), http.StatusCreated)
		stock := m["id"].(string)

		u := e.User
		uToken := srv.Login(t, e.Tenant.Slug, u.Email, apptest.Password)
		perms := []string{"tenant.acme.reports.read", "tenant.acme.crm.contacts.update", "tenant.acme.warehouse.items.read"}
		for _, p := range perms {
			require.False(t, arCheck(t, srv, uToken, p), "%s before any grant", p)
		}
		requireStatus(t, srv.Call(t, http.MethodPost, "/api/users/"+u.ID+"/roles", tok, map[string]any{"role_id": global.ID}), http.StatusOK)
		requireStatus(t, srv.Call(t, http.MethodPost, "/api/users/"+u.ID+"/roles", tok, map[string]any{"role_id": crm}), http.StatusOK)
		m = requireStatus(t, srv.Call(t, http.MethodPost, "/api/users/"+u.ID+"/policies/"+stock, tok, nil), http.StatusOK)
		require.ElementsMatch(t, []any{"tenant.*.reports.read", "tenant.*.crm.contacts.*", "tenant.acme.warehouse.items.read"}, m["permissions"])
		require.Len(t, m["roles"], 2)
		require.Len(t, m["policies"], 1)

		for _, p := range perms {
			require.True(t, arCheck(t, srv, uToken, p), "%s from the union", p)
		}
		require.False(t, arCheck(t, srv, uToken, "tenant.acme.crm.deals.read"), "nothing grants crm.deals")
		require.False(t, arCheck(t, srv, uToken, "tenant.other.warehouse.items.read"), "the policy names tenant acme only")
		require.False(t, arCheck(t, srv, uToken, "tenant.x.y.crm.contacts.read"), "* is one segment")

		// Each source alone: take the others away and the permission stays.
		requireStatus(t, srv.Call(t, http.MethodDelete, "/api/users/"+u.ID+"/roles/"+crm, tok, nil), http.StatusOK)
		require.False(t, arCheck(t, srv, uToken, "tenant.acme.crm.contacts.update"))
		require.True(t, arCheck(t, srv, uToken, "tenant.acme.reports.read"))
		require.True(t, arCheck(t, srv, uToken, "tenant.acme.warehouse.items.read"))
		requireStatus(t, srv.Call(t, http.MethodDelete, "/api/users/"+u.ID+"/policies/"+stock, tok, nil), http.StatusOK)
		require.False(t, arCheck(t, srv, uToken, "tenant.acme.warehouse.items.read"))
		require.True(t, arCheck(t, srv, uToken, "tenant.acme.reports.read"))

		// A role of another tenant never counts, even if assigned in the store.
		other := &models.Role{Name: "Elsewhere", TenantID: &e.other.Tenant.ID, Permissions: models.StringList{"tenant.*.billing.read"}}
		require.NoError(t, srv.Store.CreateRole(ctx, other))
		require.NoError(t, srv.Store.AssignRole(ctx, e.Tenant.ID, u.ID, models.PrincipalUser, other.ID))
		require.False(t, arCheck(t, srv, uToken, "tenant.acme.billing.read"))
	})
}
