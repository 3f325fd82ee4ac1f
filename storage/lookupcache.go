package storage

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/identityd/identityd/models"
)

// The lookup cache sits in front of the two reads on the hot paths: an
// access token by signature (introspection, every authenticated API call)
// and a client by id (every client authentication). Entries live in process
// memory, but each is stamped with a generation: a counter that every change
// able to make a cached entry stale (a token deleted or revoked, a client or
// tenant changed) bumps after it commits. A lookup reads the current
// generation first — an in-process counter, kept in step across the
// instances sharing a PostgreSQL database by LISTEN/NOTIFY (ListenGeneration,
// storage/listengen.go) — and uses an entry only if its stamp matches. So a
// revocation on any instance is seen by every instance once its notification
// arrives: the cache never answers "active" for a token it knows revoked.
// New tokens do not bump the generation (a miss is never cached), so
// issuance keeps caches warm.
//
// The cache never outlives its invalidation channel (docs/operations.md):
// while the listener is not connected the cache is not trusted (its entries
// answer only when the database cannot); the generation moves on when the
// listener is back; a failed bump makes this instance bypass its cache and
// retry until the bump lands; and no entry is trusted for longer than
// LookupEntryMaxAge.

// Lookups says which cached lookups a change can make stale: each kind has
// a generation of its own, so revoking an access token (every refresh
// rotation does) leaves the cached clients warm.
type Lookups uint8

const (
	// TokenLookups: an access token was deleted or revoked.
	TokenLookups Lookups = 1 << iota
	// ClientLookups: a client changed, or a tenant (a cached client
	// carries its tenant's suspension).
	ClientLookups
	// AllLookups is every kind: what a change to a client or a tenant
	// bumps (a stored token is loaded with its client), and what a lost
	// notification costs.
	AllLookups = TokenLookups | ClientLookups
)

// Generations are the invalidation counters, one per kind of lookup.
type Generations struct{ Tokens, Clients int64 }

// Generation is the invalidation channel. Current returns an error wrapping
// ErrChannelDown, with the last generations it knew, while changes made
// elsewhere may not reach it; any other error means the cache is bypassed.
// Bump moves the generations of what.
type Generation interface {
	Current(ctx context.Context) (Generations, error)
	Bump(ctx context.Context, what Lookups) error
}

// MemoryGeneration is the in-process Generation, for a single instance.
type MemoryGeneration struct{ counters }

// counters are a Generation's two counters.
type counters struct{ tokens, clients atomic.Int64 }

func (c *counters) load() Generations {
	return Generations{Tokens: c.tokens.Load(), Clients: c.clients.Load()}
}

func (c *counters) add(what Lookups) {
	if what&TokenLookups != 0 {
		c.tokens.Add(1)
	}
	if what&ClientLookups != 0 {
		c.clients.Add(1)
	}
}

// Current implements Generation.
func (g *MemoryGeneration) Current(context.Context) (Generations, error) { return g.load(), nil }

// Bump implements Generation.
func (g *MemoryGeneration) Bump(_ context.Context, what Lookups) error { g.add(what); return nil }

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
// lost PostgreSQL right after its commit (and crashed before its retried
// notification went out) can go unseen.
const LookupEntryMaxAge = 30 * time.Second

type lookupCache struct {
	gen     Generation
	tokens  *lru.Cache[tokenKey, cachedToken]
	clients *lru.Cache[string, cachedClient]

	// stale is set while a bump has failed and not yet landed: this instance
	// then bypasses its own cache, and a goroutine retries the bump until
	// PostgreSQL takes the notification (so the other instances see the
	// change once it is reachable again).
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
// lookup of the kinds what may hold: deleted or revoked an access token
// (TokenLookups), or changed or deleted a client or a tenant (AllLookups).
// Every Store method that makes such a change calls it after its writes;
// nothing infers it from the SQL. Inside a transaction the bump is deferred
// to the outermost Commit (and dropped by a rollback): bumped any earlier,
// another instance could read the new generation, miss, and cache the row
// as it was before the commit. Outside one it happens now. A failed bump is
// retried (see bump).
//
// storage/lookupcache_invalidation_test.go lists the methods that call it
// and proves each one makes a cached lookup miss.
func (s *Store) invalidateLookups(ctx context.Context, what Lookups) {
	if s.cache == nil {
		return
	}
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		*st.dirty |= what
		return
	}
	s.bump(ctx, what)
}

