package storage

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
)

// ListenGeneration is the lookup cache's Generation when several instances
// share one PostgreSQL database: the invalidation channel is the database
// itself (LISTEN/NOTIFY), not a second service.
//
// Each instance holds its generations in memory, so a lookup reads them
// without a round trip. A bump increments them at once on this instance and
// sends a NOTIFY on the channel (the payload names the instance, and
// TokenLookups adds " t"); every other instance's listener, one dedicated
// connection, increments its own on receipt: the token generation alone
// for " t", both for anything else. An entry is stamped
// with the generation read before its row was, so a notification that
// arrives while a row is being read still makes that entry stale. PostgreSQL
// delivers a notification to every session listening when it is sent, in
// order, so while the listener is connected none is lost.
//
// While the listener is not connected (the database is down, or this
// connection broke) notifications may be missed: Current then reports
// ErrChannelDown with the generation it last knew, and the cache is not
// trusted. Its entries of that generation answer only when the database
// cannot (a lookup's last resort, storage/lookupcache.go): while the
// database is unreachable nothing can be revoked through it. When the
// listener is back, the generation moves on, so nothing cached before the
// gap is used again.
//
// Redis is not on this path: a Redis outage costs the lookup cache nothing.
type ListenGeneration struct {
	store   *Store
	dsn     string
	channel string
	self    string // this instance's payload, so its own notifications are skipped
	n       counters
	up      atomic.Bool
	log     *slog.Logger

	// heartbeat is how long the listener waits for a notification before
	// it checks its connection with a query; dialTimeout bounds a connect
	// and a heartbeat query.
	heartbeat   time.Duration
	dialTimeout time.Duration

	cancel context.CancelFunc
	done   chan struct{}
	// beforeReconnect, when set (tests: storage/export_test.go), runs
	// before each reconnection attempt.
	beforeReconnect atomic.Pointer[func()]
}

// ErrChannelDown is what a Generation's Current wraps while changes made by
// other instances may not reach this one.
var ErrChannelDown = errors.New("cache invalidation channel is down")

// ListenOptions tune a ListenGeneration; zero values take the defaults.
type ListenOptions struct {
	// Channel is the NOTIFY channel (default "identity_lookup"); instances
	// of one deployment must use the same one.
	Channel string
	// Heartbeat is how often an idle listener checks its connection
	// (default 5 s): with the 3 s check, the longest a silently broken
	// connection goes unseen.
	Heartbeat time.Duration
}

// ListenGeneration starts the listener on this store's PostgreSQL database
// (one connection of its own, beside the pool) and returns once it listens (an error if it cannot within the first
// attempt's timeout). Close stops it.
func (s *Store) ListenGeneration(ctx context.Context, opts ListenOptions) (*ListenGeneration, error) {
	return s.listenGeneration(ctx, s.dsn, opts)
}

// listenGeneration is ListenGeneration with the listener on dsn.
func (s *Store) listenGeneration(ctx context.Context, dsn string, opts ListenOptions) (*ListenGeneration, error) {
	if s.dialect != Postgres {
		return nil, errors.New("listen generation: PostgreSQL only")
	}
	if opts.Channel == "" {
		opts.Channel = "identity_lookup"
	}
	if opts.Heartbeat <= 0 {
		opts.Heartbeat = 5 * time.Second
	}
	var self [8]byte
	if _, err := rand.Read(self[:]); err != nil {
		return nil, fmt.Errorf("listen generation: %w", err)
	}
	g := &ListenGeneration{
		store: s, dsn: dsn, channel: opts.Channel, self: hex.EncodeToString(self[:]),
		log: s.log, heartbeat: opts.Heartbeat, dialTimeout: 3 * time.Second,
		done: make(chan struct{}),
	}
	conn, err := g.listen(ctx)
	if err != nil {
		return nil, err
	}
	if err := g.probe(ctx, conn); err != nil {
		_ = conn.Close(context.Background())
		return nil, err
	}
	g.up.Store(true)
	lctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	g.cancel = cancel
	go g.run(lctx, conn)
	return g, nil
}

// ListenerApplicationName is the application_name of the listener on channel.
func ListenerApplicationName(channel string) string {
	name := "identityd lookup " + channel
	if len(name) > 63 {
		name = name[:63]
	}
	return name
}

// Current implements Generation.
func (g *ListenGeneration) Current(context.Context) (Generations, error) {
	n := g.n.load()
	if !g.up.Load() {
		return n, ErrChannelDown
	}
	return n, nil
}

// tokensOnly is the payload suffix of a bump of TokenLookups alone.
const tokensOnly = " t"

// Bump implements Generation: this instance's generations move at once,
// the others' when the notification reaches them.
func (g *ListenGeneration) Bump(ctx context.Context, what Lookups) error {
	g.n.add(what)
	payload := g.self
	if what == TokenLookups {
		payload += tokensOnly
	}
	if err := g.notify(ctx, payload); err != nil {
		return fmt.Errorf("notify cache invalidation: %w", mapErr(err))
	}
	return nil
}

