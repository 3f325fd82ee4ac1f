package oauthcli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/internal/oauthcli"
)

// loopbackRedirect is the redirect URI the CLI's clients register: fosite
// matches it with any port (RFC 8252 §7.3).
const loopbackRedirect = "http://127.0.0.1/callback"

// eachEnv runs fn on a fresh env per configured backend.
func eachEnv(t *testing.T, fn func(t *testing.T, e *apptest.Env, ep oauthcli.Endpoint)) {
	t.Helper()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		fn(t, e, oauthcli.Endpoint{Issuer: e.Server.URL})
	})
}

// requireOAuthError asserts err is an *oauthcli.Error of op with code, and
// that no secret leaked into its message.
func requireOAuthError(t *testing.T, err error, op, code string, secrets ...string) *oauthcli.Error {
	t.Helper()
	var oe *oauthcli.Error
	require.ErrorAs(t, err, &oe, "got %v", err)
	require.Equal(t, op, oe.Op)
	require.Equal(t, code, oe.Code, "error: %v", err)
	for _, s := range secrets {
		require.NotContains(t, err.Error(), s, "the secret must not be in the error")
	}
	return oe
}

func TestPerformClientCredentials(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *apptest.Env, ep oauthcli.Endpoint) {
		ctx := t.Context()
		svc := e.ServiceClient(t, nil)
		tests := []struct {
			name   string
			method string
		}{
			{"default (client_secret_basic)", ""},
			{"client_secret_basic", oauthcli.AuthMethodBasic},
			{"client_secret_post", oauthcli.AuthMethodPost},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				tok, err := oauthcli.PerformClientCredentials(ctx, ep, oauthcli.ClientCredentials{
					ClientID: svc.Client.ID, ClientSecret: svc.Secret, Scopes: []string{"orders.read"}, AuthMethod: tt.method,
				})
				require.NoError(t, err)
				require.NotEmpty(t, tok.AccessToken)
				require.Equal(t, "bearer", strings.ToLower(tok.TokenType))
				require.Equal(t, "orders.read", tok.Scope)
				require.Positive(t, tok.ExpiresIn)
				require.True(t, tok.ExpiresAt.After(time.Now()))
				e.Server.RequireActive(t, svc, tok.AccessToken)
			})
		}

		t.Run("wrong secret", func(t *testing.T) {
			const wrong = "wrong-secret-wrong-secret-0123456789"
			tok, err := oauthcli.PerformClientCredentials(ctx, ep, oauthcli.ClientCredentials{ClientID: svc.Client.ID, ClientSecret: wrong})
			require.Nil(t, tok)
			oe := requireOAuthError(t, err, "token", "invalid_client", wrong, svc.Secret)
			require.Equal(t, http.StatusUnauthorized, oe.StatusCode)
		})
		t.Run("scope not allowed", func(t *testing.T) {
			_, err := oauthcli.PerformClientCredentials(ctx, ep, oauthcli.ClientCredentials{ClientID: svc.Client.ID, ClientSecret: svc.Secret, Scopes: []string{"admin"}})
			requireOAuthError(t, err, "token", "invalid_scope", svc.Secret)
		})
		t.Run("unknown auth method", func(t *testing.T) {
			_, err := oauthcli.PerformClientCredentials(ctx, ep, oauthcli.ClientCredentials{ClientID: svc.Client.ID, ClientSecret: svc.Secret, AuthMethod: "private_key_jwt"})
			require.ErrorContains(t, err, "unknown client authentication method")
			require.NotContains(t, err.Error(), svc.Secret)
		})
	})
}

