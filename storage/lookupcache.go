package storage

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"log/slog"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/redis/go-redis/v9"

	"github.com/identityd/identityd/models"
)

// The lookup cache sits in front of the two reads on the hot paths: an
// access token by signature (introspection, every authenticated API call)
// and a client by id (every client authentication). Entries live in process
// memory, but each is stamped with a generation: a counter that every change
// able to make a cached entry stale (a token deleted or revoked, a client or
// tenant changed) bumps after it commits. A lookup reads the current
// generation first — from Redis when several instances share it, else an
// in-process counter — and uses an entry only if its stamp matches. So a
// revocation on any instance is seen by every instance's next lookup: the
// cache can never answer "active" for a revoked token. New tokens do not
// bump the generation (a miss is never cached), so issuance keeps caches warm.
//
// The cache never outlives its invalidation channel (docs/operations.md):
// it is bypassed while the generation cannot be read; the Redis counter
// restarts from a random base when Redis loses it, so no old stamp matches
// again; a counter that goes back drops the cache; a failed bump makes this
// instance bypass its cache and retry until the bump lands; and no entry is
// trusted for longer than LookupEntryMaxAge.

// Generation is the invalidation counter.
type Generation interface {
	Current(ctx context.Context) (int64, error)
	Bump(ctx context.Context) error
}

// MemoryGeneration is the in-process Generation, for a single instance.
type MemoryGeneration struct{ n atomic.Int64 }

// Current implements Generation.
func (g *MemoryGeneration) Current(context.Context) (int64, error) { return g.n.Load(), nil }

// Bump implements Generation.
func (g *MemoryGeneration) Bump(context.Context) error { g.n.Add(1); return nil }

// RedisGeneration is the Generation shared by every instance through Redis.
//
// Its stamps cannot repeat across a Redis restart: the counter starts from a
// random base (below 2^52, far from any earlier one) whenever the key is
// missing, so after Redis comes back empty (or the key was evicted) no stamp
// taken before matches the new generation, and every old entry is a miss.
type RedisGeneration struct {
	rdb *redis.Client
	key string
}

// NewRedisGeneration keeps the counter under key.
func NewRedisGeneration(rdb *redis.Client, key string) *RedisGeneration {
	return &RedisGeneration{rdb: rdb, key: key}
}

// currentScript reads the generation, creating it from a random base (SET NX,
// so concurrent instances agree on one) when it is missing.
var currentScript = redis.NewScript(`
local v = redis.call('GET', KEYS[1])
if not v then
  redis.call('SET', KEYS[1], ARGV[1], 'NX')
  v = redis.call('GET', KEYS[1])
end
return v`)

// bumpScript increments the generation, first creating it from a random base
// when it is missing: an INCR on a missing key would start again from 1.
var bumpScript = redis.NewScript(`
if redis.call('EXISTS', KEYS[1]) == 0 then
  redis.call('SET', KEYS[1], ARGV[1], 'NX')
end
redis.call('INCR', KEYS[1])
return 1`)

// randomBase is a random starting point for the counter, in [2^32, 2^52):
// small enough for Lua's numbers, large enough never to meet an earlier run.
func randomBase() string {
	var b [8]byte
	if _, err := rand.Read(b[:]); err != nil {
		return strconv.FormatInt(time.Now().UnixNano()&(1<<52-1)|1<<32, 10)
	}
	return strconv.FormatUint(binary.BigEndian.Uint64(b[:])&(1<<52-1)|1<<32, 10)
}

// Current implements Generation.
func (g *RedisGeneration) Current(ctx context.Context) (int64, error) {
	v, err := currentScript.Run(ctx, g.rdb, []string{g.key}, randomBase()).Text()
	if err != nil {
		return 0, fmt.Errorf("read cache generation: %w", err)
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("read cache generation: %w", err)
	}
	return n, nil
}

// Bump implements Generation.
func (g *RedisGeneration) Bump(ctx context.Context) error {
	if err := bumpScript.Run(ctx, g.rdb, []string{g.key}, randomBase()).Err(); err != nil {
		return fmt.Errorf("bump cache generation: %w", err)
	}
	return nil
}

type cachedToken struct {
	gen int64
	at  time.Time
	row compactRow // storage/compactrow.go
}

// tokenKey is a cached token's key: the SHA-256 of its signature, the
// bytes of the hex hashKey that the table is keyed by (32 bytes in the
// entry, not a 64-byte string beside it).
type tokenKey [32]byte

type cachedClient struct {
	gen    int64
	at     time.Time
	client models.Client
}

// LookupEntryMaxAge bounds how long an entry is trusted even when no bump
// reached this instance: the longest a change committed by an instance that
// lost Redis for good (and crashed before its bump landed) can go unseen.
const LookupEntryMaxAge = 30 * time.Second

type lookupCache struct {
	gen     Generation
	tokens  *lru.Cache[tokenKey, cachedToken]
	clients *lru.Cache[string, cachedClient]

	// last is the highest generation seen: one lower means Redis went back
	// (restored from a snapshot), and the whole cache is dropped.
	last atomic.Int64
	// stale is set while a bump has failed and not yet landed: this instance
	// then bypasses its own cache, and a goroutine retries the bump until
	// Redis takes it (so the other instances see the change once Redis is
	// reachable again).
	stale    atomic.Bool
	retrying atomic.Bool
	stop     chan struct{}
	stopOnce sync.Once
	log      *slog.Logger
	// observe, when set, is told of every read (storage/metrics.go).
	observe func(cache string, hit bool)
}