// notify sends payload on the channel through the store's pool.
func (g *ListenGeneration) notify(ctx context.Context, payload string) error {
	return g.store.gdb.WithContext(ctx).Exec("SELECT pg_notify(?, ?)", g.channel, payload).Error
}

// Listening reports whether the listener is connected.
func (g *ListenGeneration) Listening() bool { return g.up.Load() }

// Close stops the listener and waits for it.
func (g *ListenGeneration) Close() error {
	g.cancel()
	<-g.done
	return nil
}

// listen opens the dedicated connection and subscribes.
func (g *ListenGeneration) listen(ctx context.Context) (*pgx.Conn, error) {
	cfg, err := pgx.ParseConfig(g.dsn)
	if err != nil {
		return nil, errors.New("listen generation: DATABASE_URL is not a valid PostgreSQL URL")
	}
	// Named, so an operator sees it in pg_stat_activity (and a test can
	// find its own): PostgreSQL keeps 63 bytes of the name.
	cfg.RuntimeParams["application_name"] = ListenerApplicationName(g.channel)
	dctx, cancel := context.WithTimeout(ctx, g.dialTimeout)
	defer cancel()
	conn, err := pgx.ConnectConfig(dctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("listen generation: connect: %s", redactURL(err.Error(), g.dsn))
	}
	if _, err := conn.Exec(dctx, "LISTEN "+pgx.Identifier{g.channel}.Sanitize()); err != nil {
		_ = conn.Close(context.Background())
		return nil, fmt.Errorf("listen generation: listen: %w", err)
	}
	return conn, nil
}

// ErrNotificationsLost is what ListenGeneration returns when a notification
// sent through the pool does not reach the listener: DATABASE_URL leads
// through a pooler in transaction mode (PgBouncer's default), which does not
// carry LISTEN. The lookup cache must not run on such a channel.
var ErrNotificationsLost = errors.New("a NOTIFY sent through the pool did not reach the LISTEN connection (is DATABASE_URL a pooler in transaction mode?)")

// probe sends a notification through the pool and waits (dialTimeout at
// most) until the listener receives it.
func (g *ListenGeneration) probe(ctx context.Context, conn *pgx.Conn) error {
	payload := "probe " + g.self
	pctx, cancel := context.WithTimeout(ctx, g.dialTimeout)
	defer cancel()
	if err := g.notify(pctx, payload); err != nil {
		return fmt.Errorf("listen generation: probe: %w", mapErr(err))
	}
	for {
		n, err := conn.WaitForNotification(pctx)
		if err != nil {
			if pctx.Err() != nil && ctx.Err() == nil {
				return fmt.Errorf("listen generation: %w", ErrNotificationsLost)
			}
			return fmt.Errorf("listen generation: probe: %w", err)
		}
		if n.Payload == payload {
			return nil
		}
	}
}

// run receives notifications until ctx ends, reconnecting (100 ms doubling
// to 2 s) whenever the connection fails.
func (g *ListenGeneration) run(ctx context.Context, conn *pgx.Conn) {
	defer close(g.done)
	wait := 100 * time.Millisecond
	for {
		if conn != nil {
			err := g.receive(ctx, conn)
			_ = conn.Close(context.Background())
			conn = nil
			if ctx.Err() != nil {
				return
			}
			g.up.Store(false)
			g.log.WarnContext(ctx, "cache invalidation listener lost its connection: the lookup cache is bypassed until it is back", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
		if f := g.beforeReconnect.Load(); f != nil {
			(*f)()
		}
		c, err := g.listen(ctx)
		if err != nil {
			wait = min(2*wait, 2*time.Second)
			continue
		}
		// Notifications sent while no one listened are lost: nothing cached
		// before now may be trusted again.
		g.n.add(AllLookups)
		g.up.Store(true)
		g.log.InfoContext(ctx, "cache invalidation listener reconnected")
		conn, wait = c, 100*time.Millisecond
	}
}

// receive counts notifications from the other instances (received) until
// the connection fails or ctx ends. An idle connection is checked every
// heartbeat, so a silently broken one is noticed.
func (g *ListenGeneration) receive(ctx context.Context, conn *pgx.Conn) error {
	for {
		wctx, cancel := context.WithTimeout(ctx, g.heartbeat)
		n, err := conn.WaitForNotification(wctx)
		cancel()
		switch {
		case err == nil:
			g.received(n.Payload)
			continue
		case ctx.Err() != nil:
			return ctx.Err()
		case !errors.Is(err, context.DeadlineExceeded) || conn.IsClosed():
			return fmt.Errorf("wait for notification: %w", err)
		}
		pctx, cancel := context.WithTimeout(ctx, g.dialTimeout)
		_, err = conn.Exec(pctx, "SELECT 1")
		cancel()
		if err != nil {
			return fmt.Errorf("listener heartbeat: %w", err)
		}
	}
}

// received applies one notification: its own are skipped, " t" moves the
// token generation, anything else (a client or tenant change, another
// instance's start-up probe, a payload of an older version) moves both.
func (g *ListenGeneration) received(payload string) {
	what := AllLookups
	if p, ok := strings.CutSuffix(payload, tokensOnly); ok {
		payload, what = p, TokenLookups
	}
	if payload != g.self {
		g.n.add(what)
	}
}