func TestIntrospectAndRevoke(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *apptest.Env, ep oauthcli.Endpoint) {
		ctx := t.Context()
		svc := e.ServiceClient(t, nil)
		rs := e.ServiceClient(t, nil) // another client of the tenant: a resource server
		tok, err := oauthcli.PerformClientCredentials(ctx, ep, oauthcli.ClientCredentials{ClientID: svc.Client.ID, ClientSecret: svc.Secret})
		require.NoError(t, err)

		m, err := oauthcli.Introspect(ctx, ep, rs.Client.ID, rs.Secret, tok.AccessToken, oauthcli.HintAccessToken)
		require.NoError(t, err)
		require.True(t, oauthcli.Active(m), "%v", m)
		require.Equal(t, svc.Client.ID, m["client_id"])

		m, err = oauthcli.Introspect(ctx, ep, rs.Client.ID, rs.Secret, "idt_at_not.a-token", "")
		require.NoError(t, err)
		require.Equal(t, map[string]any{"active": false}, m)

		const wrong = "wrong-secret-wrong-secret-0123456789"
		_, err = oauthcli.Introspect(ctx, ep, rs.Client.ID, wrong, tok.AccessToken, "")
		var oe *oauthcli.Error
		require.ErrorAs(t, err, &oe)
		require.Equal(t, http.StatusUnauthorized, oe.StatusCode)
		require.NotEmpty(t, oe.Code)
		require.NotContains(t, err.Error(), wrong)

		err = oauthcli.Revoke(ctx, ep, svc.Client.ID, wrong, tok.AccessToken, "")
		requireOAuthError(t, err, "revoke", "invalid_client", wrong)
		e.Server.RequireActive(t, rs, tok.AccessToken)

		require.NoError(t, oauthcli.Revoke(ctx, ep, svc.Client.ID, svc.Secret, tok.AccessToken, oauthcli.HintAccessToken))
		m, err = oauthcli.Introspect(ctx, ep, rs.Client.ID, rs.Secret, tok.AccessToken, "")
		require.NoError(t, err)
		require.False(t, oauthcli.Active(m), "%v", m)
		// Revoking again, or an unknown token, is fine (RFC 7009 §2.2).
		require.NoError(t, oauthcli.Revoke(ctx, ep, svc.Client.ID, svc.Secret, tok.AccessToken, ""))
		require.NoError(t, oauthcli.Revoke(ctx, ep, svc.Client.ID, svc.Secret, "idt_at_not.a-token", ""))
	})
}

// browser is the user's side of PerformAuthorizationCode: an
// OpenBrowser that drives the server's pages with an apptest.Browser
// (signing in as the env's user, answering consent with decision) and
// follows the redirect to the loopback listener as a browser would.
type browser struct {
	t        *testing.T
	e        *apptest.Env
	decision string

	mu       sync.Mutex
	authURL  string
	lastPage string // the loopback listener's page
	status   int
}

func (b *browser) open(authURL string) error {
	b.mu.Lock()
	b.authURL = authURL
	b.mu.Unlock()
	br := b.e.Server.NewBrowser(b.t)
	res := br.Get(authURL)
	for range 6 {
		if loc := res.Location(b.t); loc != nil && res.Status >= 300 && res.Status < 400 {
			if !strings.HasPrefix(loc.String(), "http://127.0.0.1:") {
				return fmt.Errorf("redirect off the server to %s", loc)
			}
			return b.visitLoopback(loc.String())
		}
		switch {
		case br.IsPage(res, "/login"):
			res = br.LoginAs(res, b.e.Tenant.Slug, b.e.User.Email, apptest.Password)
		case br.IsPage(res, "/consent"):
			res = br.Decide(res, b.decision)
		default:
			return fmt.Errorf("unexpected page: %d %s", res.Status, res.URL)
		}
	}
	return errors.New("authorization did not finish")
}

func (b *browser) visitLoopback(target string) error {
	resp, err := http.Get(target)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.lastPage, b.status = string(body), resp.StatusCode
	return nil
}

