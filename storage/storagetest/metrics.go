package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
	"github.com/identityd/identityd/storage"
)

// MetricsStore is the metrics side of the store (issue 11 §6): call
// latencies and pool statistics, lookup-cache hits and misses, the outbox
// and mail queue backlog, and the migration version behind the readiness
// check.
type MetricsStore interface {
	RawStore
	FixtureStore
	Ping(ctx context.Context) error
	Close() error
	AppendEvent(ctx context.Context, e *models.OutboxEvent) error
	EnqueueMail(ctx context.Context, m *models.OutboxMail) error
	EnableLookupCache(gen storage.Generation, size int) error
	CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error
	GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error)

	// ObserveCalls records every GORM call's latency in h under its
	// operation (create, query, update, delete, row, raw), and registers
	// the pool's statistics (go_sql_*) in reg.
	ObserveCalls(reg prometheus.Registerer, h *prometheus.HistogramVec) error
	// ObserveLookups tells observe of every lookup-cache read: the cache
	// (token_lookup or client_lookup) and whether it hit; without a lookup
	// cache it does nothing.
	ObserveLookups(observe func(cache string, hit bool))
	// OutboxBacklog counts the events not yet published and not yet
	// dispatched, and the queued mail, each with its oldest row's age.
	OutboxBacklog(ctx context.Context) (storage.Backlog, error)
	// NewBacklogCollector reports OutboxBacklog at scrape time; a failed
	// count leaves the gauges out and counts
	// identity_backlog_scrape_errors_total, never failing the scrape.
	NewBacklogCollector(timeout time.Duration) prometheus.Collector
	// MigrationStatus returns the database's migration version and the
	// newest embedded one; MigrationsApplied is nil only when they match.
	MigrationStatus(ctx context.Context) (current, newest int64, err error)
	MigrationsApplied(ctx context.Context) error
}

var _ = claim[MetricsStore]("RunMetricsSuite", "ObserveCalls", "ObserveLookups", "OutboxBacklog", "NewBacklogCollector",
	"MigrationStatus", "MigrationsApplied")

// RunMetricsSuite checks the store's metrics: the backlog and its collector
// (also once the database is gone), the call histogram and pool statistics,
// the lookup observer, and the migration status. open receives a fake clock
// in opts.
func RunMetricsSuite[S MetricsStore](t *testing.T, open func(t *testing.T, opts storage.Options) S) {
	t.Helper()
	plain := func(f func(*testing.T, MetricsStore)) func(*testing.T, clocked[MetricsStore]) {
		return func(t *testing.T, c clocked[MetricsStore]) { f(t, c.s) }
	}
	runSubTests(t, func(t *testing.T) clocked[MetricsStore] {
		clock := NewFakeClock(base)
		return clocked[MetricsStore]{open(t, storage.Options{Now: clock.Now, OutboxRelayed: true}), clock}
	}, []subTest[clocked[MetricsStore]]{
		{"OutboxBacklog", testMetricsOutboxBacklog},
		{"OutboxBacklogWithoutBroker", func(t *testing.T, _ clocked[MetricsStore]) {
			clock := NewFakeClock(base)
			testMetricsBacklogWithoutBroker(t, open(t, storage.Options{Now: clock.Now}), clock)
		}},
		{"ObserveCalls", plain(testMetricsObserveCalls)},
		{"ObserveLookups", plain(testMetricsObserveLookups)},
		{"MigrationStatus", plain(testMetricsMigrationStatus)},
	})
}

