package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

// ownerEnv is a server with two tenants: in the first an Owner (signed in
// through POST /api/auth/login), in the second a user of its own.
type ownerEnv struct {
	*apptest.Env
	owner      *models.User
	ownerToken string
	other      *apptest.Env
}

func newOwnerEnv(t *testing.T, b apptest.Backend) *ownerEnv {
	t.Helper()
	e := apptest.NewEnv(t, b, nil)
	env := &ownerEnv{Env: e, other: apptest.Seed(t, e.Server)}
	env.owner = env.addUser(t, "owner", identity.RoleOwner, false)
	env.ownerToken = e.Server.Login(t, e.Tenant.Slug, env.owner.Email, apptest.Password)
	return env
}

// addUser creates a user of the first tenant with a role, as the CLI does.
func (e *ownerEnv) addUser(t *testing.T, name, role string, systemAdmin bool) *models.User {
	t.Helper()
	u, err := e.Server.CreateUser(t, apptest.NewUser{TenantSlug: e.Tenant.Slug,
		Email: name + "." + e.Tenant.Slug + "@example.com", Password: apptest.Password, Name: name, Role: role, SystemAdmin: systemAdmin})
	require.NoError(t, err, "create user %s", name)
	return u
}

// grantDangerZone gives u the tenant's danger-zone policy directly in the
// store (only a system admin could do it over HTTP).
func (e *ownerEnv) grantDangerZone(t *testing.T, u *models.User) {
	t.Helper()
	ctx := t.Context()
	ps, err := e.Server.Store.ListPolicies(ctx, u.TenantID)
	require.NoError(t, err)
	for _, p := range ps {
		if p.Name == identity.DangerZonePolicy {
			require.NoError(t, e.Server.Store.AssignPolicy(ctx, u.TenantID, u.ID, models.PrincipalUser, p.ID))
			return
		}
	}
	t.Fatal("no danger-zone policy")
}

// grantPerms gives u a policy of perms directly in the store: a principal
// grants (roles, policies) only what it holds, so tests that hand out
// tenant permissions first give them to the granter.
func (e *ownerEnv) grantPerms(t *testing.T, u *models.User, perms ...string) {
	t.Helper()
	ctx := t.Context()
	p := &models.Policy{TenantID: u.TenantID, Name: "Test grants " + apptest.RandomID(t, 6), Permissions: models.StringList(perms)}
	require.NoError(t, e.Server.Store.CreatePolicy(ctx, p))
	require.NoError(t, e.Server.Store.AssignPolicy(ctx, u.TenantID, u.ID, models.PrincipalUser, p.ID))
}

func (e *ownerEnv) roleID(t *testing.T, tenantID, name string) string {
	t.Helper()
	r, err := e.Server.Store.GetRoleByName(t.Context(), tenantID, name)
	require.NoError(t, err)
	return r.ID
}

// requireStatus asserts the status and returns the decoded body (nil for 204).
func requireStatus(t *testing.T, res *apptest.Result, status int) map[string]any {
	t.Helper()
	require.Equal(t, status, res.Status, "body: %s", res.Body)
	if status == http.StatusNoContent {
		return nil
	}
	return res.JSON(t)
}

// requireForbidden asserts 403 {"error":"forbidden","message":…,
// "required_permission":perm}.
func requireForbidden(t *testing.T, res *apptest.Result, perm string) {
	t.Helper()
	m := requireAnswer(t, res, http.StatusForbidden, "forbidden")
	require.Equal(t, perm, m["required_permission"], "body: %s", res.Body)
}

// requireStepUpRequired asserts 403 step_up_required with the step_up
// object; perm, when set, is the required_permission.
func requireStepUpRequired(t *testing.T, res *apptest.Result, perm string) {
	t.Helper()
	m := requireAnswer(t, res, http.StatusForbidden, "step_up_required")
	if perm != "" {
		require.Equal(t, perm, m["required_permission"], "body: %s", res.Body)
	}
	su, ok := m["step_up"].(map[string]any)
	require.True(t, ok, "no step_up object: %s", res.Body)
	require.Equal(t, "/api/auth/step-up", su["request_endpoint"])
	require.Equal(t, "/api/auth/step-up/status", su["status_endpoint"])
	require.Greater(t, su["ttl_seconds"], float64(0))
}

