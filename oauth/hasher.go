package oauth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"runtime"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/ory/fosite"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/singleflight"

	"github.com/identityd/identityd/keyring"
)

// SecretCache is where the Hasher remembers secrets it has verified. Entries
// may vanish at any time; storage's Redis cache and its in-process twin fit.
type SecretCache interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
}

// bcryptPrefix marks the hash algorithm so Compare can dispatch and a later
// algorithm can be added without rehashing what is stored.
const bcryptPrefix = "bcrypt$"

// Hasher is fosite's client-secret Hasher: bcrypt at the configured cost, in
// an algorithm-prefixed encoding, with a verified-secret cache in front.
//
// The cache key is an HMAC, under a key derived from IDENTITY_SECRET, of the
// stored hash and the presented secret. A hit therefore proves that this exact
// secret matched this exact hash within the TTL; a wrong secret, or a hash
// that changed (rotation), has no entry and goes to bcrypt. The plaintext is
// never stored, and the cache alone cannot be used to test guesses offline.
type Hasher struct {
	Cost  int
	Cache SecretCache
	Ring  *keyring.Keyring
	TTL   time.Duration

	// local is an in-process layer in front of Cache: a hit there skips the
	// network round trip. It is always safe: an entry proves that a secret
	// matched a hash, and a rotated secret has a new hash, so a stale entry
	// can only ever match a hash that is no longer compared. Nil disables it.
	local *lru.Cache[string, time.Time]

	// MaxUnverified bounds how many bcrypt comparisons of secrets the cache
	// has not verified run at once (0: GOMAXPROCS). A flood of wrong
	// secrets then costs at most that many cores; the rest are refused at
	// once with ErrSecretCheckBusy instead of queueing. Secrets found in the
	// verified cache never wait for a slot.
	MaxUnverified int
	semOnce       sync.Once
	sem           chan struct{}

	// OnCacheLookup, when set, is told whether each comparison found the
	// secret verified in the cache (a hit skips bcrypt). Set it before use.
	OnCacheLookup func(hit bool)

	// inflight collapses concurrent comparisons of the same secret against
	// the same hash into one bcrypt run: a cold cache under load would
	// otherwise pay bcrypt once per waiting request.
	inflight singleflight.Group
}

var _ fosite.Hasher = (*Hasher)(nil)

// Hash returns the prefixed bcrypt hash of data.
func (h *Hasher) Hash(ctx context.Context, data []byte) ([]byte, error) {
	cost := h.Cost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	out, err := bcrypt.GenerateFromPassword(data, cost)
	if err != nil {
		return nil, fmt.Errorf("hash client secret: %w", err)
	}
	return append([]byte(bcryptPrefix), out...), nil
}

var verified = []byte{1}

// Compare returns nil when data is the secret behind hash.
// EnableLocalCache adds the in-process layer (size entries) in front of Cache.
func (h *Hasher) EnableLocalCache(size int) error {
	c, err := lru.New[string, time.Time](size)
	if err != nil {
		return fmt.Errorf("secret cache: %w", err)
	}
	h.local = c
	return nil
}

func (h *Hasher) Compare(ctx context.Context, hash, data []byte) error {
	err := h.compare(ctx, hash, data)
	if sc := secretCheckFrom(ctx); sc != nil && err != nil && !errors.Is(err, errRefused) {
		sc.mu.Lock()
		sc.failed = true
		sc.mu.Unlock()
	}
	return err
}

func (h *Hasher) compare(ctx context.Context, hash, data []byte) error {
	var key string
	if h.Cache != nil && h.Ring != nil {
		key = "cs:" + h.Ring.MAC(keyring.PurposeSecretCache, hash, data)
		if h.local != nil {
			if until, ok := h.local.Get(key); ok && time.Now().Before(until) {
				h.cacheLookup(true)
				return nil
			}
		}
		if v, ok, err := h.Cache.Get(ctx, key); err == nil && ok && subtle.ConstantTimeCompare(v, verified) == 1 {
			h.remember(key)
			h.cacheLookup(true)
			return nil
		}
		h.cacheLookup(false)
	}
	// Not verified: the caller's gate (per-client and per-IP failure
	// budgets) and a bounded number of concurrent bcrypt runs.
	release, err := h.admit(ctx)
	if err != nil {
		return err
	}
	defer release()
	if key == "" {
		return compareBcrypt(hash, data)
	}
	_, err, _ = h.inflight.Do(key, func() (any, error) {
		if err := compareBcrypt(hash, data); err != nil {
			return nil, err
		}
		// A cache that cannot be written only costs the next request a bcrypt.
		_ = h.Cache.Set(context.WithoutCancel(ctx), key, verified, h.TTL)
		h.remember(key)
		return nil, nil
	})
	return err
}

