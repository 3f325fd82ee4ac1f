package storagetest

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/models"
)

// TenantStore is the tenants repository, with what the suite needs to see
// suspension and deletion reach a tenant's clients, users and tokens.
type TenantStore interface {
	FixtureStore
	RawStore
	// GetTenant returns the tenant; unknown or malformed id is NotFound.
	GetTenant(ctx context.Context, id string) (*models.Tenant, error)
	// GetTenantBySlug returns the tenant with that slug, or NotFound.
	GetTenantBySlug(ctx context.Context, slug string) (*models.Tenant, error)
	// ListTenants returns a page ordered by slug after the cursor after,
	// matching search in slug or name (case-insensitive, wildcards literal).
	ListTenants(ctx context.Context, search, after string, limit int) ([]models.Tenant, error)
	// UpdateTenant changes name, audit_retention_days, the presentation
	// columns and settings; another column is an error and nothing changes;
	// no column only locks the row and stamps updated_at; unknown is NotFound.
	UpdateTenant(ctx context.Context, id string, fields map[string]any) (*models.Tenant, error)
	// SuspendTenant stamps suspended_at once and deletes the tenant's tokens;
	// its clients stop authenticating. Unknown is NotFound.
	SuspendTenant(ctx context.Context, id string) (*models.Tenant, error)
	// UnsuspendTenant clears suspended_at; unknown is NotFound.
	UnsuspendTenant(ctx context.Context, id string) (*models.Tenant, error)
	// DeleteTenant deletes the tenant with its users, clients and tokens;
	// unknown is NotFound.
	DeleteTenant(ctx context.Context, id string) error
	CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error
	GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error)
}

var _ = claim[TenantStore]("RunTenantsSuite", "CreateTenant", "GetTenant", "GetTenantBySlug", "ListTenants",
	"UpdateTenant", "SuspendTenant", "UnsuspendTenant", "DeleteTenant")

// RunTenantsSuite checks the tenants repository: create and get, the keyset
// listing and its search, updates of the allowed columns, suspension (which
// ends the tenant's tokens and client authentication, and keeps its first
// stamp) and deletion, each with NotFound for unknown and malformed ids.
func RunTenantsSuite[S TenantStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) TenantStore { return newStore(t) }, []subTest[TenantStore]{
		{"CreateGet", testTenantCreateGet},
		{"List", testTenantList},
		{"Update", testTenantUpdate},
		{"SuspendUnsuspend", testTenantSuspend},
		{"Delete", testTenantDelete},
	})
}

func testTenantCreateGet(t *testing.T, s TenantStore) {
	ctx := t.Context()
	tn := createTenant(t, s, "acme")
	if tn.ID == "" {
		t.Fatal("CreateTenant gave no id")
	}
	bySlug, err := s.GetTenantBySlug(ctx, "acme")
	must(t, err, "get by slug")
	wantEqual(t, bySlug.ID, tn.ID, "tenant id by slug")
	wantEqual(t, bySlug.Name, tn.Name, "tenant name")
	byID, err := s.GetTenant(ctx, tn.ID)
	must(t, err, "get by id")
	wantEqual(t, byID.Slug, "acme", "tenant slug by id")
	// PostgreSQL keeps microseconds.
	wantTime(t, byID.CreatedAt.Truncate(time.Microsecond), tn.CreatedAt.Truncate(time.Microsecond), "created_at")

	err = s.CreateTenant(ctx, &models.Tenant{Slug: "acme", Name: "Other"})
	wantKind(t, err, models.KindConflict, "duplicate slug")

	tests := []struct {
		name string
		get  func() error
	}{
		{"bad uuid", func() error { _, err := s.GetTenant(ctx, "not-a-uuid"); return err }},
		{"unknown id", func() error { _, err := s.GetTenant(ctx, "00000000-0000-4000-8000-000000000000"); return err }},
		{"unknown slug", func() error { _, err := s.GetTenantBySlug(ctx, "nope"); return err }},
	}
	for _, tt := range tests {
		wantKind(t, tt.get(), models.KindNotFound, tt.name)
	}
}

