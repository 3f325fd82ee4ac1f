package storagetest

import (
	"context"
	"database/sql"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/identityd/identityd/storage"
)

// TestMigratedPostgresBackend: a database copied from the template has the
// very schema and rows that running every migration on an empty database
// gives, Migrate on it applies nothing, and two copies are independent.
func TestMigratedPostgresBackend(t *testing.T) {
	if os.Getenv(EnvDatabaseURL) == "" {
		t.Skip(EnvDatabaseURL + " is not set")
	}
	t.Parallel()
	ctx := context.Background()
	fresh := OpenStore(t, PostgresBackend(t), storage.Options{}) // every migration applied here
	copied := MigratedPostgresBackend(t)
	other := MigratedPostgresBackend(t)
	if copied.URL == other.URL {
		t.Fatalf("two backends share %s", copied.URL)
	}
	copyDB := rawPostgres(t, copied.URL)
	before := appliedMigrations(t, copyDB)
	if before == 0 {
		t.Fatal("the copy has no migrations recorded")
	}
	freshDB, err := fresh.SQLDB()
	if err != nil {
		t.Fatal(err)
	}
	if got, want := pgSchema(t, copyDB), pgSchema(t, freshDB); !slices.Equal(got, want) {
		t.Fatalf("the copy's schema differs from a freshly migrated database's:\ncopy:  %v\nfresh: %v", got, want)
	}
	if got, want := appliedMigrations(t, copyDB), appliedMigrations(t, freshDB); got != want {
		t.Fatalf("copy has %d migrations recorded, a fresh database %d", got, want)
	}
	st := OpenStore(t, copied, storage.Options{}) // migrates: must find nothing to do
	if got := appliedMigrations(t, copyDB); got != before {
		t.Fatalf("Migrate on the copy recorded %d migrations, want %d", got, before)
	}
	if _, err := st.SQLDB(); err != nil {
		t.Fatal(err)
	}
	if _, err := copyDB.ExecContext(ctx, "CREATE TABLE only_in_copy (id int)"); err != nil {
		t.Fatal(err)
	}
	var n int
	if err := rawPostgres(t, other.URL).QueryRowContext(ctx,
		"SELECT COUNT(*) FROM information_schema.tables WHERE table_name = 'only_in_copy'").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != 0 {
		t.Fatal("a table created in one copy shows in another")
	}
}

func rawPostgres(t *testing.T, url string) *sql.DB {
	t.Helper()
	db, err := sql.Open("pgx", url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = db.Close() })
	return db
}

func appliedMigrations(t *testing.T, db *sql.DB) int {
	t.Helper()
	var n int
	if err := db.QueryRowContext(context.Background(),
		"SELECT COUNT(*) FROM goose_db_version WHERE is_applied AND version_id > 0").Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// pgSchema lists the public schema's columns, indexes, constraints and the
// row count of every table, as sorted lines.
func pgSchema(t *testing.T, db *sql.DB) []string {
	t.Helper()
	ctx := context.Background()
	var out []string
	for _, q := range []string{
		`SELECT table_name || '.' || column_name || ' ' || data_type || ' ' || is_nullable || ' ' || COALESCE(column_default, '')
		   FROM information_schema.columns WHERE table_schema = 'public'`,
		`SELECT indexname || ' ' || indexdef FROM pg_indexes WHERE schemaname = 'public'`,
		`SELECT conrelid::regclass::text || ' ' || conname || ' ' || pg_get_constraintdef(oid)
		   FROM pg_constraint WHERE connamespace = 'public'::regnamespace`,
	} {
		rows, err := db.QueryContext(ctx, q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var s string
			if err := rows.Scan(&s); err != nil {
				t.Fatal(err)
			}
			out = append(out, s)
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		_ = rows.Close()
	}
	rows, err := db.QueryContext(ctx, "SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' AND table_type = 'BASE TABLE'")
	if err != nil {
		t.Fatal(err)
	}
	var tables []string
	for rows.Next() {
		var s string
		if err := rows.Scan(&s); err != nil {
			t.Fatal(err)
		}
		tables = append(tables, s)
	}
	_ = rows.Close()
	for _, tbl := range tables {
		if tbl == "goose_db_version" { // its tstamp column differs by run
			continue
		}
		var n int
		if err := db.QueryRowContext(ctx, `SELECT COUNT(*) FROM "`+strings.ReplaceAll(tbl, `"`, `""`)+`"`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		out = append(out, tbl+" rows "+strings.Repeat("#", min(n, 50)))
	}
	slices.Sort(out)
	return out
}
