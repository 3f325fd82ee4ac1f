package oauth

import (
	"bytes"
	"context"
	"crypto/subtle"
	"errors"
	"fmt"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/ory/fosite"
	"golang.org/x/crypto/bcrypt"
	"golang.org/x/sync/singleflight"

	"github.com/identity/identity/keyring"
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
	var key string
	if h.Cache != nil && h.Ring != nil {
		key = "cs:" + h.Ring.MAC(keyring.PurposeSecretCache, hash, data)
		if h.local != nil {
			if until, ok := h.local.Get(key); ok && time.Now().Before(until) {
				return nil
			}
		}
		if v, ok, err := h.Cache.Get(ctx, key); err == nil && ok && subtle.ConstantTimeCompare(v, verified) == 1 {
			h.remember(key)
			return nil
		}
	}
	if key == "" {
		return compareBcrypt(hash, data)
	}
	_, err, _ := h.inflight.Do(key, func() (any, error) {
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