func (h *Hasher) cacheLookup(hit bool) {
	if h.OnCacheLookup != nil {
		h.OnCacheLookup(hit)
	}
}

func (h *Hasher) remember(key string) {
	if h.local != nil {
		h.local.Add(key, time.Now().Add(h.TTL))
	}
}

func compareBcrypt(hash, data []byte) error {
	raw, ok := bytes.CutPrefix(hash, []byte(bcryptPrefix))
	if !ok {
		if !bytes.HasPrefix(hash, []byte("$2")) {
			return errors.New("compare client secret: unknown hash algorithm")
		}
		raw = hash
	}
	if err := bcrypt.CompareHashAndPassword(raw, data); err != nil {
		return fmt.Errorf("compare client secret: %w", err)
	}
	return nil
}

// errRefused marks a comparison that was not attempted (throttled or busy).
var errRefused = errors.New("client secret check refused")

// ErrSecretCheckBusy reports that every slot for unverified secrets was
// taken: the request is refused at once rather than queued.
var ErrSecretCheckBusy = fmt.Errorf("too many client secret checks at once: %w", errRefused)

// unverifiedWait is how long a comparison waits for a free slot before it
// is refused: long enough to ride out a burst, short enough that a flood
// cannot build a queue.
const unverifiedWait = 100 * time.Millisecond

// admit takes a bcrypt slot and runs the gate of ctx's SecretCheck.
func (h *Hasher) admit(ctx context.Context) (func(), error) {
	sc := secretCheckFrom(ctx)
	h.semOnce.Do(func() {
		n := h.MaxUnverified
		if n <= 0 {
			n = runtime.GOMAXPROCS(0)
		}
		h.sem = make(chan struct{}, n)
	})
	release := func() { <-h.sem }
	acquired := false
	select {
	case h.sem <- struct{}{}:
		acquired = true
	default:
		t := time.NewTimer(unverifiedWait)
		select {
		case h.sem <- struct{}{}:
			acquired = true
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	if !acquired {
		if sc != nil {
			sc.refuse(ErrSecretCheckBusy)
		}
		return nil, ErrSecretCheckBusy
	}
	if sc != nil && sc.Gate != nil {
		if err := sc.Gate(ctx); err != nil {
			release()
			sc.refuse(err)
			return nil, fmt.Errorf("%w: %w", errRefused, err)
		}
	}
	return release, nil
}

// SecretCheck is what one request's client authentication learns from the
// Hasher: whether a secret was compared and failed, or refused unchecked.
// handlers put one in the request context (WithSecretCheck) on the token,
// introspection and revocation endpoints.
type SecretCheck struct {
	// Gate, when set, runs before an unverified secret is compared; an
	// error refuses the comparison (a spent failure budget).
	Gate func(ctx context.Context) error

	mu      sync.Mutex
	failed  bool
	refused error
}

func (sc *SecretCheck) refuse(err error) {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	if sc.refused == nil {
		sc.refused = err
	}
}

// Failed reports whether a secret was compared and did not match.
func (sc *SecretCheck) Failed() bool {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.failed
}

// Refused returns why a comparison was refused without being attempted
// (the Gate's error or ErrSecretCheckBusy), or nil.
func (sc *SecretCheck) Refused() error {
	sc.mu.Lock()
	defer sc.mu.Unlock()
	return sc.refused
}

type secretCheckKey struct{}

// WithSecretCheck returns ctx carrying sc for the Hasher.
func WithSecretCheck(ctx context.Context, sc *SecretCheck) context.Context {
	return context.WithValue(ctx, secretCheckKey{}, sc)
}

func secretCheckFrom(ctx context.Context) *SecretCheck {
	sc, _ := ctx.Value(secretCheckKey{}).(*SecretCheck)
	return sc
}
