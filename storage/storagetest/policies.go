package storagetest

import (
	"context"
	"slices"
	"testing"

	"github.com/identityd/identityd/models"
)

// PolicyStore is the policies repository: a tenant's named permission sets
// and the principals that hold them.
type PolicyStore interface {
	TenantCreator
	UserCreator
	RawStore
	// ListPolicies returns the tenant's policies, by name.
	ListPolicies(ctx context.Context, tenantID string) ([]models.Policy, error)
	// GetPolicy returns the tenant's policy; another tenant's, unknown or
	// malformed is NotFound.
	GetPolicy(ctx context.Context, tenantID, id string) (*models.Policy, error)
	// CreatePolicy inserts p, giving it an id; a taken name is a Conflict.
	CreatePolicy(ctx context.Context, p *models.Policy) error
	// UpdatePolicy sets name, description and permissions; NotFound as GetPolicy.
	UpdatePolicy(ctx context.Context, tenantID string, p *models.Policy) error
	// DeletePolicy deletes the policy and its assignments; NotFound as GetPolicy.
	DeletePolicy(ctx context.Context, tenantID, id string) error
	// AssignPolicy gives a principal the policy; held already is a Conflict.
	AssignPolicy(ctx context.Context, tenantID, principalID, principalType, policyID string) error
	// UnassignPolicy takes it away; not held is NotFound.
	UnassignPolicy(ctx context.Context, tenantID, principalID, policyID string) error
	// PrincipalPolicies returns the tenant's policies the principal holds.
	PrincipalPolicies(ctx context.Context, tenantID, principalID string) ([]models.Policy, error)
}

var _ = claim[PolicyStore]("RunPoliciesSuite", "ListPolicies", "GetPolicy", "CreatePolicy", "UpdatePolicy",
	"DeletePolicy", "AssignPolicy", "UnassignPolicy", "PrincipalPolicies")

// RunPoliciesSuite checks policies: CRUD, tenant isolation and assignments.
func RunPoliciesSuite[S PolicyStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) PolicyStore { return newStore(t) }, []subTest[PolicyStore]{
		{"CRUD", testPolicyCRUD},
		{"Assignments", testPolicyAssignments},
	})
}

func policyNames(ps []models.Policy) []string {
	var out []string
	for _, p := range ps {
		out = append(out, p.Name)
	}
	return out
}

func testPolicyCRUD(t *testing.T, s PolicyStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	p := &models.Policy{TenantID: tn.ID, Name: "ops", Permissions: models.StringList{"keys:rotate"}}
	must(t, s.CreatePolicy(ctx, p), "create")
	if p.ID == "" {
		t.Fatal("CreatePolicy gave no id")
	}
	bare := &models.Policy{TenantID: tn.ID, Name: "bare"}
	must(t, s.CreatePolicy(ctx, bare), "create without permissions")
	foreign := &models.Policy{TenantID: other.ID, Name: "ops"}
	must(t, s.CreatePolicy(ctx, foreign), "the same name in another tenant")
	wantKind(t, s.CreatePolicy(ctx, &models.Policy{TenantID: tn.ID, Name: "ops"}), models.KindConflict, "duplicate name")

	list, err := s.ListPolicies(ctx, tn.ID)
	must(t, err, "list")
	if got := policyNames(list); !slices.Equal(got, []string{"bare", "ops"}) {
		t.Fatalf("policies = %v, want [bare ops]", got)
	}
	got, err := s.GetPolicy(ctx, tn.ID, p.ID)
	must(t, err, "get")
	wantArgs(t, []string(got.Permissions), []string{"keys:rotate"}, "permissions")
	got, err = s.GetPolicy(ctx, tn.ID, bare.ID)
	must(t, err, "get")
	if got.Permissions == nil || len(got.Permissions) != 0 {
		t.Fatalf("permissions of a policy created without = %#v, want an empty list", got.Permissions)
	}
	for _, tt := range []struct{ name, id string }{{"another tenant's policy", foreign.ID}, {"unknown", unknownID}, {"malformed", "x"}} {
		_, err := s.GetPolicy(ctx, tn.ID, tt.id)
		wantNotFound(t, err, tt.name)
	}

	p.Name, p.Description, p.Permissions = "operations", "Ops", models.StringList{"keys:rotate", "mail:retry"}
	must(t, s.UpdatePolicy(ctx, tn.ID, p), "update")
	got, _ = s.GetPolicy(ctx, tn.ID, p.ID)
	wantEqual(t, got.Name, "operations", "updated name")
	wantEqual(t, got.Description, "Ops", "updated description")
	wantArgs(t, []string(got.Permissions), []string{"keys:rotate", "mail:retry"}, "updated permissions")
	foreign.Name = "stolen"
	wantNotFound(t, s.UpdatePolicy(ctx, tn.ID, foreign), "update another tenant's policy")

	wantNotFound(t, s.DeletePolicy(ctx, tn.ID, foreign.ID), "delete another tenant's policy")
	must(t, s.DeletePolicy(ctx, tn.ID, p.ID), "delete")
	_, err = s.GetPolicy(ctx, tn.ID, p.ID)
	wantNotFound(t, err, "deleted policy")
	wantNotFound(t, s.DeletePolicy(ctx, tn.ID, p.ID), "delete twice")
	_, err = s.GetPolicy(ctx, other.ID, foreign.ID)
	must(t, err, "another tenant's policy after cross-tenant calls")
}

