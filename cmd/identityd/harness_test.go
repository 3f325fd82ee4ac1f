package main

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/identityd/identityd/identity/identitytest"
	"github.com/identityd/identityd/storage/storagetest"
)

// testServer is a real identityd wired from a Config, served by httptest.
type testServer struct {
	*App
	// Admin builds fixtures (tenants, users, clients) without audit rows.
	Admin *identitytest.Fixtures
	URL   string
	HTTP  *httptest.Server
	Logs  *syncBuffer
}

// syncBuffer collects log output from concurrent handlers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// testConfig is the configuration of a test server on backend b: bcrypt at
// the minimum cost the config allows, a fixed secret, and Redis when set.
func testConfig(t testing.TB, b storagetest.Backend, redisURL string) *Config {
	t.Helper()
	env := map[string]string{
		"DATABASE_URL":         b.URL,
		"REDIS_URL":            redisURL,
		"IDENTITY_SECRET":      "test-secret-test-secret-test-secret-0123456789",
		"IDENTITY_BCRYPT_COST": "10",
		"IDENTITY_DATA_DIR":    t.TempDir(),
		"IDENTITY_LOG_LEVEL":   "debug",
		// PostgreSQL without SMTP_URL is refused unless this says the log
		// mailer is wanted (tests swap in their own mailers).
		"IDENTITY_DEV_LOG_MAIL": "1",
		// Tests sign in many times from one address; the rate-limit tests
		// set the production limits back through their mutate func.
		"IDENTITY_RATE_LOGIN": "10000/1m",
		// One Redis serves every test: instances on the same backend share a
		// prefix (they are one deployment), other tests do not.
		"IDENTITY_REDIS_PREFIX": fmt.Sprintf("identity-test:%x:", sha256.Sum256([]byte(b.URL))),
		"IDENTITY_RATE_2FA":     "10000/1m",
		"IDENTITY_RATE_PIN":     "10000/1m",
		"IDENTITY_RATE_FORGOT":  "10000/1m",
		// Issue 8's failure budgets, as high (rate-limit tests set them back).
		"IDENTITY_RATE_LOGIN_IP_FAILURES":    "10000/1m",
		"IDENTITY_RATE_CLIENT_AUTH_FAILURES": "10000/1m",
	}
	cfg, err := LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	// bcrypt's minimum cost, below what the configuration accepts: the tests
	// prove behaviour, not hashing cost, and hash thousands of times under
	// -race on two cores. Tests about cost set it back through mutate.
	cfg.BcryptCost = 4
	return cfg
}

// newTestServer starts a server on backend b. mutate may change the config
// before the server is built (the issuer is set to the server's own URL).
func newTestServer(t testing.TB, b storagetest.Backend, redisURL string, mutate func(*Config)) *testServer {
	t.Helper()
	cfg := testConfig(t, b, redisURL)
	return startServer(t, cfg, mutate)
}

// startServer builds and starts a server from cfg. Several servers built from
// configs on the same backend behave as instances behind a load balancer.
func startServer(t testing.TB, cfg *Config, mutate func(*Config)) *testServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	cfg.Issuer = "http://" + ln.Addr().String()
	cfg.Addr = ln.Addr().String()
	if mutate != nil {
		mutate(cfg)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	app, err := Build(context.Background(), cfg, log)
	if err != nil {
		_ = ln.Close()
		t.Fatalf("build server: %v", err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: app.Echo}}
	srv.Start()
	// The mail worker runs as in serve, polling often: tests wait on the
	// condition (the message arrived), never on a fixed delay.
	app.MailQueue.Interval = 50 * time.Millisecond
	mailCtx, stopMail := context.WithCancel(context.Background())
	mailDone := make(chan struct{})
	go func() { defer close(mailDone); app.MailQueue.Run(mailCtx) }()
	t.Cleanup(func() {
		stopMail()
		<-mailDone
		srv.Close()
		app.Close()
	})
	return &testServer{App: app, Admin: fixtures(app), URL: srv.URL, HTTP: srv, Logs: logs}
}

// fixtures are the test fixtures over app's store, with its hasher, cost
// and rotation window.
func fixtures(app *App) *identitytest.Fixtures {
	return &identitytest.Fixtures{Store: app.Store, Hasher: app.Hasher, PasswordCost: app.Config.BcryptCost, RotationWindow: app.Config.SecretRotation}
}
