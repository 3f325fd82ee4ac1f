package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/sony/gobreaker/v2"

	"github.com/identityd/identityd/models"
)

// Cache is short-lived shared state: values that may vanish at any time
// without harming correctness beyond a cache miss. Redis backs it when
// configured; MemoryCache is the in-process twin for a single instance.
type Cache interface {
	// Get returns the value and true, or nil and false on a miss.
	Get(ctx context.Context, key string) ([]byte, bool, error)
	// Set stores value under key for ttl.
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	// Delete removes key.
	Delete(ctx context.Context, key string) error
	// Ping checks the backend is reachable.
	Ping(ctx context.Context) error
}

// RedisCache is a Cache in Redis.
//
// Every call has a short deadline (RedisOptions.Timeout) and goes through a
// circuit breaker: after a few consecutive failures the breaker opens and
// calls fail at once, for a second, before one probe is let through. A dead
// or frozen Redis then costs microseconds per call, not a deadline. Failures
// are models errors of KindUnavailable, so a caller that must fail closed
// (rate limits, step-up flags) answers 503, and one that can do without
// (caches) falls back to the database or bcrypt.
type RedisCache struct {
	rdb    *redis.Client
	prefix string
	cb     *gobreaker.CircuitBreaker[struct{}]
	// traced: EnableTracing added the span hook (storage/tracing.go).
	traced bool
}

// RedisOptions tune OpenRedis.
type RedisOptions struct {
	// Timeout is the deadline of every Redis call (0: 250 ms); dialling gets
	// four times as long.
	Timeout time.Duration
	// Logger is told when the breaker opens and closes.
	Logger *slog.Logger
}

// NewRedisCache connects to the Redis named by url (redis://…), checking it
// answers, with the default options.
func NewRedisCache(ctx context.Context, url string) (*RedisCache, error) {
	return OpenRedis(ctx, url, RedisOptions{})
}

// OpenRedis connects to the Redis named by url (redis://…), checking it answers.
func OpenRedis(ctx context.Context, url string, o RedisOptions) (*RedisCache, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, errors.New("parse REDIS_URL: not a valid redis:// URL")
	}
	if o.Timeout <= 0 {
		o.Timeout = 250 * time.Millisecond
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	opts.DialTimeout = 4 * o.Timeout
	opts.ReadTimeout = o.Timeout
	opts.WriteTimeout = o.Timeout
	opts.PoolTimeout = o.Timeout
	opts.ContextTimeoutEnabled = true
	opts.MaxRetries = 1 // one retry covers a pooled connection Redis closed on restart
	opts.MinRetryBackoff, opts.MaxRetryBackoff = time.Millisecond, 10*time.Millisecond
	c := &RedisCache{rdb: redis.NewClient(opts), prefix: "identity:"}
	c.cb = gobreaker.NewCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        "redis",
		MaxRequests: 1,
		Timeout:     time.Second,
		ReadyToTrip: func(n gobreaker.Counts) bool { return n.ConsecutiveFailures >= 3 },
		IsSuccessful: func(err error) bool {
			return !redisFailure(err)
		},
		OnStateChange: func(name string, from, to gobreaker.State) {
			o.Logger.Warn("redis circuit breaker", "from", from.String(), "to", to.String())
		},
	})
	c.rdb.AddHook(breakerHook{cb: c.cb})
	if err := c.Ping(ctx); err != nil {
		_ = c.rdb.Close()
		return nil, err
	}
	return c, nil
}

// redisFailure reports an error that says Redis is unreachable or too slow,
// as opposed to a miss or an error reply to one command.
func redisFailure(err error) bool {
	if err == nil || errors.Is(err, redis.Nil) || errors.Is(err, context.Canceled) {
		return false
	}
	var re redis.Error
	if errors.As(err, &re) && !errors.Is(err, redis.ErrClosed) {
		// An error reply: Redis answered. LOADING and similar replies of a
		// restarting server still count as failures.
		msg := re.Error()
		return strings.HasPrefix(msg, "LOADING") || strings.HasPrefix(msg, "MASTERDOWN") || strings.HasPrefix(msg, "READONLY")
	}
	return true
}

// redisErr turns a failed call into an error callers can act on: an outage
// is a models error of KindUnavailable (503 where it matters).
func redisErr(op string, err error) error {
	if redisFailure(err) || errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
		return models.ErrUnavailable("redis", fmt.Errorf("%s: %w", op, err))
	}
	return fmt.Errorf("%s: %w", op, err)
}

