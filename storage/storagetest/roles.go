package storagetest

import (
	"context"
	"slices"
	"testing"

	"github.com/identityd/identityd/models"
)

// RoleStore is the roles repository: a tenant's roles and the global roles
// (TenantID nil), who holds them, and the permissions a principal resolves
// to through its roles and policies.
type RoleStore interface {
	TenantCreator
	UserCreator
	RawStore
	// ListRoles returns the tenant's roles and the global ones, by name.
	ListRoles(ctx context.Context, tenantID string) ([]models.Role, error)
	// GetRole returns a role of the tenant or a global role; another
	// tenant's, unknown or malformed is NotFound.
	GetRole(ctx context.Context, tenantID, id string) (*models.Role, error)
	// GetRoleByName prefers the tenant's role over a global one of that name.
	GetRoleByName(ctx context.Context, tenantID, name string) (*models.Role, error)
	// CreateRole inserts r, giving it an id; a taken name in its scope is a
	// Conflict.
	CreateRole(ctx context.Context, r *models.Role) error
	// UpdateRole sets name, description and permissions; NotFound as GetRole.
	UpdateRole(ctx context.Context, tenantID string, r *models.Role) error
	// DeleteRole deletes the role and its assignments; NotFound as GetRole.
	DeleteRole(ctx context.Context, tenantID, id string) error
	// AssignRole gives a principal a role; held already is a Conflict.
	AssignRole(ctx context.Context, tenantID, principalID, principalType, roleID string) error
	// UnassignRole takes it away; not held is NotFound.
	UnassignRole(ctx context.Context, tenantID, principalID, roleID string) error
	// PrincipalRoles maps each principal to its roles in the tenant.
	PrincipalRoles(ctx context.Context, tenantID string, principalIDs []string) (map[string][]models.Role, error)
	// ResolvePermissions is the union of a principal's roles' and policies'
	// permissions in the tenant, each once.
	ResolvePermissions(ctx context.Context, tenantID, principalID string) ([]string, error)
	// SeedTenantRoles creates the system roles and the danger-zone policy
	// when missing (idempotent).
	SeedTenantRoles(ctx context.Context, tenantID string, roles map[string][]string, dangerPolicy string, danger []string) error
	// TenantsWithoutRoles lists the tenants that have no system role.
	TenantsWithoutRoles(ctx context.Context) ([]string, error)
	CreatePolicy(ctx context.Context, p *models.Policy) error
	AssignPolicy(ctx context.Context, tenantID, principalID, principalType, policyID string) error
}

var _ = claim[RoleStore]("RunRolesSuite", "ListRoles", "GetRole", "GetRoleByName", "CreateRole", "UpdateRole",
	"DeleteRole", "AssignRole", "UnassignRole", "PrincipalRoles", "ResolvePermissions", "SeedTenantRoles",
	"TenantsWithoutRoles")

// RunRolesSuite checks roles: CRUD in the tenant and global scopes, tenant
// isolation, assignments, the one-query role map, permission resolution
// and the idempotent seeding of system roles.
func RunRolesSuite[S RoleStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) RoleStore { return newStore(t) }, []subTest[RoleStore]{
		{"CRUD", testRoleCRUD},
		{"Assignments", testRoleAssignments},
		{"ResolvePermissions", testResolvePermissions},
		{"Seed", testSeedTenantRoles},
	})
}

func roleNames(roles []models.Role) []string {
	var out []string
	for _, r := range roles {
		out = append(out, r.Name)
	}
	return out
}

