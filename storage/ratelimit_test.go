package storage_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// limiter is what the identity service needs from a rate limiter.
type limiter interface {
	Allow(ctx context.Context, key string, l models.RateLimit) (bool, time.Duration, error)
	Peek(ctx context.Context, key string, l models.RateLimit) (bool, time.Duration, error)
	Reset(ctx context.Context, key string) error
}

// limiters returns the in-process limiter and, when IDENTITY_TEST_REDIS_URL
// is set, the Redis one under a key prefix of its own.
func limiters(t *testing.T) map[string]limiter {
	t.Helper()
	out := map[string]limiter{"memory": storage.NewMemoryLimiter()}
	if u := storagetest.RedisURL(t); u != "" {
		opts, err := redis.ParseURL(u)
		if err != nil {
			t.Fatalf("redis url: %v", err)
		}
		rdb := redis.NewClient(opts)
		t.Cleanup(func() { _ = rdb.Close() })
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		out["redis"] = storage.NewRedisLimiter(rdb, "identity-test:rl:"+hex.EncodeToString(b)+":")
	}
	return out
}

// burst takes n events for key and returns how many were allowed and the
// retry-after of the last refusal.
func burst(t *testing.T, l limiter, key string, lim models.RateLimit, n int) (allowed int, retry time.Duration) {
	t.Helper()
	for range n {
		ok, r, err := l.Allow(context.Background(), key, lim)
		if err != nil {
			t.Fatalf("Allow(%s): %v", key, err)
		}
		if ok {
			if r < 0 {
				t.Errorf("an allowed event reports retry-after %v", r)
			}
			allowed++
		} else {
			retry = r
		}
	}
	return allowed, retry
}