// fresh reports whether an entry stamped gen at time at may be used.
func (c *lookupCache) fresh(stamp, gen int64, at, now time.Time) bool {
	return stamp == gen && now.Sub(at) < LookupEntryMaxAge
}

// EnableLookupCache turns on the lookup cache with up to size token
// entries, invalidated through gen. Call it before serving.
func (s *Store) EnableLookupCache(gen Generation, size int) error {
	tokens, err := lru.New[tokenKey, cachedToken](size)
	if err != nil {
		return fmt.Errorf("lookup cache: %w", err)
	}
	clients, err := lru.New[string, cachedClient](4096)
	if err != nil {
		return fmt.Errorf("lookup cache: %w", err)
	}
	s.cache = &lookupCache{gen: gen, tokens: tokens, clients: clients, stop: make(chan struct{}), log: s.log}
	return nil
}

// invalidateLookups records that ctx's caller changed something a cached
// lookup may hold: deleted or revoked an access token, or changed or deleted
// a client or a tenant (a cached client carries its tenant's suspension).
// Every Store method that makes such a change calls it after its writes;
// nothing infers it from the SQL. Inside a transaction the bump is deferred
// to the outermost Commit (and dropped by a rollback): bumped any earlier,
// another instance could read the new generation, miss, and cache the row
// as it was before the commit. Outside one it happens now. A failed bump is
// retried (see bump).
//
// storage/lookupcache_invalidation_test.go lists the methods that call it
// and proves each one makes a cached lookup miss.
func (s *Store) invalidateLookups(ctx context.Context) {
	if s.cache == nil {
		return
	}
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		*st.dirty = true
		return
	}
	s.bump(ctx)
}

func (s *Store) bump(ctx context.Context) {
	if s.cache == nil {
		return
	}
	c := s.cache
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bumpTimeout)
	err := c.gen.Bump(bctx)
	cancel()
	if err == nil {
		c.stale.Store(false)
		return
	}
	// The change is committed but the other instances cannot know until a
	// bump lands: stop trusting our own cache and retry until Redis takes it.
	c.stale.Store(true)
	c.tokens.Purge()
	c.clients.Purge()
	s.log.ErrorContext(ctx, "cache invalidation failed: bypassing the lookup cache and retrying", "err", err)
	if c.retrying.CompareAndSwap(false, true) {
		go c.retryBump(context.WithoutCancel(ctx))
	}
}

// bumpTimeout bounds one attempt to bump the generation.
const bumpTimeout = time.Second

// retryBump bumps the generation until it lands (or the store closes), with
// a backoff from 50 ms to 1 s.
func (c *lookupCache) retryBump(ctx context.Context) {
	defer c.retrying.Store(false)
	wait := 50 * time.Millisecond
	for c.stale.Load() {
		select {
		case <-c.stop:
			return
		case <-time.After(wait):
		}
		bctx, cancel := context.WithTimeout(ctx, bumpTimeout)
		err := c.gen.Bump(bctx)
		cancel()
		if err == nil {
			c.tokens.Purge()
			c.clients.Purge()
			c.stale.Store(false)
			c.log.InfoContext(ctx, "cache invalidation delivered after retry")
			return
		}
		wait = min(2*wait, time.Second)
	}
}

// stopPendingBump ends the retry goroutine (Close).
func (s *Store) stopPendingBump() {
	if s.cache != nil {
		s.cache.stopOnce.Do(func() { close(s.cache.stop) })
	}
}

// cachedGeneration returns the generation for a lookup, or false when the
// cache must not be used (off, inside a transaction, a bump of ours still
// pending, or the counter is unreadable: then the database answers).
func (s *Store) cachedGeneration(ctx context.Context) (int64, bool) {
	if s.cache == nil || s.cache.stale.Load() {
		return 0, false
	}
	if _, inTx := ctx.Value(txKey{}).(*txState); inTx {
		return 0, false
	}
	var (
		g   int64
		err error
	)
	if m, ok := ctx.Value(genMemoKey{}).(*genMemo); ok {
		m.once.Do(func() { m.gen, m.err = s.cache.gen.Current(ctx) })
		g, err = m.gen, m.err
	} else {
		g, err = s.cache.gen.Current(ctx)
	}
	if err != nil {
		return 0, false
	}
	if last := s.cache.last.Load(); g < last {
		// The counter went back: Redis lost writes. Nothing cached is safe.
		s.cache.tokens.Purge()
		s.cache.clients.Purge()
		s.cache.last.Store(g)
	} else if g > last {
		s.cache.last.CompareAndSwap(last, g)
	}
	return g, true
}

type genMemoKey struct{}

type genMemo struct {
	once sync.Once
	gen  int64
	err  error
}

// WithLookupSnapshot makes every cached lookup under ctx use one generation,
// read at the first lookup: a request then costs one generation read however
// many lookups it makes, and it still sees every change committed before it.
func WithLookupSnapshot(ctx context.Context) context.Context {
	return context.WithValue(ctx, genMemoKey{}, &genMemo{})
}