// requireBadBody asserts the answer to a body that is not JSON: invalid_body,
// 400 or 422 (never a 500).
func requireBadBody(t *testing.T, res *apptest.Result) {
	t.Helper()
	require.Contains(t, []int{http.StatusBadRequest, http.StatusUnprocessableEntity}, res.Status, "body: %s", res.Body)
	require.Equal(t, "invalid_body", res.JSON(t)["error"], "body: %s", res.Body)
}

func emailsOf(t *testing.T, m map[string]any) []string {
	t.Helper()
	var out []string
	for _, u := range m["users"].([]any) {
		out = append(out, u.(map[string]any)["email"].(string))
	}
	return out
}

func TestAdminUsersAuthorization(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newOwnerEnv(t, b)
		srv := e.Server

		// 401 without a token, with a bad token.
		for _, tok := range []string{"", "not-a-token"} {
			res := srv.Call(t, http.MethodGet, "/api/users", tok, nil)
			m := requireStatus(t, res, http.StatusUnauthorized)
			require.Contains(t, []any{"unauthenticated", "invalid_token"}, m["error"])
		}
		// 403 naming the permission for a Member, on every kind of route.
		memberToken := e.Login(t, e.Tenant.Slug, e.addUser(t, "member", identity.RoleMember, false).Email, apptest.Password)
		requireForbidden(t, srv.Call(t, http.MethodGet, "/api/users", memberToken, nil), "identity.users.read")
		requireForbidden(t, srv.Call(t, http.MethodPost, "/api/users", memberToken, map[string]any{"email": "x@example.com"}), "identity.users.create")
		requireForbidden(t, srv.Call(t, http.MethodDelete, "/api/users/"+e.User.ID, memberToken, nil), "identity.users.delete")
		requireForbidden(t, srv.Call(t, http.MethodPost, "/api/users/"+e.User.ID+"/roles", memberToken, map[string]any{"role_id": "x"}), "identity.membership.assign_role")
		requireForbidden(t, srv.Call(t, http.MethodGet, "/api/roles", memberToken, nil), "identity.roles.read")
		// The Owner lacks the danger actions: plain forbidden, no step-up offer.
		requireForbidden(t, srv.Call(t, http.MethodPost, "/api/users/"+e.User.ID+"/roles", e.ownerToken,
			map[string]any{"role_id": e.roleID(t, e.Tenant.ID, identity.RoleMember)}),
			"identity.membership.assign_role")
		// And admin.* belongs to system admins.
		requireForbidden(t, srv.Call(t, http.MethodPut, "/api/admin/users/"+e.User.ID+"/system-admin", e.ownerToken,
			map[string]any{"is_system_admin": true}),
			"admin.users.system_admin")
		m := requireStatus(t, srv.Call(t, http.MethodGet, "/api/users", e.ownerToken, nil), http.StatusOK)
		require.EqualValues(t, 3, m["total"])
	})
}