func TestRateLimiters(t *testing.T) {
	t.Parallel()
	for name, l := range limiters(t) {
		t.Run(name, func(t *testing.T) {
			t.Run("burst then refused", func(t *testing.T) {
				t.Parallel()
				lim := models.RateLimit{Name: "login", Rate: 5, Period: time.Minute}
				allowed, retry := burst(t, l, "burst:"+t.Name(), lim, 6)
				if allowed != 5 {
					t.Fatalf("%d of 6 allowed, want the burst of 5", allowed)
				}
				// One event every 12 s: the next one is at most 12 s away.
				if retry <= 0 || retry > 12*time.Second {
					t.Errorf("retry-after %v, want within (0, 12s]", retry)
				}
				for range 3 {
					ok, r, err := l.Allow(context.Background(), "burst:"+t.Name(), lim)
					if err != nil || ok || r <= 0 {
						t.Errorf("after the burst: allowed=%v retry=%v err=%v, want refused with a positive retry-after", ok, r, err)
					}
				}
			})
			t.Run("independent keys", func(t *testing.T) {
				t.Parallel()
				lim := models.RateLimit{Name: "2fa", Rate: 3, Period: time.Minute}
				if n, _ := burst(t, l, "a:"+t.Name(), lim, 4); n != 3 {
					t.Fatalf("key a: %d allowed, want 3", n)
				}
				if n, _ := burst(t, l, "b:"+t.Name(), lim, 4); n != 3 {
					t.Errorf("key b after key a was exhausted: %d allowed, want 3", n)
				}
				// The same key under another limit's rate is still the same
				// key: the caller namespaces keys by limit name.
				other := models.RateLimit{Name: "pin", Rate: 3, Period: time.Minute}
				if n, _ := burst(t, l, "pin:"+t.Name(), other, 3); n != 3 {
					t.Errorf("a fresh key: %d allowed, want 3", n)
				}
			})
			t.Run("refill after Period/Rate", func(t *testing.T) {
				t.Parallel()
				// 2 per 2 s: one event every second.
				lim := models.RateLimit{Name: "refill", Rate: 2, Period: 2 * time.Second}
				key := "refill:" + t.Name()
				allowed, retry := burst(t, l, key, lim, 3)
				if allowed != 2 || retry <= 0 || retry > time.Second {
					t.Fatalf("burst: %d allowed, retry %v; want 2 and a retry within (0, 1s]", allowed, retry)
				}
				time.Sleep(retry + 150*time.Millisecond)
				ok, _, err := l.Allow(context.Background(), key, lim)
				if err != nil || !ok {
					t.Fatalf("after waiting the retry-after: allowed=%v err=%v, want one more event", ok, err)
				}
				ok, r, err := l.Allow(context.Background(), key, lim)
				if err != nil || ok || r <= 0 {
					t.Errorf("right after the refilled event: allowed=%v retry=%v err=%v, want refused (one event per second)", ok, r, err)
				}
			})
			t.Run("concurrent burst", func(t *testing.T) {
				t.Parallel()
				lim := models.RateLimit{Name: "conc", Rate: 10, Period: time.Hour}
				key := "conc:" + t.Name()
				var allowed atomic.Int32
				var wg sync.WaitGroup
				for range 64 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						ok, _, err := l.Allow(context.Background(), key, lim)
						if err != nil {
							t.Errorf("Allow: %v", err)
						}
						if ok {
							allowed.Add(1)
						}
					}()
				}
				wg.Wait()
				if got := allowed.Load(); got != 10 {
					t.Errorf("64 concurrent events: %d allowed, want exactly the burst of 10", got)
				}
			})
			t.Run("many keys", func(t *testing.T) {
				t.Parallel()
				// More keys than the in-process sweep threshold: every fresh
				// key still gets its burst, none is forgotten early.
				lim := models.RateLimit{Name: "many", Rate: 1, Period: time.Hour}
				n := 300
				if name == "memory" {
					n = 5000
				}
				for i := range n {
					ok, _, err := l.Allow(context.Background(), fmt.Sprintf("many:%s:%d", t.Name(), i), lim)
					if err != nil || !ok {
						t.Fatalf("fresh key %d: allowed=%v err=%v", i, ok, err)
					}
				}
				for _, i := range []int{0, 1, n / 2, n - 1} {
					ok, _, err := l.Allow(context.Background(), fmt.Sprintf("many:%s:%d", t.Name(), i), lim)
					if err != nil || ok {
						t.Errorf("key %d a second time within the hour: allowed=%v err=%v, want refused", i, ok, err)
					}
				}
			})
		})
	}
}

// TestLimiterPeekAndReset: Peek answers what Allow would without taking an
// event; Reset forgets a key's events (a successful login clears its
// (IP, account) pair). Both limiters agree.
func TestLimiterPeekAndReset(t *testing.T) {
	t.Parallel()
	lim := models.RateLimit{Name: "t", Rate: 3, Period: time.Minute}
	for name, l := range limiters(t) {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			key := "peek-" + name
			for i := 0; i < 10; i++ {
				ok, _, err := l.Peek(ctx, key, lim)
				if err != nil || !ok {
					t.Fatalf("peek %d on an empty key: %v %v, want allowed", i, ok, err)
				}
			}
			if n, _ := burst(t, l, key, lim, 3); n != 3 {
				t.Fatalf("peeks took events: %d of 3 allowed", n)
			}
			ok, retry, err := l.Peek(ctx, key, lim)
			if err != nil || ok {
				t.Fatalf("peek on a spent key: %v %v, want refused", ok, err)
			}
			if retry <= 0 || retry > lim.Period {
				t.Errorf("peek retry-after %v, want within the period", retry)
			}
			if ok, _, _ := l.Allow(ctx, key, lim); ok {
				t.Fatal("allow on a spent key")
			}
			if err := l.Reset(ctx, key); err != nil {
				t.Fatalf("reset: %v", err)
			}
			if n, _ := burst(t, l, key, lim, 4); n != 3 {
				t.Fatalf("after reset %d of 4 allowed, want the full burst of 3", n)
			}
			if err := l.Reset(ctx, "never-seen-"+name); err != nil {
				t.Fatalf("reset of an unknown key: %v", err)
			}
		})
	}
}
