package storage_test

import (
	"context"
	"os"
	"slices"
	"sync"
	"testing"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// wantTables is the schema the migrations promise.
var wantTables = []string{
	"tenants", "users", "oauth_clients",
	"oauth_codes", "oauth_access_tokens", "oauth_refresh_tokens",
	"oauth_oidc_sessions", "oauth_pkce_sessions", "oauth_jtis",
	"jwk_signing_keys", "consents", "login_sessions",
	"mail_outbox",
}

// openUnmigrated opens a store on b without migrating it.
func openUnmigrated(t *testing.T, b storagetest.Backend) *storage.Store {
	t.Helper()
	s, err := storage.Open(context.Background(), storage.Options{DatabaseURL: b.URL})
	if err != nil {
		t.Fatalf("open %s: %v", b.Name, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// tables lists the user tables of the store's database.
func tables(t *testing.T, s *storage.Store) []string {
	t.Helper()
	db, err := s.SQLDB()
	if err != nil {
		t.Fatal(err)
	}
	q := "SELECT name FROM sqlite_master WHERE type = 'table'"
	if s.Dialect() == storage.Postgres {
		q = "SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema()"
	}
	rows, err := db.QueryContext(t.Context(), q)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, n)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

func wantSchema(t *testing.T, s *storage.Store) {
	t.Helper()
	got := tables(t, s)
	for _, name := range wantTables {
		if !slices.Contains(got, name) {
			t.Errorf("table %s missing after migration (have %v)", name, got)
		}
	}
}

// appliedVersions counts goose's records of applied migrations.
func appliedVersions(t *testing.T, s *storage.Store) int {
	t.Helper()
	db, err := s.SQLDB()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM goose_db_version WHERE version_id > 0").Scan(&n); err != nil {
		t.Fatalf("count applied migrations: %v", err)
	}
	return n
}

func TestMigrate(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.EmptyBackends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := t.Context()
			s := openUnmigrated(t, b)
			for _, name := range wantTables {
				if slices.Contains(tables(t, s), name) {
					t.Fatalf("table %s exists before migrating", name)
				}
			}
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("migrate: %v", err)
			}
			wantSchema(t, s)
			applied := appliedVersions(t, s)
			if applied == 0 {
				t.Fatal("no migration recorded as applied")
			}

			tn := &models.Tenant{Slug: "kept", Name: "Kept"}
			if err := s.CreateTenant(ctx, tn); err != nil {
				t.Fatalf("create tenant: %v", err)
			}

			// Idempotent: again on the same store, and from a new process.
			if err := s.Migrate(ctx); err != nil {
				t.Fatalf("second migrate: %v", err)
			}
			if err := openUnmigrated(t, b).Migrate(ctx); err != nil {
				t.Fatalf("migrate from a second store: %v", err)
			}
			if got := appliedVersions(t, s); got != applied {
				t.Fatalf("applied migrations = %d after re-running, want %d", got, applied)
			}
			wantSchema(t, s)
			if _, err := s.GetTenantBySlug(ctx, "kept"); err != nil {
				t.Fatalf("data lost by re-migrating: %v", err)
			}
		})
	}
}

// TestMigrateConcurrentPostgres starts two instances on one fresh database at
// once: goose's session lock must let both succeed, applying each migration
// once.
func TestMigrateConcurrentPostgres(t *testing.T) {
	t.Parallel()
	if os.Getenv(storagetest.EnvDatabaseURL) == "" {
		t.Skip(storagetest.EnvDatabaseURL + " is not set")
	}
	b := storagetest.PostgresBackend(t)
	stores := []*storage.Store{openUnmigrated(t, b), openUnmigrated(t, b)}
	errs := make([]error, len(stores))
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i, s := range stores {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = s.Migrate(context.Background())
		}()
	}
	close(start)
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("migrate %d: %v", i, err)
		}
	}
	wantSchema(t, stores[0])
	db, err := stores[0].SQLDB()
	if err != nil {
		t.Fatal(err)
	}
	var dup int
	err = db.QueryRowContext(t.Context(),
		"SELECT COUNT(*) FROM (SELECT version_id FROM goose_db_version GROUP BY version_id HAVING COUNT(*) > 1) d").Scan(&dup)
	if err != nil {
		t.Fatal(err)
	}
	if dup != 0 {
		t.Fatalf("%d migrations recorded more than once", dup)
	}
}