// breakerHook runs every Redis command through the circuit breaker.
type breakerHook struct {
	cb *gobreaker.CircuitBreaker[struct{}]
}

func (h breakerHook) DialHook(next redis.DialHook) redis.DialHook { return next }

func (h breakerHook) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if connInit(cmd) {
			// Commands go-redis sends while setting up a new connection pass
			// straight through: they run inside the command that needed the
			// connection, which the breaker already admitted (a half-open
			// probe would otherwise block its own HELLO, forever).
			return next(ctx, cmd)
		}
		_, err := h.cb.Execute(func() (struct{}, error) { return struct{}{}, next(ctx, cmd) })
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			err = fmt.Errorf("redis circuit open: %w", err)
			cmd.SetErr(err)
		}
		return err
	}
}

// connInit reports a command of go-redis's connection set-up.
func connInit(cmd redis.Cmder) bool {
	switch cmd.Name() {
	case "hello", "auth", "select", "client", "readonly":
		return true
	}
	return false
}

func (h breakerHook) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if len(cmds) > 0 && connInit(cmds[0]) {
			return next(ctx, cmds)
		}
		_, err := h.cb.Execute(func() (struct{}, error) { return struct{}{}, next(ctx, cmds) })
		if errors.Is(err, gobreaker.ErrOpenState) || errors.Is(err, gobreaker.ErrTooManyRequests) {
			err = fmt.Errorf("redis circuit open: %w", err)
			for _, cmd := range cmds {
				cmd.SetErr(err)
			}
		}
		return err
	}
}

// BreakerState names the circuit breaker's state: closed, half-open or open.
func (c *RedisCache) BreakerState() string { return c.cb.State().String() }

// SetPrefix namespaces every key (tests use one prefix each).
func (c *RedisCache) SetPrefix(p string) { c.prefix = p }

// Client exposes the Redis client for other Redis-backed twins (rate limits).
func (c *RedisCache) Client() *redis.Client { return c.rdb }

// Get implements Cache.
func (c *RedisCache) Get(ctx context.Context, key string) ([]byte, bool, error) {
	v, err := c.rdb.Get(ctx, c.prefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, redisErr("redis get", err)
	}
	return v, true, nil
}

// Set implements Cache.
func (c *RedisCache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := c.rdb.Set(ctx, c.prefix+key, value, ttl).Err(); err != nil {
		return redisErr("redis set", err)
	}
	return nil
}

// Delete implements Cache.
func (c *RedisCache) Delete(ctx context.Context, key string) error {
	if err := c.rdb.Del(ctx, c.prefix+key).Err(); err != nil {
		return redisErr("redis del", err)
	}
	return nil
}

// Ping implements Cache.
func (c *RedisCache) Ping(ctx context.Context) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return redisErr("redis ping", err)
	}
	return nil
}

// Close closes the client.
func (c *RedisCache) Close() error { return c.rdb.Close() }

// MemoryCache is the in-process Cache. Expired entries are dropped when read
// and swept when the map grows, so it stays bounded by what is live.
type MemoryCache struct {
	mu      sync.Mutex
	entries map[string]memEntry
	now     func() time.Time
	sweepAt int
}

type memEntry struct {
	value   []byte
	expires time.Time
}

// NewMemoryCache returns an empty in-process cache.
func NewMemoryCache() *MemoryCache {
	return &MemoryCache{entries: make(map[string]memEntry), now: time.Now, sweepAt: 1024}
}

// Get implements Cache.
func (c *MemoryCache) Get(_ context.Context, key string) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.entries[key]
	if !ok {
		return nil, false, nil
	}
	if !c.now().Before(e.expires) {
		delete(c.entries, key)
		return nil, false, nil
	}
	return append([]byte(nil), e.value...), true, nil
}

// Set implements Cache.
func (c *MemoryCache) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	now := c.now()
	if len(c.entries) >= c.sweepAt {
		for k, e := range c.entries {
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		}
		if len(c.entries) >= c.sweepAt {
			c.sweepAt *= 2
		}
	}
	c.entries[key] = memEntry{value: append([]byte(nil), value...), expires: now.Add(ttl)}
	return nil
}

// Delete implements Cache.
func (c *MemoryCache) Delete(_ context.Context, key string) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.entries, key)
	return nil
}

// Ping implements Cache; the in-process cache is always there.
func (c *MemoryCache) Ping(context.Context) error { return nil }
