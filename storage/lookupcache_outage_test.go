package storage_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/redis/go-redis/v9"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// partitionedGeneration is one instance's view of a shared generation: while
// cut, neither reads nor bumps reach it (the instance is cut off Redis).
type partitionedGeneration struct {
	shared storage.Generation
	cut    atomic.Bool
}

var errCut = errors.New("cut off")

func (g *partitionedGeneration) Current(ctx context.Context) (int64, error) {
	if g.cut.Load() {
		return 0, errCut
	}
	return g.shared.Current(ctx)
}

func (g *partitionedGeneration) Bump(ctx context.Context) error {
	if g.cut.Load() {
		return errCut
	}
	return g.shared.Bump(ctx)
}

// A revocation whose bump fails is not lost: the revoking instance bypasses
// its own cache at once, and retries the bump until it lands, so the other
// instance stops trusting its entry once the partition heals.
func TestLookupCacheFailedBumpIsRetried(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			backend := freshBackend(t, b.Name)
			shared := &storage.MemoryGeneration{}
			g1 := &partitionedGeneration{shared: shared}
			s1 := storagetest.OpenStore(t, backend, storage.Options{})
			s2 := storagetest.OpenStore(t, backend, storage.Options{})
			if err := s1.EnableLookupCache(g1, 100); err != nil {
				t.Fatal(err)
			}
			if err := s2.EnableLookupCache(shared, 100); err != nil {
				t.Fatal(err)
			}
			tenant := &models.Tenant{Slug: "acme", Name: "Acme"}
			if err := s1.CreateTenant(ctx, tenant); err != nil {
				t.Fatal(err)
			}
			if err := s1.CreateClient(ctx, &models.Client{ID: "svc", TenantID: tenant.ID, SecretHash: "bcrypt$x", TokenEndpointAuthMethod: "client_secret_basic", GrantTypes: []string{"client_credentials"}}); err != nil {
				t.Fatal(err)
			}
			client, err := s1.GetClient(ctx, "svc")
			if err != nil {
				t.Fatal(err)
			}
			sess := oauth.NewClientSession("http://x", tenant.ID, "svc")
			sess.SetExpiresAt(fosite.AccessToken, time.Now().Add(time.Hour))
			req := fosite.NewRequest()
			req.ID, req.Client, req.Session = "req-1", client, sess
			if err := s1.CreateAccessTokenSession(ctx, "sig-1", req); err != nil {
				t.Fatal(err)
			}
			for _, s := range []*storage.Store{s1, s2} {
				if _, err := s.GetAccessTokenSession(ctx, "sig-1", oauth.NewSession()); err != nil {
					t.Fatal(err)
				}
			}
			g1.cut.Store(true)
			if err := s1.RevokeAccessToken(ctx, "req-1"); err != nil {
				t.Fatalf("revocation with the invalidation channel cut: %v", err)
			}
			// The revoking instance does not trust its cache.
			if _, err := s1.GetAccessTokenSession(ctx, "sig-1", oauth.NewSession()); !errors.Is(err, fosite.ErrNotFound) {
				t.Fatalf("revoking instance: %v, want not found", err)
			}
			before, _ := shared.Current(ctx)
			g1.cut.Store(false)
			deadline := time.Now().Add(10 * time.Second)
			for {
				now, _ := shared.Current(ctx)
				if now > before {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the failed bump was not retried within 10s of the heal")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if _, err := s2.GetAccessTokenSession(ctx, "sig-1", oauth.NewSession()); !errors.Is(err, fosite.ErrNotFound) {
				t.Fatalf("other instance after the heal: %v, want not found", err)
			}
		})
	}
}

// The Redis generation never repeats a stamp after Redis lost it (restarted
// empty, flushed, evicted): it starts again from a random base, for reads and
// for bumps alike, never from zero.
func TestRedisGenerationDoesNotRepeatAfterLoss(t *testing.T) {
	t.Parallel()
	u := storagetest.RedisURL(t)
	if u == "" {
		t.Skip("set " + storagetest.EnvRedisURL)
	}
	opts, err := redis.ParseURL(u)
	if err != nil {
		t.Fatal(err)
	}
	rdb := redis.NewClient(opts)
	defer rdb.Close()
	var b [6]byte
	_, _ = rand.Read(b[:])
	key := "identity-test:" + hex.EncodeToString(b[:]) + ":lookup-gen"
	t.Cleanup(func() { rdb.Del(context.Background(), key) })
	ctx := context.Background()
	g := storage.NewRedisGeneration(rdb, key)
	seen := map[int64]bool{}
	for round := 0; round < 3; round++ {
		first, err := g.Current(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if first < 1<<32 {
			t.Fatalf("generation %d starts near zero", first)
		}
		for i := 0; i < 3; i++ {
			if err := g.Bump(ctx); err != nil {
				t.Fatal(err)
			}
			n, _ := g.Current(ctx)
			if seen[n] {
				t.Fatalf("stamp %d repeated after Redis lost the counter", n)
			}
			seen[n] = true
		}
		rdb.Del(ctx, key) // Redis restarted empty
		// A bump on a missing key starts from a random base too.
		if err := g.Bump(ctx); err != nil {
			t.Fatal(err)
		}
		n, _ := g.Current(ctx)
		if n < 1<<32 || seen[n] {
			t.Fatalf("bump after loss gave %d", n)
		}
		rdb.Del(ctx, key)
	}
}
