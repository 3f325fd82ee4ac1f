package storagetest

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/identityd/identityd/models"
)

// ServiceAccountStore is the service accounts repository: a tenant's
// machine principals, their roles, and the clients that act as them.
type ServiceAccountStore interface {
	TenantCreator
	ClientCreator
	// ListServiceAccounts returns the tenant's accounts, by name.
	ListServiceAccounts(ctx context.Context, tenantID string) ([]models.ServiceAccount, error)
	// CreateServiceAccount inserts sa, giving it an id; a taken name is a
	// Conflict.
	CreateServiceAccount(ctx context.Context, sa *models.ServiceAccount) error
	// GetServiceAccount returns the tenant's account; another tenant's,
	// unknown or malformed is NotFound.
	GetServiceAccount(ctx context.Context, tenantID, id string) (*models.ServiceAccount, error)
	// UpdateServiceAccount runs fn on the locked row and saves name,
	// description and the active flag; fn's error writes nothing; NotFound
	// (fn not called) as GetServiceAccount.
	UpdateServiceAccount(ctx context.Context, tenantID, id string, fn func(sa *models.ServiceAccount) error) (*models.ServiceAccount, error)
	// DeleteServiceAccount deletes the account with its assignments; its
	// clients stop acting as it. NotFound as GetServiceAccount.
	DeleteServiceAccount(ctx context.Context, tenantID, id string) error
	// ListServiceAccountRoles returns the roles the account holds.
	ListServiceAccountRoles(ctx context.Context, tenantID, id string) ([]models.Role, error)
	// AssignServiceAccountRole gives the account a tenant or global role;
	// another tenant's role or account is NotFound, held already a Conflict.
	AssignServiceAccountRole(ctx context.Context, tenantID, serviceAccountID, roleID string) (*models.Role, error)
	// RemoveServiceAccountRole takes it away; not held is NotFound.
	RemoveServiceAccountRole(ctx context.Context, tenantID, serviceAccountID, roleID string) error
	// ServiceAccountOfClient returns the account holding the client and
	// whether it may act (active, tenant not suspended); a client held by
	// none is NotFound.
	ServiceAccountOfClient(ctx context.Context, tenantID, clientID string) (string, bool, error)
	CreateRole(ctx context.Context, r *models.Role) error
	GetTenantClient(ctx context.Context, tenantID, id string) (*models.Client, error)
	SuspendTenant(ctx context.Context, id string) (*models.Tenant, error)
}

var _ = claim[ServiceAccountStore]("RunServiceAccountsSuite", "ListServiceAccounts", "CreateServiceAccount",
	"GetServiceAccount", "UpdateServiceAccount", "DeleteServiceAccount", "ListServiceAccountRoles",
	"AssignServiceAccountRole", "RemoveServiceAccountRole", "ServiceAccountOfClient")

// RunServiceAccountsSuite checks service accounts: CRUD with the updater's
// contract, tenant isolation, their roles, and the link from a client.
func RunServiceAccountsSuite[S ServiceAccountStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) ServiceAccountStore { return newStore(t) }, []subTest[ServiceAccountStore]{
		{"CRUD", testServiceAccountCRUD},
		{"Roles", testServiceAccountRoles},
		{"OfClient", testServiceAccountOfClient},
	})
}

func newServiceAccount(t *testing.T, s interface {
	CreateServiceAccount(ctx context.Context, sa *models.ServiceAccount) error
}, tenantID, name string) *models.ServiceAccount {
	t.Helper()
	sa := &models.ServiceAccount{TenantID: tenantID, Name: name, Description: "robot " + name, IsActive: true}
	must(t, s.CreateServiceAccount(t.Context(), sa), "create service account "+name)
	if sa.ID == "" {
		t.Fatal("CreateServiceAccount gave no id")
	}
	return sa
}

