package oauth

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// KeyStore keeps signing keys; storage.Store implements it.
type KeyStore interface {
	// ListSigningKeys returns the keys still published, newest first.
	ListSigningKeys(ctx context.Context) ([]models.SigningKey, error)
	// AddSigningKey adds k as the signing key of its algorithm and retires
	// that algorithm's others, keeping them published until publishUntil.
	AddSigningKey(ctx context.Context, k *models.SigningKey, publishUntil time.Time) error
}

// ErrUnknownKey is returned for a kid that is not (or no longer) published.
var ErrUnknownKey = errors.New("signing key not published")

// signingKey is a decrypted key: an *rsa.PrivateKey (RS256) or an
// *ecdsa.PrivateKey on P-256 (ES256).
type signingKey struct {
	kid     string
	alg     string
	private crypto.Signer
	retired bool
}

// KeyManager holds the signing keys, one signing per algorithm of
// models.SigningAlgs (RSA-2048 for RS256, P-256 for ES256), private parts
// AES-256-GCM sealed in the database. It reloads them every ReloadEvery (and
// at once on an unknown kid), so instances that share a database pick up a
// rotation without a restart.
type KeyManager struct {
	Store       KeyStore
	Ring        *keyring.Keyring
	ReloadEvery time.Duration
	// Retain is how long a retired key stays published: at least the longest
	// lifetime of anything it signed, plus ReloadEvery.
	Retain time.Duration
	Now    func() time.Time

	mu       sync.RWMutex
	loadedAt time.Time
	active   map[string]*signingKey // by algorithm
	byKID    map[string]*signingKey
	// reloadMu makes one goroutine reload while the others keep the old set.
	reloadMu sync.Mutex
}

func (m *KeyManager) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

// Ensure creates the first key of every algorithm that has no signing key
// (all of them in a new database; ES256 in one from before ES256 existed),
// then loads.
func (m *KeyManager) Ensure(ctx context.Context) error {
	keys, err := m.Store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("ensure signing key: %w", err)
	}
	for _, alg := range models.SigningAlgs {
		if !slices.ContainsFunc(keys, func(k models.SigningKey) bool { return k.Algorithm == alg && k.RetiredAt == nil }) {
			if err := m.add(ctx, alg); err != nil {
				return err
			}
		}
	}
	return m.reload(ctx)
}

// Rotate adds a new key of every algorithm, which signs from now on, and
// keeps the previous ones published for Retain.
func (m *KeyManager) Rotate(ctx context.Context) error {
	for _, alg := range models.SigningAlgs {
		if err := m.add(ctx, alg); err != nil {
			return err
		}
	}
	return m.reload(ctx)
}

// add generates a key of alg, seals its private part (PKCS #1 for RSA,
// SEC 1 for EC) under the keyring with its kid as additional data, and
// stores it as that algorithm's signing key.
func (m *KeyManager) add(ctx context.Context, alg string) error {
	var (
		priv crypto.Signer
		der  []byte
		err  error
	)
	switch alg {
	case models.SigningAlgRS256:
		var k *rsa.PrivateKey
		if k, err = rsa.GenerateKey(rand.Reader, 2048); err == nil {
			priv, der = k, x509.MarshalPKCS1PrivateKey(k)
		}
	case models.SigningAlgES256:
		var k *ecdsa.PrivateKey
		if k, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err == nil {
			priv = k
			der, err = x509.MarshalECPrivateKey(k)
		}
	default:
		return fmt.Errorf("rotate keys: unknown algorithm %q", alg)
	}
	if err != nil {
		return fmt.Errorf("rotate keys: generate %s: %w", alg, err)
	}
	kid, err := keyring.RandomToken(12)
	if err != nil {
		return fmt.Errorf("rotate keys: %w", err)
	}
	pub := jose.JSONWebKey{Key: priv.Public(), KeyID: kid, Algorithm: alg, Use: "sig"}
	pubJSON, err := pub.MarshalJSON()
	if err != nil {
		return fmt.Errorf("rotate keys: marshal public key: %w", err)
	}
	sealed, err := m.Ring.Seal(der, []byte(kid))
	if err != nil {
		return fmt.Errorf("rotate keys: seal: %w", err)
	}
	k := &models.SigningKey{ID: kid, Algorithm: alg, PublicJWK: string(pubJSON), PrivateSealed: sealed}
	if err := m.Store.AddSigningKey(ctx, k, m.now().Add(m.Retain)); err != nil {
		return fmt.Errorf("rotate keys: %w", err)
	}
	return nil
}