func TestAdminUsersLifecycle(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newOwnerEnv(t, b)
		srv, tok := e.Server, e.ownerToken
		ctx := t.Context()

		// Validation: 422 with one entry per field, never a 500.
		m := requireStatus(t, srv.Call(t, http.MethodPost, "/api/users", tok, map[string]any{"email": "nope", "password": "short"}), http.StatusUnprocessableEntity)
		require.Contains(t, m["fields"], "email")
		m = requireStatus(t, srv.Call(t, http.MethodPost, "/api/users", tok, map[string]any{"email": "weak@example.com", "password": "alllowercaseletters"}), http.StatusUnprocessableEntity)
		require.Contains(t, m["fields"], "password.uppercase")
		requireBadBody(t, srv.Call(t, http.MethodPost, "/api/users", tok, `{"email":`))
		requireStatus(t, srv.Call(t, http.MethodPost, "/api/users", tok, map[string]any{"email": 5}), http.StatusUnprocessableEntity)
		for _, q := range []string{"page=0", "page=x", "per_page=101", "is_active=maybe", "locked=2", "two_factor=?"} {
			requireStatus(t, srv.Call(t, http.MethodGet, "/api/users?"+q, tok, nil), http.StatusUnprocessableEntity)
		}

		// Create with a password.
		m = requireStatus(t, srv.Call(t, http.MethodPost, "/api/users", tok,
			map[string]any{"email": "Bob@Example.com", "name": "Bob Builder", "password": "Sturdy#Password1"}),
			http.StatusCreated)
		bob := m["user"].(map[string]any)
		bobID := bob["id"].(string)
		require.Equal(t, "bob@example.com", bob["email"])
		require.Equal(t, false, bob["force_password_change"])
		require.NotContains(t, m, "initial_password")
		require.NotContains(t, string(srv.Call(t, http.MethodGet, "/api/users/"+bobID, tok, nil).Body), "$2a$")
		bobToken := srv.Login(t, e.Tenant.Slug, "bob@example.com", "Sturdy#Password1")
		requireStatus(t, srv.Call(t, http.MethodPost, "/api/users", tok, map[string]any{"email": "bob@example.com", "password": "Sturdy#Password1"}), http.StatusConflict)

		// Create without: a generated password, to be changed at first login.
		m = requireStatus(t, srv.Call(t, http.MethodPost, "/api/users", tok, map[string]any{"email": "carol@example.com", "name": "Carol"}), http.StatusCreated)
		initial, _ := m["initial_password"].(string)
		require.NoError(t, identity.CheckPassword(initial, "carol@example.com"))
		require.Equal(t, true, m["user"].(map[string]any)["force_password_change"])
		carolID := m["user"].(map[string]any)["id"].(string)
		login := requireStatus(t, srv.PasswordLogin(t, e.Tenant.Slug, "carol@example.com", initial, nil),

			http.StatusOK)
		require.Equal(t, true, login["password_change_required"])

		// List: search over e-mail and name, filters, pages with a total.
		m = requireStatus(t, srv.Call(t, http.MethodGet, "/api/users?q=builder", tok, nil), http.StatusOK)
		require.Equal(t, []string{"bob@example.com"}, emailsOf(t, m))
		m = requireStatus(t, srv.Call(t, http.MethodGet, "/api/users?q=CAROL%40", tok, nil), http.StatusOK)
		require.Equal(t, []string{"carol@example.com"}, emailsOf(t, m))
		m = requireStatus(t, srv.Call(t, http.MethodGet, "/api/users?per_page=2&page=2", tok, nil), http.StatusOK)
		require.EqualValues(t, 4, m["total"])
		require.EqualValues(t, 2, m["page"])
		require.Len(t, m["users"], 2)
		m = requireStatus(t, srv.Call(t, http.MethodGet, "/api/users?role=Owner", tok, nil), http.StatusOK)
		require.Equal(t, []string{e.owner.Email}, emailsOf(t, m))
		m = requireStatus(t, srv.Call(t, http.MethodGet, "/api/users?q="+url.QueryEscape(e.other.User.Email), tok, nil), http.StatusOK)
		require.EqualValues(t, 0, m["total"], "another tenant's user is listed")

		// Lock Bob out, then unlock him.
		_, err := srv.Store.RecordLoginFailure(ctx, e.Tenant.ID, bobID, 1, 3600e9)
		require.NoError(t, err)
		_, err = srv.Store.RecordPINFailure(ctx, e.Tenant.ID, bobID, 1, 3600e9)
		require.NoError(t, err)
		m = requireStatus(t, srv.Call(t, http.MethodGet, "/api/users?locked=true", tok, nil), http.StatusOK)
		require.Equal(t, []string{"bob@example.com"}, emailsOf(t, m))
		m = requireStatus(t, srv.Call(t, http.MethodPost, "/api/users/"+bobID+"/unlock", tok, nil), http.StatusOK)
		require.Equal(t, false, m["locked"])
		u, err := srv.Store.GetUser(ctx, e.Tenant.ID, bobID)
		require.NoError(t, err)
		require.Nil(t, u.LockedUntil)
		require.Nil(t, u.PINLockedUntil)
		require.Zero(t, u.FailedLogins+u.PINFailed)

		// Update: name and e-mail.
		m = requireStatus(t, srv.Call(t, http.MethodPatch, "/api/users/"+bobID, tok, map[string]any{"name": "Robert"}), http.StatusOK)
		require.Equal(t, "Robert", m["name"])
		requireStatus(t, srv.Call(t, http.MethodPatch, "/api/users/"+bobID, tok, map[string]any{"email": "carol@example.com"}), http.StatusConflict)
		m = requireStatus(t, srv.Call(t, http.MethodPatch, "/api/users/"+bobID, tok, map[string]any{"email": "x"}), http.StatusUnprocessableEntity)
		require.Contains(t, m["fields"], "email")

		// Force a password change: the next login asks for one.
		m = requireStatus(t, srv.Call(t, http.MethodPost, "/api/users/"+bobID+"/force-password-change", tok, nil), http.StatusOK)
		require.Equal(t, true, m["force_password_change"])
		login = requireStatus(t, srv.PasswordLogin(t, e.Tenant.Slug, "bob@example.com", "Sturdy#Password1", nil),

			http.StatusOK)
		require.Equal(t, true, login["password_change_required"])
		// Issue 8: forcing the change ended Bob's sessions and tokens.
		requireStatus(t, srv.Call(t, http.MethodGet, "/api/auth/me", bobToken, nil), http.StatusUnauthorized)
		changed := requireStatus(t, srv.Call(t, http.MethodPost, "/api/auth/password/change-required", "",
			map[string]any{"challenge": login["challenge"], "new_password": "Sturdier#Password2"}),
			http.StatusOK)
		bobToken, _ = changed["access_token"].(string)
		require.NotEmpty(t, bobToken, "the forced change completes the login: %v", changed)

		// Deactivate: Bob's token dies at once.
		requireStatus(t, srv.Call(t, http.MethodGet, "/api/auth/me", bobToken, nil), http.StatusOK)
		m = requireStatus(t, srv.Call(t, http.MethodPost, "/api/users/"+bobID+"/deactivate", tok, nil), http.StatusOK)
		require.Equal(t, false, m["is_active"])
		requireStatus(t, srv.Call(t, http.MethodGet, "/api/auth/me", bobToken, nil), http.StatusUnauthorized)
		m = requireStatus(t, srv.Call(t, http.MethodGet, "/api/users?is_active=false", tok, nil), http.StatusOK)
		require.Equal(t, []string{"bob@example.com"}, emailsOf(t, m))
		requireStatus(t, srv.Call(t, http.MethodPost, "/api/users/"+e.owner.ID+"/deactivate", tok, nil), http.StatusConflict)

		// Reset 2FA and delete are danger actions: the Owner needs the
		// danger-zone policy and a step-up.
		requireForbidden(t, srv.Call(t, http.MethodPost, "/api/users/"+carolID+"/reset-2fa", tok, nil), "identity.users.reset_2fa")
		e.grantDangerZone(t, e.owner)
		requireStepUpRequired(t, srv.Call(t, http.MethodPost, "/api/users/"+carolID+"/reset-2fa", tok, nil), "identity.users.reset_2fa")
		requireStepUpRequired(t, srv.Call(t, http.MethodDelete, "/api/users/"+bobID, tok, nil), "identity.users.delete")
		srv.StepUp(t, tok, apptest.Password)
		requireStatus(t, srv.Call(t, http.MethodPost, "/api/users/"+carolID+"/reset-2fa", tok, nil), http.StatusOK)
		requireStatus(t, srv.Call(t, http.MethodDelete, "/api/users/"+bobID, tok, nil), http.StatusNoContent)
		requireStatus(t, srv.Call(t, http.MethodGet, "/api/users/"+bobID, tok, nil), http.StatusNotFound)
		requireStatus(t, srv.Call(t, http.MethodDelete, "/api/users/"+bobID, tok, nil), http.StatusNotFound)

		// Every change left an audit row in the tenant.
		var actions []string
		db, err := srv.Store.SQLDB()
		require.NoError(t, err)
		rows, err := db.Query("SELECT action FROM audit_logs WHERE actor_id = $1 ORDER BY created_at", e.owner.ID)
		require.NoError(t, err)
		for rows.Next() {
			var a string
			require.NoError(t, rows.Scan(&a))
			actions = append(actions, a)
		}
		require.NoError(t, rows.Err())
		_ = rows.Close()
		for _, a := range []string{identity.AuditUserCreated, identity.AuditUserUnlocked, identity.AuditUserUpdated, identity.AuditUserForcePasswordChange,
			identity.AuditUserDeactivated, identity.AuditUser2FAReset, identity.AuditUserDeleted} {
			require.Contains(t, actions, a)
		}

		// Another tenant's user: 404 on every route, never 403.
		other := e.other.User.ID
		for _, r := range []struct{ method, path string }{
			{http.MethodGet, "/api/users/" + other},
			{http.MethodPatch, "/api/users/" + other},
			{http.MethodPost, "/api/users/" + other + "/deactivate"},
			{http.MethodPost, "/api/users/" + other + "/force-password-change"},
			{http.MethodPost, "/api/users/" + other + "/unlock"},
			{http.MethodPost, "/api/users/" + other + "/reset-2fa"},
			{http.MethodDelete, "/api/users/" + other},
			{http.MethodGet, "/api/users/not-a-uuid"},
		} {
			requireStatus(t, srv.Call(t, r.method, r.path, tok, map[string]any{"name": "x"}), http.StatusNotFound)
		}
		got, err := srv.Store.GetUser(ctx, e.other.Tenant.ID, other)
		require.NoError(t, err)
		require.True(t, got.IsActive)
		require.Equal(t, "Ada Lovelace", got.Name)
	})
}

