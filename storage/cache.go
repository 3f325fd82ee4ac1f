package storage

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
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
type RedisCache struct {
	rdb    *redis.Client
	prefix string
}

// NewRedisCache connects to the Redis named by url (redis://…), checking it answers.
func NewRedisCache(ctx context.Context, url string) (*RedisCache, error) {
	opts, err := redis.ParseURL(url)
	if err != nil {
		return nil, errors.New("parse REDIS_URL: not a valid redis:// URL")
	}
	c := &RedisCache{rdb: redis.NewClient(opts), prefix: "identity:"}
	if err := c.Ping(ctx); err != nil {
		_ = c.rdb.Close()
		return nil, err
	}
	return c, nil
}

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
		return nil, false, fmt.Errorf("redis get: %w", err)
	}
	return v, true, nil
}

// Set implements Cache.
func (c *RedisCache) Set(ctx context.Context, key string, value []byte, ttl time.Duration) error {
	if err := c.rdb.Set(ctx, c.prefix+key, value, ttl).Err(); err != nil {
		return fmt.Errorf("redis set: %w", err)
	}
	return nil
}

// Delete implements Cache.
func (c *RedisCache) Delete(ctx context.Context, key string) error {
	if err := c.rdb.Del(ctx, c.prefix+key).Err(); err != nil {
		return fmt.Errorf("redis del: %w", err)
	}
	return nil
}

// Ping implements Cache.
func (c *RedisCache) Ping(ctx context.Context) error {
	if err := c.rdb.Ping(ctx).Err(); err != nil {
		return fmt.Errorf("redis ping: %w", err)
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