// parsePrivateKey reads a key's unsealed private part. ok is false for an
// algorithm this release does not sign with (one a later release added):
// such a key is skipped, not an error, so instances of two releases can
// share a database.
func parsePrivateKey(alg string, der []byte) (priv crypto.Signer, ok bool, err error) {
	switch alg {
	case models.SigningAlgRS256:
		k, err := x509.ParsePKCS1PrivateKey(der)
		return k, true, err
	case models.SigningAlgES256:
		k, err := x509.ParseECPrivateKey(der)
		if err == nil && k.Curve != elliptic.P256() {
			err = errors.New("ES256 key is not on P-256")
		}
		return k, true, err
	}
	return nil, false, nil
}

func (m *KeyManager) reload(ctx context.Context) error {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	rows, err := m.Store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	byKID := make(map[string]*signingKey, len(rows))
	active := make(map[string]*signingKey, len(models.SigningAlgs))
	for _, r := range rows {
		der, err := m.Ring.Open(r.PrivateSealed, []byte(r.ID))
		if err != nil {
			return fmt.Errorf("load signing key %s: %w", r.ID, err)
		}
		priv, known, err := parsePrivateKey(r.Algorithm, der)
		if err != nil {
			return fmt.Errorf("load signing key %s: %w", r.ID, err)
		}
		if !known {
			continue
		}
		k := &signingKey{kid: r.ID, alg: r.Algorithm, private: priv, retired: r.RetiredAt != nil}
		byKID[r.ID] = k
		if active[k.alg] == nil && !k.retired { // newest first
			active[k.alg] = k
		}
	}
	if active[models.SigningAlgRS256] == nil {
		return errors.New("load signing keys: no active RS256 signing key (run identityd keys rotate)")
	}
	m.mu.Lock()
	m.active, m.byKID, m.loadedAt = active, byKID, m.now()
	m.mu.Unlock()
	return nil
}

func (m *KeyManager) fresh(ctx context.Context) error {
	m.mu.RLock()
	stale := m.active == nil || m.now().Sub(m.loadedAt) >= m.ReloadEvery
	m.mu.RUnlock()
	if stale {
		return m.reload(ctx)
	}
	return nil
}

// Signer returns the current signing key of alg (models.SigningAlgRS256 or
// models.SigningAlgES256) and its kid.
func (m *KeyManager) Signer(ctx context.Context, alg string) (string, crypto.Signer, error) {
	if err := m.fresh(ctx); err != nil {
		return "", nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	k := m.active[alg]
	if k == nil {
		return "", nil, fmt.Errorf("no active %s signing key (run identityd keys rotate)", alg)
	}
	return k.kid, k.private, nil
}

// PublicKey returns the published key with that kid and its algorithm,
// reloading once if it is not known yet (another instance may have rotated).
func (m *KeyManager) PublicKey(ctx context.Context, kid string) (crypto.PublicKey, string, error) {
	if err := m.fresh(ctx); err != nil {
		return nil, "", err
	}
	m.mu.RLock()
	k, ok := m.byKID[kid]
	m.mu.RUnlock()
	if !ok {
		if err := m.reload(ctx); err != nil {
			return nil, "", err
		}
		m.mu.RLock()
		k, ok = m.byKID[kid]
		m.mu.RUnlock()
		if !ok {
			return nil, "", ErrUnknownKey
		}
	}
	return k.private.Public(), k.alg, nil
}

// JWKS returns the published public keys, read from the database on every
// call so a rotation on any instance is visible at once.
func (m *KeyManager) JWKS(ctx context.Context) (jose.JSONWebKeySet, error) {
	rows, err := m.Store.ListSigningKeys(ctx)
	if err != nil {
		return jose.JSONWebKeySet{}, fmt.Errorf("jwks: %w", err)
	}
	set := jose.JSONWebKeySet{Keys: make([]jose.JSONWebKey, 0, len(rows))}
	for _, r := range rows {
		var k jose.JSONWebKey
		if err := json.Unmarshal([]byte(r.PublicJWK), &k); err != nil {
			return jose.JSONWebKeySet{}, fmt.Errorf("jwks: key %s: %w", r.ID, err)
		}
		set.Keys = append(set.Keys, k)
	}
	return set, nil
}
