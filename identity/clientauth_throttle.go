package identity

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/identityd/identityd/models"
)

// ClientAuthThrottle is the failure budget of client authentication (wrong
// client secrets at the token, introspection and revocation endpoints),
// per client id and, apart, per address.
type ClientAuthThrottle struct {
	limiter Limiter
	limit   Limit
	log     *slog.Logger
}

// ClientAuthThrottleDeps are what NewClientAuthThrottle needs. Limit is
// AccountsConfig.ClientAuthFailureLimit; a zero Rate or Period turns the
// budget off.
type ClientAuthThrottleDeps struct {
	Limiter Limiter
	Limit   Limit
	Log     *slog.Logger
}

// NewClientAuthThrottle builds the throttle; Limiter and Log are required.
func NewClientAuthThrottle(d ClientAuthThrottleDeps) (*ClientAuthThrottle, error) {
	if err := checkDeps("ClientAuthThrottle", dep{"Limiter", d.Limiter == nil}, dep{"Log", d.Log == nil}); err != nil {
		return nil, err
	}
	return &ClientAuthThrottle{limiter: d.Limiter, limit: d.Limit, log: d.Log}, nil
}

// Gate refuses a client-secret check (with a RateLimited error)
// when the client id or the address has spent its failure budget. The
// Hasher asks it only for secrets its verified cache does not know, so a
// correct, cached client is never refused by someone else's failures.
func (t *ClientAuthThrottle) Gate(ctx context.Context, clientID, ip string) error {
	l := t.limit
	if l.Rate <= 0 || l.Period <= 0 {
		return nil
	}
	for _, k := range []string{"client:" + clientID, "ip:" + ip} {
		ok, retry, err := t.limiter.Peek(ctx, "client_auth:"+k, l)
		if err != nil {
			if models.IsUnavailable(err) {
				// Fail closed, but say why: a 503, never an unlimited guess.
				return fmt.Errorf("rate limit client auth: %w", err)
			}
			return models.ErrInternal(fmt.Errorf("rate limit client auth: %w", err))
		}
		if !ok {
			return models.ErrRateLimited(retry)
		}
	}
	return nil
}

// Failed counts one failed client authentication against the
// client id and the address.
func (t *ClientAuthThrottle) Failed(ctx context.Context, clientID, ip string) {
	l := t.limit
	if l.Rate <= 0 || l.Period <= 0 {
		return
	}
	for _, k := range []string{"client:" + clientID, "ip:" + ip} {
		if _, _, err := t.limiter.Allow(ctx, "client_auth:"+k, l); err != nil {
			t.log.WarnContext(ctx, "count client auth failure", "err", err)
		}
	}
}