func TestPerformAuthorizationCode(t *testing.T) {
	t.Parallel()
	eachEnv(t, func(t *testing.T, e *apptest.Env, ep oauthcli.Endpoint) {
		web := e.WebClient(t, func(in *apptest.NewClient) { in.RedirectURIs = []string{loopbackRedirect} })
		public := e.Client(t, apptest.NewClient{Name: "cli", Public: true, GrantTypes: []string{"authorization_code"},
			Scopes: []string{"openid", "email"}, RedirectURIs: []string{loopbackRedirect}})
		rs := e.ServiceClient(t, nil)

		t.Run("confidential client, openid and offline_access", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			var out bytes.Buffer
			b := &browser{t: t, e: e, decision: "allow"}
			tok, err := oauthcli.PerformAuthorizationCode(ctx, ep, oauthcli.AuthorizationCode{
				ClientID: web.Client.ID, ClientSecret: web.Secret, Scopes: []string{"openid", "offline_access", "email"},
				OpenBrowser: b.open, Out: &out,
			})
			require.NoError(t, err)
			require.Equal(t, b.authURL+"\n", out.String(), "the URL to open is printed, and nothing else")
			q := mustQuery(t, b.authURL)
			require.Equal(t, "S256", q.Get("code_challenge_method"))
			require.NotEmpty(t, q.Get("code_challenge"))
			require.NotEmpty(t, q.Get("state"))
			require.NotEmpty(t, q.Get("nonce"))
			require.Regexp(t, `^http://127\.0\.0\.1:\d+/callback$`, q.Get("redirect_uri"))
			require.Equal(t, http.StatusOK, b.status)
			require.Contains(t, b.lastPage, "You can close this window")

			require.NotEmpty(t, tok.AccessToken)
			require.NotEmpty(t, tok.RefreshToken)
			require.NotEmpty(t, tok.IDToken)
			require.Equal(t, e.User.ID, tok.IDTokenClaims["sub"])
			require.Equal(t, q.Get("nonce"), tok.IDTokenClaims["nonce"])
			require.Equal(t, e.User.Email, tok.IDTokenClaims["email"])
			e.Server.RequireActive(t, rs, tok.AccessToken)
		})

		t.Run("public client, fixed port", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			port := freePort(t)
			b := &browser{t: t, e: e, decision: "allow"}
			tok, err := oauthcli.PerformAuthorizationCode(ctx, ep, oauthcli.AuthorizationCode{
				ClientID: public.Client.ID, Scopes: []string{"openid"}, Port: port, OpenBrowser: b.open,
			})
			require.NoError(t, err)
			require.Equal(t, fmt.Sprintf("http://127.0.0.1:%d/callback", port), mustQuery(t, b.authURL).Get("redirect_uri"))
			require.Equal(t, e.User.ID, tok.IDTokenClaims["sub"])
			require.Empty(t, tok.RefreshToken, "no offline_access asked for")
		})

		t.Run("the user declines: access_denied", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			// A client the user has not consented to yet, so the consent page shows.
			fresh := e.WebClient(t, func(in *apptest.NewClient) { in.RedirectURIs = []string{loopbackRedirect} })
			b := &browser{t: t, e: e, decision: "deny"}
			tok, err := oauthcli.PerformAuthorizationCode(ctx, ep, oauthcli.AuthorizationCode{
				ClientID: fresh.Client.ID, ClientSecret: fresh.Secret, Scopes: []string{"openid"}, OpenBrowser: b.open,
			})
			require.Nil(t, tok)
			requireOAuthError(t, err, "authorize", "access_denied", fresh.Secret)
			require.Equal(t, http.StatusBadRequest, b.status)
			require.Contains(t, b.lastPage, "access_denied")
		})

		t.Run("a redirect with another state", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			b := &browser{t: t, e: e}
			forge := func(authURL string) error {
				redirect := mustQuery(t, authURL).Get("redirect_uri")
				return b.visitLoopback(redirect + "?" + url.Values{"code": {"idt_ac_forged.code"}, "state": {"not-the-state"}}.Encode())
			}
			_, err := oauthcli.PerformAuthorizationCode(ctx, ep, oauthcli.AuthorizationCode{
				ClientID: web.Client.ID, ClientSecret: web.Secret, Scopes: []string{"openid"}, OpenBrowser: forge,
			})
			require.ErrorIs(t, err, oauthcli.ErrStateMismatch)
			require.Equal(t, http.StatusBadRequest, b.status)
		})

		t.Run("a redirect naming another issuer", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			b := &browser{t: t, e: e}
			forge := func(authURL string) error {
				q := mustQuery(t, authURL)
				return b.visitLoopback(q.Get("redirect_uri") + "?" + url.Values{"code": {"idt_ac_forged.code"}, "state": {q.Get("state")},
					"iss": {"https://attacker.example"}}.Encode())
			}
			_, err := oauthcli.PerformAuthorizationCode(ctx, ep, oauthcli.AuthorizationCode{
				ClientID: web.Client.ID, ClientSecret: web.Secret, Scopes: []string{"openid"}, OpenBrowser: forge,
			})
			require.ErrorIs(t, err, oauthcli.ErrIssuerMismatch)
		})

		t.Run("the browser never comes back", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Second)
			defer cancel()
			_, err := oauthcli.PerformAuthorizationCode(ctx, ep, oauthcli.AuthorizationCode{
				ClientID: web.Client.ID, ClientSecret: web.Secret, Scopes: []string{"openid"},
			})
			require.ErrorIs(t, err, context.DeadlineExceeded)
		})

		t.Run("an extra parameter may not replace the flow's", func(t *testing.T) {
			_, err := oauthcli.PerformAuthorizationCode(t.Context(), ep, oauthcli.AuthorizationCode{
				ClientID: web.Client.ID, ExtraParams: url.Values{"state": {"fixed"}},
			})
			require.ErrorContains(t, err, `"state"`)
		})

		t.Run("max_age passes through", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
			defer cancel()
			b := &browser{t: t, e: e, decision: "allow"}
			tok, err := oauthcli.PerformAuthorizationCode(ctx, ep, oauthcli.AuthorizationCode{
				ClientID: web.Client.ID, ClientSecret: web.Secret, Scopes: []string{"openid"}, OpenBrowser: b.open,
				ExtraParams: url.Values{"max_age": {"0"}}, AuthMethod: oauthcli.AuthMethodPost,
			})
			require.NoError(t, err)
			require.Equal(t, "0", mustQuery(t, b.authURL).Get("max_age"))
			require.NotEmpty(t, tok.IDTokenClaims["auth_time"])
		})

		t.Run("a redirect URI off the loopback is refused", func(t *testing.T) {
			_, err := oauthcli.PerformAuthorizationCode(t.Context(), ep, oauthcli.AuthorizationCode{
				ClientID: web.Client.ID, RedirectURI: "http://example.com/callback",
			})
			require.ErrorContains(t, err, "loopback")
		})
	})
}

