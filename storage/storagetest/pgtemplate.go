package storagetest

import (
	"context"
	"crypto/sha256"
	"database/sql"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"sync"
	"testing"
	"time"

	_ "github.com/jackc/pgx/v5/stdlib" // database/sql driver "pgx" for the admin connections

	"github.com/identityd/identityd/migrations"
	"github.com/identityd/identityd/storage"
)

// The PostgreSQL side of Backends: a fresh database per test, copied with
// CREATE DATABASE … TEMPLATE from one database migrated once, instead of
// running every migration per test (about half a second each under the race
// detector, for hundreds of databases per package).
//
// The template is named after a hash of the PostgreSQL migrations, so every
// test process of every package built from the same migrations shares it and
// one with other migrations (another branch on the same server) gets its
// own. It is built under a PostgreSQL advisory lock, under a temporary name
// renamed only once the migrations succeeded, then closed to connections:
// nothing can change it, and CREATE DATABASE never meets another session on
// it. It is kept for the next run; identity_tpl_* databases may be dropped
// whenever no test runs. EmptyBackends and PostgresBackend still give an
// empty database, for the tests of the migrations themselves.

// pgTemplateScheme is part of the template's hash: bump it when the way the
// template is built changes.
const pgTemplateScheme = "identity-pg-template-1"

var pgTmpl struct {
	mu    sync.Mutex
	names map[string]string // admin URL -> template database name
}

// MigratedPostgresBackend creates a fresh database with every migration
// applied on the server named by IDENTITY_TEST_DATABASE_URL (a copy of the
// migrated template), and drops it when the test ends. It fails the test if
// the variable is unset or the server is unreachable.
func MigratedPostgresBackend(t testing.TB) Backend {
	t.Helper()
	admin := os.Getenv(EnvDatabaseURL)
	if admin == "" {
		t.Fatalf("%s is not set", EnvDatabaseURL)
	}
	tpl, err := postgresTemplate(admin)
	if err != nil {
		t.Fatalf("%s is set but the migrated template database cannot be made: %v", EnvDatabaseURL, err)
	}
	return newPostgresDatabase(t, admin, tpl)
}