func testPolicyAssignments(t *testing.T, s PolicyStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	u := newUser(t, s, tn.ID)
	a := &models.Policy{TenantID: tn.ID, Name: "a"}
	b := &models.Policy{TenantID: tn.ID, Name: "b"}
	foreign := &models.Policy{TenantID: other.ID, Name: "foreign"}
	for _, p := range []*models.Policy{a, b, foreign} {
		must(t, s.CreatePolicy(ctx, p), "create "+p.Name)
	}
	must(t, s.AssignPolicy(ctx, tn.ID, u.ID, models.PrincipalUser, b.ID), "assign b")
	must(t, s.AssignPolicy(ctx, tn.ID, u.ID, models.PrincipalUser, a.ID), "assign a")
	wantKind(t, s.AssignPolicy(ctx, tn.ID, u.ID, models.PrincipalUser, a.ID), models.KindConflict, "assign twice")
	// A policy of another tenant recorded against this one is never held.
	must(t, s.AssignPolicy(ctx, tn.ID, u.ID, models.PrincipalUser, foreign.ID), "assign a foreign policy")

	held, err := s.PrincipalPolicies(ctx, tn.ID, u.ID)
	must(t, err, "principal policies")
	if got := policyNames(held); !slices.Equal(got, []string{"a", "b"}) {
		t.Fatalf("held policies = %v, want [a b] (by name, the tenant's only)", got)
	}
	held, err = s.PrincipalPolicies(ctx, other.ID, u.ID)
	must(t, err, "principal policies in another tenant")
	wantEqual(t, len(held), 0, "policies held in another tenant")

	must(t, s.UnassignPolicy(ctx, tn.ID, u.ID, b.ID), "unassign")
	wantNotFound(t, s.UnassignPolicy(ctx, tn.ID, u.ID, b.ID), "unassign twice")
	wantNotFound(t, s.UnassignPolicy(ctx, tn.ID, "x", a.ID), "unassign from a malformed principal")
	must(t, s.DeletePolicy(ctx, tn.ID, a.ID), "delete a held policy")
	wantEqual(t, countRows(t, s, "policy_assignments", "policy_id = ?", a.ID), 0, "assignments of a deleted policy")
	held, _ = s.PrincipalPolicies(ctx, tn.ID, u.ID)
	wantEqual(t, len(held), 0, "policies after unassigning and deleting")
}
