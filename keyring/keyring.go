// Package keyring derives the server's working keys from IDENTITY_SECRET and
// provides the two primitives built on them: AES-256-GCM sealing of data at
// rest (private signing keys, later TOTP seeds) and keyed hashes (HMAC-SHA256)
// for lookups and signed values. Each purpose gets its own key through HKDF,
// so no key is ever used for two things. It imports only the standard library.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hkdf"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
)

// MinSecretLen is the shortest IDENTITY_SECRET accepted, in bytes.
const MinSecretLen = 32

// Purposes name the derived keys; changing one invalidates what it protects.
const (
	PurposeSeal        = "identity/seal/v1"
	PurposeTokenHMAC   = "identity/oauth-hmac/v1"
	PurposeSecretCache = "identity/secret-cache/v1"
	PurposeSigned      = "identity/signed-values/v1"
	PurposeLookup      = "identity/lookup/v1"
)

// Keyring holds the root secret and derives purpose keys from it.
type Keyring struct {
	root []byte
	aead cipher.AEAD
	// derived memoises purpose keys: HKDF runs once per purpose, not per MAC.
	derived sync.Map // purpose -> []byte
}

// New returns a Keyring over secret, which must be at least MinSecretLen bytes.
func New(secret []byte) (*Keyring, error) {
	if len(secret) < MinSecretLen {
		return nil, fmt.Errorf("keyring: secret must be at least %d bytes, got %d", MinSecretLen, len(secret))
	}
	k := &Keyring{root: append([]byte(nil), secret...)}
	block, err := aes.NewCipher(k.Derive(PurposeSeal))
	if err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	if k.aead, err = cipher.NewGCM(block); err != nil {
		return nil, fmt.Errorf("keyring: %w", err)
	}
	return k, nil
}

// Derive returns the 32-byte key for purpose (HKDF-SHA256).
func (k *Keyring) Derive(purpose string) []byte {
	if v, ok := k.derived.Load(purpose); ok {
		return append([]byte(nil), v.([]byte)...)
	}
	key, err := hkdf.Key(sha256.New, k.root, nil, purpose, 32)
	if err != nil {
		panic(fmt.Sprintf("keyring: hkdf: %v", err)) // only fails for lengths over 255*32
	}
	k.derived.Store(purpose, key)
	return append([]byte(nil), key...)
}

// key returns the memoised purpose key without copying (internal use only).
func (k *Keyring) key(purpose string) []byte {
	if v, ok := k.derived.Load(purpose); ok {
		return v.([]byte)
	}
	k.Derive(purpose)
	v, _ := k.derived.Load(purpose)
	return v.([]byte)
}

// Seal encrypts plaintext with AES-256-GCM; additional binds the ciphertext
// to its context (a key id, a user id) so it cannot be moved elsewhere.
func (k *Keyring) Seal(plaintext, additional []byte) ([]byte, error) {
	nonce := make([]byte, k.aead.NonceSize())
	if _, err := rand.Read(nonce); err != nil {
		return nil, fmt.Errorf("keyring: nonce: %w", err)
	}
	return k.aead.Seal(nonce, nonce, plaintext, additional), nil
}

// Open decrypts what Seal produced with the same additional data.
func (k *Keyring) Open(sealed, additional []byte) ([]byte, error) {
	n := k.aead.NonceSize()
	if len(sealed) < n {
		return nil, errors.New("keyring: sealed value too short")
	}
	out, err := k.aead.Open(nil, sealed[:n], sealed[n:], additional)
	if err != nil {
		return nil, errors.New("keyring: sealed value does not open under this secret")
	}
	return out, nil
}

// MAC returns HMAC-SHA256 of the parts under the purpose key, hex-encoded.
// Parts are length-prefixed so ("ab","c") and ("a","bc") differ.
func (k *Keyring) MAC(purpose string, parts ...[]byte) string {
	m := hmac.New(sha256.New, k.key(purpose))
	for _, p := range parts {
		var l [4]byte
		l[0], l[1], l[2], l[3] = byte(len(p)>>24), byte(len(p)>>16), byte(len(p)>>8), byte(len(p))
		m.Write(l[:])
		m.Write(p)
	}
	return hex.EncodeToString(m.Sum(nil))
}

// Sign returns value with a MAC appended ("value.mac", base64url), for values
// that travel through a browser and must come back unchanged.
func (k *Keyring) Sign(value string) string {
	mac := k.MAC(PurposeSigned, []byte(value))
	return base64.RawURLEncoding.EncodeToString([]byte(value)) + "." + mac
}

// Verify returns the value Sign wrapped, checking its MAC in constant time.
func (k *Keyring) Verify(signed string) (string, bool) {
	for i := len(signed) - 1; i >= 0; i-- {
		if signed[i] != '.' {
			continue
		}
		raw, err := base64.RawURLEncoding.DecodeString(signed[:i])
		if err != nil {
			return "", false
		}
		want := k.MAC(PurposeSigned, raw)
		if hmac.Equal([]byte(want), []byte(signed[i+1:])) {
			return string(raw), true
		}
		return "", false
	}
	return "", false
}

// RandomToken returns n random bytes from the CSPRNG, base64url-encoded.
func RandomToken(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random token: %w", err)
	}
	return base64.RawURLEncoding.EncodeToString(b), nil
}