// newPostgresDatabase creates identity_t_<random> (from template tpl when
// not empty) and drops it when the test ends.
func newPostgresDatabase(t testing.TB, admin, tpl string) Backend {
	t.Helper()
	db, err := sql.Open("pgx", admin)
	if err != nil {
		t.Fatalf("%s: %v", EnvDatabaseURL, err)
	}
	db.SetMaxIdleConns(1)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	name := "identity_t_" + randomHex(t, 8)
	stmt := "CREATE DATABASE " + name
	if tpl != "" {
		stmt += " TEMPLATE " + tpl
	}
	if err := createDatabase(ctx, db, stmt); err != nil {
		_ = db.Close()
		t.Fatalf("%s is set but a test database cannot be created: %v", EnvDatabaseURL, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, _ = db.ExecContext(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)")
		_ = db.Close()
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", EnvDatabaseURL, err)
	}
	u.Path = "/" + name
	return Backend{Name: "postgres", URL: u.String()}
}

// createDatabase runs a CREATE DATABASE statement, again while PostgreSQL
// reports the source database busy: a session on the template that is still
// going away (the one that built it, in this or another process).
func createDatabase(ctx context.Context, db *sql.DB, stmt string) error {
	for {
		_, err := db.ExecContext(ctx, stmt)
		if err == nil || !isObjectInUse(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// isObjectInUse reports SQLSTATE 55006 (object_in_use: "source database is
// being accessed by other users").
func isObjectInUse(err error) bool {
	var s interface{ SQLState() string }
	return errors.As(err, &s) && s.SQLState() == "55006"
}

// postgresTemplate returns the name of the migrated template database on the
// server at admin, building it when no process has yet.
func postgresTemplate(admin string) (string, error) {
	pgTmpl.mu.Lock()
	defer pgTmpl.mu.Unlock()
	if name, ok := pgTmpl.names[admin]; ok {
		return name, nil
	}
	sum, err := postgresMigrationsHash()
	if err != nil {
		return "", err
	}
	name := "identity_tpl_" + hex.EncodeToString(sum[:8])
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if err := ensurePostgresTemplate(ctx, admin, name, int64(binary.BigEndian.Uint64(sum[8:16]))); err != nil {
		return "", fmt.Errorf("template %s: %w", name, err)
	}
	if pgTmpl.names == nil {
		pgTmpl.names = map[string]string{}
	}
	pgTmpl.names[admin] = name
	return name, nil
}

// postgresMigrationsHash is the SHA-256 of the template scheme and every
// PostgreSQL migration file's name and content.
func postgresMigrationsHash() ([32]byte, error) {
	h := sha256.New()
	h.Write([]byte(pgTemplateScheme))
	err := fs.WalkDir(migrations.Postgres, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := fs.ReadFile(migrations.Postgres, path)
		if err != nil {
			return err
		}
		fmt.Fprintf(h, "\x00%s\x00%d\x00", path, len(b))
		h.Write(b)
		return nil
	})
	var sum [32]byte
	if err != nil {
		return sum, fmt.Errorf("hash the migrations: %w", err)
	}
	copy(sum[:], h.Sum(nil))
	return sum, nil
}

// ensurePostgresTemplate builds template name unless it exists, holding the
// session advisory lock key meanwhile so that concurrent test processes
// build it once (a process that dies releases the lock with its session).
func ensurePostgresTemplate(ctx context.Context, admin, name string, key int64) (err error) {
	db, err := sql.Open("pgx", admin)
	if err != nil {
		return err
	}
	defer db.Close()
	conn, err := db.Conn(ctx)
	if err != nil {
		return err
	}
	defer conn.Close()
	if _, err := conn.ExecContext(ctx, "SELECT pg_advisory_lock($1)", key); err != nil {
		return fmt.Errorf("lock: %w", err)
	}
	defer func() {
		if _, uerr := conn.ExecContext(context.Background(), "SELECT pg_advisory_unlock($1)", key); uerr != nil && err == nil {
			err = fmt.Errorf("unlock: %w", uerr)
		}
	}()
	var exists bool
	if err := conn.QueryRowContext(ctx, "SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)", name).Scan(&exists); err != nil {
		return err
	}
	if exists {
		return nil
	}
	// A build left half done by a process that died: nobody else builds
	// under this name while we hold the lock.
	build := name + "_build"
	if _, err := conn.ExecContext(ctx, "DROP DATABASE IF EXISTS "+build+" WITH (FORCE)"); err != nil {
		return err
	}
	if _, err := conn.ExecContext(ctx, "CREATE DATABASE "+build); err != nil {
		return err
	}
	if err := migrateDatabase(ctx, admin, build); err != nil {
		_, _ = conn.ExecContext(context.Background(), "DROP DATABASE IF EXISTS "+build+" WITH (FORCE)")
		return err
	}
	// Closed to connections first, then renamed once the migration's own
	// sessions are gone (RENAME refuses while any is connected).
	if _, err := conn.ExecContext(ctx, "ALTER DATABASE "+build+" WITH ALLOW_CONNECTIONS false"); err != nil {
		return err
	}
	for {
		_, err := conn.ExecContext(ctx, "ALTER DATABASE "+build+" RENAME TO "+name)
		if err == nil {
			return nil
		}
		if !isObjectInUse(err) {
			return err
		}
		select {
		case <-ctx.Done():
			return err
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// migrateDatabase applies every migration to database name, as a test's own
// Migrate would.
func migrateDatabase(ctx context.Context, admin, name string) error {
	u, err := url.Parse(admin)
	if err != nil {
		return err
	}
	u.Path = "/" + name
	st, err := storage.Open(ctx, storage.Options{DatabaseURL: u.String()})
	if err != nil {
		return err
	}
	err = st.Migrate(ctx)
	if cerr := st.Close(); err == nil {
		err = cerr
	}
	return err
}
