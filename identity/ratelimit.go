package identity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/identityd/identityd/models"
)

// Limit is one rate limit: Rate events per Period.
type Limit = models.RateLimit

// Limiter counts events per key; it is shared through Redis when configured.
type Limiter interface {
	// Allow takes one event for key under l; when refused it says how long to wait.
	Allow(ctx context.Context, key string, l Limit) (allowed bool, retryAfter time.Duration, err error)
	// Peek answers what Allow would, without taking an event.
	Peek(ctx context.Context, key string, l Limit) (allowed bool, retryAfter time.Duration, err error)
	// Reset forgets every event of key.
	Reset(ctx context.Context, key string) error
}

// Rate limits that do not punish success (issue 8 §3). Every credential
// check (password login, the re-checked password of a signed-in user, a
// second factor, a PIN, a reset code) runs through one attempt:
//
//   - per (IP, account): l's budget of attempts; a success clears the pair,
//     so a user who signs in again and again is never throttled;
//   - per IP: failures only, under Config.IPFailureLimit, so credential
//     stuffing across many accounts from one address is still throttled
//     while a hundred colleagues behind one NAT all sign in;
//   - per account: the lockout (MaxFailedLogins → LockoutDuration), counted
//     in one SQL statement by the callers.
//
// The per-IP budget is read before the attempt and taken after a failure:
// concurrent attempts can overrun it by at most the number in flight.
type attempt struct {
	c    *credentials
	l    Limit
	ip   string
	pair string
}

// beginAttempt checks the IP's failure budget and takes one attempt of the
// (IP, account) pair; account "" skips the pair (nothing to key it on yet).
func (c *credentials) beginAttempt(ctx context.Context, l Limit, ip, account string) (*attempt, error) {
	at := &attempt{c: c, l: l, ip: ip}
	if f := c.ipFailureLimit(); f.Rate > 0 && f.Period > 0 {
		ok, retry, err := c.limiter.Peek(ctx, l.Name+":ipfail:"+ip, f)
		if err != nil {
			return nil, models.ErrInternal(fmt.Errorf("rate limit %s: %w", l.Name, err))
		}
		if !ok {
			return nil, models.ErrRateLimited(retry)
		}
	}
	if account != "" && l.Rate > 0 && l.Period > 0 {
		at.pair = l.Name + ":pair:" + ip + ":" + account
		ok, retry, err := c.limiter.Allow(ctx, at.pair, l)
		if err != nil {
			return nil, models.ErrInternal(fmt.Errorf("rate limit %s: %w", l.Name, err))
		}
		if !ok {
			return nil, models.ErrRateLimited(retry)
		}
	}
	return at, nil
}

// succeeded clears the pair's counter.
func (at *attempt) succeeded(ctx context.Context) {
	if at == nil || at.pair == "" {
		return
	}
	if err := at.c.limiter.Reset(ctx, at.pair); err != nil {
		at.c.log.WarnContext(ctx, "clear rate limit", "limit", at.l.Name, "err", err)
	}
}

// finish records the outcome of the attempt: a success clears the pair,
// a refusal counts as a failure (an internal error is neither).
func (at *attempt) finish(ctx context.Context, err error) {
	switch {
	case err == nil:
		at.succeeded(ctx)
	case !models.IsKind(err, models.KindInternal):
		at.failed(ctx)
	}
}

// failed counts one failure against the IP's budget.
func (at *attempt) failed(ctx context.Context) {
	if at == nil {
		return
	}
	f := at.c.ipFailureLimit()
	if f.Rate <= 0 || f.Period <= 0 {
		return
	}
	if _, _, err := at.c.limiter.Allow(ctx, at.l.Name+":ipfail:"+at.ip, f); err != nil {
		at.c.log.WarnContext(ctx, "count failure", "limit", at.l.Name, "err", err)
	}
}

func (c *credentials) ipFailureLimit() Limit {
	f := c.cfg.IPFailureLimit
	f.Name = "ipfail"
	return f
}

func (c *credentials) limit(ctx context.Context, l Limit, keys ...string) error {
	for _, k := range keys {
		ok, retry, err := c.limiter.Allow(ctx, l.Name+":"+k, l)
		if err != nil {
			return models.ErrInternal(fmt.Errorf("rate limit %s: %w", l.Name, err))
		}
		if !ok {
			return models.ErrRateLimited(retry)
		}
	}
	return nil
}

func accountKey(tenant, email string) string {
	return "acct:" + strings.ToLower(strings.TrimSpace(tenant)) + ":" + strings.ToLower(strings.TrimSpace(email))
}
