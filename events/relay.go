package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/metrics"
	"github.com/identityd/identityd/models"
)

// RelayLease names the job lease of the relay: one instance relays at a
// time, the others wait for the lease.
const RelayLease = "event-relay"

// RelayStore is what the relay needs from storage.
type RelayStore interface {
	// ListUnpublishedEvents returns up to limit events not yet published,
	// in seq order.
	ListUnpublishedEvents(ctx context.Context, limit int) ([]models.OutboxEvent, error)
	// MarkEventsPublished stamps published_at on the events with these seqs.
	MarkEventsPublished(ctx context.Context, seqs []int64) error
	// AcquireLease takes the named lease for holder until now+ttl when it
	// is free (never taken, or expired); false when another holds it.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// RenewLease extends holder's live lease to now+ttl; false when holder
	// no longer holds it.
	RenewLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// ReleaseLease frees holder's lease (no-op when another holds it).
	ReleaseLease(ctx context.Context, name, holder string) error
}

// EventPublisher sends one event and returns once the broker confirmed it.
type EventPublisher interface {
	Publish(ctx context.Context, e *models.OutboxEvent) error
}

// Relay publishes the outbox to RabbitMQ.
//
// One instance relays at a time: the one holding the "event-relay" job
// lease (renewed while it works; the others poll for it, and take it over
// once it expires when its holder died). The holder takes a batch of
// unpublished rows in seq order and publishes them one by one, each
// waited for (publisher confirms); a row is marked published only after
// the broker confirmed it. The batch stops at the first failure, so no row
// overtakes an earlier one that failed: the relay backs off (capped
// exponential) and starts again from the oldest unpublished row. A broker
// outage therefore delays events and loses none; a confirm lost with the
// connection makes the row go again (at least once: consumers de-duplicate
// by the event id, the message id).
//
// Ordering. Rows leave in seq order. Concurrent transactions may commit
// out of seq order (seq is assigned at insert, visibility comes at
// commit): a row with a lower seq that commits after the relay read a
// higher one is not skipped — the relay always takes the rows still
// unpublished — but it is sent later than the higher one. Changes to one
// aggregate serialise on the aggregate's own row (the service's
// transaction locks or updates it), so their events commit, and are sent,
// in the order they happened: the order holds per aggregate, not across
// aggregates.
type Relay struct {
	store   RelayStore
	pub     EventPublisher
	cfg     RelayConfig
	metrics *metrics.Metrics
	log     *slog.Logger
}

// RelayConfig tunes the relay; zero values take the defaults.
type RelayConfig struct {
	// Holder names this instance in the lease (required).
	Holder string
	// Batch is how many rows one round takes (default 100).
	Batch int
	// Interval is how long the relay waits when the outbox is empty, and
	// a waiting instance between attempts at the lease (default 1 s).
	Interval time.Duration
	// LeaseTTL is how long the lease lasts unrenewed (default 30 s); it is
	// renewed once a third of it has passed.
	LeaseTTL time.Duration
	// MaxBackoff caps the wait after failures (default 5 s; it starts at
	// 100 ms and doubles).
	MaxBackoff time.Duration
}

// RelayDeps are what NewRelay needs; Metrics and Log are optional.
type RelayDeps struct {
	Store     RelayStore
	Publisher EventPublisher
	Config    RelayConfig
	Metrics   *metrics.Metrics
	Log       *slog.Logger
}

