package storage_test

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// TestMain runs the package in a local zone that is not UTC, so a time that
// comes back in time.Local, or is compared as text in a zone other than
// UTC, fails here and not only on a server configured elsewhere.
func TestMain(m *testing.M) {
	time.Local = time.FixedZone("UTC-7", -7*3600)
	os.Exit(m.Run())
}

// freshBackend returns a new, empty database of the named backend.
func freshBackend(t *testing.T, name string) storagetest.Backend {
	t.Helper()
	if name == "postgres" {
		return storagetest.MigratedPostgresBackend(t)
	}
	return storagetest.SQLiteBackend(t)
}

// forEachBackend runs fn once per backend of storagetest.Backends, in a
// subtest named by the backend; open gives each caller a fresh database.
func forEachBackend(t *testing.T, fn func(t *testing.T, open storagetest.OpenFunc)) {
	t.Helper()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			fn(t, func(t *testing.T, opts storage.Options) *storage.Store {
				t.Helper()
				return storagetest.OpenStore(t, freshBackend(t, b.Name), opts)
			})
		})
	}
}

func defaults(open storagetest.OpenFunc) func(t *testing.T) *storage.Store {
	return func(t *testing.T) *storage.Store {
		t.Helper()
		return open(t, storage.Options{})
	}
}

func TestFositeStorage(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storagetest.OpenFunc) {
		storagetest.RunFositeSuite(t, defaults(open))
	})
}

func TestRefreshGracePeriod(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storagetest.OpenFunc) {
		storagetest.RunGraceSuite(t, open)
	})
}

func TestTransactions(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storagetest.OpenFunc) {
		storagetest.RunTxSuite(t, defaults(open))
	})
}

// TestMixedLoad runs the statements of token issuance, refresh and login
// from many goroutines on two stores over one database (two instances, or
// the command line beside the server): on SQLite, no "database is locked",
// and reads answer beside an open write transaction.
func TestMixedLoad(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Parallel()
			storagetest.RunLoadSuite(t, func(t *testing.T) (*storage.Store, *storage.Store) {
				t.Helper()
				return storagetest.OpenStore(t, b, storage.Options{}), storagetest.OpenStore(t, b, storage.Options{})
			})
		})
	}
}

// TestRepositories runs the conformance suite of every aggregate (and of
// the store's lookup cache and lifecycle), each on every backend, each case
// on a fresh database. storagetest's coverage test proves every exported
// Store method is claimed by one of these suites or by the fosite, grace and
// transaction suites above.
func TestRepositories(t *testing.T) {
	t.Parallel()
	suites := []struct {
		name string
		run  func(t *testing.T, open storagetest.OpenFunc)
	}{
		{"Tenants", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunTenantsSuite(t, defaults(open)) }},
		{"TenantDeletion", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunTenantDeletionSuite(t, defaults(open)) }},
		{"Users", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunUsersSuite(t, defaults(open)) }},
		{"Credentials", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunCredentialsSuite(t, defaults(open)) }},
		{"Challenges", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunChallengesSuite(t, defaults(open)) }},
		{"Clients", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunClientsSuite(t, defaults(open)) }},
		{"Roles", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunRolesSuite(t, defaults(open)) }},
		{"Policies", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunPoliciesSuite(t, defaults(open)) }},
		{"ServiceAccounts", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunServiceAccountsSuite(t, defaults(open)) }},
		{"APIKeys", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunAPIKeysSuite(t, defaults(open)) }},
		{"Sessions", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunSessionsSuite(t, defaults(open)) }},
		{"Devices", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunDevicesSuite(t, defaults(open)) }},
		{"Audit", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunAuditSuite(t, open) }},
		{"Prune", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunPruneSuite(t, open) }},
		{"Leases", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunLeasesSuite(t, open) }},
		{"OneTimeCodes", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunOneTimeCodesSuite(t, open) }},
		{"MailOutbox", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunMailOutboxSuite(t, open) }},
		{"Metrics", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunMetricsSuite(t, open) }},
		{"Consents", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunConsentsSuite(t, defaults(open)) }},
		{"Erasure", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunErasureSuite(t, defaults(open)) }},
		{"Keys", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunKeysSuite(t, defaults(open)) }},
		{"LoginSessions", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunLoginSessionsSuite(t, defaults(open)) }},
		{"PushDevices", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunPushDevicesSuite(t, defaults(open)) }},
		{"Invitations", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunInvitationsSuite(t, defaults(open)) }},
		{"EmailVerifications", func(t *testing.T, open storagetest.OpenFunc) {
			storagetest.RunEmailVerificationsSuite(t, defaults(open))
		}},
		{"LookupCache", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunLookupCacheSuite(t, defaults(open)) }},
		{"Lifecycle", func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunLifecycleSuite(t, defaults(open)) }},
	}
	for _, suite := range suites {
		t.Run(suite.name, func(t *testing.T) {
			t.Parallel()
			forEachBackend(t, suite.run)
		})
	}
}

func TestOpenGracePeriodBounds(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		grace   time.Duration
		wantErr bool
	}{
		{"strict", 0, false},
		{"maximum", storage.MaxRefreshGracePeriod, false},
		{"above maximum", storage.MaxRefreshGracePeriod + time.Nanosecond, true},
		{"an hour", time.Hour, true},
		{"negative", -time.Second, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := storagetest.SQLiteBackend(t)
			s, err := storage.Open(context.Background(), storage.Options{DatabaseURL: b.URL, RefreshGracePeriod: tt.grace})
			if tt.wantErr {
				if err == nil {
					_ = s.Close()
					t.Fatalf("Open accepted a grace period of %s (max %s)", tt.grace, storage.MaxRefreshGracePeriod)
				}
				return
			}
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			_ = s.Close()
		})
	}
}

// TestOpenInMemory: an in-memory SQLite database keeps every statement on
// its one connection (a read-pool connection would open a database of its
// own, without the tables), so what is written is read back.
func TestOpenInMemory(t *testing.T) {
	t.Parallel()
	s := storagetest.OpenStore(t, storagetest.Backend{Name: "sqlite", URL: "sqlite::memory:"}, storage.Options{})
	tn := &models.Tenant{Slug: "in-memory", Name: "In memory"}
	if err := s.CreateTenant(t.Context(), tn); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	got, err := s.GetTenantBySlug(t.Context(), "in-memory")
	if err != nil || got.ID != tn.ID {
		t.Fatalf("read back: %+v, %v; want tenant %s", got, err, tn.ID)
	}
}

func TestOpenRejectsUnknownURL(t *testing.T) {
	t.Parallel()
	for _, u := range []string{"", "mysql://localhost/db", "sqlite:"} {
		if s, err := storage.Open(context.Background(), storage.Options{DatabaseURL: u}); err == nil {
			_ = s.Close()
			t.Errorf("Open(%q) succeeded, want an error", u)
		}
	}
}
