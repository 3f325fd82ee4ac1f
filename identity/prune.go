package identity

import (
	"context"
	"os"
	"strconv"
	"time"

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// AuditPruneResult is what one audit prune did.
type AuditPruneResult struct {
	Deleted              int64 `json:"deleted"`
	DefaultRetentionDays int   `json:"default_retention_days"`
}

// PruneAudit deletes audit rows older than their tenant's retention, in
// batches.
func (o *Operator) PruneAudit(ctx context.Context) (AuditPruneResult, error) {
	days := o.AuditRetentionDays
	if days <= 0 {
		days = DefaultAuditRetentionDays
	}
	batch := o.AuditPruneBatch
	if batch <= 0 {
		batch = DefaultAuditPruneBatch
	}
	n, err := o.Store.PruneAuditLogs(ctx, days, batch)
	return AuditPruneResult{Deleted: n, DefaultRetentionDays: days}, err
}

// TokenPruneResult is what one token prune did, per table.
type TokenPruneResult struct {
	Deleted map[string]int64 `json:"deleted"`
	Total   int64            `json:"total"`
}

// PruneTokens deletes expired tokens, codes, challenges and sessions in
// short batches, so token issuance never waits behind it.
func (o *Operator) PruneTokens(ctx context.Context) (TokenPruneResult, error) {
	batch := o.TokenPruneBatch
	if batch <= 0 {
		batch = DefaultTokenPruneBatch
	}
	m, err := o.Store.PruneExpired(ctx, models.PruneOptions{Batch: batch, SessionRetention: o.SessionRetention})
	res := TokenPruneResult{Deleted: m}
	for _, n := range m {
		res.Total += n
	}
	return res, err
}

// PruneLease names the job lease of the background prune.
const PruneLease = "prune"

// Pruner runs the audit and token prunes every Interval, on one instance of
// a deployment at a time: each tick tries to take the job lease, and only
// the instance whose conditional UPDATE wins runs the job. The lease lasts
// most of an interval, so however many instances tick, the job runs about
// once per interval; if the winner dies, the lease expires and another
// instance takes the next turn.
type Pruner struct {
	Operator *Operator
	Interval time.Duration
	// Holder names this instance in the lease row (default: host, pid and a
	// random suffix).
	Holder string
}

func (p *Pruner) holder() string {
	if p.Holder == "" {
		host, _ := os.Hostname()
		suffix, _ := keyring.RandomToken(6)
		p.Holder = host + ":" + strconv.Itoa(os.Getpid()) + ":" + suffix
	}
	return p.Holder
}

// leaseTTL is 90% of the interval: this instance's next tick finds it
// expired despite timer jitter.
func (p *Pruner) leaseTTL() time.Duration {
	return p.Interval - p.Interval/10
}

// RunOnce takes the lease and, if this instance won it, runs both prunes.
// ran reports whether it did.
func (p *Pruner) RunOnce(ctx context.Context) (ran bool, audit AuditPruneResult, tokens TokenPruneResult, err error) {
	ttl := p.leaseTTL()
	if ttl <= 0 {
		ttl = time.Minute
	}
	won, err := p.Operator.Store.AcquireLease(ctx, PruneLease, p.holder(), ttl)
	if err != nil || !won {
		return false, audit, tokens, err
	}
	audit, err = p.Operator.PruneAudit(ctx)
	if err != nil {
		return true, audit, tokens, err
	}
	tokens, err = p.Operator.PruneTokens(ctx)
	return true, audit, tokens, err
}

// Run prunes every Interval until ctx ends (Interval 0 disables it). The
// first run comes one interval after start, so a fleet restarting together
// does not all race for the lease at boot.
func (p *Pruner) Run(ctx context.Context) {
	if p.Interval <= 0 || p.Operator == nil {
		return
	}
	log := p.Operator.log()
	tick := time.NewTicker(p.Interval)
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
			log.ErrorContext(ctx, "prune", "err", err)
			continue
		}
		if ran {
			log.InfoContext(ctx, "prune done", "audit_deleted", audit.Deleted, "tokens_deleted", tokens.Total,
				"tables", tokens.Deleted, "duration_ms", time.Since(start).Milliseconds())
		}
	}
}
