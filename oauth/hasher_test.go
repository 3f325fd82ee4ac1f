package oauth_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/oauth"
)

// countingCache is an in-memory SecretCache that records what the Hasher
// asks of it. It stands in for Redis only to be inspected; storage's real
// caches have their own conformance suite.
type countingCache struct {
	mu         sync.Mutex
	data       map[string][]byte
	gets, sets int
	hits       int
	keys       []string
	values     [][]byte
	ttls       []time.Duration
	failGet    bool
	failSet    bool
}

func newCountingCache() *countingCache { return &countingCache{data: map[string][]byte{}} }

func (c *countingCache) Get(_ context.Context, key string) ([]byte, bool, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.gets++
	c.keys = append(c.keys, key)
	if c.failGet {
		return nil, false, errors.New("cache down")
	}
	v, ok := c.data[key]
	if ok {
		c.hits++
	}
	return v, ok, nil
}

func (c *countingCache) Set(_ context.Context, key string, value []byte, ttl time.Duration) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.sets++
	c.keys = append(c.keys, key)
	c.values = append(c.values, bytes.Clone(value))
	c.ttls = append(c.ttls, ttl)
	if c.failSet {
		return errors.New("cache down")
	}
	c.data[key] = bytes.Clone(value)
	return nil
}

func (c *countingCache) counts() (gets, sets, hits int) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gets, c.sets, c.hits
}

