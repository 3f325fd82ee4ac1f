package storagetest

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
)

// ClientStore is the OAuth clients repository as the admin API sees it,
// beside GetClient as fosite sees it.
type ClientStore interface {
	FixtureStore
	RawStore
	// GetTenantClient returns the tenant's client; another tenant's or an
	// unknown id is NotFound.
	GetTenantClient(ctx context.Context, tenantID, id string) (*models.Client, error)
	// ListTenantClients returns the tenant's clients, oldest first.
	ListTenantClients(ctx context.Context, tenantID string) ([]models.Client, error)
	// UpdateTenantClient runs fn on the locked client and saves the fields
	// an administrator may change (never the tenant, the secrets or the
	// service account); fn's error writes nothing; NotFound (fn not called)
	// as GetTenantClient.
	UpdateTenantClient(ctx context.Context, tenantID, id string, fn func(c *models.Client) error) (*models.Client, error)
	// RotateClientSecret installs newHash, keeping the old one valid until
	// keepOldUntil (nil: not at all); NotFound as GetTenantClient.
	RotateClientSecret(ctx context.Context, tenantID, id, newHash string, keepOldUntil *time.Time) error
	// DeleteTenantClient deletes the client and every token issued to it;
	// NotFound as GetTenantClient.
	DeleteTenantClient(ctx context.Context, tenantID, id string) error
	CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error
	CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, req fosite.Requester) error
}

var _ = claim[ClientStore]("RunClientsSuite", "CreateClient", "GetClient", "GetTenantClient", "ListTenantClients",
	"UpdateTenantClient", "RotateClientSecret", "DeleteTenantClient")

// RunClientsSuite checks the clients repository: create and get in both
// shapes, tenant isolation, the listing, the updater's contract, secret
// rotation with and without a window, and deletion with the client's tokens.
func RunClientsSuite[S ClientStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) ClientStore { return newStore(t) }, []subTest[ClientStore]{
		{"CreateGet", testClientCreateGet},
		{"SecretRotation", testClientSecretRotation},
		{"List", testClientList},
		{"Update", testClientUpdate},
		{"Delete", testClientDelete},
	})
}

func testClientCreateGet(t *testing.T, s ClientStore) {
	ctx := t.Context()
	t1, t2 := createTenant(t, s, "one"), createTenant(t, s, "two")
	m := createClient(t, s, t1.ID, "web")

	c, err := s.GetClient(ctx, "web")
	must(t, err, "GetClient")
	sc, ok := c.(*storage.Client)
	if !ok {
		t.Fatalf("GetClient returned %T, want *storage.Client", c)
	}
	wantEqual(t, sc.GetID(), "web", "client id")
	wantEqual(t, sc.GetTenantID(), t1.ID, "client tenant")
	wantArgs(t, sc.GetGrantTypes(), m.GrantTypes, "grant types")
	wantArgs(t, fosite.Arguments(sc.GetRedirectURIs()), m.RedirectURIs, "redirect uris")

	got, err := s.GetTenantClient(ctx, t1.ID, "web")
	must(t, err, "GetTenantClient")
	wantEqual(t, got.Name, m.Name, "client name")
	wantArgs(t, fosite.Arguments(got.Scopes), m.Scopes, "client scopes")

	_, err = s.GetTenantClient(ctx, t2.ID, "web")
	wantKind(t, err, models.KindNotFound, "other tenant's client")
	_, err = s.GetTenantClient(ctx, t1.ID, "nope")
	wantKind(t, err, models.KindNotFound, "unknown client")

	err = s.CreateClient(ctx, &models.Client{ID: "web", TenantID: t2.ID, TokenEndpointAuthMethod: "none"})
	wantKind(t, err, models.KindConflict, "duplicate client id")

	// Issue 8 client fields: a client without a method list accepts its one
	// method; the list, post-logout URIs and all-tenant introspection
	// round-trip and survive an update.
	wantArgs(t, fosite.Arguments(sc.GetTokenEndpointAuthMethods()), []string{"client_secret_basic"}, "legacy client: its one method")
	wantEqual(t, sc.GetIntrospectAllTenants(), false, "introspect_all_tenants default")
	rs := &models.Client{ID: "rs", TenantID: t1.ID, TokenEndpointAuthMethod: "client_secret_basic",
		TokenEndpointAuthMethods: models.StringList{"client_secret_basic", "client_secret_post"},
		PostLogoutRedirectURIs:   models.StringList{"https://app.example/bye"}, IntrospectAllTenants: true}
	must(t, s.CreateClient(ctx, rs), "create rs")
	c, err = s.GetClient(ctx, "rs")
	must(t, err, "GetClient rs")
	sc = c.(*storage.Client)
	wantArgs(t, fosite.Arguments(sc.GetTokenEndpointAuthMethods()), rs.TokenEndpointAuthMethods, "auth methods")
	wantArgs(t, fosite.Arguments(sc.GetPostLogoutRedirectURIs()), rs.PostLogoutRedirectURIs, "post-logout redirect uris")
	wantEqual(t, sc.GetIntrospectAllTenants(), true, "introspect_all_tenants")
	_, err = s.UpdateTenantClient(ctx, t1.ID, "rs", func(c *models.Client) error {
		c.TokenEndpointAuthMethod = "client_secret_post"
		c.TokenEndpointAuthMethods = models.StringList{"client_secret_post"}
		c.PostLogoutRedirectURIs = nil
		c.IntrospectAllTenants = false
		return nil
	})
	must(t, err, "UpdateTenantClient rs")
	got, err = s.GetTenantClient(ctx, t1.ID, "rs")
	must(t, err, "GetTenantClient rs")
	wantEqual(t, got.TokenEndpointAuthMethod, "client_secret_post", "updated method")
	wantArgs(t, fosite.Arguments(got.TokenEndpointAuthMethods), []string{"client_secret_post"}, "updated methods")
	wantEqual(t, len(got.PostLogoutRedirectURIs), 0, "updated post-logout uris")
	wantEqual(t, got.IntrospectAllTenants, false, "updated introspect_all_tenants")
}

