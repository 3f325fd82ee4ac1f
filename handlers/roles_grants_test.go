package handlers_test

import (
	"fmt"
	"net/http"
	"strings"
	"testing"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

// Issue 8, section 1: who may grant. Grants and changes of principals are
// judged by pattern coverage (identity.Covers), outside the catalogue too;
// every path that can grant a danger action needs step-up.

// grPayouts is a permission outside the catalogue that the attacks below
// try to reach.
const grPayouts = "billing.payouts.approve"

// grServiceAccount inserts a service account of tenantID holding perms
// (through a role of its own), as storage rows.
func grServiceAccount(t *testing.T, e *ownerEnv, tenantID string, perms ...string) string {
	t.Helper()
	ctx := t.Context()
	sa := &models.ServiceAccount{TenantID: tenantID, Name: "bot-" + apptest.RandomID(t, 6), IsActive: true}
	require.NoError(t, e.Server.Store.CreateServiceAccount(ctx, sa))
	if len(perms) > 0 {
		tid := tenantID
		r := &models.Role{TenantID: &tid, Name: "Bot role " + apptest.RandomID(t, 6), Permissions: models.StringList(perms)}
		require.NoError(t, e.Server.Store.CreateRole(ctx, r))
		require.NoError(t, e.Server.Store.AssignRole(ctx, tenantID, sa.ID, models.PrincipalServiceAccount, r.ID))
	}
	return sa.ID
}

// grOwnerWithDanger is an Owner that also holds the Danger Zone policy,
// signed in (not yet stepped up).
func grOwnerWithDanger(t *testing.T, e *ownerEnv, name string) (*models.User, string) {
	t.Helper()
	u := e.addUser(t, name, identity.RoleOwner, false)
	e.grantDangerZone(t, u)
	return u, e.Login(t, e.Tenant.Slug, u.Email, apptest.Password)
}

// TestGrantEscalationsOverHTTP: the escalations of issue 8 (section 1,
// first bullet) are refused over HTTP, on every database.
func TestGrantEscalationsOverHTTP(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newOwnerEnv(t, b)
		srv, ctx := e.Server, t.Context()
		slugAll := "tenant." + e.Tenant.Slug + ".*"

		// A tenant Owner cannot make a policy of every permission of its
		// tenant's services, nor of one outside the catalogue.
		for _, p := range []string{slugAll, "tenant.*", grPayouts, "billing.*"} {
			requireForbidden(t, srv.Call(t, http.MethodPost, "/api/policies", e.ownerToken, map[string]any{"name": "Mine " + p, "permissions": []string{p}}), p)
		}

		// Assigning a policy, editing a role's or a policy's permissions are
		// danger actions: not without step-up, even when held.
		dz, dzToken := grOwnerWithDanger(t, e, "dz-owner")
		readers := requireStatus(t, srv.Call(t, http.MethodPost, "/api/policies", dzToken, map[string]any{"name": "Readers", "permissions": []string{"identity.users.read"}}), http.StatusCreated)["id"].(string)
		role := requireStatus(t, srv.Call(t, http.MethodPost, "/api/roles", dzToken, map[string]any{"name": "Helpers", "permissions": []string{"identity.users.read"}}), http.StatusCreated)["id"].(string)
		requireStepUpRequired(t, srv.Call(t, http.MethodPost, "/api/users/"+e.User.ID+"/policies/"+readers, dzToken, nil), "identity.membership.manage")
		requireStepUpRequired(t, srv.Call(t, http.MethodDelete, "/api/users/"+e.User.ID+"/policies/"+readers, dzToken, nil), "identity.membership.manage")
		requireStepUpRequired(t, srv.Call(t, http.MethodPatch, "/api/roles/"+role, dzToken, map[string]any{"permissions": []string{"identity.users.read"}}), "identity.roles.update")
		requireStepUpRequired(t, srv.Call(t, http.MethodPatch, "/api/policies/"+readers, dzToken, map[string]any{"permissions": []string{"identity.users.read"}}), "identity.policies.update")
		// Creating a role that carries a danger action needs it too.
		requireStepUpRequired(t, srv.Call(t, http.MethodPost, "/api/roles", dzToken, map[string]any{"name": "Deleters", "permissions": []string{"identity.users.delete"}}), "identity.users.delete")
		// The plain Owner does not even hold these.
		requireForbidden(t, srv.Call(t, http.MethodPost, "/api/users/"+e.User.ID+"/policies/"+readers, e.ownerToken, nil), "identity.membership.manage")
		requireForbidden(t, srv.Call(t, http.MethodPatch, "/api/roles/"+role, e.ownerToken, map[string]any{"name": "x"}), "identity.roles.update")

		// Stepped up, the Danger Zone Owner still cannot self-assign a policy
		// of tenant.<slug>.* (made by an operator), nor put billing
		// permissions in a role.
		srv.StepUp(t, dzToken, apptest.Password)
		all := &models.Policy{TenantID: e.Tenant.ID, Name: "Everything", Permissions: models.StringList{slugAll}}
		require.NoError(t, srv.Store.CreatePolicy(ctx, all))
		requireForbidden(t, srv.Call(t, http.MethodPost, "/api/users/"+dz.ID+"/policies/"+all.ID, dzToken, nil), slugAll)
		requireForbidden(t, srv.Call(t, http.MethodPost, "/api/policies", dzToken, map[string]any{"name": "All", "permissions": []string{slugAll}}), slugAll)
		requireForbidden(t, srv.Call(t, http.MethodPatch, "/api/roles/"+role, dzToken, map[string]any{"permissions": []string{"identity.users.read", grPayouts}}), grPayouts)
		requireForbidden(t, srv.Call(t, http.MethodPatch, "/api/policies/"+readers, dzToken, map[string]any{"permissions": []string{grPayouts}}), grPayouts)
		payouts := &models.Policy{TenantID: e.Tenant.ID, Name: "Payouts", Permissions: models.StringList{grPayouts}}
		require.NoError(t, srv.Store.CreatePolicy(ctx, payouts))
		requireForbidden(t, srv.Call(t, http.MethodPost, "/api/users/"+dz.ID+"/policies/"+payouts.ID, dzToken, nil), grPayouts)
		perms := requireStatus(t, srv.Call(t, http.MethodGet, "/api/users/"+dz.ID, dzToken, nil), http.StatusOK)["permissions"]
		require.NotContains(t, perms, slugAll)
		require.NotContains(t, perms, grPayouts)
		// What it holds, it may grant: stepped up, danger actions included.
		requireStatus(t, srv.Call(t, http.MethodPost, "/api/users/"+e.User.ID+"/policies/"+readers, dzToken, nil), http.StatusOK)
		requireStatus(t, srv.Call(t, http.MethodPost, "/api/roles", dzToken, map[string]any{"name": "Deleters", "permissions": []string{"identity.users.delete"}}), http.StatusCreated)

		// A Manager cannot change the e-mail of a user who holds a
		// permission it lacks (the mailbox would reset the password).
		mail := srv.CaptureAdminMail()
		managerToken := e.Login(t, e.Tenant.Slug, e.addUser(t, "manager", identity.RoleManager, false).Email, apptest.Password)
		payer := e.addUser(t, "payer", identity.RoleMember, false)
		require.NoError(t, srv.Store.AssignPolicy(ctx, e.Tenant.ID, payer.ID, models.PrincipalUser, payouts.ID))
		requireForbidden(t, srv.Call(t, http.MethodPatch, "/api/users/"+payer.ID, managerToken, map[string]any{"email": "attacker@evil.example"}), grPayouts)
		requireForbidden(t, srv.Call(t, http.MethodPost, "/api/users/"+payer.ID+"/unlock", managerToken, nil), grPayouts)
		got, err := srv.Store.GetUser(ctx, e.Tenant.ID, payer.ID)
		require.NoError(t, err)
		require.Equal(t, payer.Email, got.Email)
		requireForbidden(t, srv.Call(t, http.MethodPatch, "/api/users/"+payer.ID, e.ownerToken, map[string]any{"email": "attacker@evil.example"}), grPayouts)
		require.Empty(t, mail.Sent(payer.Email))

		// A user it covers it may change; the old address is told, and the
		// change is audited with both addresses.
		member := e.addUser(t, "member", identity.RoleMember, false)
		newEmail := "member.new." + e.Tenant.Slug + "@example.com"
		m := requireStatus(t, srv.Call(t, http.MethodPatch, "/api/users/"+member.ID, managerToken, map[string]any{"email": newEmail}), http.StatusOK)
		require.Equal(t, newEmail, m["email"])
		msgs := mail.Sent(member.Email)
		require.Len(t, msgs, 1, "the old address is told")
		require.Contains(t, msgs[0].Text, newEmail)
		require.Empty(t, mail.Sent(newEmail), "the new address is not the one told")
		md := srv.Scalar(t, fmt.Sprintf("SELECT metadata FROM audit_logs WHERE action = %s AND user_id = %s",
			sqlQuote(identity.AuditUserEmailChanged), sqlQuote(member.ID)))
		require.Contains(t, md, member.Email)
		require.Contains(t, md, newEmail)
		// A name change sends nothing.
		requireStatus(t, srv.Call(t, http.MethodPatch, "/api/users/"+member.ID, managerToken, map[string]any{"name": "Renamed"}), http.StatusOK)
		require.Len(t, mail.Sent(member.Email), 1)
		require.Empty(t, mail.Sent(newEmail))
	})
}