func testRoleCRUD(t *testing.T, s RoleStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	global := &models.Role{Name: "viewer", Permissions: models.StringList{"users:read"}}
	must(t, s.CreateRole(ctx, global), "create global role")
	local := &models.Role{TenantID: &tn.ID, Name: "viewer", Permissions: models.StringList{"users:read", "audit:read"}}
	must(t, s.CreateRole(ctx, local), "create tenant role of the same name")
	admin := &models.Role{TenantID: &tn.ID, Name: "admin"}
	must(t, s.CreateRole(ctx, admin), "create role without permissions")
	foreign := &models.Role{TenantID: &other.ID, Name: "foreign"}
	must(t, s.CreateRole(ctx, foreign), "create another tenant's role")
	wantKind(t, s.CreateRole(ctx, &models.Role{TenantID: &tn.ID, Name: "admin"}), models.KindConflict, "duplicate name in a tenant")

	list, err := s.ListRoles(ctx, tn.ID)
	must(t, err, "list")
	if got := roleNames(list); !slices.Equal(got, []string{"admin", "viewer", "viewer"}) {
		t.Fatalf("roles = %v, want admin and both viewers (the tenant's and the global one)", got)
	}
	got, err := s.GetRole(ctx, tn.ID, local.ID)
	must(t, err, "get")
	wantArgs(t, []string(got.Permissions), []string{"users:read", "audit:read"}, "permissions")
	got, err = s.GetRole(ctx, tn.ID, global.ID)
	must(t, err, "get a global role")
	if got.TenantID != nil {
		t.Fatalf("global role has tenant %v", *got.TenantID)
	}
	got, err = s.GetRole(ctx, tn.ID, admin.ID)
	must(t, err, "get")
	if got.Permissions == nil || len(got.Permissions) != 0 {
		t.Fatalf("permissions of a role created without = %#v, want an empty list", got.Permissions)
	}
	byName, err := s.GetRoleByName(ctx, tn.ID, "viewer")
	must(t, err, "by name")
	wantEqual(t, byName.ID, local.ID, "the tenant's role before the global one")
	byName, err = s.GetRoleByName(ctx, other.ID, "viewer")
	must(t, err, "by name in another tenant")
	wantEqual(t, byName.ID, global.ID, "the global role where the tenant has none")
	_, err = s.GetRoleByName(ctx, tn.ID, "foreign")
	wantNotFound(t, err, "another tenant's role by name")
	for _, tt := range []struct{ name, id string }{{"another tenant's role", foreign.ID}, {"unknown", unknownID}, {"malformed", "x"}} {
		_, err := s.GetRole(ctx, tn.ID, tt.id)
		wantNotFound(t, err, tt.name)
	}

	admin.Name, admin.Description, admin.Permissions = "owner", "Owns it", models.StringList{"*"}
	must(t, s.UpdateRole(ctx, tn.ID, admin), "update")
	got, _ = s.GetRole(ctx, tn.ID, admin.ID)
	wantEqual(t, got.Name, "owner", "updated name")
	wantEqual(t, got.Description, "Owns it", "updated description")
	wantArgs(t, []string(got.Permissions), []string{"*"}, "updated permissions")
	foreign.Name = "stolen"
	wantNotFound(t, s.UpdateRole(ctx, tn.ID, foreign), "update another tenant's role")
	got, _ = s.GetRole(ctx, other.ID, foreign.ID)
	wantEqual(t, got.Name, "foreign", "another tenant's role after a cross-tenant update")

	wantNotFound(t, s.DeleteRole(ctx, tn.ID, foreign.ID), "delete another tenant's role")
	must(t, s.DeleteRole(ctx, tn.ID, admin.ID), "delete")
	_, err = s.GetRole(ctx, tn.ID, admin.ID)
	wantNotFound(t, err, "deleted role")
	wantNotFound(t, s.DeleteRole(ctx, tn.ID, admin.ID), "delete twice")
}

func testRoleAssignments(t *testing.T, s RoleStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	alice, bob, carol := newUser(t, s, tn.ID), newUser(t, s, tn.ID), newUser(t, s, tn.ID)
	a := &models.Role{TenantID: &tn.ID, Name: "a"}
	b := &models.Role{Name: "b-global"}
	must(t, s.CreateRole(ctx, a), "create a")
	must(t, s.CreateRole(ctx, b), "create b")
	must(t, s.AssignRole(ctx, tn.ID, alice.ID, models.PrincipalUser, a.ID), "assign a to alice")
	must(t, s.AssignRole(ctx, tn.ID, alice.ID, models.PrincipalUser, b.ID), "assign b to alice")
	must(t, s.AssignRole(ctx, tn.ID, bob.ID, models.PrincipalUser, b.ID), "assign b to bob")
	wantKind(t, s.AssignRole(ctx, tn.ID, bob.ID, models.PrincipalUser, b.ID), models.KindConflict, "assign twice")

	m, err := s.PrincipalRoles(ctx, tn.ID, []string{alice.ID, bob.ID, carol.ID})
	must(t, err, "principal roles")
	if got := roleNames(m[alice.ID]); !slices.Equal(got, []string{"a", "b-global"}) {
		t.Fatalf("alice's roles = %v, want [a b-global]", got)
	}
	if got := roleNames(m[bob.ID]); !slices.Equal(got, []string{"b-global"}) {
		t.Fatalf("bob's roles = %v, want [b-global]", got)
	}
	if len(m[carol.ID]) != 0 {
		t.Fatalf("carol holds %v, want nothing", roleNames(m[carol.ID]))
	}
	m, err = s.PrincipalRoles(ctx, tn.ID, nil)
	must(t, err, "principal roles of nobody")
	wantEqual(t, len(m), 0, "roles of nobody")
	m, err = s.PrincipalRoles(ctx, newTenant(t, s).ID, []string{alice.ID})
	must(t, err, "principal roles in another tenant")
	wantEqual(t, len(m[alice.ID]), 0, "alice's roles in another tenant")

	must(t, s.UnassignRole(ctx, tn.ID, alice.ID, a.ID), "unassign")
	wantNotFound(t, s.UnassignRole(ctx, tn.ID, alice.ID, a.ID), "unassign twice")
	wantNotFound(t, s.UnassignRole(ctx, tn.ID, "x", a.ID), "unassign from a malformed principal")
	m, _ = s.PrincipalRoles(ctx, tn.ID, []string{alice.ID})
	if got := roleNames(m[alice.ID]); !slices.Equal(got, []string{"b-global"}) {
		t.Fatalf("alice's roles after unassigning a = %v", got)
	}
	must(t, s.DeleteRole(ctx, tn.ID, b.ID), "delete a held role")
	wantEqual(t, countRows(t, s, "role_assignments", "role_id = ?", b.ID), 0, "assignments of a deleted role")
}