func testClientSecretRotation(t *testing.T, s ClientStore) {
	ctx := t.Context()
	tn := createTenant(t, s, "one")
	other := createTenant(t, s, "two")
	createClient(t, s, tn.ID, "web")

	rotated := func(t *testing.T) (string, [][]byte) {
		t.Helper()
		c, err := s.GetClient(ctx, "web")
		must(t, err, "GetClient")
		return string(c.GetHashedSecret()), c.(*storage.Client).GetRotatedHashes()
	}

	until := time.Now().Add(time.Hour)
	must(t, s.RotateClientSecret(ctx, tn.ID, "web", "bcrypt$new-1", &until), "rotate with window")
	cur, old := rotated(t)
	wantEqual(t, cur, "bcrypt$new-1", "current hash")
	if len(old) != 1 || string(old[0]) != "bcrypt$old-hash" {
		t.Fatalf("rotated hashes inside the window = %q, want [bcrypt$old-hash]", old)
	}

	ended := time.Now().Add(-time.Second)
	must(t, s.RotateClientSecret(ctx, tn.ID, "web", "bcrypt$new-2", &ended), "rotate with ended window")
	cur, old = rotated(t)
	wantEqual(t, cur, "bcrypt$new-2", "current hash")
	if old != nil {
		t.Fatalf("rotated hashes after the window = %q, want none", old)
	}

	must(t, s.RotateClientSecret(ctx, tn.ID, "web", "bcrypt$new-3", nil), "rotate without window")
	cur, old = rotated(t)
	wantEqual(t, cur, "bcrypt$new-3", "current hash")
	if old != nil {
		t.Fatalf("rotated hashes with nil window = %q, want none", old)
	}
	got, err := s.GetTenantClient(ctx, tn.ID, "web")
	must(t, err, "GetTenantClient")
	wantEqual(t, got.RotatedSecretHash, "", "rotated hash dropped")

	err = s.RotateClientSecret(ctx, other.ID, "web", "bcrypt$evil", nil)
	wantKind(t, err, models.KindNotFound, "rotate another tenant's client")
	cur, _ = rotated(t)
	wantEqual(t, cur, "bcrypt$new-3", "hash after cross-tenant rotation attempt")
}

func testClientList(t *testing.T, s ClientStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	for _, id := range []string{"first", "second", "third"} {
		createClient(t, s, tn.ID, id)
	}
	createClient(t, s, other.ID, "elsewhere")
	out, err := s.ListTenantClients(ctx, tn.ID)
	must(t, err, "list")
	var ids []string
	for _, c := range out {
		ids = append(ids, c.ID)
	}
	if !slices.Equal(ids, []string{"first", "second", "third"}) {
		t.Fatalf("clients = %v, want [first second third] (oldest first, this tenant's only)", ids)
	}
	out, err = s.ListTenantClients(ctx, newTenant(t, s).ID)
	must(t, err, "list an empty tenant")
	wantEqual(t, len(out), 0, "clients of an empty tenant")
}