func TestAdminUsersMassAssignment(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newOwnerEnv(t, b)
		srv, tok := e.Server, e.ownerToken
		ctx := t.Context()
		before, err := srv.Store.GetUser(ctx, e.Tenant.ID, e.User.ID)
		require.NoError(t, err)

		evil := map[string]any{"is_system_admin": true, "tenant_id": e.other.Tenant.ID, "password_hash": "$2a$10$forged",
			"is_active": true, "id": "00000000-0000-0000-0000-000000000001", "failed_logins": 0, "totp_enabled": true, "email_verified": true}
		// Alone, these fields change nothing at all.
		requireStatus(t, srv.Call(t, http.MethodPatch, "/api/users/"+e.User.ID, tok, evil), http.StatusOK)
		// Beside an allowed field, only that field changes.
		evil["name"] = "Renamed"
		requireStatus(t, srv.Call(t, http.MethodPatch, "/api/users/"+e.User.ID, tok, evil), http.StatusOK)
		// Not on yourself either.
		requireStatus(t, srv.Call(t, http.MethodPatch, "/api/users/"+e.owner.ID, tok, evil), http.StatusOK)

		for _, id := range []string{e.User.ID, e.owner.ID} {
			after, err := srv.Store.GetUser(ctx, e.Tenant.ID, id)
			require.NoError(t, err, "the user must still be in its tenant")
			require.False(t, after.IsSystemAdmin, "is_system_admin changed")
			require.Equal(t, e.Tenant.ID, after.TenantID)
			require.NotEqual(t, "$2a$10$forged", after.PasswordHash)
			require.False(t, after.TOTPEnabled)
			require.False(t, after.EmailVerified)
			require.Equal(t, "Renamed", after.Name)
		}
		after, _ := srv.Store.GetUser(ctx, e.Tenant.ID, e.User.ID)
		require.Equal(t, before.PasswordHash, after.PasswordHash)
		require.Equal(t, before.Email, after.Email)
		_, err = srv.Store.GetUser(ctx, e.other.Tenant.ID, e.User.ID)
		require.True(t, models.IsKind(err, models.KindNotFound), "the user moved tenant")

		// The token still works as a plain Owner: no admin.* route opens.
		requireForbidden(t, srv.Call(t, http.MethodPut, "/api/admin/users/"+e.owner.ID+"/system-admin", tok,
			map[string]any{"is_system_admin": true}),
			"admin.users.system_admin")

		// Creating a user ignores them too.
		evil["email"], evil["password"] = "mallory@example.com", "Quiet#Harbor9lights"
		m := requireStatus(t, srv.Call(t, http.MethodPost, "/api/users", tok, evil), http.StatusCreated)
		id := m["user"].(map[string]any)["id"].(string)
		created, err := srv.Store.GetUser(ctx, e.Tenant.ID, id)
		require.NoError(t, err)
		require.False(t, created.IsSystemAdmin)
		require.NotEqual(t, "00000000-0000-0000-0000-000000000001", created.ID)
		require.False(t, created.TOTPEnabled)
	})
}