// testMetricsOutboxBacklog: the backlog counts the events not yet
// published and not yet dispatched, and queued mail, each with its oldest
// row's age; the collector reports it at scrape time, and leaves it out
// (counting the error) once the database is closed.
func testMetricsOutboxBacklog(t *testing.T, c clocked[MetricsStore]) {
	ctx := t.Context()
	s := c.s
	got, err := s.OutboxBacklog(ctx)
	must(t, err, "backlog of an empty outbox")
	wantEqual(t, got, storage.Backlog{}, "backlog of an empty outbox")

	for range 3 {
		must(t, s.AppendEvent(ctx, &models.OutboxEvent{ID: uuid.NewString(), Type: "identity.user.created", Source: "test", Data: "{}"}), "append")
		c.clock.Advance(10 * time.Second)
	}
	must(t, s.EnqueueMail(ctx, &models.OutboxMail{Sealed: []byte("x")}), "enqueue")
	c.clock.Advance(5 * time.Second)
	got, err = s.OutboxBacklog(ctx)
	must(t, err, "backlog")
	wantEqual(t, got, storage.Backlog{Unpublished: 3, OldestUnpublished: 35 * time.Second, Undispatched: 3,
		OldestUndispatched: 35 * time.Second, MailQueued: 1, OldestMail: 5 * time.Second}, "backlog of 3 events and 1 mail")

	db, err := s.SQLDB()
	must(t, err, "SQLDB")
	_, err = db.ExecContext(ctx, "UPDATE events SET published_at = created_at WHERE seq = (SELECT MIN(seq) FROM events)")
	must(t, err, "publish the first event")
	got, err = s.OutboxBacklog(ctx)
	must(t, err, "backlog after publishing one")
	wantEqual(t, got.Unpublished, int64(2), "unpublished after publishing one")
	wantEqual(t, got.OldestUnpublished, 25*time.Second, "oldest unpublished (now the second event)")
	wantEqual(t, got.Undispatched, int64(3), "undispatched after publishing one")

	// The collector reports the same at scrape time.
	reg := prometheus.NewPedanticRegistry()
	must(t, reg.Register(s.NewBacklogCollector(2*time.Second)), "register the backlog collector")
	wantEqual(t, gatherCount(t, reg, "identity_outbox_events", "identity_mail_queue_depth"), 3, "backlog series")

	// A closed database leaves the gauges out and counts the error; the
	// scrape itself succeeds.
	must(t, s.Close(), "close")
	mfs, err := reg.Gather()
	must(t, err, "gather from a closed store")
	for _, mf := range mfs {
		if mf.GetName() == "identity_outbox_events" {
			t.Fatal("a failed backlog count still reported identity_outbox_events")
		}
		if mf.GetName() == "identity_backlog_scrape_errors_total" {
			wantEqual(t, mf.GetMetric()[0].GetCounter().GetValue(), 1.0, "identity_backlog_scrape_errors_total")
		}
	}
}

// testMetricsObserveCalls: every GORM call lands in the histogram under its
// operation, and the pool statistics are registered.
func testMetricsObserveCalls(t *testing.T, s MetricsStore) {
	ctx := t.Context()
	reg := prometheus.NewPedanticRegistry()
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "calls_seconds", Help: "calls"}, []string{"operation"})
	reg.MustRegister(h)
	must(t, s.ObserveCalls(reg, h), "observe calls")
	must(t, s.Ping(ctx), "ping") // Raw(...).Scan: a row call
	must(t, s.AppendEvent(ctx, &models.OutboxEvent{ID: uuid.NewString(), Type: "t", Source: "s", Data: "{}"}), "append")
	_, err := s.OutboxBacklog(ctx)
	must(t, err, "backlog")
	count := func(op string) uint64 {
		t.Helper()
		mfs, err := reg.Gather()
		must(t, err, "gather")
		for _, mf := range mfs {
			if mf.GetName() != "calls_seconds" {
				continue
			}
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == op {
					return m.GetHistogram().GetSampleCount()
				}
			}
		}
		return 0
	}
	wantEqual(t, count("create"), uint64(1), "create calls")
	if n := count("row"); n < 1 {
		t.Fatalf("row calls = %d, want at least 1 (the ping)", n)
	}
	if n := count("query"); n < 2 {
		t.Fatalf("query calls = %d, want at least 2 (the backlog's counts and oldest rows)", n)
	}
	pools := 1 // PostgreSQL's pool; SQLite's writer and its read pool
	if s.Dialect() == storage.SQLite {
		pools = 2
	}
	wantEqual(t, gatherCount(t, reg, "go_sql_max_open_connections"), pools, "go_sql_max_open_connections series")
}