func testTenantList(t *testing.T, s TenantStore) {
	ctx := t.Context()
	create := func(slugs ...string) {
		t.Helper()
		for _, slug := range slugs {
			must(t, s.CreateTenant(ctx, &models.Tenant{Slug: slug, Name: "Name of " + strings.ToUpper(slug)}), "create "+slug)
		}
	}
	slugs := func(search, after string, limit int) []string {
		t.Helper()
		out, err := s.ListTenants(ctx, search, after, limit)
		must(t, err, "list tenants")
		var got []string
		for _, tn := range out {
			got = append(got, tn.Slug)
		}
		return got
	}
	// Letters only: PostgreSQL orders by the database collation, which may
	// weigh punctuation differently from SQLite's bytes.
	create("gamma", "alpha", "delta", "beta")
	tests := []struct {
		name          string
		search, after string
		limit         int
		want          []string
	}{
		{"all by slug", "", "", 10, []string{"alpha", "beta", "delta", "gamma"}},
		{"limit", "", "", 2, []string{"alpha", "beta"}},
		{"after cursor", "", "beta", 10, []string{"delta", "gamma"}},
		{"after the last", "", "gamma", 10, nil},
		{"search any case", "ALP", "", 10, []string{"alpha"}},
		{"search the name", "name of DELTA", "", 10, []string{"delta"}},
		{"search with cursor", "ta", "beta", 10, []string{"delta"}},
		{"percent is literal", "%", "", 10, nil},
	}
	for _, tt := range tests {
		if got := slugs(tt.search, tt.after, tt.limit); !slices.Equal(got, tt.want) {
			t.Errorf("%s: ListTenants(%q, %q, %d) = %v, want %v", tt.name, tt.search, tt.after, tt.limit, got, tt.want)
		}
	}
	create("x_y", "xay")
	if got := slugs("_", "", 10); !slices.Equal(got, []string{"x_y"}) {
		t.Errorf("ListTenants(\"_\") = %v, want [x_y]: the underscore is literal", got)
	}
	got := slugs("x", "", 10)
	slices.Sort(got)
	if !slices.Equal(got, []string{"x_y", "xay"}) {
		t.Errorf("ListTenants(\"x\") = %v, want x_y and xay", got)
	}
}

func testTenantUpdate(t *testing.T, s TenantStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	got, err := s.UpdateTenant(ctx, tn.ID, map[string]any{"name": "Renamed", "audit_retention_days": 7})
	must(t, err, "update")
	wantEqual(t, got.Name, "Renamed", "returned name")
	wantEqual(t, got.AuditRetentionDays, 7, "returned retention")
	wantEqual(t, got.Slug, tn.Slug, "slug kept")
	back, err := s.GetTenant(ctx, tn.ID)
	must(t, err, "get")
	wantEqual(t, back.Name, "Renamed", "stored name")
	wantEqual(t, back.AuditRetentionDays, 7, "stored retention")

	_, err = s.UpdateTenant(ctx, tn.ID, map[string]any{"name": "Evil", "slug": "evil"})
	if err == nil {
		t.Fatal("UpdateTenant accepted the slug column")
	}
	back, err = s.GetTenant(ctx, tn.ID)
	must(t, err, "get")
	wantEqual(t, back.Name, "Renamed", "name after a refused update")
	wantEqual(t, back.Slug, tn.Slug, "slug after a refused update")

	for _, id := range []string{unknownID, "not-a-uuid"} {
		_, err := s.UpdateTenant(ctx, id, map[string]any{"name": "x"})
		wantNotFound(t, err, "update "+id)
	}

	// Issue 10 §3: the tenant's own presentation and settings.
	wantEqual(t, back.Settings, "{}", "a new tenant's settings")
	_, err = s.UpdateTenant(ctx, tn.ID, map[string]any{"description": "Anvils", "website": "https://acme.example",
		"logo_url": "https://acme.example/l.png", "primary_colour": "#aabbcc", "default_locale": "pt-BR",
		"settings": `{"password_min_length":16}`})
	must(t, err, "update presentation")
	back, err = s.GetTenant(ctx, tn.ID)
	must(t, err, "get")
	wantEqual(t, [6]string{back.Description, back.Website, back.LogoURL, back.PrimaryColour, back.DefaultLocale, back.Settings},
		[6]string{"Anvils", "https://acme.example", "https://acme.example/l.png", "#aabbcc", "pt-BR", `{"password_min_length":16}`}, "stored presentation")
	locked, err := s.UpdateTenant(ctx, tn.ID, map[string]any{})
	must(t, err, "empty update")
	wantEqual(t, locked.Settings, back.Settings, "an empty update changes no column")
	wantEqual(t, locked.Name, "Renamed", "name after an empty update")
}

