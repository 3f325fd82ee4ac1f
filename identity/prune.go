package identity

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/identityd/identityd/models"
)

// PruneStore is what Pruner needs from storage.
type PruneStore interface {
	// PruneAuditLogs deletes audit rows older than their tenant's
	// retention (never below opts.MinDays; opts.DefaultDays for a tenant
	// whose own is 0, rows of no tenant too), opts.Batch rows per
	// statement, and returns how many it deleted.
	PruneAuditLogs(ctx context.Context, opts models.AuditPruneOptions) (int64, error)
	// PruneExpired deletes expired tokens, codes, challenges and ended
	// sessions in batches and returns how many per table.
	PruneExpired(ctx context.Context, opts models.PruneOptions) (map[string]int64, error)
	// AcquireLease takes the named lease for holder until now+ttl when it is
	// free or expired; of several concurrent callers exactly one gets true.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// TenantsDueForDeletion returns up to limit tenants whose own deletion
	// fell due by now (deletes_at <= now), soonest first.
	TenantsDueForDeletion(ctx context.Context, now time.Time, limit int) ([]models.Tenant, error)
	// PurgeTenant deletes the tenant, if its deletion is still due by now,
	// with everything it owns and its audit rows, in one transaction;
	// false (nothing done) when it was restored meanwhile or is gone.
	PurgeTenant(ctx context.Context, id string, now time.Time) (bool, error)
	// PruneEvents deletes outbox rows created before before that the
	// webhook fan-out is done with (and, when published is true, the broker
	// confirmed), batch rows per statement, and returns how many.
	PruneEvents(ctx context.Context, before time.Time, published bool, batch int) (int64, error)
	// DeleteTenantEvents deletes every outbox row of the tenant, in the
	// transaction ctx carries, and returns how many.
	DeleteTenantEvents(ctx context.Context, tenantID string) (int64, error)
}

// Defaults of the Pruner.
const (
	DefaultAuditRetentionDays = 365
	DefaultAuditPruneBatch    = 5000
	DefaultTokenPruneBatch    = 1000
	// DefaultEventRetention keeps delivered outbox rows a week
	// (IDENTITY_EVENT_RETENTION).
	DefaultEventRetention = 168 * time.Hour
)

// PruneLease names the job lease of the background prune.
const PruneLease = "prune"

// Pruner deletes what has expired: audit rows past their tenant's
// retention, and expired tokens, codes, challenges and sessions. Run does
// both every Interval, on one instance of a deployment at a time: each tick
// tries to take the job lease, and only the instance whose conditional
// UPDATE wins runs the job. The lease lasts most of an interval, so however
// many instances tick, the job runs about once per interval; if the winner
// dies, the lease expires and another instance takes the next turn.
type Pruner struct {
	store            PruneStore
	interval         time.Duration
	holder           string
	auditDays        int
	auditMinDays     int
	auditBatch       int
	tokenBatch       int
	sessionRetention time.Duration
	eventRetention   time.Duration
	relayConfigured  bool
	log              *slog.Logger
	tx               Tx
	audit            Auditor
	now              func() time.Time

	// Tracer, when set, gives each run of Run a span (issue 11 §7).
	Tracer trace.Tracer
}

// PrunerDeps are what NewPruner needs; Store and Holder are required.
type PrunerDeps struct {
	Store PruneStore
	// Interval is how often Run prunes (0: Run returns at once).
	Interval time.Duration
	// Holder names this instance in the lease row (wiring makes it from
	// the host, the pid and a random suffix).
	Holder string
	// AuditRetentionDays applies to tenants whose own retention is 0
	// (0: DefaultAuditRetentionDays).
	AuditRetentionDays int
	// MinAuditRetentionDays is the floor of every tenant's own retention
	// (AUDIT_RETENTION_MIN_DAYS; 0: 1 day): a value stored below it (set
	// before the floor was raised) prunes as the floor.
	MinAuditRetentionDays int
	// AuditPruneBatch and TokenPruneBatch are the rows per DELETE statement
	// (0: the defaults).
	AuditPruneBatch int
	TokenPruneBatch int
	// SessionRetention keeps ended device sessions this long (0: 30 days).
	SessionRetention time.Duration
	// EventRetention keeps delivered outbox rows this long (0:
	// DefaultEventRetention). RelayConfigured says a broker relay runs: a
	// row is then kept until the broker confirmed it too, not only until
	// its webhooks were dispatched.
	EventRetention  time.Duration
	RelayConfigured bool
	Log             *slog.Logger
	// Tx and Auditor write the tenant.deleted row of a purged tenant in
	// its purge's transaction; Now is the clock the grace periods are
	// judged by (nil: time.Now).
	Tx      Tx
	Auditor Auditor
	Now     func() time.Time
}

