package oauth

import (
	"context"
	"encoding/json"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/hmac"

	"github.com/identityd/identityd/keyring"
)

type benchCache struct{ m map[string][]byte }

func (c *benchCache) Get(_ context.Context, k string) ([]byte, bool, error) {
	v, ok := c.m[k]
	return v, ok, nil
}

func (c *benchCache) Set(_ context.Context, k string, v []byte, _ time.Duration) error {
	c.m[k] = v
	return nil
}

func benchRing(b *testing.B) *keyring.Keyring {
	b.Helper()
	r, err := keyring.New([]byte("benchmark-secret-benchmark-secret-0123456789"))
	if err != nil {
		b.Fatal(err)
	}
	return r
}

// BenchmarkClientAuthCacheHit is client authentication once the secret is
// in the verified-secret cache: an HMAC and a cache read, no bcrypt.
func BenchmarkClientAuthCacheHit(b *testing.B) {
	ctx := context.Background()
	h := &Hasher{Cost: 12, Cache: &benchCache{m: map[string][]byte{}}, Ring: benchRing(b), TTL: time.Minute}
	hash, err := h.Hash(ctx, []byte("service-secret-0123456789"))
	if err != nil {
		b.Fatal(err)
	}
	if err := h.Compare(ctx, hash, []byte("service-secret-0123456789")); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := h.Compare(ctx, hash, []byte("service-secret-0123456789")); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkClientAuthBcrypt12 is the same comparison without the cache: the
// cost every wrong secret pays.
func BenchmarkClientAuthBcrypt12(b *testing.B) {
	ctx := context.Background()
	h := &Hasher{Cost: 12}
	hash, err := h.Hash(ctx, []byte("service-secret-0123456789"))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if err := h.Compare(ctx, hash, []byte("service-secret-0123456789")); err != nil {
			b.Fatal(err)
		}
	}
}

type benchClient struct{ fosite.DefaultClient }

// BenchmarkGenerateAccessToken is one opaque access token: random key, HMAC,
// prefix.
func BenchmarkGenerateAccessToken(b *testing.B) {
	ctx := context.Background()
	cfg := &fosite.Config{GlobalSecret: benchRing(b).Derive(keyring.PurposeTokenHMAC), AccessTokenLifespan: time.Hour}
	s := &TokenStrategy{HMAC: oauth2.NewHMACSHAStrategyUnPrefixed(&hmac.HMACStrategy{Config: cfg}, cfg)}
	req := fosite.NewRequest()
	req.Client = &benchClient{}
	req.Session = NewClientSession("http://x", "t", "svc")
	b.ReportAllocs()
	for b.Loop() {
		if _, _, err := s.GenerateAccessToken(ctx, req); err != nil {
			b.Fatal(err)
		}
	}
}

func benchSession() *Session {
	s := NewUserSession("http://localhost:8000", "6d0c6a3e-2b51-4a53-9d2f-7a4e2d1b9c01", "0b7f0a62-2b3f-4f5e-8f1e-6a0e6c5d4b3a", "webapp", time.Now(), time.Now())
	s.SessionID = "2a1b0c9d-8e7f-4a6b-9c5d-3e2f1a0b9c8d"
	s.Claims.AuthenticationMethodsReferences = []string{"pwd", "otp"}
	s.SetExpiresAt(fosite.AccessToken, time.Now().Add(time.Hour))
	s.SetExpiresAt(fosite.RefreshToken, time.Now().Add(7*24*time.Hour))
	return s
}

// BenchmarkSessionMarshal is storing a session (once per token issued).
func BenchmarkSessionMarshal(b *testing.B) {
	s := benchSession()
	b.ReportAllocs()
	for b.Loop() {
		if _, err := json.Marshal(s); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSessionUnmarshal is loading a session (once per introspection).
func BenchmarkSessionUnmarshal(b *testing.B) {
	data, err := json.Marshal(benchSession())
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		s := NewSession()
		if err := json.Unmarshal(data, s); err != nil {
			b.Fatal(err)
		}
	}
}
