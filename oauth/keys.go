package oauth

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
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
	// AddSigningKey adds k as the signing key and retires the others, keeping
	// them published until publishUntil.
	AddSigningKey(ctx context.Context, k *models.SigningKey, publishUntil time.Time) error
}

// ErrUnknownKey is returned for a kid that is not (or no longer) published.
var ErrUnknownKey = errors.New("signing key not published")

// signingKey is a decrypted key.
type signingKey struct {
	kid     string
	private *rsa.PrivateKey
	retired bool
}

// KeyManager holds the signing keys, private parts AES-256-GCM sealed in the
// database. It reloads them every ReloadEvery (and at once on an unknown kid),
// so instances that share a database pick up a rotation without a restart.
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
	active   *signingKey
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

// Ensure creates the first key when the database has none, then loads.
func (m *KeyManager) Ensure(ctx context.Context) error {
	keys, err := m.Store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("ensure signing key: %w", err)
	}
	if len(keys) == 0 || keys[0].RetiredAt != nil {
		if err := m.Rotate(ctx); err != nil {
			return err
		}
	}
	return m.reload(ctx)
}

// Rotate adds a new RS256 key that signs from now on and keeps the previous
// ones published for Retain.
func (m *KeyManager) Rotate(ctx context.Context) error {
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return fmt.Errorf("rotate keys: generate: %w", err)
	}
	kid, err := keyring.RandomToken(12)
	if err != nil {
		return fmt.Errorf("rotate keys: %w", err)
	}
	pub := jose.JSONWebKey{Key: &priv.PublicKey, KeyID: kid, Algorithm: string(jose.RS256), Use: "sig"}
	pubJSON, err := pub.MarshalJSON()
	if err != nil {
		return fmt.Errorf("rotate keys: marshal public key: %w", err)
	}
	sealed, err := m.Ring.Seal(x509.MarshalPKCS1PrivateKey(priv), []byte(kid))
	if err != nil {
		return fmt.Errorf("rotate keys: seal: %w", err)
	}
	k := &models.SigningKey{ID: kid, Algorithm: string(jose.RS256), PublicJWK: string(pubJSON), PrivateSealed: sealed}
	if err := m.Store.AddSigningKey(ctx, k, m.now().Add(m.Retain)); err != nil {
		return fmt.Errorf("rotate keys: %w", err)
	}
	return m.reload(ctx)
}

func (m *KeyManager) reload(ctx context.Context) error {
	m.reloadMu.Lock()
	defer m.reloadMu.Unlock()
	rows, err := m.Store.ListSigningKeys(ctx)
	if err != nil {
		return fmt.Errorf("load signing keys: %w", err)
	}
	byKID := make(map[string]*signingKey, len(rows))
	var active *signingKey
	for _, r := range rows {
		der, err := m.Ring.Open(r.PrivateSealed, []byte(r.ID))
		if err != nil {
			return fmt.Errorf("load signing key %s: %w", r.ID, err)
		}
		priv, err := x509.ParsePKCS1PrivateKey(der)
		if err != nil {
			return fmt.Errorf("load signing key %s: %w", r.ID, err)
		}
		k := &signingKey{kid: r.ID, private: priv, retired: r.RetiredAt != nil}
		byKID[r.ID] = k
		if active == nil && !k.retired {
			active = k
		}
	}
	if active == nil {
		return errors.New("load signing keys: no active signing key (run identityd keys rotate)")
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

// Signer returns the current signing key and its kid.
func (m *KeyManager) Signer(ctx context.Context) (string, *rsa.PrivateKey, error) {
	if err := m.fresh(ctx); err != nil {
		return "", nil, err
	}
	m.mu.RLock()
	defer m.mu.RUnlock()
	return m.active.kid, m.active.private, nil
}

// PublicKey returns the published key with that kid, reloading once if it is
// not known yet (another instance may have rotated).
func (m *KeyManager) PublicKey(ctx context.Context, kid string) (*rsa.PublicKey, error) {
	if err := m.fresh(ctx); err != nil {
		return nil, err
	}
	m.mu.RLock()
	k, ok := m.byKID[kid]
	m.mu.RUnlock()
	if !ok {
		if err := m.reload(ctx); err != nil {
			return nil, err
		}
		m.mu.RLock()
		k, ok = m.byKID[kid]
		m.mu.RUnlock()
		if !ok {
			return nil, ErrUnknownKey
		}
	}
	return &k.private.PublicKey, nil
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
