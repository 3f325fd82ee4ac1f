package identity

import (
	"context"
	"fmt"

	"github.com/identityd/identityd/models"
)

// ClientAuthGate refuses a client-secret check (with a RateLimited error)
// when the client id or the address has spent its failure budget. The
// Hasher asks it only for secrets its verified cache does not know, so a
// correct, cached client is never refused by someone else's failures.
func (a *Accounts) ClientAuthGate(ctx context.Context, clientID, ip string) error {
	l := a.Config.ClientAuthFailureLimit
	if a.Limiter == nil || l.Rate <= 0 || l.Period <= 0 {
		return nil
	}
	for _, k := range []string{"client:" + clientID, "ip:" + ip} {
		ok, retry, err := a.Limiter.Peek(ctx, "client_auth:"+k, l)
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

// ClientAuthFailed counts one failed client authentication against the
// client id and the address.
func (a *Accounts) ClientAuthFailed(ctx context.Context, clientID, ip string) {
	l := a.Config.ClientAuthFailureLimit
	if a.Limiter == nil || l.Rate <= 0 || l.Period <= 0 {
		return
	}
	for _, k := range []string{"client:" + clientID, "ip:" + ip} {
		if _, _, err := a.Limiter.Allow(ctx, "client_auth:"+k, l); err != nil {
			a.log().WarnContext(ctx, "count client auth failure", "err", err)
		}
	}
}
