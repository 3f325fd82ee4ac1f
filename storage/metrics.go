package storage

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"time"

	"github.com/pressly/goose/v3"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/identityd/identityd/migrations"
)

// The metrics side of the store (issue 11 §6): call latencies, pool
// statistics, the outbox and mail queue backlog, and the lookup cache's
// hits and misses. Every label value comes from a fixed list (an
// operation, a command name, a cache name).

const metricsStartKey = "identity:metrics_start"

// ObserveCalls records every GORM call's latency by operation (create,
// query, update, delete, row, raw) in h, and registers the connection
// pool's statistics (go_sql_* with db_name="identity"; SQLite's read pool
// as db_name="identity_read") in reg.
func (s *Store) ObserveCalls(reg prometheus.Registerer, h *prometheus.HistogramVec) error {
	sqlDB, err := s.gdb.DB()
	if err != nil {
		return fmt.Errorf("metrics: %w", err)
	}
	if err := reg.Register(collectors.NewDBStatsCollector(sqlDB, "identity")); err != nil {
		return fmt.Errorf("metrics: db stats: %w", err)
	}
	if s.reader != nil {
		if err := reg.Register(collectors.NewDBStatsCollector(s.reader, "identity_read")); err != nil {
			return fmt.Errorf("metrics: read pool stats: %w", err)
		}
	}
	before := func(db *gorm.DB) { db.InstanceSet(metricsStartKey, time.Now()) }
	after := func(op string) func(db *gorm.DB) {
		o := h.WithLabelValues(op)
		return func(db *gorm.DB) {
			if v, ok := db.InstanceGet(metricsStartKey); ok {
				if t, ok := v.(time.Time); ok {
					o.Observe(time.Since(t).Seconds())
				}
			}
		}
	}
	cb := s.gdb.Callback()
	return errors.Join(
		cb.Create().Before("*").Register("identity:metrics", before),
		cb.Query().Before("*").Register("identity:metrics", before),
		cb.Update().Before("*").Register("identity:metrics", before),
		cb.Delete().Before("*").Register("identity:metrics", before),
		cb.Row().Before("*").Register("identity:metrics", before),
		cb.Raw().Before("*").Register("identity:metrics", before),
		cb.Create().After("*").Register("identity:metrics_end", after("create")),
		cb.Query().After("*").Register("identity:metrics_end", after("query")),
		cb.Update().After("*").Register("identity:metrics_end", after("update")),
		cb.Delete().After("*").Register("identity:metrics_end", after("delete")),
		cb.Row().After("*").Register("identity:metrics_end", after("row")),
		cb.Raw().After("*").Register("identity:metrics_end", after("raw")),
	)
}

// ObserveLookups tells observe of every lookup-cache read: the cache
// ("token_lookup" or "client_lookup") and whether it hit. Call it before
// serving; without a lookup cache it does nothing.
func (s *Store) ObserveLookups(observe func(cache string, hit bool)) {
	if s.cache != nil {
		s.cache.observe = observe
	}
}

// lookedUp reports one lookup-cache read to the observer, if any.
func (c *lookupCache) lookedUp(cache string, hit bool) {
	if c.observe != nil {
		c.observe(cache, hit)
	}
}

// Backlog is what waits in the outboxes: events not yet confirmed by the
// broker (meaningful only when a broker is configured) and not yet fanned
// out to webhooks, with the age of the oldest of each, and queued e-mail.
type Backlog struct {
	Unpublished        int64
	OldestUnpublished  time.Duration
	Undispatched       int64
	OldestUndispatched time.Duration
	MailQueued         int64
	OldestMail         time.Duration
}