func TestAdminUsersRolesAndStepUp(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newOwnerEnv(t, b)
		srv, tok := e.Server, e.ownerToken
		target := e.User.ID
		member := e.roleID(t, e.Tenant.ID, identity.RoleMember)
		e.grantDangerZone(t, e.owner)

		// Permitted but not elevated: step_up_required with the step_up object.
		requireStepUpRequired(t, srv.Call(t, http.MethodPost, "/api/users/"+target+"/roles", tok, map[string]any{"role_id": member}), "identity.membership.assign_role")
		requireStepUpRequired(t, srv.Call(t, http.MethodPost, "/api/users", tok, map[string]any{"email": "r@example.com", "roles": []string{"Member"}}), "identity.membership.assign_role")
		st := requireStatus(t, srv.Call(t, http.MethodGet, "/api/auth/step-up/status", tok, nil), http.StatusOK)
		require.Equal(t, false, st["elevated"])
		// A wrong password does not elevate.
		res := srv.Call(t, http.MethodPost, "/api/auth/step-up", tok, map[string]any{"password": "wrong password"})
		require.NotEqual(t, http.StatusOK, res.Status)
		requireStepUpRequired(t, srv.Call(t, http.MethodPost, "/api/users/"+target+"/roles", tok, map[string]any{"role_id": member}), "identity.membership.assign_role")

		srv.StepUp(t, tok, apptest.Password)
		m := requireStatus(t, srv.Call(t, http.MethodPost, "/api/users/"+target+"/roles", tok, map[string]any{"role_id": member}), http.StatusOK)
		require.Equal(t, "Member", m["roles"].([]any)[0].(map[string]any)["name"])
		requireStatus(t, srv.Call(t, http.MethodPost, "/api/users/"+target+"/roles", tok, map[string]any{"role_id": member}), http.StatusConflict)
		requireStatus(t, srv.Call(t, http.MethodPost, "/api/users/"+target+"/roles", tok, map[string]any{"role_id": e.roleID(t, e.other.Tenant.ID, "Member")}), http.StatusUnprocessableEntity)
		requireStatus(t, srv.Call(t, http.MethodPost, "/api/users/"+target+"/roles", tok, map[string]any{}), http.StatusUnprocessableEntity)
		m = requireStatus(t, srv.Call(t, http.MethodPost, "/api/users", tok, map[string]any{"email": "r@example.com", "roles": []string{"Manager"}}), http.StatusCreated)
		require.Equal(t, "Manager", m["user"].(map[string]any)["roles"].([]any)[0].(map[string]any)["name"])
		m = requireStatus(t, srv.Call(t, http.MethodGet, "/api/users?role=Member", tok, nil), http.StatusOK)
		require.Equal(t, []string{e.User.Email}, emailsOf(t, m))
		requireStatus(t, srv.Call(t, http.MethodDelete, "/api/users/"+target+"/roles/"+member, tok, nil), http.StatusOK)
		requireStatus(t, srv.Call(t, http.MethodDelete, "/api/users/"+target+"/roles/"+member, tok, nil), http.StatusNotFound)

		// Ending the elevation brings the gate back.
		requireStatus(t, srv.Call(t, http.MethodDelete, "/api/auth/step-up", tok, nil), http.StatusNoContent)
		requireStepUpRequired(t, srv.Call(t, http.MethodPost, "/api/users/"+target+"/roles", tok, map[string]any{"role_id": member}), "identity.membership.assign_role")

		// Policies: membership.manage, a danger action too (issue 8: it can
		// grant danger actions); no granting what you lack.
		ps := requireStatus(t, srv.Call(t, http.MethodGet, "/api/policies", tok, nil), http.StatusOK)["policies"].([]any)
		danger := ps[0].(map[string]any)["id"].(string)
		e.grantPerms(t, e.owner, "tenant.*.reports.read")
		m = requireStatus(t, srv.Call(t, http.MethodPost, "/api/policies", tok, map[string]any{"name": "Reports", "permissions": []string{"tenant.*.reports.read"}}), http.StatusCreated)
		reports := m["id"].(string)
		requireStepUpRequired(t, srv.Call(t, http.MethodPost, "/api/users/"+target+"/policies/"+reports, tok, nil), "identity.membership.manage")
		srv.StepUp(t, tok, apptest.Password)
		m = requireStatus(t, srv.Call(t, http.MethodPost, "/api/users/"+target+"/policies/"+reports, tok, nil), http.StatusOK)
		require.Equal(t, "Reports", m["policies"].([]any)[0].(map[string]any)["name"])
		requireStatus(t, srv.Call(t, http.MethodDelete, "/api/users/"+target+"/policies/"+reports, tok, nil), http.StatusOK)
		requireStatus(t, srv.Call(t, http.MethodDelete, "/api/users/"+target+"/policies/"+reports, tok, nil), http.StatusNotFound)
		adminUser := e.addUser(t, "admin", identity.RoleAdmin, false)
		adminToken := e.Login(t, e.Tenant.Slug, adminUser.Email, apptest.Password)
		res = srv.Call(t, http.MethodPost, "/api/users/"+adminUser.ID+"/policies/"+danger, adminToken, nil)
		m = requireStatus(t, res, http.StatusForbidden)
		require.Equal(t, "forbidden", m["error"])
		require.True(t, identity.IsDangerAction(m["required_permission"].(string)), "body: %s", res.Body)

		// A system admin (of another tenant, even) bypasses every check and
		// acts in its own tenant.
		sys, err := srv.CreateUser(t, apptest.NewUser{TenantSlug: e.other.Tenant.Slug, Email: "root@example.com", Password: apptest.Password, SystemAdmin: true})
		require.NoError(t, err)
		sysToken := srv.Login(t, e.other.Tenant.Slug, "root@example.com", apptest.Password)
		m = requireStatus(t, srv.Call(t, http.MethodGet, "/api/users", sysToken, nil), http.StatusOK)
		require.ElementsMatch(t, []string{e.other.User.Email, "root@example.com"}, emailsOf(t, m))
		requireStatus(t, srv.Call(t, http.MethodGet, "/api/users/"+target, sysToken, nil), http.StatusNotFound)
		requireStatus(t, srv.Call(t, http.MethodPost, "/api/users/"+e.other.User.ID+"/reset-2fa", sysToken, nil), http.StatusOK)
		// It grants system administration, in its tenant or another.
		m = requireStatus(t, srv.Call(t, http.MethodPut, "/api/admin/users/"+target+"/system-admin", sysToken,
			map[string]any{"is_system_admin": true, "tenant_id": e.Tenant.ID}),
			http.StatusOK)
		require.Equal(t, true, m["is_system_admin"])
		// The new system admin is one at once: no step-up, no danger policy.
		targetToken := srv.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
		requireStatus(t, srv.Call(t, http.MethodDelete, "/api/users/"+adminUser.ID, targetToken, nil), http.StatusNoContent)
		// The Owner cannot touch a system admin.
		srv.StepUp(t, tok, apptest.Password)
		m = requireStatus(t, srv.Call(t, http.MethodPost, "/api/users/"+target+"/force-password-change", tok, nil), http.StatusForbidden)
		require.Equal(t, "forbidden", m["error"])
		m = requireStatus(t, srv.Call(t, http.MethodPut, "/api/admin/users/"+target+"/system-admin", sysToken,
			map[string]any{"is_system_admin": false, "tenant_id": e.Tenant.ID}),
			http.StatusOK)
		require.Equal(t, false, m["is_system_admin"])
		requireForbidden(t, srv.Call(t, http.MethodGet, "/api/users", targetToken, nil), "identity.users.read")
		for _, body := range []any{map[string]any{}, map[string]any{"is_system_admin": true, "tenant_id": "nope"}} {
			res := srv.Call(t, http.MethodPut, "/api/admin/users/"+target+"/system-admin", sysToken, body)
			requireStatus(t, res, http.StatusUnprocessableEntity)
		}
		requireBadBody(t, srv.Call(t, http.MethodPut, "/api/admin/users/"+target+"/system-admin", sysToken, `[`))
		requireStatus(t, srv.Call(t, http.MethodPut, "/api/admin/users/"+target+"/system-admin", sysToken,
			map[string]any{"is_system_admin": true}),
			http.StatusNotFound) // not in the admin's own tenant

		db, err := srv.Store.SQLDB()
		require.NoError(t, err)
		var granted, revoked int
		require.NoError(t, db.QueryRow("SELECT count(*) FROM audit_logs WHERE action = $1 AND user_id = $2 AND actor_id = $3",
			identity.AuditSystemAdminGranted, target, sys.ID).Scan(&granted))
		require.NoError(t, db.QueryRow("SELECT count(*) FROM audit_logs WHERE action = $1 AND user_id = $2 AND actor_id = $3",
			identity.AuditSystemAdminRevoked, target, sys.ID).Scan(&revoked))
		require.Equal(t, 1, granted)
		require.Equal(t, 1, revoked)
		require.False(t, strings.Contains(srv.Logs.String(), apptest.Password), "a password reached the log")
	})
}
