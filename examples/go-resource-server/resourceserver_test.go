package resourceserver_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	resourceserver "github.com/identityd/identityd/examples/go-resource-server"
	"github.com/identityd/identityd/examples/internal/exampletest"
	"github.com/identityd/identityd/internal/apptest"
)

const ordersAudience = "https://orders.example"

// backend is PostgreSQL when the tests are given one, else SQLite.
func backend(t *testing.T) apptest.Backend {
	bs := apptest.Backends(t)
	return bs[len(bs)-1]
}

// identity is a running identityd with the resource server's own client
// (orders-api, which introspects) and a caller granted orders.read and
// orders.write.
type identity struct {
	*apptest.Env
	rs, caller *apptest.CreatedClient
}

func newIdentity(t *testing.T) *identity {
	t.Helper()
	env := apptest.NewEnv(t, backend(t), nil)
	return &identity{
		Env:    env,
		rs:     env.ServiceClient(t, func(c *apptest.NewClient) { c.ID = "orders-api"; c.Scopes = nil }),
		caller: env.ServiceClient(t, nil),
	}
}

// token is a client-credentials access token of cc granted scopes.
func (id *identity) token(t *testing.T, cc *apptest.CreatedClient, scopes ...string) string {
	t.Helper()
	tok, err := id.ClientCredentialsConfig(cc.Client.ID, cc.Secret, oauth2.AuthStyleInHeader, scopes...).Token(t.Context())
	require.NoError(t, err, "client-credentials token")
	return tok.AccessToken
}

// introspector asks id as the resource server's client; calls counts the
// introspection requests it makes.
func (id *identity) introspector(ttl time.Duration, calls *atomic.Int32) *resourceserver.Introspector {
	return &resourceserver.Introspector{
		URL: id.URL + "/api/oauth/introspect", ClientID: id.rs.Client.ID, ClientSecret: id.rs.Secret,
		TTL: ttl, HTTPClient: countingClient(calls),
	}
}

func countingClient(calls *atomic.Int32) *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if calls != nil {
			calls.Add(1)
		}
		return http.DefaultTransport.RoundTrip(r)
	})}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// api serves GET /orders, needing orders.read, behind v, on a real listener;
// the answer names the caller's client.
func api(t *testing.T, v resourceserver.Validator) string {
	t.Helper()
	h := resourceserver.Require(v, "orders.read", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, ok := resourceserver.PrincipalFrom(r.Context())
		if !ok {
			http.Error(w, "no principal", http.StatusInternalServerError)
			return
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"client_id": p.ClientID, "sub": p.Subject, "scopes": p.Scopes})
	}))
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return srv.URL + "/orders"
}

type answer struct {
	status    int
	challenge string
	body      string
}

// call gets url with the bearer token (none when empty).
func call(t *testing.T, url, token string) answer {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, url, nil)
	require.NoError(t, err)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	res, err := (&http.Client{Timeout: 60 * time.Second}).Do(req)
	require.NoError(t, err)
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	require.NoError(t, err)
	return answer{status: res.StatusCode, challenge: res.Header.Get("WWW-Authenticate"), body: string(body)}
}

// eventually polls cond every 50 ms for up to 30 s.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("waited 30 s for %s", what)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func TestIntrospectedTokenAcceptedAndCached(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	var calls atomic.Int32
	url := api(t, id.introspector(time.Minute, &calls))

	token := id.token(t, id.caller, "orders.read")
	for range 3 {
		a := call(t, url, token)
		require.Equal(t, http.StatusOK, a.status, a.body)
		require.Contains(t, a.body, `"client_id":"`+id.caller.Client.ID+`"`)
	}
	require.Equal(t, int32(1), calls.Load(), "three requests within the TTL introspect once")

	none := call(t, url, "")
	require.Equal(t, http.StatusUnauthorized, none.status)
	require.Equal(t, "Bearer", none.challenge, "no error code when no token was sent (RFC 6750 §3.1)")

	unknown := call(t, url, "idt_at_not-a-real-token")
	require.Equal(t, http.StatusUnauthorized, unknown.status)
	require.Equal(t, `Bearer error="invalid_token"`, unknown.challenge)
}

