package storage_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

func TestCaches(t *testing.T) {
	t.Parallel()
	for name := range storagetest.Caches(t) {
		t.Run(name, func(t *testing.T) {
			storagetest.RunCacheSuite(t, func(t *testing.T) storage.Cache {
				t.Helper()
				// A fresh cache (and, for Redis, a fresh key prefix) per case.
				return storagetest.Caches(t)[name]
			})
		})
	}
}

// TestMemoryCacheConcurrent hammers one MemoryCache from many goroutines,
// past the size at which it sweeps, with live and expired entries; run it
// with -race. Every hit must be a value some writer stored under that key,
// and live entries must survive the sweeps.
func TestMemoryCacheConcurrent(t *testing.T) {
	t.Parallel()
	c := storage.NewMemoryCache()
	ctx := context.Background()
	const (
		workers = 16
		ops     = 1500
		keys    = 3000 // above the first sweep threshold
	)
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range ops {
				k := fmt.Sprintf("k%d", (w*ops+i*7)%keys)
				ttl := time.Minute
				if i%3 == 0 {
					ttl = time.Nanosecond // expired at once: sweep fodder
				}
				if err := c.Set(ctx, k, []byte("v-"+k), ttl); err != nil {
					errs <- err
					return
				}
				v, ok, err := c.Get(ctx, k)
				if err != nil {
					errs <- err
					return
				}
				if ok && string(v) != "v-"+k {
					errs <- fmt.Errorf("get %s = %q", k, v)
					return
				}
				if i%11 == 0 {
					if err := c.Delete(ctx, k); err != nil {
						errs <- err
						return
					}
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	// Live entries outlast any number of sweeps.
	for i := range keys {
		if err := c.Set(ctx, fmt.Sprintf("live%d", i), []byte{byte(i)}, time.Hour); err != nil {
			t.Fatal(err)
		}
	}
	for i := range keys {
		v, ok, err := c.Get(ctx, fmt.Sprintf("live%d", i))
		if err != nil || !ok || len(v) != 1 || v[0] != byte(i) {
			t.Fatalf("live%d = %v, %v, %v; want [%d], true, nil", i, v, ok, err, byte(i))
		}
	}
}
