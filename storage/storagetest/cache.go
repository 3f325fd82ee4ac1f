package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/identityd/identityd/storage"
)

// RunCacheSuite checks a storage.Cache: misses, set/get/overwrite/delete,
// expiry after the TTL, and that values are copied in and out (a caller
// mutating its slice never changes what is cached). newCache must return an
// empty cache (or one whose keys are namespaced for the test).
func RunCacheSuite(t *testing.T, newCache func(t *testing.T) storage.Cache) {
	t.Helper()
	type op func(t *testing.T, ctx context.Context, c storage.Cache)
	wantGet := func(t *testing.T, ctx context.Context, c storage.Cache, k, want string, wantOK bool) {
		t.Helper()
		v, ok, err := c.Get(ctx, k)
		must(t, err, "get "+k)
		if ok != wantOK {
			t.Fatalf("get %s: ok = %v, want %v", k, ok, wantOK)
		}
		if wantOK && string(v) != want {
			t.Fatalf("get %s = %q, want %q", k, v, want)
		}
		if !wantOK && v != nil {
			t.Fatalf("get %s on a miss = %q, want nil", k, v)
		}
	}
	set := func(t *testing.T, ctx context.Context, c storage.Cache, k, v string, ttl time.Duration) {
		t.Helper()
		must(t, c.Set(ctx, k, []byte(v), ttl), "set "+k)
	}
	tests := []struct {
		name string
		run  op
	}{
		{"ping", func(t *testing.T, ctx context.Context, c storage.Cache) {
			must(t, c.Ping(ctx), "ping")
		}},
		{"miss", func(t *testing.T, ctx context.Context, c storage.Cache) {
			wantGet(t, ctx, c, "absent", "", false)
		}},
		{"set_get_overwrite", func(t *testing.T, ctx context.Context, c storage.Cache) {
			set(t, ctx, c, "k", "v1", time.Minute)
			wantGet(t, ctx, c, "k", "v1", true)
			set(t, ctx, c, "k", "v2", time.Minute)
			wantGet(t, ctx, c, "k", "v2", true)
		}},
		{"empty_value_is_a_hit", func(t *testing.T, ctx context.Context, c storage.Cache) {
			set(t, ctx, c, "empty", "", time.Minute)
			wantGet(t, ctx, c, "empty", "", true)
		}},
		{"delete", func(t *testing.T, ctx context.Context, c storage.Cache) {
			set(t, ctx, c, "a", "1", time.Minute)
			set(t, ctx, c, "b", "2", time.Minute)
			must(t, c.Delete(ctx, "a"), "delete a")
			wantGet(t, ctx, c, "a", "", false)
			wantGet(t, ctx, c, "b", "2", true)
			must(t, c.Delete(ctx, "never-set"), "delete an absent key")
		}},
		{"ttl_expiry", func(t *testing.T, ctx context.Context, c storage.Cache) {
			set(t, ctx, c, "short", "s", 150*time.Millisecond)
			set(t, ctx, c, "long", "l", time.Minute)
			wantGet(t, ctx, c, "short", "s", true)
			time.Sleep(400 * time.Millisecond)
			wantGet(t, ctx, c, "short", "", false)
			wantGet(t, ctx, c, "long", "l", true)
			// An expired key can be set again.
			set(t, ctx, c, "short", "s2", time.Minute)
			wantGet(t, ctx, c, "short", "s2", true)
		}},
		{"values_copied", func(t *testing.T, ctx context.Context, c storage.Cache) {
			in := []byte("abc")
			must(t, c.Set(ctx, "k", in, time.Minute), "set")
			in[0] = 'X'
			out, ok, err := c.Get(ctx, "k")
			must(t, err, "get")
			if !ok || string(out) != "abc" {
				t.Fatalf("get = %q, %v; want \"abc\" unaffected by the caller's slice", out, ok)
			}
			out[0] = 'Y'
			wantGet(t, ctx, c, "k", "abc", true)
		}},
		{"binary_value", func(t *testing.T, ctx context.Context, c storage.Cache) {
			set(t, ctx, c, "bin", "\x00\xff\x10zero", time.Minute)
			wantGet(t, ctx, c, "bin", "\x00\xff\x10zero", true)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, t.Context(), newCache(t))
		})
	}
}