func TestRevokedTokenRefusedWithinTheTTL(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	var calls atomic.Int32
	url := api(t, id.introspector(300*time.Millisecond, &calls))

	token := id.token(t, id.caller, "orders.read")
	require.Equal(t, http.StatusOK, call(t, url, token).status)
	id.Revoke(t, id.caller, token)
	// The cached answer may serve until the TTL runs out, never longer.
	eventually(t, "the revoked token to be refused", func() bool {
		return call(t, url, token).status == http.StatusUnauthorized
	})
	require.GreaterOrEqual(t, calls.Load(), int32(2), "the token was introspected again after the TTL")
}

func TestInactiveAnswersCachedShorter(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	var calls atomic.Int32
	in := id.introspector(time.Hour, &calls)
	in.InactiveTTL = 200 * time.Millisecond
	url := api(t, in)

	active := id.token(t, id.caller, "orders.read")
	require.Equal(t, http.StatusUnauthorized, call(t, url, "idt_at_unknown").status)
	require.Equal(t, http.StatusOK, call(t, url, active).status)
	require.Equal(t, int32(2), calls.Load())
	// The unknown token is asked about again once its short TTL is over;
	// the active one, cached for an hour, never is.
	eventually(t, "the inactive answer to expire", func() bool {
		call(t, url, "idt_at_unknown")
		return calls.Load() > 2
	})
	before := calls.Load()
	require.Equal(t, http.StatusOK, call(t, url, active).status)
	require.Equal(t, before, calls.Load(), "the active answer is still cached")
}

func TestRefreshTokenIsNoAccessToken(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	url := api(t, id.introspector(time.Minute, nil))
	// Introspection says a refresh token is active; it must not open the API.
	web := id.WebClient(t, nil)
	require.NotNil(t, web)
	b := id.NewBrowser(t)
	cfg := id.OAuthConfig(web, "openid", "offline_access")
	verifier := oauth2.GenerateVerifier()
	flow := b.Authorize(id.Env, cfg.AuthCodeURL("state-0123456789", oauth2.S256ChallengeOption(verifier)), true, "allow")
	tok, err := cfg.Exchange(t.Context(), flow.Code(t, "state-0123456789"), oauth2.VerifierOption(verifier))
	require.NoError(t, err)
	require.NotEmpty(t, tok.RefreshToken)
	require.Equal(t, http.StatusUnauthorized, call(t, url, tok.RefreshToken).status)
}

func TestMissingScopeIsForbidden(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	url := api(t, id.introspector(time.Minute, nil))
	a := call(t, url, id.token(t, id.caller, "orders.write"))
	require.Equal(t, http.StatusForbidden, a.status, a.body)
	require.Equal(t, `Bearer error="insufficient_scope", scope="orders.read"`, a.challenge)
}