// OutboxBacklog counts the outbox backlog: a count and the oldest row of
// each, through the outbox's partial indexes. Unpublished events are
// counted only when a broker relays the outbox (Options.OutboxRelayed).
func (s *Store) OutboxBacklog(ctx context.Context) (Backlog, error) {
	var b Backlog
	now := s.now()
	db := s.db(ctx)
	measure := func(table, where, order string) (int64, time.Duration, error) {
		var n int64
		q := db.Table(table)
		if where != "" {
			q = q.Where(where)
		}
		if err := q.Count(&n).Error; err != nil || n == 0 {
			return n, 0, err
		}
		var oldest []struct{ CreatedAt time.Time }
		q = db.Table(table).Select("created_at")
		if where != "" {
			q = q.Where(where)
		}
		if err := q.Order(order).Limit(1).Find(&oldest).Error; err != nil {
			return n, 0, err
		}
		if len(oldest) == 0 {
			return n, 0, nil
		}
		return n, max(now.Sub(oldest[0].CreatedAt), 0), nil
	}
	var err error
	if s.relayed {
		if b.Unpublished, b.OldestUnpublished, err = measure("events", "published_at IS NULL", "seq"); err != nil {
			return b, fmt.Errorf("outbox backlog: %w", repoErr(err, "event"))
		}
	}
	if b.Undispatched, b.OldestUndispatched, err = measure("events", "dispatched_at IS NULL", "seq"); err != nil {
		return b, fmt.Errorf("outbox backlog: %w", repoErr(err, "event"))
	}
	if b.MailQueued, b.OldestMail, err = measure("mail_outbox", "", "created_at"); err != nil {
		return b, fmt.Errorf("mail backlog: %w", repoErr(err, "mail"))
	}
	return b, nil
}

// backlogCollector reports the outbox backlog at scrape time, under a short
// deadline. A failed count leaves the gauges out of that scrape (and is
// logged): it never fails the scrape.
type backlogCollector struct {
	s       *Store
	timeout time.Duration
	descs   [6]*prometheus.Desc
	errors  prometheus.Counter
}

// NewBacklogCollector returns the collector of the outbox and mail queue
// backlog: identity_outbox_events{state="unpublished|undispatched"},
// identity_outbox_oldest_event_age_seconds{state}, identity_mail_queue_depth,
// identity_mail_queue_oldest_age_seconds, and
// identity_backlog_scrape_errors_total.
func (s *Store) NewBacklogCollector(timeout time.Duration) prometheus.Collector {
	state := []string{"state"}
	return &backlogCollector{s: s, timeout: timeout, descs: [6]*prometheus.Desc{
		prometheus.NewDesc("identity_outbox_events", "Outbox events waiting, by state: unpublished (not yet confirmed by the broker; reported only with a broker configured) and undispatched (not yet fanned out to webhooks).", state, nil),
		prometheus.NewDesc("identity_outbox_oldest_event_age_seconds", "Age of the oldest waiting outbox event, by state (0 when none waits).", state, nil),
		prometheus.NewDesc("identity_mail_queue_depth", "E-mail messages in the mail queue (mail_outbox rows).", nil, nil),
		prometheus.NewDesc("identity_mail_queue_oldest_age_seconds", "Age of the oldest queued e-mail message (0 when none).", nil, nil),
	}, errors: prometheus.NewCounter(prometheus.CounterOpts{Name: "identity_backlog_scrape_errors_total",
		Help: "Scrapes whose outbox backlog count failed or timed out (the backlog gauges are then left out)."})}
}

func (c *backlogCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		if d != nil {
			ch <- d
		}
	}
	c.errors.Describe(ch)
}

func (c *backlogCollector) Collect(ch chan<- prometheus.Metric) {
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	b, err := c.s.OutboxBacklog(ctx)
	if err != nil {
		c.errors.Inc()
		c.s.log.WarnContext(ctx, "metrics: outbox backlog", "err", err)
	} else {
		g := prometheus.GaugeValue
		if c.s.relayed { // without a broker nothing is ever published
			ch <- prometheus.MustNewConstMetric(c.descs[0], g, float64(b.Unpublished), "unpublished")
			ch <- prometheus.MustNewConstMetric(c.descs[1], g, b.OldestUnpublished.Seconds(), "unpublished")
		}
		ch <- prometheus.MustNewConstMetric(c.descs[0], g, float64(b.Undispatched), "undispatched")
		ch <- prometheus.MustNewConstMetric(c.descs[1], g, b.OldestUndispatched.Seconds(), "undispatched")
		ch <- prometheus.MustNewConstMetric(c.descs[2], g, float64(b.MailQueued))
		ch <- prometheus.MustNewConstMetric(c.descs[3], g, b.OldestMail.Seconds())
	}
	c.errors.Collect(ch)
}

// MigrationStatus returns the database's migration version and the newest
// embedded one; they are equal once every migration is applied. It takes
// no lock, so it never waits behind a migration in progress.
func (s *Store) MigrationStatus(ctx context.Context) (current, newest int64, err error) {
	p, err := s.newStatusProvider()
	if err != nil {
		return 0, 0, err
	}
	current, newest, err = p.GetVersions(ctx)
	if err != nil {
		return current, newest, fmt.Errorf("migration status: %w", repoErr(err, "database"))
	}
	return current, newest, nil
}