func mustQuery(t *testing.T, raw string) url.Values {
	t.Helper()
	u, err := url.Parse(raw)
	require.NoError(t, err)
	return u.Query()
}

// freePort is a port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := ln.Addr().(*net.TCPAddr).Port
	require.NoError(t, ln.Close())
	return port
}

// calls are every function of the package against ep, for the failure
// tests.
func calls(ep oauthcli.Endpoint) map[string]func(ctx context.Context) error {
	return map[string]func(ctx context.Context) error{
		"client credentials": func(ctx context.Context) error {
			_, err := oauthcli.PerformClientCredentials(ctx, ep, oauthcli.ClientCredentials{ClientID: "c", ClientSecret: "s"})
			return err
		},
		"authorization code": func(ctx context.Context) error {
			_, err := oauthcli.PerformAuthorizationCode(ctx, ep, oauthcli.AuthorizationCode{ClientID: "c", Scopes: []string{"openid"}})
			return err
		},
		"introspect": func(ctx context.Context) error {
			_, err := oauthcli.Introspect(ctx, ep, "c", "s", "t", "")
			return err
		},
		"revoke": func(ctx context.Context) error { return oauthcli.Revoke(ctx, ep, "c", "s", "t", "") },
	}
}

// within runs fn and fails the test if it has not returned after a
// generous bound (it must not hang).
func within(t *testing.T, fn func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- fn() }()
	select {
	case err := <-done:
		return err
	case <-time.After(2 * time.Minute):
		t.Fatal("the call hung")
		return nil
	}
}