func testServiceAccountCRUD(t *testing.T, s ServiceAccountStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	bot := newServiceAccount(t, s, tn.ID, "bot")
	newServiceAccount(t, s, tn.ID, "alpha")
	foreign := newServiceAccount(t, s, other.ID, "bot")
	wantKind(t, s.CreateServiceAccount(ctx, &models.ServiceAccount{TenantID: tn.ID, Name: "bot"}), models.KindConflict, "duplicate name")

	list, err := s.ListServiceAccounts(ctx, tn.ID)
	must(t, err, "list")
	var names []string
	for _, sa := range list {
		names = append(names, sa.Name)
	}
	if !slices.Equal(names, []string{"alpha", "bot"}) {
		t.Fatalf("service accounts = %v, want [alpha bot]", names)
	}
	got, err := s.GetServiceAccount(ctx, tn.ID, bot.ID)
	must(t, err, "get")
	wantEqual(t, got.Description, "robot bot", "description")
	for _, tt := range []struct{ name, id string }{{"another tenant's", foreign.ID}, {"unknown", unknownID}, {"malformed", "x"}} {
		_, err := s.GetServiceAccount(ctx, tn.ID, tt.id)
		wantNotFound(t, err, "get "+tt.name)
	}

	got, err = s.UpdateServiceAccount(ctx, tn.ID, bot.ID, func(sa *models.ServiceAccount) error {
		sa.Name, sa.Description, sa.IsActive = "robot", "renamed", false
		return nil
	})
	must(t, err, "update")
	wantEqual(t, got.Name, "robot", "returned name")
	back, _ := s.GetServiceAccount(ctx, tn.ID, bot.ID)
	wantEqual(t, back.Name, "robot", "stored name")
	wantEqual(t, back.Description, "renamed", "stored description")
	wantEqual(t, back.IsActive, false, "stored active flag")
	boom := errors.New("boom")
	_, err = s.UpdateServiceAccount(ctx, tn.ID, bot.ID, func(sa *models.ServiceAccount) error { sa.Name = "lost"; return boom })
	wantErrIs(t, err, boom, "updater error")
	back, _ = s.GetServiceAccount(ctx, tn.ID, bot.ID)
	wantEqual(t, back.Name, "robot", "name after a failed updater")
	for _, tt := range []struct{ name, id string }{{"another tenant's", foreign.ID}, {"unknown", unknownID}, {"malformed", "x"}} {
		called := false
		_, err := s.UpdateServiceAccount(ctx, tn.ID, tt.id, func(*models.ServiceAccount) error { called = true; return nil })
		wantNotFound(t, err, "update "+tt.name)
		if called {
			t.Fatalf("update %s: the updater was called", tt.name)
		}
	}

	wantNotFound(t, s.DeleteServiceAccount(ctx, tn.ID, foreign.ID), "delete another tenant's")
	must(t, s.DeleteServiceAccount(ctx, tn.ID, bot.ID), "delete")
	_, err = s.GetServiceAccount(ctx, tn.ID, bot.ID)
	wantNotFound(t, err, "deleted service account")
	wantNotFound(t, s.DeleteServiceAccount(ctx, tn.ID, bot.ID), "delete twice")
	wantNotFound(t, s.DeleteServiceAccount(ctx, tn.ID, "x"), "delete a malformed id")
}