// TestServiceAccountGrantsOverHTTP: service accounts under the same rules
// (issue 8, section 1, second bullet): roles, API keys, bound clients and
// rotation need the actor to cover the account and what it is given.
func TestServiceAccountGrantsOverHTTP(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newOwnerEnv(t, b)
		srv, ctx := e.Server, t.Context()
		base := "/api/service-accounts/"
		adminToken := e.Login(t, e.Tenant.Slug, e.addUser(t, "admin", identity.RoleAdmin, false).Email, apptest.Password)
		_, dzToken := grOwnerWithDanger(t, e, "dz-owner")
		srv.StepUp(t, dzToken, apptest.Password)

		// An account with nothing: the Admin may mint its keys.
		weak := grServiceAccount(t, e, e.Tenant.ID)
		k := requireStatus(t, srv.Call(t, http.MethodPost, base+weak+"/api-keys", adminToken, map[string]any{"name": "ci"}), http.StatusCreated)
		weakKey := k["id"].(string)

		// An account holding more than the Admin (and than the Owner).
		strong := grServiceAccount(t, e, e.Tenant.ID, grPayouts)
		requireForbidden(t, srv.Call(t, http.MethodPost, base+strong+"/api-keys", adminToken, map[string]any{"name": "ci"}), grPayouts)
		requireForbidden(t, srv.Call(t, http.MethodPost, base+strong+"/api-keys", dzToken, map[string]any{"name": "ci"}), grPayouts)
		// Binding a client: its own danger permission the Admin lacks, and
		// coverage for whoever holds it.
		cc := map[string]any{"grant_types": []string{"client_credentials"}, "service_account_id": strong}
		requireForbidden(t, srv.Call(t, http.MethodPost, "/api/clients", adminToken, cc), "identity.oauth_clients.bind")
		requireForbidden(t, srv.Call(t, http.MethodPost, "/api/clients", dzToken, cc), grPayouts)
		requireForbidden(t, srv.Call(t, http.MethodPatch, base+strong, adminToken, map[string]any{"is_active": false}), grPayouts)
		requireForbidden(t, srv.Call(t, http.MethodPost, base+strong+"/roles", dzToken, map[string]any{"role_id": e.roleID(t, e.Tenant.ID, identity.RoleMember)}), grPayouts)
		n := srv.Scalar(t, fmt.Sprintf("SELECT CAST(COUNT(*) AS TEXT) FROM api_keys WHERE service_account_id = %s", sqlQuote(strong)))
		require.Equal(t, "0", n)
		require.Empty(t, srv.Strings(t, fmt.Sprintf("SELECT id FROM oauth_clients WHERE service_account_id = %s", sqlQuote(strong))))

		// Giving a role: the actor covers the role (no more assignment
		// without a grant check).
		payRole := &models.Role{TenantID: &e.Tenant.ID, Name: "Payers", Permissions: models.StringList{grPayouts}}
		require.NoError(t, srv.Store.CreateRole(ctx, payRole))
		requireForbidden(t, srv.Call(t, http.MethodPost, base+weak+"/roles", dzToken, map[string]any{"role_id": payRole.ID}), grPayouts)
		requireStatus(t, srv.Call(t, http.MethodPost, base+weak+"/roles", dzToken, map[string]any{"role_id": e.roleID(t, e.Tenant.ID, identity.RoleOwner)}), http.StatusCreated)
		// Now weak holds the Owner role: the Admin no longer covers it.
		res := srv.Call(t, http.MethodPost, base+weak+"/api-keys", adminToken, map[string]any{"name": "ci2"})
		m := requireStatus(t, res, http.StatusForbidden)
		missing, _ := m["required_permission"].(string)
		require.Equal(t, "forbidden", m["error"], "body: %s", res.Body)
		require.Contains(t, identity.SystemRoles()[identity.RoleOwner], missing, "body: %s", res.Body)
		require.NotContains(t, identity.SystemRoles()[identity.RoleAdmin], missing, "body: %s", res.Body)
		// A client bound while it was coverable, then the account grew: the
		// client's rotation, the key's rotation and revocation are refused.
		bound := requireStatus(t, srv.Call(t, http.MethodPost, "/api/clients", dzToken, map[string]any{"grant_types": []string{"client_credentials"}, "service_account_id": weak}), http.StatusCreated)
		boundID := bound["client_id"].(string)
		require.NoError(t, srv.Store.AssignRole(ctx, e.Tenant.ID, weak, models.PrincipalServiceAccount, payRole.ID))
		requireForbidden(t, srv.Call(t, http.MethodPost, "/api/clients/"+boundID+"/rotate-secret", dzToken, nil), grPayouts)
		requireForbidden(t, srv.Call(t, http.MethodPatch, "/api/clients/"+boundID, dzToken, map[string]any{"scopes": []string{"a"}}), grPayouts)
		requireForbidden(t, srv.Call(t, http.MethodPost, base+weak+"/api-keys/"+weakKey+"/rotate", dzToken, nil), grPayouts)
		requireForbidden(t, srv.Call(t, http.MethodDelete, base+weak+"/api-keys/"+weakKey, dzToken, nil), grPayouts)
		// Binding needs step-up even for a covered account.
		_, freshToken := grOwnerWithDanger(t, e, "dz-fresh")
		empty := grServiceAccount(t, e, e.Tenant.ID)
		requireStepUpRequired(t, srv.Call(t, http.MethodPost, "/api/clients", freshToken, map[string]any{"grant_types": []string{"client_credentials"}, "service_account_id": empty}), "identity.oauth_clients.bind")
		requireStatus(t, srv.Call(t, http.MethodPost, "/api/clients", freshToken, map[string]any{"grant_types": []string{"client_credentials"}}), http.StatusCreated)
	})
}