func (s *Store) bump(ctx context.Context, what Lookups) {
	if s.cache == nil || what == 0 {
		return
	}
	c := s.cache
	bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bumpTimeout)
	err := c.gen.Bump(bctx, what)
	cancel()
	if err == nil {
		c.stale.Store(false)
		return
	}
	// The change is committed but the other instances cannot know until a
	// bump lands: stop trusting our own cache and retry until the notification goes out.
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

// retryBump bumps every generation until it lands (or the store closes),
// with a backoff from 50 ms to 1 s: the failed bumps may have been of
// either kind, and this instance purged both caches anyway.
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
		err := c.gen.Bump(bctx, AllLookups)
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

// lookupMode says how a lookup may use the cache.
type lookupMode uint8

const (
	// lookupBypass: the cache is off, the lookup runs inside a
	// transaction, or a bump of ours is still pending.
	lookupBypass lookupMode = iota
	// lookupCached: entries stamped with the generation are trusted, and
	// what the database answers is cached.
	lookupCached
	// lookupLastResort: the invalidation channel is down, so the database
	// answers; an entry stamped with the last generation known answers
	// only when the database cannot (ErrUnavailable). Nothing is cached.
	lookupLastResort
)

// cachedGeneration returns the generations for a lookup and how the lookup
// may use the cache.
func (s *Store) cachedGeneration(ctx context.Context) (Generations, lookupMode) {
	if s.cache == nil || s.cache.stale.Load() {
		return Generations{}, lookupBypass
	}
	if _, inTx := ctx.Value(txKey{}).(*txState); inTx {
		return Generations{}, lookupBypass
	}
	var (
		g   Generations
		err error
	)
	if m, ok := ctx.Value(genMemoKey{}).(*genMemo); ok {
		m.once.Do(func() { m.gen, m.err = s.cache.gen.Current(ctx) })
		g, err = m.gen, m.err
	} else {
		g, err = s.cache.gen.Current(ctx)
	}
	switch {
	case err == nil:
		return g, lookupCached
	case errors.Is(err, ErrChannelDown):
		return g, lookupLastResort
	default:
		return Generations{}, lookupBypass
	}
}

// tokenIfLastResort returns the cached token for sig when a lookup in mode
// whose database read failed with err may answer from the cache: the
// channel is down and the database unreachable, and the entry carries the
// last generation known and is fresh.
func (c *lookupCache) tokenIfLastResort(mode lookupMode, err error, sig tokenKey, gen int64) (cachedToken, bool) {
	if mode != lookupLastResort || !models.IsUnavailable(err) {
		return cachedToken{}, false
	}
	e, hit := c.tokens.Get(sig)
	return e, hit && c.fresh(e.gen, gen, e.at, time.Now())
}

// clientIfLastResort is tokenIfLastResort for a client.
func (c *lookupCache) clientIfLastResort(mode lookupMode, err error, id string, gen int64) (cachedClient, bool) {
	if mode != lookupLastResort || !models.IsUnavailable(err) {
		return cachedClient{}, false
	}
	e, hit := c.clients.Get(id)
	return e, hit && c.fresh(e.gen, gen, e.at, time.Now())
}

type genMemoKey struct{}

type genMemo struct {
	once sync.Once
	gen  Generations
	err  error
}

// WithLookupSnapshot makes every cached lookup under ctx use one reading of
// the generations, taken at the first lookup: a request then costs one read
// however many lookups it makes, and it still sees every change committed
// before it.
func WithLookupSnapshot(ctx context.Context) context.Context {
	return context.WithValue(ctx, genMemoKey{}, &genMemo{})
}
