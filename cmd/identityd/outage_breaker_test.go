package main

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
)

// A dead Redis costs microseconds once the breaker is open, every failure is
// an "unavailable" error (503 where it matters), and the breaker closes again
// once Redis is back — also through a proxy, where a half-open probe must not
// block its own connection set-up.
func TestOutageRedisBreaker(t *testing.T) {
	rs := startRedis(t)
	p := startProxy(t, rs.Addr())
	ctx := t.Context()
	for name, url := range map[string]string{"direct": rs.URL(), "proxied": p.URL()} {
		c, err := storage.OpenRedis(ctx, url, storage.RedisOptions{Timeout: 200 * time.Millisecond})
		require.NoError(t, err, name)
		t.Cleanup(func() { _ = c.Close() })
		require.NoError(t, c.Set(ctx, "k", []byte("v"), time.Minute), name)
	}
	c, err := storage.OpenRedis(ctx, p.URL(), storage.RedisOptions{Timeout: 200 * time.Millisecond})
	require.NoError(t, err)
	defer c.Close()
	rs.Stop()
	for i := 0; i < 5; i++ {
		err := c.Ping(ctx)
		require.True(t, models.IsUnavailable(err), "ping with Redis down: %v", err)
	}
	require.Equal(t, "open", c.BreakerState())
	start := time.Now()
	for i := 0; i < 1000; i++ {
		_, _, err := c.Get(ctx, "k")
		require.True(t, models.IsUnavailable(err))
	}
	// Without the breaker each call would wait for its 200 ms deadline (200 s
	// in all); the bound is far above what the open breaker costs on any machine.
	require.Less(t, time.Since(start), 30*time.Second, "1000 calls on an open breaker cost no round trip")
	rs.Start()
	waitFor(t, 10*time.Second, "the breaker closes once Redis is back", func() bool { return c.Ping(ctx) == nil })
	require.Equal(t, "closed", c.BreakerState())
}