// TestServerDown: a closed port is an error at once, not a hang, for every
// call (their own default deadline applies: ctx has none).
func TestServerDown(t *testing.T) {
	t.Parallel()
	ep := oauthcli.Endpoint{Issuer: fmt.Sprintf("http://127.0.0.1:%d", freePort(t))}
	for name, call := range calls(ep) {
		t.Run(name, func(t *testing.T) {
			err := within(t, func() error { return call(context.WithoutCancel(t.Context())) })
			require.Error(t, err)
			require.ErrorContains(t, err, "discovery")
		})
	}
}

// TestServerSilent: a server that accepts and never answers is bounded by
// ctx's deadline, and by Endpoint.Timeout when ctx has none (for the
// authorization code flow: each network step, whatever ctx allows).
func TestServerSilent(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })

	for name, call := range calls(oauthcli.Endpoint{Issuer: srv.URL}) {
		t.Run(name+", ctx deadline", func(t *testing.T) {
			ctx, cancel := context.WithTimeout(t.Context(), time.Second)
			defer cancel()
			err := within(t, func() error { return call(ctx) })
			require.ErrorIs(t, err, context.DeadlineExceeded)
		})
	}
	for name, call := range calls(oauthcli.Endpoint{Issuer: srv.URL, Timeout: time.Second}) {
		t.Run(name+", endpoint timeout", func(t *testing.T) {
			err := within(t, func() error { return call(context.WithoutCancel(t.Context())) })
			require.ErrorIs(t, err, context.DeadlineExceeded)
		})
	}
}

func TestErrorMessage(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		err  *oauthcli.Error
		want string
	}{
		{"full", &oauthcli.Error{Op: "token", StatusCode: 401, Code: "invalid_client", Description: "Client authentication failed."},
			"oauthcli: token: invalid_client: Client authentication failed. (HTTP 401)"},
		{"redirect", &oauthcli.Error{Op: "authorize", Code: "access_denied"}, "oauthcli: authorize: access_denied"},
		{"not an OAuth answer", &oauthcli.Error{Op: "revoke", StatusCode: 502}, "oauthcli: revoke: unexpected answer (HTTP 502)"},
		{"terminal escapes dropped", &oauthcli.Error{Op: "token", Code: "x\x1b[31m", Description: "a\nb\x07"}, "oauthcli: token: x[31m: ab"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			require.Equal(t, tt.want, tt.err.Error())
		})
	}
}

func TestTokenJSON(t *testing.T) {
	t.Parallel()
	b, err := json.Marshal(oauthcli.Token{AccessToken: "a", TokenType: "bearer", RefreshToken: "r", IDToken: "i", Scope: "s", ExpiresIn: 60,
		ExpiresAt: time.Date(2026, 12, 2, 18, 0, 0, 0, time.UTC), IDTokenClaims: map[string]any{"sub": "u"}})
	require.NoError(t, err)
	require.JSONEq(t, `{"access_token":"a","token_type":"bearer","refresh_token":"r","id_token":"i","scope":"s","expires_in":60,
		"expires_at":"2026-12-02T18:00:00Z","id_token_claims":{"sub":"u"}}`, string(b))
	b, err = json.Marshal(oauthcli.Token{AccessToken: "a"})
	require.NoError(t, err)
	require.JSONEq(t, `{"access_token":"a"}`, string(b), "empty members are left out")
}