// NewPruner checks d and returns the service.
func NewPruner(d PrunerDeps) (*Pruner, error) {
	if err := checkDeps("Pruner", dep{"Store", d.Store == nil}, dep{"Holder", d.Holder == ""}, dep{"Tx", d.Tx == nil},
		dep{"Auditor", d.Auditor.Store == nil}); err != nil {
		return nil, err
	}
	p := &Pruner{store: d.Store, interval: d.Interval, holder: d.Holder, auditDays: d.AuditRetentionDays,
		auditBatch: d.AuditPruneBatch, tokenBatch: d.TokenPruneBatch, sessionRetention: d.SessionRetention, log: logOr(d.Log),
		eventRetention: d.EventRetention, relayConfigured: d.RelayConfigured,
		tx: d.Tx, audit: d.Auditor, now: clockOr(d.Now)}
	if p.auditDays <= 0 {
		p.auditDays = DefaultAuditRetentionDays
	}
	p.auditMinDays = min(max(d.MinAuditRetentionDays, 1), p.auditDays)
	if p.auditBatch <= 0 {
		p.auditBatch = DefaultAuditPruneBatch
	}
	if p.tokenBatch <= 0 {
		p.tokenBatch = DefaultTokenPruneBatch
	}
	if p.eventRetention <= 0 {
		p.eventRetention = DefaultEventRetention
	}
	return p, nil
}

// AuditPruneResult is what one audit prune did.
type AuditPruneResult struct {
	Deleted              int64 `json:"deleted"`
	DefaultRetentionDays int   `json:"default_retention_days"`
}

// PruneAudit deletes audit rows older than their tenant's retention, batch
// rows per statement (0: the configured batch).
func (p *Pruner) PruneAudit(ctx context.Context, batch int) (AuditPruneResult, error) {
	if batch <= 0 {
		batch = p.auditBatch
	}
	n, err := p.store.PruneAuditLogs(ctx, models.AuditPruneOptions{DefaultDays: p.auditDays, MinDays: p.auditMinDays, Batch: batch})
	return AuditPruneResult{Deleted: n, DefaultRetentionDays: p.auditDays}, err
}

// TokenPruneResult is what one token prune did, per table.
type TokenPruneResult struct {
	Deleted map[string]int64 `json:"deleted"`
	Total   int64            `json:"total"`
}

// PruneTokens deletes expired tokens, codes, challenges and sessions in
// short batches (batch rows per statement, 0: the configured batch), so
// token issuance never waits behind it.
func (p *Pruner) PruneTokens(ctx context.Context, batch int) (TokenPruneResult, error) {
	if batch <= 0 {
		batch = p.tokenBatch
	}
	m, err := p.store.PruneExpired(ctx, models.PruneOptions{Batch: batch, SessionRetention: p.sessionRetention})
	res := TokenPruneResult{Deleted: m}
	for _, n := range m {
		res.Total += n
	}
	return res, err
}

// EventPruneResult is what one outbox prune did.
type EventPruneResult struct {
	Deleted   int64  `json:"deleted"`
	Retention string `json:"retention"`
}

// PruneEvents deletes outbox rows older than the event retention that are
// delivered: dispatched to webhooks and, when a broker relay runs,
// confirmed by the broker. A row still owed to someone stays, however old.
func (p *Pruner) PruneEvents(ctx context.Context, batch int) (EventPruneResult, error) {
	if batch <= 0 {
		batch = p.tokenBatch
	}
	n, err := p.store.PruneEvents(ctx, p.now().Add(-p.eventRetention), p.relayConfigured, batch)
	return EventPruneResult{Deleted: n, Retention: p.eventRetention.String()}, err
}

// leaseTTL is 90% of the interval: this instance's next tick finds it
// expired despite timer jitter.
func (p *Pruner) leaseTTL() time.Duration {
	return p.interval - p.interval/10
}

