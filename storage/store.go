package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/glebarez/sqlite"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	"gorm.io/driver/postgres"
	"gorm.io/gorm"
	"gorm.io/gorm/logger"
	"gorm.io/plugin/dbresolver"

	"github.com/identityd/identityd/migrations"
)

// Dialect names the SQL database behind a Store.
type Dialect string

// The supported dialects.
const (
	Postgres Dialect = "postgres"
	SQLite   Dialect = "sqlite"
)

// Options configure Open.
type Options struct {
	// DatabaseURL is postgres://… or sqlite:PATH (sqlite:///abs/path also works).
	DatabaseURL string
	// RefreshGracePeriod lets a rotated refresh token be used again for this long;
	// 0 means strict rotation. Capped at MaxRefreshGracePeriod.
	RefreshGracePeriod time.Duration
	// MaxOpenConns sizes the PostgreSQL pool (0: 20).
	MaxOpenConns int
	// SQLiteReadConns sizes the SQLite read pool (0: DefaultSQLiteReadConns;
	// negative: none, every statement on the one writer connection). An
	// in-memory database never has one: each connection would be a
	// database of its own.
	SQLiteReadConns int
	// QueryTimeout is the deadline of every PostgreSQL statement and of
	// BEGIN/COMMIT/ROLLBACK, the wait for a pooled connection included
	// (0: 5s; negative: none).
	QueryTimeout time.Duration
	Logger       *slog.Logger
	// Now is the clock; nil means time.Now.
	Now func() time.Time
	// OutboxRelayed says a broker relays the outbox (RABBITMQ_URL): only
	// then does OutboxBacklog count the events not yet published (without
	// one, every event stays unpublished until pruned, and counting them
	// would be a growing scan for a number that means nothing).
	OutboxRelayed bool
}

// MaxRefreshGracePeriod is the longest refresh-token grace period allowed.
const MaxRefreshGracePeriod = 5 * time.Minute

// DefaultSQLiteReadConns is the size of the SQLite read pool when
// Options.SQLiteReadConns is 0.
const DefaultSQLiteReadConns = 4

// Store is the one GORM-backed store: it implements every fosite storage
// interface the composed handlers use, and the repository of every
// aggregate, one file each (doc.go lists them).
type Store struct {
	// OnRefreshReuse, when set, is told of every detected refresh-token reuse
	// (a rotated token presented after its grace period); fosite then revokes
	// the grant. The audit log hooks in here.
	OnRefreshReuse func(ctx context.Context, tenantID, subject, clientID, requestID string)

	gdb *gorm.DB
	dsn string // the PostgreSQL URL, for the lookup cache's listener
	// reader is SQLite's read pool (nil on PostgreSQL and without one):
	// statements outside a transaction that only read are routed to it
	// (dbresolver), everything else runs on gdb's one connection.
	reader  *sql.DB
	cache   *lookupCache
	relayed bool
	dialect Dialect
	grace   time.Duration
	timeout time.Duration
	log     *slog.Logger
	now     func() time.Time
}

// Open connects to the database named by opts.DatabaseURL. It does not
// migrate: call Migrate.
func Open(ctx context.Context, opts Options) (*Store, error) {
	if opts.RefreshGracePeriod < 0 || opts.RefreshGracePeriod > MaxRefreshGracePeriod {
		return nil, fmt.Errorf("open store: refresh grace period %s is outside 0..%s", opts.RefreshGracePeriod, MaxRefreshGracePeriod)
	}
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	s := &Store{grace: opts.RefreshGracePeriod, log: opts.Logger, relayed: opts.OutboxRelayed, now: func() time.Time { return opts.Now().UTC() }}
	cfg := &gorm.Config{
		TranslateError:         true,
		Logger:                 logger.Discard,
		NowFunc:                s.now,
		SkipDefaultTransaction: true,
	}
	var err error
	switch {
	case strings.HasPrefix(opts.DatabaseURL, "postgres://"), strings.HasPrefix(opts.DatabaseURL, "postgresql://"):
		s.dialect = Postgres
		s.dsn = opts.DatabaseURL
		s.gdb, err = gorm.Open(postgres.Open(opts.DatabaseURL), cfg)
		if err != nil {
			return nil, fmt.Errorf("open postgres: %s", redactURL(err.Error(), opts.DatabaseURL))
		}
		sqlDB, err := s.gdb.DB()
		if err != nil {
			return nil, fmt.Errorf("open postgres: %w", err)
		}
		n := opts.MaxOpenConns
		if n <= 0 {
			n = 20
		}
		sqlDB.SetMaxOpenConns(n)
		sqlDB.SetMaxIdleConns(n)
		sqlDB.SetConnMaxIdleTime(5 * time.Minute)
		s.timeout = opts.QueryTimeout
		if s.timeout == 0 {
			s.timeout = 5 * time.Second
		}
		if s.timeout > 0 {
			if err := s.registerDeadlines(); err != nil {
				return nil, fmt.Errorf("open postgres: %w", err)
			}
		}
	case strings.HasPrefix(opts.DatabaseURL, "sqlite:"):
		s.dialect = SQLite
		path := strings.TrimPrefix(strings.TrimPrefix(opts.DatabaseURL, "sqlite:"), "//")
		if path == "" {
			return nil, errors.New("open sqlite: DATABASE_URL names no file")
		}
		if dir := filepath.Dir(path); dir != "." {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return nil, fmt.Errorf("open sqlite: create %s: %w", dir, err)
			}
		}
		if err := s.openSQLite(path, opts.SQLiteReadConns, cfg); err != nil {
			return nil, err
		}
	default:
		return nil, errors.New("open store: DATABASE_URL must start with postgres:// or sqlite:")
	}
	if err := s.registerUnavailable(); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	if err := s.Ping(ctx); err != nil {
		_ = s.Close()
		return nil, err
	}
	return s, nil
}