// NewRelay checks d and returns the relay.
func NewRelay(d RelayDeps) (*Relay, error) {
	if d.Store == nil || d.Publisher == nil || d.Config.Holder == "" {
		return nil, errors.New("events: relay needs a Store, a Publisher and a Holder")
	}
	c := d.Config
	if c.Batch <= 0 {
		c.Batch = 100
	}
	if c.Interval <= 0 {
		c.Interval = time.Second
	}
	if c.LeaseTTL <= 0 {
		c.LeaseTTL = 30 * time.Second
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Relay{store: d.Store, pub: d.Publisher, cfg: c, metrics: d.Metrics, log: log}, nil
}

// errLeaseLost stops a batch whose lease another instance took.
var errLeaseLost = errors.New("events: relay lease lost")

// Run relays until ctx ends, releasing the lease on the way out.
func (r *Relay) Run(ctx context.Context) {
	backoff := newBackoff(100*time.Millisecond, r.cfg.MaxBackoff)
	for ctx.Err() == nil {
		won, err := r.store.AcquireLease(ctx, RelayLease, r.cfg.Holder, r.cfg.LeaseTTL)
		if err != nil {
			if ctx.Err() == nil {
				r.log.WarnContext(ctx, "event relay: acquire lease", "err", err)
			}
			sleep(ctx, backoff.next())
			continue
		}
		if !won {
			sleep(ctx, r.cfg.Interval)
			continue
		}
		backoff.reset()
		r.hold(ctx)
	}
}

// hold relays while this instance holds the lease.
func (r *Relay) hold(ctx context.Context) {
	lease := &leaseKeeper{r: r, renewed: time.Now()}
	defer func() {
		// A fresh context: the lease is released even when ctx ended, so
		// a waiting instance takes over at once.
		rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		if err := r.store.ReleaseLease(rctx, RelayLease, r.cfg.Holder); err != nil {
			r.log.WarnContext(ctx, "event relay: release lease", "err", err)
		}
	}()
	backoff := newBackoff(100*time.Millisecond, r.cfg.MaxBackoff)
	for ctx.Err() == nil {
		n, _, err := r.batch(ctx, lease)
		switch {
		case errors.Is(err, errLeaseLost):
			r.log.WarnContext(ctx, "event relay: lease lost; waiting for it again")
			return
		case err != nil:
			if ctx.Err() != nil {
				return
			}
			d := backoff.next()
			r.log.WarnContext(ctx, "event relay: batch stopped; retrying", "err", err, "retry_in", d.String())
			if !lease.sleep(ctx, d) {
				return
			}
		case n < r.cfg.Batch:
			backoff.reset()
			if !lease.sleep(ctx, r.cfg.Interval) {
				return
			}
		default:
			backoff.reset()
		}
	}
}

// RelayOnce publishes one batch if this instance can take the lease (a
// round of Run, for tests and tools): how many rows it published.
func (r *Relay) RelayOnce(ctx context.Context) (int, error) {
	won, err := r.store.AcquireLease(ctx, RelayLease, r.cfg.Holder, r.cfg.LeaseTTL)
	if err != nil || !won {
		return 0, err
	}
	defer func() { _ = r.store.ReleaseLease(context.WithoutCancel(ctx), RelayLease, r.cfg.Holder) }()
	_, published, err := r.batch(ctx, &leaseKeeper{r: r, renewed: time.Now()})
	return published, err
}

// batch publishes one batch in seq order, stopping at the first failure:
// how many rows it read and how many it published.
func (r *Relay) batch(ctx context.Context, lease *leaseKeeper) (read, published int, err error) {
	rows, err := r.store.ListUnpublishedEvents(ctx, r.cfg.Batch)
	if err != nil {
		return 0, 0, fmt.Errorf("events: list unpublished: %w", err)
	}
	var done []int64
	var failed error
	for i := range rows {
		if err := lease.keep(ctx); err != nil {
			failed = err
			break
		}
		e := &rows[i]
		if err := r.pub.Publish(ctx, e); err != nil {
			r.metrics.Relay(identity.ExchangeOf(e.Type), "failed")
			failed = err
			break
		}
		r.metrics.Relay(identity.ExchangeOf(e.Type), "published")
		done = append(done, e.Seq)
	}
	if len(done) > 0 {
		// Confirmed rows are marked even when the batch stopped (or ctx
		// ended): otherwise they would go again.
		mctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
		defer cancel()
		if err := r.store.MarkEventsPublished(mctx, done); err != nil {
			return len(rows), 0, fmt.Errorf("events: mark published: %w", err)
		}
	}
	return len(rows), len(done), failed
}

// leaseKeeper renews the relay's lease once a third of its TTL passed.
type leaseKeeper struct {
	r       *Relay
	renewed time.Time
}

// keep renews the lease when due; errLeaseLost when another instance
// holds it now.
func (k *leaseKeeper) keep(ctx context.Context) error {
	if time.Since(k.renewed) < k.r.cfg.LeaseTTL/3 {
		return nil
	}
	ok, err := k.r.store.RenewLease(ctx, RelayLease, k.r.cfg.Holder, k.r.cfg.LeaseTTL)
	if err != nil {
		return fmt.Errorf("events: renew lease: %w", err)
	}
	if !ok {
		return errLeaseLost
	}
	k.renewed = time.Now()
	return nil
}

// sleep waits d, renewing the lease on the way; false when ctx ended or
// the lease was lost.
func (k *leaseKeeper) sleep(ctx context.Context, d time.Duration) bool {
	end := time.Now().Add(d)
	for {
		left := time.Until(end)
		if left <= 0 {
			return true
		}
		step := min(left, k.r.cfg.LeaseTTL/3)
		if !sleep(ctx, step) {
			return false
		}
		if err := k.keep(ctx); errors.Is(err, errLeaseLost) {
			return false
		} else if err != nil {
			k.r.log.WarnContext(ctx, "event relay: renew lease", "err", err)
		}
	}
}

// sleep waits d or until ctx ends; false when ctx ended.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// backoff doubles from min to max.
type backoff struct {
	min, max, cur time.Duration
}

func newBackoff(min, max time.Duration) *backoff {
	if max < min {
		max = min
	}
	return &backoff{min: min, max: max}
}

func (b *backoff) next() time.Duration {
	if b.cur == 0 {
		b.cur = b.min
	} else {
		b.cur = min(2*b.cur, b.max)
	}
	return b.cur
}

func (b *backoff) reset() { b.cur = 0 }
