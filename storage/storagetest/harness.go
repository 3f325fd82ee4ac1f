package storagetest

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"

	"github.com/identityd/identityd/storage"
)

// Backend is one database a test runs against.
type Backend struct {
	Name string // "sqlite" or "postgres"
	URL  string // a fresh, empty database
}

// EnvDatabaseURL and EnvRedisURL name the variables that turn on the
// PostgreSQL and Redis runs.
const (
	EnvDatabaseURL = "IDENTITY_TEST_DATABASE_URL"
	EnvRedisURL    = "IDENTITY_TEST_REDIS_URL"
)

// Backends returns SQLite and, when configured, PostgreSQL. Each call makes
// fresh databases with every migration applied (Migrate on them finds
// nothing to do), dropped when the test ends.
func Backends(t testing.TB) []Backend {
	t.Helper()
	out := []Backend{SQLiteBackend(t)}
	if os.Getenv(EnvDatabaseURL) != "" {
		out = append(out, MigratedPostgresBackend(t))
	}
	return out
}

// SQLiteBackend returns a fresh SQLite database file in a temp dir, with
// every migration already applied: a copy of one database migrated once per
// test process (Migrate on it then finds nothing to do). Applying the
// migrations costs about a second per database under the race detector,
// and the suites open hundreds.
func SQLiteBackend(t testing.TB) Backend {
	t.Helper()
	tmpl, err := sqliteTemplate()
	if err != nil {
		t.Fatalf("sqlite template: %v", err)
	}
	path := filepath.Join(t.TempDir(), "identity.db")
	if err := os.WriteFile(path, tmpl, 0o600); err != nil {
		t.Fatalf("sqlite template: %v", err)
	}
	return Backend{Name: "sqlite", URL: "sqlite:" + path}
}

// EmptySQLiteBackend returns a fresh SQLite database file with no tables,
// for the tests of the migrations themselves.
func EmptySQLiteBackend(t testing.TB) Backend {
	t.Helper()
	return Backend{Name: "sqlite", URL: "sqlite:" + filepath.Join(t.TempDir(), "identity.db")}
}

// EmptyBackends is Backends with databases that have no tables yet (on
// PostgreSQL every fresh database is empty).
func EmptyBackends(t testing.TB) []Backend {
	t.Helper()
	out := []Backend{EmptySQLiteBackend(t)}
	if os.Getenv(EnvDatabaseURL) != "" {
		out = append(out, PostgresBackend(t))
	}
	return out
}

var sqliteTmpl struct {
	once sync.Once
	db   []byte
	err  error
}

// sqliteTemplate is the bytes of a freshly migrated SQLite database, made
// once per process in a directory removed straight after.
func sqliteTemplate() ([]byte, error) {
	sqliteTmpl.once.Do(func() {
		dir, err := os.MkdirTemp("", "identity-sqlite-template-")
		if err != nil {
			sqliteTmpl.err = err
			return
		}
		defer os.RemoveAll(dir)
		path := filepath.Join(dir, "identity.db")
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		st, err := storage.Open(ctx, storage.Options{DatabaseURL: "sqlite:" + path})
		if err != nil {
			sqliteTmpl.err = err
			return
		}
		err = st.Migrate(ctx)
		if cerr := st.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			sqliteTmpl.err = err
			return
		}
		// Closing the last connection checkpoints the WAL into the file.
		if _, err := os.Stat(path + "-wal"); err == nil {
			sqliteTmpl.err = fmt.Errorf("the template's WAL was not checkpointed on close")
			return
		}
		sqliteTmpl.db, sqliteTmpl.err = os.ReadFile(path)
	})
	return sqliteTmpl.db, sqliteTmpl.err
}