func testServiceAccountRoles(t *testing.T, s ServiceAccountStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	bot := newServiceAccount(t, s, tn.ID, "bot")
	foreignBot := newServiceAccount(t, s, other.ID, "bot")
	local := &models.Role{TenantID: &tn.ID, Name: "deployer"}
	global := &models.Role{Name: "auditor-global"}
	foreign := &models.Role{TenantID: &other.ID, Name: "foreign"}
	for _, r := range []*models.Role{local, global, foreign} {
		must(t, s.CreateRole(ctx, r), "create role "+r.Name)
	}
	r, err := s.AssignServiceAccountRole(ctx, tn.ID, bot.ID, local.ID)
	must(t, err, "assign a tenant role")
	wantEqual(t, r.Name, "deployer", "returned role")
	_, err = s.AssignServiceAccountRole(ctx, tn.ID, bot.ID, global.ID)
	must(t, err, "assign a global role")
	_, err = s.AssignServiceAccountRole(ctx, tn.ID, bot.ID, local.ID)
	wantKind(t, err, models.KindConflict, "assign twice")
	_, err = s.AssignServiceAccountRole(ctx, tn.ID, bot.ID, foreign.ID)
	wantNotFound(t, err, "assign another tenant's role")
	_, err = s.AssignServiceAccountRole(ctx, tn.ID, foreignBot.ID, local.ID)
	wantNotFound(t, err, "assign to another tenant's account")
	_, err = s.AssignServiceAccountRole(ctx, tn.ID, bot.ID, "x")
	wantNotFound(t, err, "assign a malformed role id")

	roles, err := s.ListServiceAccountRoles(ctx, tn.ID, bot.ID)
	must(t, err, "list roles")
	if got := roleNames(roles); !slices.Equal(got, []string{"auditor-global", "deployer"}) {
		t.Fatalf("roles = %v, want [auditor-global deployer]", got)
	}
	_, err = s.ListServiceAccountRoles(ctx, tn.ID, "x")
	wantNotFound(t, err, "roles of a malformed id")

	must(t, s.RemoveServiceAccountRole(ctx, tn.ID, bot.ID, local.ID), "remove")
	wantNotFound(t, s.RemoveServiceAccountRole(ctx, tn.ID, bot.ID, local.ID), "remove twice")
	wantNotFound(t, s.RemoveServiceAccountRole(ctx, other.ID, bot.ID, global.ID), "remove in another tenant")
	roles, _ = s.ListServiceAccountRoles(ctx, tn.ID, bot.ID)
	if got := roleNames(roles); !slices.Equal(got, []string{"auditor-global"}) {
		t.Fatalf("roles after removing = %v, want [auditor-global]", got)
	}
}

func testServiceAccountOfClient(t *testing.T, s ServiceAccountStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	bot := newServiceAccount(t, s, tn.ID, "bot")
	held := &models.Client{ID: "svc-" + randomHex(t, 3), TenantID: tn.ID, TokenEndpointAuthMethod: "client_secret_basic",
		SecretHash: "bcrypt$x", ServiceAccountID: &bot.ID}
	must(t, s.CreateClient(ctx, held), "create a held client")
	free := createClient(t, s, tn.ID, "free-"+randomHex(t, 3))

	id, ok, err := s.ServiceAccountOfClient(ctx, tn.ID, held.ID)
	must(t, err, "of a held client")
	wantEqual(t, id, bot.ID, "account")
	wantEqual(t, ok, true, "may act")
	_, _, err = s.ServiceAccountOfClient(ctx, tn.ID, free.ID)
	wantNotFound(t, err, "a client held by none")
	_, _, err = s.ServiceAccountOfClient(ctx, other.ID, held.ID)
	wantNotFound(t, err, "another tenant's client")
	_, _, err = s.ServiceAccountOfClient(ctx, "x", held.ID)
	wantNotFound(t, err, "a malformed tenant id")

	_, err = s.UpdateServiceAccount(ctx, tn.ID, bot.ID, func(sa *models.ServiceAccount) error { sa.IsActive = false; return nil })
	must(t, err, "deactivate")
	_, ok, err = s.ServiceAccountOfClient(ctx, tn.ID, held.ID)
	must(t, err, "of an inactive account")
	wantEqual(t, ok, false, "an inactive account may act")
	_, err = s.UpdateServiceAccount(ctx, tn.ID, bot.ID, func(sa *models.ServiceAccount) error { sa.IsActive = true; return nil })
	must(t, err, "activate")
	_, err = s.SuspendTenant(ctx, tn.ID)
	must(t, err, "suspend")
	_, ok, err = s.ServiceAccountOfClient(ctx, tn.ID, held.ID)
	must(t, err, "in a suspended tenant")
	wantEqual(t, ok, false, "an account of a suspended tenant may act")

	must(t, s.DeleteServiceAccount(ctx, tn.ID, bot.ID), "delete the account")
	c, err := s.GetTenantClient(ctx, tn.ID, held.ID)
	must(t, err, "the client outlives its account")
	if c.ServiceAccountID != nil {
		t.Fatalf("client still held by %s", *c.ServiceAccountID)
	}
	_, _, err = s.ServiceAccountOfClient(ctx, tn.ID, held.ID)
	wantNotFound(t, err, "a client whose account was deleted")
}
