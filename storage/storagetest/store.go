package storagetest

import (
	"context"
	"database/sql"
	"testing"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
)

// LifecycleStore is the store's own life: its dialect, the pool behind it,
// migrations and closing.
type LifecycleStore interface {
	// Dialect names the database: storage.Postgres or storage.SQLite.
	Dialect() storage.Dialect
	// Ping runs SELECT 1; an unreachable database is KindUnavailable.
	Ping(ctx context.Context) error
	// SQLDB exposes the pool.
	SQLDB() (*sql.DB, error)
	// Migrate applies the pending migrations; with none pending it does
	// nothing.
	Migrate(ctx context.Context) error
	// Close closes the pool.
	Close() error
	// EnableTracing installs the database spans of tp (issue 11 §7);
	// Traced reports whether they are installed.
	EnableTracing(tp trace.TracerProvider) error
	Traced() bool
}

var _ = claim[LifecycleStore]("RunLifecycleSuite", "Dialect", "Ping", "SQLDB", "Migrate", "Close", "EnableTracing", "Traced")

// RunLifecycleSuite checks a migrated store: it answers, names a known
// dialect, exposes its pool, migrates again as a no-op, and once closed
// reports the database unavailable.
func RunLifecycleSuite[S LifecycleStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) LifecycleStore { return newStore(t) }, []subTest[LifecycleStore]{
		{"PingDialectPool", testLifecyclePing},
		{"MigrateAgain", testLifecycleMigrateAgain},
		{"Close", testLifecycleClose},
		{"Tracing", testLifecycleTracing},
	})
}

// testLifecycleTracing: a store starts untraced (tracing is off by
// default) and is traced once EnableTracing installed its callbacks, which
// leave the store working.
func testLifecycleTracing(t *testing.T, s LifecycleStore) {
	wantEqual(t, s.Traced(), false, "traced before EnableTracing")
	must(t, s.EnableTracing(noop.NewTracerProvider()), "enable tracing")
	wantEqual(t, s.Traced(), true, "traced after EnableTracing")
	must(t, s.Ping(t.Context()), "ping a traced store")
	must(t, s.Migrate(t.Context()), "migrate a traced store")
}

func testLifecyclePing(t *testing.T, s LifecycleStore) {
	must(t, s.Ping(t.Context()), "ping")
	if d := s.Dialect(); d != storage.Postgres && d != storage.SQLite {
		t.Fatalf("dialect = %q, want postgres or sqlite", d)
	}
	db, err := s.SQLDB()
	must(t, err, "SQLDB")
	var one int
	must(t, db.QueryRowContext(t.Context(), "SELECT 1").Scan(&one), "SELECT 1 through the pool")
	wantEqual(t, one, 1, "SELECT 1")
}

// gooseVersions counts the applied migrations goose recorded.
func gooseVersions(t *testing.T, s LifecycleStore) int {
	t.Helper()
	db, err := s.SQLDB()
	must(t, err, "SQLDB")
	var n int
	must(t, db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM goose_db_version WHERE version_id > 0").Scan(&n), "count migrations")
	return n
}

func testLifecycleMigrateAgain(t *testing.T, s LifecycleStore) {
	before := gooseVersions(t, s)
	if before == 0 {
		t.Fatal("a migrated store records no migration")
	}
	must(t, s.Migrate(t.Context()), "migrate again")
	wantEqual(t, gooseVersions(t, s), before, "migrations after migrating again")
}

func testLifecycleClose(t *testing.T, s LifecycleStore) {
	must(t, s.Close(), "close")
	err := s.Ping(t.Context())
	if err == nil || !models.IsUnavailable(err) {
		t.Fatalf("ping after close = %v, want the database unavailable", err)
	}
}
