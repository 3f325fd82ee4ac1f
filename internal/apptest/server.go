package apptest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/identityd/identityd/identity/identitytest"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/storage/storagetest"
)

// Backend is a database to run a server on, with the Redis to use (empty:
// the in-process cache).
type Backend struct {
	storagetest.Backend
	RedisURL string
}

// Backends returns SQLite and, when IDENTITY_TEST_DATABASE_URL is set,
// PostgreSQL, each a fresh database, with Redis when
// IDENTITY_TEST_REDIS_URL is set. It fails the test when a variable is set
// but its server is unreachable.
func Backends(t testing.TB) []Backend {
	t.Helper()
	var out []Backend
	for _, b := range storagetest.Backends(t) {
		out = append(out, Backend{Backend: b, RedisURL: storagetest.RedisURL(t)})
	}
	return out
}

// EachBackend runs fn as a subtest named for each backend of Backends.
func EachBackend(t *testing.T, fn func(t *testing.T, b Backend)) {
	t.Helper()
	for _, b := range Backends(t) {
		t.Run(b.Name, func(t *testing.T) { fn(t, b) })
	}
}

// Server is a real identityd wired from a Config, served by httptest.
type Server struct {
	*app.App
	// Fixtures builds tenants, users and clients the quick way, without
	// audit rows (identity/identitytest).
	Fixtures *identitytest.Fixtures
	URL      string
	HTTP     *httptest.Server
	Logs     *LogBuffer
}

// LogBuffer collects the server's log output from concurrent handlers.
type LogBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *LogBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything logged so far.
func (b *LogBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Config is the configuration of a test server on backend b: bcrypt at its
// minimum cost, a fixed secret, the log mailer allowed, rate limits out of
// the way, and Redis when b has it.
func Config(t testing.TB, b Backend) *app.Config {
	t.Helper()
	env := map[string]string{
		"DATABASE_URL":         b.URL,
		"REDIS_URL":            b.RedisURL,
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
		// Issue 10's one-time codes (the OTP rate-limit test sets them back).
		"IDENTITY_RATE_OTP_GENERATE": "10000/1m",
		"IDENTITY_RATE_OTP_CALLER":   "10000/1m",
		"IDENTITY_RATE_OTP_VERIFY":   "10000/1m",
		// Issue 10's sign-up (the sign-up rate-limit test sets it back).
		"IDENTITY_RATE_REGISTER": "10000/1m",
	}
	cfg, err := app.LoadConfig(func(k string) string { return env[k] })
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	// bcrypt's minimum cost, below what the configuration accepts: the tests
	// prove behaviour, not hashing cost, and hash thousands of times under
	// -race on two cores. Tests about cost set it back through mutate.
	cfg.BcryptCost = 4
	return cfg
}

// New starts a server on backend b. mutate may change the config before the
// server is built (the issuer is already the server's own URL).
func New(t testing.TB, b Backend, mutate func(*app.Config)) *Server {
	t.Helper()
	return Start(t, Config(t, b), mutate)
}

// Start builds and starts a server from cfg. Several servers built from
// configs on the same backend behave as instances behind a load balancer.
func Start(t testing.TB, cfg *app.Config, mutate func(*app.Config)) *Server {
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
	logs := &LogBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	// The server outlives the test's context: its cleanup stops it.
	a, err := app.Build(context.Background(), cfg, log)
	if err != nil {
		_ = ln.Close()
		t.Fatalf("build server: %v", err)
	}
	srv := &httptest.Server{Listener: ln, Config: &http.Server{Handler: a.Echo}}
	srv.Start()
	// The mail worker runs as in serve, polling often: tests wait on the
	// condition (the message arrived), never on a fixed delay.
	a.MailQueue.Interval = 50 * time.Millisecond
	mailCtx, stopMail := context.WithCancel(context.Background())
	mailDone := make(chan struct{})
	go func() { defer close(mailDone); a.MailQueue.Run(mailCtx) }()
	t.Cleanup(func() {
		stopMail()
		<-mailDone
		srv.Close()
		a.Close()
	})
	fx := &identitytest.Fixtures{Store: a.Store, Hasher: a.Hasher, PasswordCost: a.Config.BcryptCost, RotationWindow: a.Config.SecretRotation}
	return &Server{App: a, Fixtures: fx, URL: srv.URL, HTTP: srv, Logs: logs}
}

// ErrorLogs returns the server's error log lines, for failure messages.
func (s *Server) ErrorLogs() string {
	var out []string
	for _, line := range strings.Split(s.Logs.String(), "\n") {
		if strings.Contains(line, `"level":"ERROR"`) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// SQLite is a fresh SQLite database without Redis: for tests about the
// server itself rather than about a backend.
func SQLite(t testing.TB) Backend {
	t.Helper()
	return Backend{Backend: storagetest.SQLiteBackend(t)}
}
