package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	resourceserver "github.com/identityd/identityd/examples/go-resource-server"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
)

// setup starts identityd (mutate may change its config), a client-credentials
// client granted orders.read, and an orders API that checks tokens by
// introspection; it returns the service's config and a context whose token
// requests are counted in tokenCalls.
func setup(t *testing.T, mutate func(*app.Config)) (cfg Config, ctx context.Context, tokenCalls *atomic.Int32) {
	t.Helper()
	bs := apptest.Backends(t)
	env := apptest.NewEnv(t, bs[len(bs)-1], mutate)
	rs := env.ServiceClient(t, func(c *apptest.NewClient) { c.ID = "orders-api" })
	svc := env.ServiceClient(t, func(c *apptest.NewClient) { c.ID = "orders-reporter" })

	in := &resourceserver.Introspector{URL: env.URL + "/api/oauth/introspect", ClientID: rs.Client.ID, ClientSecret: rs.Secret, TTL: -1}
	api := httptest.NewServer(resourceserver.Require(in, "orders.read", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, _ := resourceserver.PrincipalFrom(r.Context())
		_ = json.NewEncoder(w).Encode(map[string]string{"orders_for": p.ClientID})
	})))
	t.Cleanup(api.Close)

	tokenCalls = &atomic.Int32{}
	counting := &http.Client{Timeout: 30 * time.Second, Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path == "/api/oauth/token" {
			tokenCalls.Add(1)
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
	ctx = context.WithValue(t.Context(), oauth2.HTTPClient, counting)
	cfg = Config{Issuer: env.URL, ClientID: svc.Client.ID, ClientSecret: svc.Secret, Scopes: []string{"orders.read"}, APIURL: api.URL + "/orders", Calls: 4}
	return cfg, ctx, tokenCalls
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestTokenFetchedOnceAndReused(t *testing.T) {
	t.Parallel()
	cfg, ctx, tokenCalls := setup(t, nil)
	var out bytes.Buffer
	require.NoError(t, run(ctx, cfg, &out))
	require.Equal(t, 4, strings.Count(out.String(), `{"orders_for":"orders-reporter"}`), "every call reached the API: %s", out.String())
	require.Equal(t, int32(1), tokenCalls.Load(), "four calls, one token request")
}

func TestTokenRenewedBeforeItExpires(t *testing.T) {
	t.Parallel()
	// Tokens that last 20 s: oauth2 renews 10 s before the expiry, so the
	// first one is reused for about 10 s, then replaced.
	cfg, ctx, tokenCalls := setup(t, func(c *app.Config) { c.AccessTokenTTL = 20 * time.Second })
	hc := Client(ctx, cfg)
	for range 2 {
		_, err := Call(ctx, hc, cfg.APIURL)
		require.NoError(t, err)
	}
	require.Equal(t, int32(1), tokenCalls.Load(), "the token is reused while it has more than 10 s left")
	deadline := time.Now().Add(60 * time.Second)
	for tokenCalls.Load() < 2 {
		require.True(t, time.Now().Before(deadline), "waited 60 s for a new token")
		_, err := Call(ctx, hc, cfg.APIURL)
		require.NoError(t, err, "the calls go on working across the renewal")
		time.Sleep(100 * time.Millisecond)
	}
}

func TestWrongSecretIsAClearError(t *testing.T) {
	t.Parallel()
	cfg, ctx, _ := setup(t, nil)
	cfg.ClientSecret = "not-the-right-secret-0123456789"
	err := run(ctx, cfg, &bytes.Buffer{})
	require.Error(t, err)
	require.Contains(t, err.Error(), "identityd refused the token request: invalid_client")
	require.Contains(t, err.Error(), "check CLIENT_ID, CLIENT_SECRET and SCOPES")
	require.NotContains(t, err.Error(), cfg.ClientSecret, "the secret is never in a message")
}

func TestConfigFromEnv(t *testing.T) {
	t.Setenv("CLIENT_ID", "orders-reporter")
	t.Setenv("CLIENT_SECRET", "")
	t.Setenv("CLIENT_SECRET_FILE", "")
	_, err := configFromEnv()
	require.ErrorContains(t, err, "set CLIENT_ID and CLIENT_SECRET")
	t.Setenv("CLIENT_SECRET", "a-secret-0123456789")
	t.Setenv("SCOPES", "orders.read, orders.write")
	c, err := configFromEnv()
	require.NoError(t, err)
	require.Equal(t, []string{"orders.read", "orders.write"}, c.Scopes)
	require.Equal(t, "http://localhost:8000", c.Issuer)
}
