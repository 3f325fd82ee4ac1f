package storagetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
)

// FederationStore is the upstream providers' and linked identities'
// repository (issue 12 §1): tenant-scoped reads, a (provider, subject)
// linked to one account at most, deleting a provider unlinks its
// identities.
type FederationStore interface {
	TenantCreator
	UserCreator
	CreateIdentityProvider(ctx context.Context, p *models.IdentityProvider) error
	GetIdentityProvider(ctx context.Context, tenantID, id string) (*models.IdentityProvider, error)
	ListIdentityProviders(ctx context.Context, tenantID string) ([]models.IdentityProvider, error)
	UpdateIdentityProvider(ctx context.Context, p *models.IdentityProvider) error
	DeleteIdentityProvider(ctx context.Context, tenantID, id string) (int, error)
	CreateUserIdentity(ctx context.Context, i *models.UserIdentity) error
	GetUserIdentityBySubject(ctx context.Context, tenantID, providerID, subject string) (*models.UserIdentity, error)
	ListUserIdentities(ctx context.Context, tenantID, userID string) ([]models.UserIdentity, error)
	DeleteUserIdentity(ctx context.Context, tenantID, userID, id string) error
	TouchUserIdentity(ctx context.Context, id string, at time.Time) error
	CountSignInMethods(ctx context.Context, tenantID, userID string) (identities, passkeys int, err error)
	LockUserSignIn(ctx context.Context, tenantID, id string) (*models.User, error)
	LockTenantProviders(ctx context.Context, tenantID string) error
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

var _ = claim[FederationStore]("RunFederationSuite", "CreateIdentityProvider", "GetIdentityProvider", "ListIdentityProviders",
	"UpdateIdentityProvider", "DeleteIdentityProvider", "CreateUserIdentity", "GetUserIdentityBySubject", "ListUserIdentities",
	"DeleteUserIdentity", "TouchUserIdentity", "CountSignInMethods", "LockUserSignIn", "LockTenantProviders")

// RunFederationSuite checks providers (round trip of every field, tenant
// scoping, update, delete unlinking) and linked identities (one account
// per upstream subject even under 10 concurrent links, tenant and user
// scoping, the sign-in method count).
func RunFederationSuite[S FederationStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) FederationStore { return newStore(t) }, []subTest[FederationStore]{
		{"Providers", testFederationProviders},
		{"Identities", testFederationIdentities},
		{"LinkConcurrent", testFederationLinkConcurrent},
		{"UnlinkSerialised", testFederationUnlinkSerialised},
		{"DomainClaimSerialised", testFederationDomainClaimSerialised},
	})
}

func newProvider(t *testing.T, s FederationStore, tenantID string) *models.IdentityProvider {
	t.Helper()
	p := &models.IdentityProvider{TenantID: tenantID, Kind: models.ProviderOIDC, Name: "Acme SSO", ButtonLabel: "Sign in with Acme",
		Issuer: "https://sso.acme.example", ClientID: "identity", ClientSecretSealed: []byte{1, 2, 3},
		ClientAuthMethod: models.ProviderAuthSecretBasic, Scopes: models.StringList{"openid", "email"},
		Claims:     models.ClaimMapping{Email: "mail", Groups: "roles"},
		GroupRoles: models.GroupRoleMap{"admins": {"Admin"}}, JITProvisioning: true, AllowedDomains: models.StringList{"acme.example"}, Enabled: true}
	must(t, s.CreateIdentityProvider(t.Context(), p), "create provider")
	return p
}