func newHasher(t *testing.T, cache oauth.SecretCache) *oauth.Hasher {
	t.Helper()
	ring, err := keyring.New([]byte("hasher-test-secret-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	return &oauth.Hasher{Cost: bcrypt.MinCost, Cache: cache, Ring: ring, TTL: time.Minute}
}

func TestHasherHashAndCompare(t *testing.T) {
	ctx := context.Background()
	h := newHasher(t, nil)
	secret := []byte("client-secret-0123456789")
	hash, err := h.Hash(ctx, secret)
	if err != nil {
		t.Fatalf("Hash: %v", err)
	}
	if !bytes.HasPrefix(hash, []byte("bcrypt$$2")) {
		t.Fatalf("hash %q lacks the bcrypt$ prefix", hash)
	}
	if bytes.Contains(hash, secret) {
		t.Fatal("hash contains the secret")
	}
	if cost, err := bcrypt.Cost(bytes.TrimPrefix(hash, []byte("bcrypt$"))); err != nil || cost != bcrypt.MinCost {
		t.Errorf("cost %d (%v), want the configured %d", cost, err, bcrypt.MinCost)
	}
	again, _ := h.Hash(ctx, secret)
	if bytes.Equal(hash, again) {
		t.Error("two hashes of one secret are equal (no salt)")
	}
	legacy, _ := bcrypt.GenerateFromPassword(secret, bcrypt.MinCost)

	cases := []struct {
		name   string
		hash   []byte
		secret []byte
		ok     bool
	}{
		{"right secret", hash, secret, true},
		{"right secret, second hash", again, secret, true},
		{"unprefixed bcrypt hash", legacy, secret, true},
		{"wrong secret", hash, []byte("client-secret-0123456788"), false},
		{"empty secret", hash, nil, false},
		{"secret with suffix", hash, append(bytes.Clone(secret), 'x'), false},
		{"unknown algorithm", []byte("argon2$abc"), secret, false},
		{"plaintext stored", secret, secret, false},
		{"empty hash", nil, secret, false},
		{"prefix only", []byte("bcrypt$"), secret, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := h.Compare(ctx, tc.hash, tc.secret)
			if tc.ok != (err == nil) {
				t.Fatalf("Compare = %v, want ok=%v", err, tc.ok)
			}
			if err != nil && len(tc.secret) > 0 && strings.Contains(err.Error(), string(tc.secret)) {
				t.Errorf("error repeats the secret: %v", err)
			}
		})
	}
	t.Run("default cost", func(t *testing.T) {
		hd := &oauth.Hasher{}
		hash, err := hd.Hash(ctx, []byte("x"))
		if err != nil {
			t.Fatal(err)
		}
		if cost, _ := bcrypt.Cost(bytes.TrimPrefix(hash, []byte("bcrypt$"))); cost != bcrypt.DefaultCost {
			t.Errorf("zero Cost hashed at %d, want %d", cost, bcrypt.DefaultCost)
		}
	})
}

func TestHasherCache(t *testing.T) {
	ctx := context.Background()
	cache := newCountingCache()
	h := newHasher(t, cache)
	secret := []byte("cached-client-secret-0123456789")
	hash, err := h.Hash(ctx, secret)
	if err != nil {
		t.Fatal(err)
	}

	// First compare: a miss, bcrypt, then one Set.
	if err := h.Compare(ctx, hash, secret); err != nil {
		t.Fatalf("Compare: %v", err)
	}
	if gets, sets, hits := cache.counts(); gets != 1 || sets != 1 || hits != 0 {
		t.Fatalf("after the first compare: gets %d sets %d hits %d, want 1 1 0", gets, sets, hits)
	}
	if cache.ttls[0] != time.Minute || !bytes.Equal(cache.values[0], []byte{1}) {
		t.Errorf("set %v for %v, want the verified marker for the configured TTL", cache.values[0], cache.ttls[0])
	}

	// Second compare: a hit, and no new Set (bcrypt skipped).
	if err := h.Compare(ctx, hash, secret); err != nil {
		t.Fatalf("second Compare: %v", err)
	}
	if gets, sets, hits := cache.counts(); gets != 2 || sets != 1 || hits != 1 {
		t.Fatalf("after the second compare: gets %d sets %d hits %d, want 2 1 1", gets, sets, hits)
	}

	// A wrong secret never hits and always fails, however often it is tried.
	for i := range 3 {
		if err := h.Compare(ctx, hash, []byte("wrong-secret-wrong-secret")); err == nil {
			t.Fatalf("attempt %d: a wrong secret verified", i)
		}
	}
	if _, sets, hits := cache.counts(); sets != 1 || hits != 1 {
		t.Errorf("wrong secrets: sets %d hits %d, want no new set and no hit", sets, hits)
	}

	// A new hash for the same secret (rotation) is a different key.
	rotated, _ := h.Hash(ctx, secret)
	if err := h.Compare(ctx, rotated, secret); err != nil {
		t.Fatal(err)
	}
	if _, sets, hits := cache.counts(); sets != 2 || hits != 1 {
		t.Errorf("rotated hash: sets %d hits %d, want a miss and a new set", sets, hits)
	}

	// Keys are MACs: neither the secret nor the hash appears in any key.
	for _, k := range cache.keys {
		if strings.Contains(k, string(secret)) || strings.Contains(k, string(hash)) || strings.Contains(k, "wrong-secret") {
			t.Errorf("cache key %q exposes the secret or hash", k)
		}
		if !strings.HasPrefix(k, "cs:") || len(k) != len("cs:")+64 {
			t.Errorf("cache key %q is not cs:<hex MAC>", k)
		}
	}
	for _, v := range cache.values {
		if bytes.Contains(v, secret) {
			t.Error("cache value holds the secret")
		}
	}

	// A key for one Hasher's secret does not carry over to a Hasher under
	// another IDENTITY_SECRET sharing the cache.
	ring2, _ := keyring.New([]byte("another-hasher-secret-0123456789abcdef"))
	h2 := &oauth.Hasher{Cost: bcrypt.MinCost, Cache: cache, Ring: ring2, TTL: time.Minute}
	before := cache.hits
	if err := h2.Compare(ctx, hash, secret); err != nil {
		t.Fatal(err)
	}
	if cache.hits != before {
		t.Error("a Hasher under another secret hit the first one's entry")
	}
}

// TestHasherHitSkipsBcrypt proves a hit is answered without bcrypt: the
// marker is planted under the keyed entry for a secret that is NOT the one
// behind the hash, so only a skipped bcrypt can accept it.
func TestHasherHitSkipsBcrypt(t *testing.T) {
	ctx := context.Background()
	cache := newCountingCache()
	h := newHasher(t, cache)
	hash, _ := h.Hash(ctx, []byte("the-real-secret-0123456789"))
	other := []byte("not-the-secret-0123456789")
	if err := h.Compare(ctx, hash, other); err == nil {
		t.Fatal("bcrypt accepted the wrong secret")
	}
	cache.data["cs:"+h.Ring.MAC(keyring.PurposeSecretCache, hash, other)] = []byte{1}
	if err := h.Compare(ctx, hash, other); err != nil {
		t.Fatalf("a cache hit still ran bcrypt: %v", err)
	}
	// Any value but the verified marker is not a hit.
	cache.data["cs:"+h.Ring.MAC(keyring.PurposeSecretCache, hash, other)] = []byte{0}
	if err := h.Compare(ctx, hash, other); err == nil {
		t.Fatal("a cache entry with another value counted as verified")
	}
}

// TestHasherCacheKeyIsKeyed plants the verified marker under naive keys a
// wrong secret might use: entries not keyed by the MAC must not count.
func TestHasherCacheKeyIsKeyed(t *testing.T) {
	ctx := context.Background()
	cache := newCountingCache()
	h := newHasher(t, cache)
	hash, _ := h.Hash(ctx, []byte("the-real-secret-0123456789"))
	// Plant markers under naive keys for the wrong secret.
	for _, k := range []string{"cs:wrong-secret-0123456789", "cs:" + string(hash), "wrong-secret-0123456789"} {
		cache.data[k] = []byte{1}
	}
	if err := h.Compare(ctx, hash, []byte("wrong-secret-0123456789")); err == nil {
		t.Fatal("a planted cache entry made a wrong secret verify")
	}
}

func TestHasherCacheFailuresFallBackToBcrypt(t *testing.T) {
	ctx := context.Background()
	cache := newCountingCache()
	cache.failGet, cache.failSet = true, true
	h := newHasher(t, cache)
	secret := []byte("secret-with-cache-down-0123")
	hash, _ := h.Hash(ctx, secret)
	for range 2 {
		if err := h.Compare(ctx, hash, secret); err != nil {
			t.Fatalf("cache down: right secret refused: %v", err)
		}
		if err := h.Compare(ctx, hash, []byte("nope-nope-nope-nope")); err == nil {
			t.Fatal("cache down: wrong secret accepted")
		}
	}
	if _, sets, _ := cache.counts(); sets != 2 {
		t.Errorf("sets %d, want one attempt per successful compare", sets)
	}
	t.Run("no ring, no cache use", func(t *testing.T) {
		c := newCountingCache()
		h := &oauth.Hasher{Cost: bcrypt.MinCost, Cache: c}
		hash, _ := h.Hash(ctx, secret)
		if err := h.Compare(ctx, hash, secret); err != nil {
			t.Fatal(err)
		}
		if gets, sets, _ := c.counts(); gets+sets != 0 {
			t.Errorf("a Hasher without a keyring used the cache (%d gets, %d sets)", gets, sets)
		}
	})
}

// TestHasherBoundsUnverifiedSecrets: with every slot for unverified secrets
// taken, another unverified secret is refused at once (ErrSecretCheckBusy,
// reported through the SecretCheck), while a secret the verified cache
// knows is compared without a slot.
func TestHasherBoundsUnverifiedSecrets(t *testing.T) {
	h := newHasher(t, newCountingCache())
	h.MaxUnverified = 1
	ctx := context.Background()
	hash, err := h.Hash(ctx, []byte("the-right-secret"))
	if err != nil {
		t.Fatal(err)
	}
	if err := h.Compare(ctx, hash, []byte("the-right-secret")); err != nil {
		t.Fatalf("warm the cache: %v", err)
	}
	// Hold the only slot: the gate runs while the slot is held.
	holding, release := make(chan struct{}), make(chan struct{})
	held := &oauth.SecretCheck{Gate: func(context.Context) error {
		close(holding)
		<-release
		return nil
	}}
	done := make(chan error, 1)
	go func() { done <- h.Compare(oauth.WithSecretCheck(ctx, held), hash, []byte("wrong-1")) }()
	<-holding

	sc := &oauth.SecretCheck{}
	err = h.Compare(oauth.WithSecretCheck(ctx, sc), hash, []byte("wrong-2"))
	if !errors.Is(err, oauth.ErrSecretCheckBusy) || !errors.Is(sc.Refused(), oauth.ErrSecretCheckBusy) || sc.Failed() {
		t.Fatalf("busy: err %v, refused %v, failed %v; want ErrSecretCheckBusy, not counted as a failure", err, sc.Refused(), sc.Failed())
	}
	if err := h.Compare(ctx, hash, []byte("the-right-secret")); err != nil {
		t.Fatalf("a verified secret waits for no slot: %v", err)
	}
	close(release)
	if err := <-done; err == nil || !held.Failed() {
		t.Fatalf("the held wrong secret: %v (failed %v), want a failed comparison", err, held.Failed())
	}
	// A refusing gate: nothing compared, the refusal reported.
	gate := errors.New("budget spent")
	sc = &oauth.SecretCheck{Gate: func(context.Context) error { return gate }}
	if err := h.Compare(oauth.WithSecretCheck(ctx, sc), hash, []byte("wrong-3")); !errors.Is(err, gate) || sc.Refused() != gate || sc.Failed() {
		t.Fatalf("gate: err %v, refused %v, failed %v", err, sc.Refused(), sc.Failed())
	}
}
