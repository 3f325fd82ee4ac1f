package storage_test

import (
	"context"
	"os"
	"testing"
	"time"

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
		return storagetest.PostgresBackend(t)
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

func TestRepositories(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storagetest.OpenFunc) {
		storagetest.RunRepositorySuite(t, defaults(open))
	})
}

func TestOpenGracePeriodBounds(t *testing.T) {
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

func TestOpenRejectsUnknownURL(t *testing.T) {
	for _, u := range []string{"", "mysql://localhost/db", "sqlite:"} {
		if s, err := storage.Open(context.Background(), storage.Options{DatabaseURL: u}); err == nil {
			_ = s.Close()
			t.Errorf("Open(%q) succeeded, want an error", u)
		}
	}
}