// newStatusProvider is a goose provider over the embedded migrations of the
// store's dialect, without a session lock.
func (s *Store) newStatusProvider() (*goose.Provider, error) {
	sqlDB, err := s.gdb.DB()
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	var (
		fsys    fs.FS
		dialect goose.Dialect
	)
	if s.dialect == Postgres {
		fsys, err = fs.Sub(migrations.Postgres, "postgres")
		dialect = goose.DialectPostgres
	} else {
		fsys, err = fs.Sub(migrations.SQLite, "sqlite")
		dialect = goose.DialectSQLite3
	}
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	p, err := goose.NewProvider(dialect, sqlDB, fsys)
	if err != nil {
		return nil, fmt.Errorf("migration status: %w", err)
	}
	return p, nil
}

// MigrationsApplied is the readiness check: nil when the database has
// every embedded migration. A database ahead of this binary (a newer
// release's pre-upgrade migration, during a rolling upgrade) is ready:
// migrations are kept backward-compatible for one release, so the old
// pods serve until the new ones are up (docs/deploy.md).
func (s *Store) MigrationsApplied(ctx context.Context) error {
	current, newest, err := s.MigrationStatus(ctx)
	if err != nil {
		return err
	}
	if current < newest {
		return fmt.Errorf("database at migration %d, this binary needs %d", current, newest)
	}
	return nil
}

// ObserveCommands records every Redis command's latency by command name
// (a pipeline as "pipeline") in h, and registers the client's pool
// statistics in reg.
func (c *RedisCache) ObserveCommands(reg prometheus.Registerer, h *prometheus.HistogramVec) error {
	if err := reg.Register(&redisPoolCollector{rdb: c.rdb, descs: redisPoolDescs()}); err != nil {
		return fmt.Errorf("metrics: redis pool: %w", err)
	}
	c.rdb.AddHook(redisTimer{h: h})
	return nil
}

type redisTimer struct{ h *prometheus.HistogramVec }

func (redisTimer) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r redisTimer) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmd)
		r.h.WithLabelValues(redisCommand(cmd.Name())).Observe(time.Since(start).Seconds())
		return err
	}
}

func (r redisTimer) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		start := time.Now()
		err := next(ctx, cmds)
		r.h.WithLabelValues("pipeline").Observe(time.Since(start).Seconds())
		return err
	}
}

// redisCommand bounds a command name: the commands the code sends are a
// short list, and anything odd is "other".
func redisCommand(name string) string {
	if len(name) == 0 || len(name) > 16 {
		return "other"
	}
	for _, r := range name {
		if (r < 'a' || r > 'z') && r != '_' {
			return "other"
		}
	}
	return name
}

type redisPoolCollector struct {
	rdb   *redis.Client
	descs [6]*prometheus.Desc
}

func redisPoolDescs() [6]*prometheus.Desc {
	d := func(name, help string) *prometheus.Desc { return prometheus.NewDesc(name, help, nil, nil) }
	return [6]*prometheus.Desc{
		d("identity_redis_pool_hits_total", "Times a free connection was found in the Redis pool."),
		d("identity_redis_pool_misses_total", "Times no free connection was found in the Redis pool."),
		d("identity_redis_pool_timeouts_total", "Times a wait for a Redis pool connection timed out."),
		d("identity_redis_pool_connections", "Connections in the Redis pool."),
		d("identity_redis_pool_idle_connections", "Idle connections in the Redis pool."),
		d("identity_redis_pool_stale_connections_total", "Stale connections removed from the Redis pool."),
	}
}

func (c *redisPoolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range c.descs {
		ch <- d
	}
}

func (c *redisPoolCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.rdb.PoolStats()
	ch <- prometheus.MustNewConstMetric(c.descs[0], prometheus.CounterValue, float64(st.Hits))
	ch <- prometheus.MustNewConstMetric(c.descs[1], prometheus.CounterValue, float64(st.Misses))
	ch <- prometheus.MustNewConstMetric(c.descs[2], prometheus.CounterValue, float64(st.Timeouts))
	ch <- prometheus.MustNewConstMetric(c.descs[3], prometheus.GaugeValue, float64(st.TotalConns))
	ch <- prometheus.MustNewConstMetric(c.descs[4], prometheus.GaugeValue, float64(st.IdleConns))
	ch <- prometheus.MustNewConstMetric(c.descs[5], prometheus.CounterValue, float64(st.StaleConns))
}
