package identity

import (
	"context"
	"log/slog"
	"time"

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
}

// Defaults of the Pruner.
const (
	DefaultAuditRetentionDays = 365
	DefaultAuditPruneBatch    = 5000
	DefaultTokenPruneBatch    = 1000
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
	log              *slog.Logger
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
	Log              *slog.Logger
}

// NewPruner checks d and returns the service.
func NewPruner(d PrunerDeps) (*Pruner, error) {
	if err := checkDeps("Pruner", dep{"Store", d.Store == nil}, dep{"Holder", d.Holder == ""}); err != nil {
		return nil, err
	}
	p := &Pruner{store: d.Store, interval: d.Interval, holder: d.Holder, auditDays: d.AuditRetentionDays,
		auditBatch: d.AuditPruneBatch, tokenBatch: d.TokenPruneBatch, sessionRetention: d.SessionRetention, log: logOr(d.Log)}
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
	return true, audit, tokens, err
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
		ran, audit, tokens, err := p.RunOnce(ctx)
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