// TestCoverageRuleFromRouteTable: every tenant-scoped route that changes a
// user, a service account or a client (or its credentials), read from the
// route table so routes added later are covered too, refuses a principal
// whose grants do not cover the target's permissions, even an Owner with
// the Danger Zone policy, stepped up, so that neither a missing route
// permission nor the step-up gate can mask the answer.
func TestCoverageRuleFromRouteTable(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newOwnerEnv(t, b)
		srv, ctx := e.Server, t.Context()
		_, tok := grOwnerWithDanger(t, e, "dz-owner")
		srv.StepUp(t, tok, apptest.Password)

		target := e.addUser(t, "target", identity.RoleMember, false)
		e.grantPerms(t, target, grPayouts)
		sa := grServiceAccount(t, e, e.Tenant.ID, grPayouts)
		key := uuid.NewString()
		srv.Exec(t, fmt.Sprintf(`INSERT INTO api_keys (id, tenant_id, service_account_id, name, prefix, key_hash, created_at)
			VALUES (%s, %s, %s, 'probe', 'idk_probe', %s, CURRENT_TIMESTAMP)`, sqlQuote(key), sqlQuote(e.Tenant.ID), sqlQuote(sa), sqlQuote("probe-"+uuid.NewString())))
		cc, err := srv.CreateClient(t, apptest.NewClient{TenantSlug: e.Tenant.Slug, Name: "bound", GrantTypes: []string{"client_credentials"}, ServiceAccountID: sa})
		require.NoError(t, err)
		member := e.roleID(t, e.Tenant.ID, identity.RoleMember)
		harmless := &models.Policy{TenantID: e.Tenant.ID, Name: "Harmless", Permissions: models.StringList{"identity.users.read"}}
		require.NoError(t, srv.Store.CreatePolicy(ctx, harmless))
		ids := map[string]string{"user": target.ID, "service_account": sa, "client": cc.Client.ID, "api_key": key, "role": member, "policy": harmless.ID}
		body := map[string]any{"name": "Probe", "description": "probe", "email": "probe." + e.Tenant.Slug + "@example.com",
			"role_id": member, "is_active": true, "scopes": []string{"a"}, "expires_in_days": 1}

		tested := map[string]bool{}
		for _, r := range routesOf(srv) {
			if !r.Scoped || r.Method == http.MethodGet || !strings.Contains(r.Path, ":") {
				continue
			}
			acts := false
			path := isoFill(r.Path, func(param, kind string, _ int) string {
				switch kind {
				case "user", "service_account", "client":
					acts = true
				}
				if id, ok := ids[kind]; ok {
					return id
				}
				return uuid.NewString()
			})
			if !acts {
				continue
			}
			var b any
			if r.Method != http.MethodDelete {
				b = body
			}
			res := srv.Call(t, r.Method, path, tok, b)
			if res.Status != http.StatusForbidden || !strings.Contains(string(res.Body), `"required_permission":"`+grPayouts+`"`) {
				t.Errorf("%s %s (%s): want 403 naming %s for a target the actor does not cover, got %d: %s", r.Method, r.Path, r.Permission, grPayouts, res.Status, res.Body)
			}
			tested[r.Method+" "+r.Path] = true
		}
		// Creating credentials bound to the account is acting on it too.
		requireForbidden(t, srv.Call(t, http.MethodPost, "/api/clients", tok, map[string]any{"grant_types": []string{"client_credentials"}, "service_account_id": sa}), grPayouts)
		t.Logf("covered %d routes", len(tested))
		for _, want := range []string{
			"PATCH /api/users/:id", "DELETE /api/users/:id", "POST /api/users/:id/deactivate", "POST /api/users/:id/unlock",
			"POST /api/users/:id/reset-2fa", "POST /api/users/:id/force-password-change", "POST /api/users/:id/roles",
			"POST /api/users/:id/policies/:policy_id", "PATCH /api/service-accounts/:id", "DELETE /api/service-accounts/:id",
			"POST /api/service-accounts/:id/roles", "POST /api/service-accounts/:id/api-keys", "POST /api/service-accounts/:id/api-keys/:key_id/rotate",
			"DELETE /api/service-accounts/:id/api-keys/:key_id", "POST /api/clients/:id/rotate-secret", "PATCH /api/clients/:id", "DELETE /api/clients/:id",
		} {
			require.True(t, tested[want], "%s was not read from the route table", want)
		}

		// Nothing changed.
		got, err := srv.Store.GetUser(ctx, e.Tenant.ID, target.ID)
		require.NoError(t, err)
		require.True(t, got.IsActive)
		require.Equal(t, target.Email, got.Email)
		require.Equal(t, "1", srv.Scalar(t, fmt.Sprintf("SELECT CAST(COUNT(*) AS TEXT) FROM api_keys WHERE service_account_id = %s AND revoked_at IS NULL", sqlQuote(sa))))
		require.Equal(t, "1", srv.Scalar(t, fmt.Sprintf("SELECT CAST(COUNT(*) AS TEXT) FROM oauth_clients WHERE service_account_id = %s", sqlQuote(sa))))
	})
}