func TestJWTAccessTokens(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	jwtCaller := id.ServiceClient(t, func(c *apptest.NewClient) {
		c.AccessTokenFormat = "jwt"
		c.Audience = []string{ordersAudience}
	})
	verifier := func(mod func(*resourceserver.JWTVerifier)) string {
		v := &resourceserver.JWTVerifier{Issuer: id.URL, Audience: ordersAudience}
		if mod != nil {
			mod(v)
		}
		return api(t, &resourceserver.Tokens{JWT: v})
	}
	token := id.token(t, jwtCaller, "orders.read")
	require.Equal(t, 2, strings.Count(token, "."), "a JWT access token")

	t.Run("accepted", func(t *testing.T) {
		a := call(t, verifier(nil), token)
		require.Equal(t, http.StatusOK, a.status, a.body)
		require.Contains(t, a.body, `"client_id":"`+jwtCaller.Client.ID+`"`)
	})
	t.Run("wrong audience", func(t *testing.T) {
		a := call(t, verifier(func(v *resourceserver.JWTVerifier) { v.Audience = "https://billing.example" }), token)
		require.Equal(t, http.StatusUnauthorized, a.status, a.body)
	})
	t.Run("wrong issuer", func(t *testing.T) {
		a := call(t, verifier(func(v *resourceserver.JWTVerifier) {
			v.JWKSURL = v.Issuer + "/.well-known/jwks.json"
			v.Issuer = "https://other-issuer.example"
		}), token)
		require.Equal(t, http.StatusUnauthorized, a.status, a.body)
	})
	t.Run("tampered", func(t *testing.T) {
		a := call(t, verifier(nil), tamper(t, token))
		require.Equal(t, http.StatusUnauthorized, a.status, a.body)
	})
	t.Run("expired", func(t *testing.T) {
		// The verifier's clock two hours on: past exp (one hour) and the leeway.
		a := call(t, verifier(func(v *resourceserver.JWTVerifier) { v.Now = func() time.Time { return time.Now().Add(2 * time.Hour) } }), token)
		require.Equal(t, http.StatusUnauthorized, a.status, a.body)
	})
	t.Run("missing scope", func(t *testing.T) {
		a := call(t, verifier(nil), id.token(t, jwtCaller, "orders.write"))
		require.Equal(t, http.StatusForbidden, a.status, a.body)
	})
	t.Run("opaque token without an introspector", func(t *testing.T) {
		a := call(t, verifier(nil), id.token(t, id.caller, "orders.read"))
		require.Equal(t, http.StatusUnauthorized, a.status, a.body)
	})
	t.Run("both kinds", func(t *testing.T) {
		url := api(t, &resourceserver.Tokens{
			JWT:           &resourceserver.JWTVerifier{Issuer: id.URL, Audience: ordersAudience},
			Introspection: id.introspector(time.Minute, nil),
		})
		require.Equal(t, http.StatusOK, call(t, url, token).status)
		require.Equal(t, http.StatusOK, call(t, url, id.token(t, id.caller, "orders.read")).status)
	})
}

// tamper widens the token's scope without re-signing it.
func tamper(t *testing.T, token string) string {
	return exampletest.TamperScope(t, token, "orders.read orders.write admin")
}

// stalled is an address that accepts connections and never answers.
func stalled(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	done := make(chan struct{})
	t.Cleanup(func() { close(done); _ = ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() { <-done; _ = c.Close() }()
		}
	}()
	return "http://" + ln.Addr().String()
}

// closedPort is an address nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := ln.Addr().String()
	require.NoError(t, ln.Close())
	return "http://" + addr
}

func TestUnreachableServerIs503(t *testing.T) {
	t.Parallel()
	id := newIdentity(t)
	opaque := id.token(t, id.caller, "orders.read")
	jwtCaller := id.ServiceClient(t, func(c *apptest.NewClient) { c.AccessTokenFormat = "jwt"; c.Audience = []string{ordersAudience} })
	jwtToken := id.token(t, jwtCaller, "orders.read")

	for name, base := range map[string]string{"stalled": stalled(t), "refused": closedPort(t)} {
		t.Run("introspection "+name, func(t *testing.T) {
			t.Parallel()
			url := api(t, &resourceserver.Introspector{
				URL: base + "/api/oauth/introspect", ClientID: id.rs.Client.ID, ClientSecret: id.rs.Secret,
				Timeout: 300 * time.Millisecond,
			})
			a := call(t, url, opaque)
			require.Equal(t, http.StatusServiceUnavailable, a.status, a.body)
			require.Empty(t, a.challenge, "not a token problem: no invalid_token challenge")
		})
		t.Run("key set "+name, func(t *testing.T) {
			t.Parallel()
			url := api(t, &resourceserver.JWTVerifier{Issuer: id.URL, Audience: ordersAudience, JWKSURL: base + "/jwks.json", Timeout: 300 * time.Millisecond})
			a := call(t, url, jwtToken)
			require.Equal(t, http.StatusServiceUnavailable, a.status, a.body)
		})
	}
	t.Run("wrong resource server secret", func(t *testing.T) {
		t.Parallel()
		url := api(t, &resourceserver.Introspector{URL: id.URL + "/api/oauth/introspect", ClientID: id.rs.Client.ID, ClientSecret: "not-the-secret-0123456789"})
		a := call(t, url, opaque)
		require.Equal(t, http.StatusServiceUnavailable, a.status, "the caller's token is not at fault: %s", a.body)
	})
}