// PostgresBackend creates a fresh database on the server named by
// IDENTITY_TEST_DATABASE_URL and drops it when the test ends. It fails the
// test if the variable is unset or the server is unreachable.
func PostgresBackend(t testing.TB) Backend {
	t.Helper()
	admin := os.Getenv(EnvDatabaseURL)
	if admin == "" {
		t.Fatalf("%s is not set", EnvDatabaseURL)
	}
	db, err := gorm.Open(postgres.Open(admin), &gorm.Config{Logger: logger.Discard})
	if err != nil {
		t.Fatalf("%s is set but PostgreSQL is unreachable: %v", EnvDatabaseURL, err)
	}
	sqlDB, err := db.DB()
	if err != nil {
		t.Fatalf("postgres: %v", err)
	}
	name := "identity_t_" + randomHex(t, 8)
	if err := db.Exec("CREATE DATABASE " + name).Error; err != nil {
		_ = sqlDB.Close()
		t.Fatalf("%s is set but a test database cannot be created: %v", EnvDatabaseURL, err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = db.WithContext(ctx).Exec("DROP DATABASE IF EXISTS " + name + " WITH (FORCE)").Error
		_ = sqlDB.Close()
	})
	u, err := url.Parse(admin)
	if err != nil {
		t.Fatalf("%s: %v", EnvDatabaseURL, err)
	}
	u.Path = "/" + name
	return Backend{Name: "postgres", URL: u.String()}
}

// RedisURL returns IDENTITY_TEST_REDIS_URL, or "" when unset; when set, the
// server must answer or the test fails.
func RedisURL(t testing.TB) string {
	t.Helper()
	u := os.Getenv(EnvRedisURL)
	if u == "" {
		return ""
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatalf("%s: %v", EnvRedisURL, err)
	}
	c := redis.NewClient(opts)
	defer c.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("%s is set but Redis is unreachable: %v", EnvRedisURL, err)
	}
	return u
}

// Caches returns the in-process cache and, when configured, a Redis cache
// under a key prefix of its own.
func Caches(t testing.TB) map[string]storage.Cache {
	t.Helper()
	out := map[string]storage.Cache{"memory": storage.NewMemoryCache()}
	if u := RedisURL(t); u != "" {
		c, err := storage.NewRedisCache(context.Background(), u)
		if err != nil {
			t.Fatalf("redis cache: %v", err)
		}
		c.SetPrefix("identity-test:" + randomHex(t, 6) + ":")
		t.Cleanup(func() { _ = c.Close() })
		out["redis"] = c
	}
	return out
}

// ListenStore is a store whose lookup cache can hear other instances'
// invalidations through its database.
type ListenStore interface {
	Dialect() storage.Dialect
	ListenGeneration(ctx context.Context, opts storage.ListenOptions) (*storage.ListenGeneration, error)
}

// LookupGeneration returns a lookup-cache generation for a test of s: on
// PostgreSQL the LISTEN/NOTIFY one, on a channel of the test's own (so
// parallel tests on one database do not invalidate each other's caches),
// else the in-process counter.
func LookupGeneration(t testing.TB, s any) storage.Generation {
	t.Helper()
	return LookupGenerationOn(t, s, "identity_test_"+randomHex(t, 6))
}

// LookupGenerationOn is LookupGeneration on a given channel: stores of one
// test that must hear each other's invalidations share it.
func LookupGenerationOn(t testing.TB, s any, channel string) storage.Generation {
	t.Helper()
	ls, ok := s.(ListenStore)
	if !ok || ls.Dialect() != storage.Postgres {
		return &storage.MemoryGeneration{}
	}
	g, err := ls.ListenGeneration(context.Background(), storage.ListenOptions{Channel: channel})
	if err != nil {
		t.Fatalf("listen generation: %v", err)
	}
	t.Cleanup(func() { _ = g.Close() })
	return g
}

// OpenStore opens and migrates a Store on b.
func OpenStore(t testing.TB, b Backend, opts storage.Options) *storage.Store {
	t.Helper()
	opts.DatabaseURL = b.URL
	ctx := context.Background()
	s, err := storage.Open(ctx, opts)
	if err != nil {
		t.Fatalf("open %s: %v", b.Name, err)
	}
	t.Cleanup(func() { _ = s.Close() })
	if err := s.Migrate(ctx); err != nil {
		t.Fatalf("migrate %s: %v", b.Name, err)
	}
	return s
}

func randomHex(t testing.TB, n int) string {
	t.Helper()
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		t.Fatalf("random: %v", err)
	}
	return hex.EncodeToString(b)
}

// OpenFunc returns a fresh, migrated, empty store opened with opts
// (DatabaseURL is the caller's business). The grace suite uses it to set the
// grace period and a fake clock.
type OpenFunc func(t *testing.T, opts storage.Options) *storage.Store

// FakeClock is a settable clock for storage.Options.Now.
type FakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewFakeClock returns a clock stopped at start.
func NewFakeClock(start time.Time) *FakeClock { return &FakeClock{now: start} }

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}