// testMetricsObserveLookups: without a lookup cache the observer is never
// told anything; with one it is told of every client and access-token read,
// a miss and then a hit.
func testMetricsObserveLookups(t *testing.T, s MetricsStore) {
	ctx := t.Context()
	seen := map[string]int{}
	record := func(cache string, hit bool) {
		if hit {
			seen[cache+" hit"]++
		} else {
			seen[cache+" miss"]++
		}
	}
	s.ObserveLookups(record)
	f := newFixture(t, s)
	_, err := s.GetClient(ctx, f.client.GetID())
	must(t, err, "get client without a lookup cache")
	wantEqual(t, len(seen), 0, "lookups observed without a lookup cache")

	must(t, s.EnableLookupCache(LookupGeneration(t, s), 100), "enable lookup cache")
	s.ObserveLookups(record)
	for range 2 {
		_, err := s.GetClient(ctx, f.client.GetID())
		must(t, err, "get client, cached")
	}
	wantEqual(t, seen["client_lookup miss"], 1, "client lookups that missed")
	wantEqual(t, seen["client_lookup hit"], 1, "client lookups that hit")

	at := key(t, "ory_at_")
	req := f.request("grant-a")
	must(t, s.CreateAccessTokenSession(ctx, at, req), "create access token")
	for range 2 {
		got, err := s.GetAccessTokenSession(ctx, at, oauth.NewSession())
		must(t, err, "get access token, cached")
		wantEqual(t, got.GetID(), req.ID, "request id")
	}
	wantEqual(t, seen["token_lookup miss"], 1, "token lookups that missed")
	wantEqual(t, seen["token_lookup hit"], 1, "token lookups that hit")
}

// testMetricsMigrationStatus: a migrated database is at the newest embedded
// migration and ready; one ahead (a newer binary migrated it) is ready too;
// one behind it is not.
func testMetricsMigrationStatus(t *testing.T, s MetricsStore) {
	ctx := t.Context()
	current, newest, err := s.MigrationStatus(ctx)
	must(t, err, "migration status")
	wantEqual(t, current, newest, "current migration of a migrated database")
	if newest < 20 {
		t.Fatalf("newest embedded migration = %d, want at least 20", newest)
	}
	must(t, s.MigrationsApplied(ctx), "migrations applied on a migrated database")
	db, err := s.SQLDB()
	must(t, err, "SQLDB")
	// A database ahead of the binary (a rolling upgrade: the pre-upgrade
	// Job migrated, the old pods still serve) stays ready, so the old pods
	// keep serving until the new ones are up; migrations stay
	// backward-compatible for that (docs/deploy.md).
	_, err = db.ExecContext(ctx, fmt.Sprintf("INSERT INTO goose_db_version (version_id, is_applied) VALUES (%d, TRUE)", newest+1))
	must(t, err, "record a newer migration")
	must(t, s.MigrationsApplied(ctx), "migrations applied on a database one migration ahead")
	_, err = db.ExecContext(ctx, fmt.Sprintf("DELETE FROM goose_db_version WHERE version_id = %d", newest+1))
	must(t, err, "forget the newer migration")
	_, err = db.ExecContext(ctx, "DELETE FROM goose_db_version WHERE version_id = (SELECT MAX(version_id) FROM goose_db_version)")
	must(t, err, "forget the newest migration")
	if err := s.MigrationsApplied(ctx); err == nil {
		t.Fatal("MigrationsApplied = nil on a database one migration behind")
	}
}

// gatherCount is how many series of the named metrics reg gathers.
func gatherCount(t *testing.T, reg *prometheus.Registry, names ...string) int {
	t.Helper()
	mfs, err := reg.Gather()
	must(t, err, "gather")
	n := 0
	for _, mf := range mfs {
		for _, name := range names {
			if mf.GetName() == name {
				n += len(mf.GetMetric())
			}
		}
	}
	return n
}

// testMetricsBacklogWithoutBroker: with no broker relaying the outbox
// (Options.OutboxRelayed false) nothing is ever published, so the backlog
// leaves the unpublished events out (zero, and no series) and still counts
// the undispatched ones.
func testMetricsBacklogWithoutBroker(t *testing.T, s MetricsStore, clock *FakeClock) {
	ctx := t.Context()
	for range 2 {
		must(t, s.AppendEvent(ctx, &models.OutboxEvent{ID: uuid.NewString(), Type: "identity.user.created", Source: "test", Data: "{}"}), "append")
		clock.Advance(10 * time.Second)
	}
	got, err := s.OutboxBacklog(ctx)
	must(t, err, "backlog")
	wantEqual(t, got, storage.Backlog{Undispatched: 2, OldestUndispatched: 20 * time.Second}, "backlog without a broker")
	reg := prometheus.NewPedanticRegistry()
	must(t, reg.Register(s.NewBacklogCollector(2*time.Second)), "register the backlog collector")
	wantEqual(t, gatherCount(t, reg, "identity_outbox_events"), 1, "outbox series without a broker (undispatched only)")
}
