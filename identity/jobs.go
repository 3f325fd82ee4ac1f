package identity

import (
	"context"
	"encoding/base64"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// EncodeAuditCursor makes the opaque keyset cursor of an audit page from
// its last row.
func EncodeAuditCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(t.UTC().Format(time.RFC3339Nano) + "|" + id))
}

// DecodeAuditCursor reads a cursor made by EncodeAuditCursor; anything else
// is a validation error on the field "cursor".
func DecodeAuditCursor(c string) (time.Time, string, error) {
	bad := models.ErrInvalid(map[string]string{"cursor": "Use the next_cursor of the previous page."})
	if len(c) > 200 {
		return time.Time{}, "", bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", bad
	}
	ts, id, ok := strings.Cut(string(raw), "|")
	if !ok {
		return time.Time{}, "", bad
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, "", bad
	}
	if !IsUUID(id) {
		return time.Time{}, "", bad
	}
	return t.UTC(), id, nil
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

// IsUUID reports whether s is a UUID in its canonical text form (ids are
// UUIDs; a malformed one can name nothing).
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
				return false
			}
		}
	}
	return true
}