func testResolvePermissions(t *testing.T, s RoleStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	u := newUser(t, s, tn.ID)
	r1 := &models.Role{TenantID: &tn.ID, Name: "r1", Permissions: models.StringList{"users:read", "users:write"}}
	r2 := &models.Role{Name: "r2", Permissions: models.StringList{"users:read", "audit:read"}}
	foreign := &models.Role{TenantID: &other.ID, Name: "foreign", Permissions: models.StringList{"tenants:delete"}}
	for _, r := range []*models.Role{r1, r2, foreign} {
		must(t, s.CreateRole(ctx, r), "create role "+r.Name)
	}
	p := &models.Policy{TenantID: tn.ID, Name: "p", Permissions: models.StringList{"keys:rotate", "users:write"}}
	must(t, s.CreatePolicy(ctx, p), "create policy")
	must(t, s.AssignRole(ctx, tn.ID, u.ID, models.PrincipalUser, r1.ID), "assign r1")
	must(t, s.AssignRole(ctx, tn.ID, u.ID, models.PrincipalUser, r2.ID), "assign r2")
	must(t, s.AssignPolicy(ctx, tn.ID, u.ID, models.PrincipalUser, p.ID), "assign p")
	// An assignment recorded in another tenant counts only there.
	must(t, s.AssignRole(ctx, other.ID, u.ID, models.PrincipalUser, foreign.ID), "assign in another tenant")

	got, err := s.ResolvePermissions(ctx, tn.ID, u.ID)
	must(t, err, "resolve")
	slices.Sort(got)
	if want := []string{"audit:read", "keys:rotate", "users:read", "users:write"}; !slices.Equal(got, want) {
		t.Fatalf("permissions = %v, want %v (each once)", got, want)
	}
	got, err = s.ResolvePermissions(ctx, tn.ID, newUser(t, s, tn.ID).ID)
	must(t, err, "resolve a user without roles")
	wantEqual(t, len(got), 0, "permissions of a user without roles")
}

func testSeedTenantRoles(t *testing.T, s RoleStore) {
	ctx := t.Context()
	seeded, bare := newTenant(t, s), newTenant(t, s)
	roles := map[string][]string{"owner": {"*"}, "member": {"users:read"}}
	danger := []string{"tenants:delete"}
	for range 2 {
		must(t, s.SeedTenantRoles(ctx, seeded.ID, roles, "danger-zone", danger), "seed")
	}
	list, err := s.ListRoles(ctx, seeded.ID)
	must(t, err, "list")
	if got := roleNames(list); !slices.Equal(got, []string{"member", "owner"}) {
		t.Fatalf("seeded roles = %v, want [member owner] once each", got)
	}
	for _, r := range list {
		if !r.System {
			t.Fatalf("seeded role %s is not a system role", r.Name)
		}
	}
	wantEqual(t, countRows(t, s, "policies", "tenant_id = ? AND name = ?", seeded.ID, "danger-zone"), 1, "danger-zone policies")

	ids, err := s.TenantsWithoutRoles(ctx)
	must(t, err, "tenants without roles")
	if !slices.Contains(ids, bare.ID) || slices.Contains(ids, seeded.ID) {
		t.Fatalf("tenants without roles = %v, want %s and not %s", ids, bare.ID, seeded.ID)
	}
}