func testFederationProviders(t *testing.T, s FederationStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	p := newProvider(t, s, tn.ID)
	got, err := s.GetIdentityProvider(ctx, tn.ID, p.ID)
	must(t, err, "get")
	wantEqual(t, got.Claims, p.Claims, "claims")
	wantEqual(t, len(got.GroupRoles["admins"]), 1, "group roles")
	wantEqual(t, got.GroupRoles["admins"][0], "Admin", "group role")
	wantEqual(t, string(got.ClientSecretSealed), string(p.ClientSecretSealed), "sealed secret")
	wantEqual(t, got.AllowedDomains.Has("acme.example"), true, "domains")
	wantEqual(t, got.JITProvisioning && got.Enabled, true, "flags")
	wantUTC(t, got.CreatedAt, "created_at")
	_, err = s.GetIdentityProvider(ctx, other.ID, p.ID)
	wantNotFound(t, err, "another tenant's provider")
	_, err = s.GetIdentityProvider(ctx, tn.ID, "not-a-uuid")
	wantNotFound(t, err, "a malformed id")
	list, err := s.ListIdentityProviders(ctx, other.ID)
	must(t, err, "list other")
	wantEqual(t, len(list), 0, "other tenant's list")

	got.Name, got.Enabled, got.GroupRoles, got.ClientSecretSealed = "Renamed", false, models.GroupRoleMap{}, nil
	must(t, s.UpdateIdentityProvider(ctx, got), "update")
	again, err := s.GetIdentityProvider(ctx, tn.ID, p.ID)
	must(t, err, "get after update")
	wantEqual(t, again.Name, "Renamed", "name")
	wantEqual(t, again.Enabled, false, "enabled")
	wantEqual(t, len(again.GroupRoles), 0, "group roles cleared")
	wantEqual(t, len(again.ClientSecretSealed), 0, "secret cleared")
	stranger := *again
	stranger.TenantID = other.ID
	wantNotFound(t, s.UpdateIdentityProvider(ctx, &stranger), "update through another tenant")

	u := newUser(t, s, tn.ID)
	must(t, s.CreateUserIdentity(ctx, &models.UserIdentity{TenantID: tn.ID, UserID: u.ID, ProviderID: p.ID, Subject: "s1"}), "link")
	_, err = s.DeleteIdentityProvider(ctx, other.ID, p.ID)
	wantNotFound(t, err, "delete through another tenant")
	n, err := s.DeleteIdentityProvider(ctx, tn.ID, p.ID)
	must(t, err, "delete")
	wantEqual(t, n, 1, "identities unlinked with the provider")
	ids, err := s.ListUserIdentities(ctx, tn.ID, u.ID)
	must(t, err, "list identities")
	wantEqual(t, len(ids), 0, "identities left")
	_, err = s.GetIdentityProvider(ctx, tn.ID, p.ID)
	wantNotFound(t, err, "deleted provider")
}

func testFederationIdentities(t *testing.T, s FederationStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	p := newProvider(t, s, tn.ID)
	u, v := newUser(t, s, tn.ID), newUser(t, s, tn.ID)
	i := &models.UserIdentity{TenantID: tn.ID, UserID: u.ID, ProviderID: p.ID, Subject: "upstream-1", Email: u.Email}
	must(t, s.CreateUserIdentity(ctx, i), "link")
	wantKind(t, s.CreateUserIdentity(ctx, &models.UserIdentity{TenantID: tn.ID, UserID: v.ID, ProviderID: p.ID, Subject: "upstream-1"}),
		models.KindConflict, "the same subject to a second account")
	got, err := s.GetUserIdentityBySubject(ctx, tn.ID, p.ID, "upstream-1")
	must(t, err, "by subject")
	wantEqual(t, got.UserID, u.ID, "linked account")
	_, err = s.GetUserIdentityBySubject(ctx, other.ID, p.ID, "upstream-1")
	wantNotFound(t, err, "another tenant's identity")
	_, err = s.GetUserIdentityBySubject(ctx, tn.ID, p.ID, "upstream-2")
	wantNotFound(t, err, "an unknown subject")
	at := time.Now().Add(-time.Minute).UTC().Truncate(time.Millisecond)
	must(t, s.TouchUserIdentity(ctx, i.ID, at), "touch")
	list, err := s.ListUserIdentities(ctx, tn.ID, u.ID)
	must(t, err, "list")
	wantEqual(t, len(list), 1, "identities")
	if list[0].LastLoginAt == nil {
		t.Fatal("last_login_at not set")
	}
	wantTime(t, *list[0].LastLoginAt, at, "last_login_at")
	ni, np, err := s.CountSignInMethods(ctx, tn.ID, u.ID)
	must(t, err, "count")
	wantEqual(t, ni, 1, "identities counted")
	wantEqual(t, np, 0, "passkeys counted")
	wantNotFound(t, s.DeleteUserIdentity(ctx, tn.ID, v.ID, i.ID), "unlink through another user")
	wantNotFound(t, s.DeleteUserIdentity(ctx, other.ID, u.ID, i.ID), "unlink through another tenant")
	must(t, s.DeleteUserIdentity(ctx, tn.ID, u.ID, i.ID), "unlink")
	wantNotFound(t, s.DeleteUserIdentity(ctx, tn.ID, u.ID, i.ID), "unlink twice")
}

