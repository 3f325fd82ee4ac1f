package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/redis/go-redis/v9"
	"gorm.io/gorm"

	"github.com/identity/identity/models"
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
type RedisGeneration struct {
	rdb *redis.Client
	key string
}

// NewRedisGeneration keeps the counter under key.
func NewRedisGeneration(rdb *redis.Client, key string) *RedisGeneration {
	return &RedisGeneration{rdb: rdb, key: key}
}

// Current implements Generation.
func (g *RedisGeneration) Current(ctx context.Context) (int64, error) {
	v, err := g.rdb.Get(ctx, g.key).Int64()
	if errors.Is(err, redis.Nil) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("read cache generation: %w", err)
	}
	return v, nil
}

// Bump implements Generation.
func (g *RedisGeneration) Bump(ctx context.Context) error {
	if err := g.rdb.Incr(ctx, g.key).Err(); err != nil {
		return fmt.Errorf("bump cache generation: %w", err)
	}
	return nil
}

type cachedToken struct {
	gen int64
	row requestRow
}

type cachedClient struct {
	gen    int64
	client models.Client
}

type lookupCache struct {
	gen     Generation
	tokens  *lru.Cache[string, cachedToken]
	clients *lru.Cache[string, cachedClient]
}

// EnableLookupCache turns on the lookup cache with up to size token
// entries, invalidated through gen. Call it before serving.
func (s *Store) EnableLookupCache(gen Generation, size int) error {
	tokens, err := lru.New[string, cachedToken](size)
	if err != nil {
		return fmt.Errorf("lookup cache: %w", err)
	}
	clients, err := lru.New[string, cachedClient](4096)
	if err != nil {
		return fmt.Errorf("lookup cache: %w", err)
	}
	s.cache = &lookupCache{gen: gen, tokens: tokens, clients: clients}
	cb := s.gdb.Callback()
	return errors.Join(
		cb.Delete().After("gorm:delete").Register("identity:invalidate_delete", s.invalidateAfter),
		cb.Update().After("gorm:update").Register("identity:invalidate_update", s.invalidateAfter),
		cb.Raw().After("gorm:raw").Register("identity:invalidate_raw", s.invalidateAfter),
	)
}

// invalidatingTables are the tables whose changes can make an entry stale.
var invalidatingTables = []string{tableAccess, "oauth_clients", "tenants"}

// invalidateAfter runs after every GORM delete, update and raw statement: if
// it touched an invalidating table, the generation is bumped after the
// transaction commits (or now, outside one).
func (s *Store) invalidateAfter(db *gorm.DB) {
	if db.Error != nil || db.Statement == nil || s.cache == nil {
		return
	}
	touched := false
	table := db.Statement.Table
	sql := ""
	if db.Statement.SQL.Len() > 0 {
		sql = db.Statement.SQL.String()
	}
	for _, t := range invalidatingTables {
		if table == t || strings.Contains(sql, t) && isWrite(sql) {
			touched = true
			break
		}
	}
	if !touched {
		return
	}
	ctx := db.Statement.Context
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		*st.dirty = true
		return
	}
	s.bump(ctx)
}

func isWrite(sql string) bool {
	head := strings.ToUpper(strings.TrimSpace(sql))
	return strings.HasPrefix(head, "UPDATE") || strings.HasPrefix(head, "DELETE")
}

func (s *Store) bump(ctx context.Context) {
	if s.cache == nil {
		return
	}
	if err := s.cache.gen.Bump(context.WithoutCancel(ctx)); err != nil {
		// The change is committed but other instances may keep a stale entry
		// until they see a later bump: drop our own cache, and say so loudly.
		s.cache.tokens.Purge()
		s.cache.clients.Purge()
		s.log.ErrorContext(ctx, "cache invalidation failed: lookups may be stale until the next successful bump", "err", err)
	}
}

// cachedGeneration returns the generation for a lookup, or false when the
// cache must not be used (off, inside a transaction, or the counter is
// unreadable: then the database answers).
func (s *Store) cachedGeneration(ctx context.Context) (int64, bool) {
	if s.cache == nil {
		return 0, false
	}
	if _, inTx := ctx.Value(txKey{}).(*txState); inTx {
		return 0, false
	}
	if m, ok := ctx.Value(genMemoKey{}).(*genMemo); ok {
		m.once.Do(func() { m.gen, m.err = s.cache.gen.Current(ctx) })
		return m.gen, m.err == nil
	}
	g, err := s.cache.gen.Current(ctx)
	if err != nil {
		return 0, false
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