// openSQLite opens the SQLite file at path: one writer connection (SQLite
// has one writer; BEGIN IMMEDIATE takes its lock at the start, and the busy
// timeout covers a second process on the same file) and, unless the
// database is in memory or reads is negative, a pool of query-only
// connections for the reads made outside a transaction. WAL lets those run
// beside the writer, each on the last committed state; a read inside a
// transaction stays on the writer and sees the transaction's own writes.
func (s *Store) openSQLite(path string, reads int, cfg *gorm.Config) error {
	dsn := "file:" + path + "?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)&_pragma=foreign_keys(1)&_pragma=synchronous(NORMAL)&_txlock=immediate"
	var err error
	s.gdb, err = gorm.Open(sqlite.Open(dsn), cfg)
	if err != nil {
		return fmt.Errorf("open sqlite %s: %w", path, err)
	}
	writer, err := s.gdb.DB()
	if err != nil {
		return fmt.Errorf("open sqlite: %w", err)
	}
	writer.SetMaxOpenConns(1)
	if reads == 0 {
		reads = DefaultSQLiteReadConns
	}
	if path == ":memory:" || reads < 0 {
		return nil
	}
	// query_only makes a statement routed here by mistake fail instead of
	// writing past the writer; _txlock=deferred, because no transaction
	// runs here (BeginTX and InTx use the writer).
	s.reader, err = sql.Open(sqlite.DriverName, "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=query_only(1)&_txlock=deferred")
	if err == nil {
		s.reader.SetMaxOpenConns(reads)
		s.reader.SetMaxIdleConns(reads)
		err = s.gdb.Use(dbresolver.Register(dbresolver.Config{Replicas: []gorm.Dialector{sqlite.Dialector{Conn: s.reader}}}))
	}
	if err != nil {
		if s.reader != nil {
			_ = s.reader.Close()
		}
		_ = writer.Close()
		return fmt.Errorf("open sqlite read pool: %w", err)
	}
	return nil
}

// redactURL removes a connection string (and so its password) from a message.
func redactURL(msg, dsn string) string {
	if u, err := url.Parse(dsn); err == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			msg = strings.ReplaceAll(msg, p, "[redacted]")
		}
	}
	return msg
}

// Dialect reports which database the store talks to.
func (s *Store) Dialect() Dialect { return s.dialect }

// Ping runs SELECT 1.
func (s *Store) Ping(ctx context.Context) error {
	var one int
	if err := s.db(ctx).Raw("SELECT 1").Scan(&one).Error; err != nil {
		return fmt.Errorf("ping %s: %w", s.dialect, repoErr(err, "database"))
	}
	return nil
}

// Close closes the connection pools (and stops retrying a pending cache
// invalidation). SQLite's read pool closes first, so the writer is the last
// connection and checkpoints the WAL into the database file.
func (s *Store) Close() error {
	s.stopPendingBump()
	var rerr error
	if s.reader != nil {
		if err := s.reader.Close(); err != nil {
			rerr = fmt.Errorf("close store: read pool: %w", err)
		}
	}
	sqlDB, err := s.gdb.DB()
	if err != nil {
		return errors.Join(rerr, fmt.Errorf("close store: %w", err))
	}
	return errors.Join(rerr, sqlDB.Close())
}

// SQLDB exposes the pool for tooling (migrations, tests that read raw
// tables); on SQLite it is the writer's one connection.
func (s *Store) SQLDB() (*sql.DB, error) { return s.gdb.DB() }

// Migrate applies every pending migration, each inside a transaction. On
// PostgreSQL a session advisory lock keeps concurrent starts from racing.
func (s *Store) Migrate(ctx context.Context) error {
	sqlDB, err := s.gdb.DB()
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	var (
		fsys    fs.FS
		dialect goose.Dialect
		opts    []goose.ProviderOption
	)
	switch s.dialect {
	case Postgres:
		fsys, err = fs.Sub(migrations.Postgres, "postgres")
		dialect = goose.DialectPostgres
		locker, lerr := lock.NewPostgresSessionLocker()
		if lerr != nil {
			return fmt.Errorf("migrate: lock: %w", lerr)
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	default:
		fsys, err = fs.Sub(migrations.SQLite, "sqlite")
		dialect = goose.DialectSQLite3
	}
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	p, err := goose.NewProvider(dialect, sqlDB, fsys, opts...)
	if err != nil {
		return fmt.Errorf("migrate: %w", err)
	}
	results, err := p.Up(ctx)
	if err != nil {
		return fmt.Errorf("migrate %s: %w", s.dialect, err)
	}
	for _, r := range results {
		s.log.InfoContext(ctx, "migration applied", "version", r.Source.Version, "dialect", string(s.dialect), "duration_ms", r.Duration.Milliseconds())
	}
	return nil
}