func testTenantSuspend(t *testing.T, s TenantStore) {
	ctx := t.Context()
	f, other := newFixture(t, s), newFixture(t, s)
	at, otherAT := key(t, "ory_at_"), key(t, "ory_at_")
	must(t, s.CreateAccessTokenSession(ctx, at, f.request("grant-a")), "create token")
	must(t, s.CreateAccessTokenSession(ctx, otherAT, other.request("grant-b")), "create other tenant's token")

	got, err := s.SuspendTenant(ctx, f.tenant.ID)
	must(t, err, "suspend")
	if got.SuspendedAt == nil {
		t.Fatal("suspended tenant has no suspended_at")
	}
	first := *got.SuspendedAt
	_, err = s.GetClient(ctx, f.client.GetID())
	wantErrIs(t, err, fosite.ErrNotFound, "client of a suspended tenant")
	wantEqual(t, countRows(t, s, tableAccess, "tenant_id = ?", f.tenant.ID), 0, "tokens of the suspended tenant")
	_, err = s.GetAccessTokenSession(ctx, otherAT, nil)
	must(t, err, "another tenant's token")
	_, err = s.GetClient(ctx, other.client.GetID())
	must(t, err, "another tenant's client")

	again, err := s.SuspendTenant(ctx, f.tenant.ID)
	must(t, err, "suspend again")
	if again.SuspendedAt == nil || !again.SuspendedAt.Equal(first) {
		t.Fatalf("suspending again moved suspended_at from %v to %v", first, again.SuspendedAt)
	}

	got, err = s.UnsuspendTenant(ctx, f.tenant.ID)
	must(t, err, "unsuspend")
	if got.SuspendedAt != nil {
		t.Fatalf("unsuspended tenant has suspended_at %v", got.SuspendedAt)
	}
	_, err = s.GetClient(ctx, f.client.GetID())
	must(t, err, "client after unsuspend")
	_, err = s.GetAccessTokenSession(ctx, at, nil)
	wantErrIs(t, err, fosite.ErrNotFound, "a revoked token stays revoked")

	for _, id := range []string{unknownID, "not-a-uuid"} {
		_, err := s.SuspendTenant(ctx, id)
		wantNotFound(t, err, "suspend "+id)
		_, err = s.UnsuspendTenant(ctx, id)
		wantNotFound(t, err, "unsuspend "+id)
	}
}

func testTenantDelete(t *testing.T, s TenantStore) {
	ctx := t.Context()
	f, other := newFixture(t, s), newFixture(t, s)
	at, otherAT := key(t, "ory_at_"), key(t, "ory_at_")
	must(t, s.CreateAccessTokenSession(ctx, at, f.request("grant-a")), "create token")
	must(t, s.CreateAccessTokenSession(ctx, otherAT, other.request("grant-b")), "create other tenant's token")

	must(t, s.DeleteTenant(ctx, f.tenant.ID), "delete")
	_, err := s.GetTenant(ctx, f.tenant.ID)
	wantNotFound(t, err, "deleted tenant")
	_, err = s.GetClient(ctx, f.client.GetID())
	wantErrIs(t, err, fosite.ErrNotFound, "client of a deleted tenant")
	wantEqual(t, countRows(t, s, "users", "tenant_id = ?", f.tenant.ID), 0, "users of a deleted tenant")
	wantEqual(t, countRows(t, s, tableAccess, "tenant_id = ?", f.tenant.ID), 0, "tokens of a deleted tenant")

	_, err = s.GetAccessTokenSession(ctx, otherAT, nil)
	must(t, err, "another tenant's token")
	_, err = s.GetTenant(ctx, other.tenant.ID)
	must(t, err, "another tenant")

	wantNotFound(t, s.DeleteTenant(ctx, f.tenant.ID), "delete twice")
	wantNotFound(t, s.DeleteTenant(ctx, "not-a-uuid"), "delete a malformed id")
}