func testFederationLinkConcurrent(t *testing.T, s FederationStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	p := newProvider(t, s, tn.ID)
	users := make([]*models.User, 10)
	for i := range users {
		users[i] = newUser(t, s, tn.ID)
	}
	var wg sync.WaitGroup
	errs := make([]error, len(users))
	for i, u := range users {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = s.CreateUserIdentity(ctx, &models.UserIdentity{TenantID: tn.ID, UserID: u.ID, ProviderID: p.ID, Subject: "contested"})
		}()
	}
	wg.Wait()
	won := 0
	for _, err := range errs {
		switch {
		case err == nil:
			won++
		case !models.IsKind(err, models.KindConflict):
			t.Errorf("a losing link: %v, want a conflict", err)
		}
	}
	wantEqual(t, won, 1, "links of one subject that succeeded")
}

// testFederationUnlinkSerialised: 10 concurrent "unlink unless it is the
// last" transactions over a user with two identities and no password,
// each locking the user first (LockUserSignIn), leave exactly one.
func testFederationUnlinkSerialised(t *testing.T, s FederationStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	p := newProvider(t, s, tn.ID)
	u := newUser(t, s, tn.ID)
	ids := make([]string, 2)
	for i := range ids {
		li := &models.UserIdentity{TenantID: tn.ID, UserID: u.ID, ProviderID: p.ID, Subject: "s" + randomHex(t, 4)}
		must(t, s.CreateUserIdentity(ctx, li), "link")
		ids[i] = li.ID
	}
	_, err := s.LockUserSignIn(ctx, tn.ID, "not-a-uuid")
	wantNotFound(t, err, "lock a malformed id")
	var wg sync.WaitGroup
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.InTx(ctx, func(ctx context.Context) error {
				if _, err := s.LockUserSignIn(ctx, tn.ID, u.ID); err != nil {
					return err
				}
				n, _, err := s.CountSignInMethods(ctx, tn.ID, u.ID)
				if err != nil || n < 2 {
					return models.ErrLastSignInMethod()
				}
				return s.DeleteUserIdentity(ctx, tn.ID, u.ID, ids[i%2])
			})
		}()
	}
	wg.Wait()
	left, err := s.ListUserIdentities(ctx, tn.ID, u.ID)
	must(t, err, "list")
	wantEqual(t, len(left), 1, "identities left after concurrent removals")
}

// testFederationDomainClaimSerialised: 10 concurrent "create a provider
// claiming acme.example unless one does" transactions, each locking the
// tenant's providers first, create exactly one.
func testFederationDomainClaimSerialised(t *testing.T, s FederationStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	wantNotFound(t, s.LockTenantProviders(ctx, "not-a-uuid"), "lock a malformed tenant")
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_ = s.InTx(ctx, func(ctx context.Context) error {
				if err := s.LockTenantProviders(ctx, tn.ID); err != nil {
					return err
				}
				list, err := s.ListIdentityProviders(ctx, tn.ID)
				if err != nil {
					return err
				}
				for _, p := range list {
					if p.AllowedDomains.Has("contested.example") {
						return models.ErrExists("identity_provider")
					}
				}
				return s.CreateIdentityProvider(ctx, &models.IdentityProvider{TenantID: tn.ID, Kind: models.ProviderOIDC, Name: "P",
					ClientID: "c", AllowedDomains: models.StringList{"contested.example"}, Enabled: true})
			})
		}()
	}
	wg.Wait()
	list, err := s.ListIdentityProviders(ctx, tn.ID)
	must(t, err, "list")
	wantEqual(t, len(list), 1, "providers claiming the domain")
}
