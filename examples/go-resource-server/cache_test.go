package resourceserver

import (
	"crypto/sha256"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/internal/apptest"
)

// TestCacheKeysAreHashesAndBounded: the cache never holds a token, only its
// SHA-256, and never more than CacheSize entries.
func TestCacheKeysAreHashesAndBounded(t *testing.T) {
	t.Parallel()
	env := apptest.NewEnv(t, apptest.SQLite(t), nil)
	rs := env.ServiceClient(t, nil)
	in := &Introspector{URL: env.URL + "/api/oauth/introspect", ClientID: rs.Client.ID, ClientSecret: rs.Secret, CacheSize: 2, InactiveTTL: time.Hour}
	tokens := []string{"idt_at_first-unknown", "idt_at_second-unknown", "idt_at_third-unknown"}
	for _, tok := range tokens {
		_, err := in.Validate(t.Context(), tok)
		require.ErrorIs(t, err, ErrInvalidToken)
	}
	require.Equal(t, 2, in.cache.Len(), "bounded by CacheSize")
	for _, tok := range tokens[1:] {
		require.True(t, in.cache.Contains(sha256.Sum256([]byte(tok))), "keyed by the token's SHA-256")
	}
	require.False(t, in.cache.Contains(sha256.Sum256([]byte(tokens[0]))), "the least recently used entry went first")
}
