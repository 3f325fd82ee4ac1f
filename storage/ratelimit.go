package storage

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/go-redis/redis_rate/v10"
	"github.com/redis/go-redis/v9"

	"github.com/identityd/identityd/models"
)

// Both limiters implement GCRA (the generic cell rate algorithm) with the
// burst equal to the rate: "5 per minute" allows five at once, then one
// every twelve seconds. The Redis one is github.com/go-redis/redis_rate,
// shared by every instance; the in-process twin runs the same arithmetic.

// RedisLimiter is a rate limiter shared through Redis.
type RedisLimiter struct {
	l      *redis_rate.Limiter
	prefix string
}

// NewRedisLimiter returns a limiter on rdb; keys are namespaced by prefix.
func NewRedisLimiter(rdb *redis.Client, prefix string) *RedisLimiter {
	return &RedisLimiter{l: redis_rate.NewLimiter(rdb), prefix: prefix}
}

// Allow implements the identity service's Limiter.
func (r *RedisLimiter) Allow(ctx context.Context, key string, l models.RateLimit) (bool, time.Duration, error) {
	res, err := r.l.Allow(ctx, r.prefix+key, redis_rate.Limit{Rate: l.Rate, Burst: l.Rate, Period: l.Period})
	if err != nil {
		// Fail closed: without Redis no attempt is counted, so none is
		// allowed; the caller answers 503 (never silently unlimited).
		return false, 0, fmt.Errorf("redis rate limit: %w", redisErr("allow", err))
	}
	if res.Allowed > 0 {
		return true, 0, nil // redis_rate reports -1 here; the twins agree on 0
	}
	return false, res.RetryAfter, nil
}

// Peek reports whether one more event for key would be allowed now, without
// taking it (redis_rate with a cost of 0 changes nothing).
func (r *RedisLimiter) Peek(ctx context.Context, key string, l models.RateLimit) (bool, time.Duration, error) {
	if l.Rate <= 0 || l.Period <= 0 {
		return true, 0, nil
	}
	res, err := r.l.AllowN(ctx, r.prefix+key, redis_rate.Limit{Rate: l.Rate, Burst: l.Rate, Period: l.Period}, 0)
	if err != nil {
		return false, 0, fmt.Errorf("redis rate limit: %w", redisErr("peek", err))
	}
	if res.Remaining >= 1 {
		return true, 0, nil
	}
	// The next event fits one emission interval after the bucket is full.
	retry := res.ResetAfter + l.Period/time.Duration(l.Rate) - l.Period
	if retry <= 0 {
		retry = time.Second
	}
	return false, retry, nil
}

// Reset forgets every event of key (a successful login clears its pair).
func (r *RedisLimiter) Reset(ctx context.Context, key string) error {
	if err := r.l.Reset(ctx, r.prefix+key); err != nil {
		return fmt.Errorf("redis rate limit: %w", redisErr("reset", err))
	}
	return nil
}

// MemoryLimiter is the in-process twin of RedisLimiter, for one instance.
type MemoryLimiter struct {
	mu    sync.Mutex
	tat   map[string]time.Time
	now   func() time.Time
	sweep int
}

// NewMemoryLimiter returns an empty in-process limiter.
func NewMemoryLimiter() *MemoryLimiter {
	return &MemoryLimiter{tat: map[string]time.Time{}, now: time.Now, sweep: 4096}
}

// Allow implements the identity service's Limiter.
func (m *MemoryLimiter) Allow(_ context.Context, key string, l models.RateLimit) (bool, time.Duration, error) {
	return m.take(key, l, true)
}

// Peek reports whether one more event for key would be allowed now, without
// taking it.
func (m *MemoryLimiter) Peek(_ context.Context, key string, l models.RateLimit) (bool, time.Duration, error) {
	return m.take(key, l, false)
}

// Reset forgets every event of key.
func (m *MemoryLimiter) Reset(_ context.Context, key string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	delete(m.tat, key)
	return nil
}

func (m *MemoryLimiter) take(key string, l models.RateLimit, take bool) (bool, time.Duration, error) {
	if l.Rate <= 0 || l.Period <= 0 {
		return true, 0, nil
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	now := m.now()
	interval := l.Period / time.Duration(l.Rate)
	burst := interval * time.Duration(l.Rate)
	tat := m.tat[key]
	if tat.Before(now) {
		tat = now
	}
	newTAT := tat.Add(interval)
	allowAt := newTAT.Add(-burst)
	if now.Before(allowAt) {
		return false, allowAt.Sub(now), nil
	}
	if !take {
		return true, 0, nil
	}
	if len(m.tat) >= m.sweep {
		for k, t := range m.tat {
			if t.Before(now) {
				delete(m.tat, k)
			}
		}
		if len(m.tat) >= m.sweep {
			m.sweep *= 2
		}
	}
	m.tat[key] = newTAT
	return true, 0, nil
}