// RunOnce takes the lease and, if this instance won it, runs both prunes.
// ran reports whether it did.
func (p *Pruner) RunOnce(ctx context.Context) (ran bool, audit AuditPruneResult, tokens TokenPruneResult, err error) {
	ttl := p.leaseTTL()
	if ttl <= 0 {
		ttl = time.Minute
	}
	won, err := p.store.AcquireLease(ctx, PruneLease, p.holder, ttl)
	if err != nil || !won {
		return false, audit, tokens, err
	}
	audit, err = p.PruneAudit(ctx, 0)
	if err != nil {
		return true, audit, tokens, err
	}
	tokens, err = p.PruneTokens(ctx, 0)
	if err != nil {
		return true, audit, tokens, err
	}
	if events, err := p.PruneEvents(ctx, 0); err != nil {
		return true, audit, tokens, err
	} else if events.Deleted > 0 {
		p.log.InfoContext(ctx, "events pruned", "count", events.Deleted)
	}
	tenants, err := p.PruneTenants(ctx)
	if tenants.Deleted > 0 {
		p.log.InfoContext(ctx, "tenants deleted", "count", tenants.Deleted, "tenant_ids", tenants.TenantIDs)
	}
	return true, audit, tokens, err
}

// TenantPruneResult is what one tenant purge did.
type TenantPruneResult struct {
	Deleted   int      `json:"deleted"`
	TenantIDs []string `json:"tenant_ids"`
}

// tenantPurgeBatch bounds the tenants one PruneTenants looks at; the next
// run takes the rest.
const tenantPurgeBatch = 100

// PruneTenants deletes the tenants whose own deletion's grace period is
// over: each in a transaction of its own (PurgeTenant) with its
// tenant.deleted row, written by the system with no tenant (the tenant's
// rows, its audit trail included, are gone), naming the tenant's id and
// slug and when the deletion was asked for. A tenant restored meanwhile is
// left alone.
func (p *Pruner) PruneTenants(ctx context.Context) (TenantPruneResult, error) {
	res := TenantPruneResult{TenantIDs: []string{}}
	now := p.now()
	due, err := p.store.TenantsDueForDeletion(ctx, now, tenantPurgeBatch)
	if err != nil {
		return res, err
	}
	for _, t := range due {
		err := p.tx.InTx(ctx, func(ctx context.Context) error {
			ok, err := p.store.PurgeTenant(ctx, t.ID, now)
			if err != nil || !ok {
				return err
			}
			// The tenant's events go with its data; the tenant.deleted
			// event written below, after them, is the one that stays.
			if _, err := p.store.DeleteTenantEvents(ctx, t.ID); err != nil {
				return err
			}
			res.Deleted++
			res.TenantIDs = append(res.TenantIDs, t.ID)
			md := map[string]any{"tenant_id": t.ID, "slug": t.Slug, "deletes_at": t.DeletesAt}
			if t.DeletionScheduledAt != nil {
				md["deletion_scheduled_at"] = *t.DeletionScheduledAt
			}
			return p.audit.Record(ctx, Principal{}, Event{Action: AuditTenantPurged, Metadata: md, EventTenantID: t.ID, Subject: t.ID,
				Data: map[string]any{"tenant_id": t.ID, "slug": t.Slug, "name": t.Name, "status": "deleted"}})
		})
		if err != nil {
			return res, fmt.Errorf("prune tenant %s: %w", t.ID, err)
		}
	}
	return res, nil
}

// Run prunes every Interval until ctx ends (Interval 0 disables it). The
// first run comes one interval after start, so a fleet restarting together
// does not all race for the lease at boot.
func (p *Pruner) Run(ctx context.Context) {
	if p.interval <= 0 {
		return
	}
	tick := time.NewTicker(p.interval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		start := time.Now()
		rctx, span := jobSpan(p.Tracer, ctx, "prune run")
		ran, audit, tokens, err := p.RunOnce(rctx)
		span.SetAttributes(attribute.Bool("prune.ran", ran))
		if err != nil {
			span.SetStatus(codes.Error, "prune failed")
		}
		span.End()
		if err != nil {
			p.log.ErrorContext(ctx, "prune", "err", err)
			continue
		}
		if ran {
			p.log.InfoContext(ctx, "prune done", "audit_deleted", audit.Deleted, "tokens_deleted", tokens.Total,
				"tables", tokens.Deleted, "duration_ms", time.Since(start).Milliseconds())
		}
	}
}