func testClientUpdate(t *testing.T, s ClientStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	createClient(t, s, tn.ID, "web")
	got, err := s.UpdateTenantClient(ctx, tn.ID, "web", func(c *models.Client) error {
		c.Name = "Renamed"
		c.RedirectURIs = models.StringList{"https://new.example/cb"}
		c.SkipConsent = true
		c.IDTokenSignedResponseAlg = models.SigningAlgES256
		// Not an administrator's to change: ignored.
		c.SecretHash = "bcrypt$evil"
		c.TenantID = other.ID
		return nil
	})
	must(t, err, "update")
	wantEqual(t, got.Name, "Renamed", "returned name")
	back, err := s.GetTenantClient(ctx, tn.ID, "web")
	must(t, err, "get")
	wantEqual(t, back.Name, "Renamed", "stored name")
	wantArgs(t, fosite.Arguments(back.RedirectURIs), []string{"https://new.example/cb"}, "stored redirect uris")
	wantEqual(t, back.SkipConsent, true, "stored skip_consent")
	wantEqual(t, back.IDTokenSignedResponseAlg, models.SigningAlgES256, "stored id_token_signed_response_alg")
	wantEqual(t, back.SecretHash, "bcrypt$old-hash", "secret hash kept")
	wantEqual(t, back.TenantID, tn.ID, "tenant kept")

	boom := errors.New("boom")
	_, err = s.UpdateTenantClient(ctx, tn.ID, "web", func(c *models.Client) error { c.Name = "Lost"; return boom })
	wantErrIs(t, err, boom, "updater error")
	back, _ = s.GetTenantClient(ctx, tn.ID, "web")
	wantEqual(t, back.Name, "Renamed", "name after a failed updater")

	for _, tt := range []struct{ name, tenant, id string }{
		{"another tenant's client", other.ID, "web"},
		{"unknown client", tn.ID, "nope"},
	} {
		called := false
		_, err := s.UpdateTenantClient(ctx, tt.tenant, tt.id, func(*models.Client) error { called = true; return nil })
		wantNotFound(t, err, tt.name)
		if called {
			t.Fatalf("%s: the updater was called", tt.name)
		}
	}
}

func testClientDelete(t *testing.T, s ClientStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	keep := createClient(t, s, f.tenant.ID, "keep-"+randomHex(t, 3))
	keepClient, err := s.GetClient(ctx, keep.ID)
	must(t, err, "get kept client")
	req := f.request("grant-a")
	keepReq := f.request("grant-b")
	keepReq.Client = keepClient
	must(t, s.CreateAccessTokenSession(ctx, key(t, "ory_at_"), req), "create token")
	must(t, s.CreateRefreshTokenSession(ctx, key(t, "ory_rt_"), "", req), "create refresh token")
	must(t, s.CreateAccessTokenSession(ctx, key(t, "ory_at_"), keepReq), "create another client's token")
	other := newTenant(t, s)

	wantNotFound(t, s.DeleteTenantClient(ctx, other.ID, f.client.GetID()), "delete another tenant's client")
	must(t, s.DeleteTenantClient(ctx, f.tenant.ID, f.client.GetID()), "delete")
	_, err = s.GetTenantClient(ctx, f.tenant.ID, f.client.GetID())
	wantNotFound(t, err, "deleted client")
	_, err = s.GetClient(ctx, f.client.GetID())
	wantErrIs(t, err, fosite.ErrNotFound, "deleted client, as fosite sees it")
	wantEqual(t, countRows(t, s, tableAccess, "client_id = ?", f.client.GetID()), 0, "access tokens of the deleted client")
	wantEqual(t, countRows(t, s, tableRefresh, "client_id = ?", f.client.GetID()), 0, "refresh tokens of the deleted client")
	wantEqual(t, countRows(t, s, tableAccess, "client_id = ?", keep.ID), 1, "another client's token")
	wantNotFound(t, s.DeleteTenantClient(ctx, f.tenant.ID, f.client.GetID()), "delete twice")
}
