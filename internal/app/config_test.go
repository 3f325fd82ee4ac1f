package app

import (
	"bytes"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/identityd/identityd/identity"
)

// cfgEnv is a getenv over a map.
func cfgEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := LoadConfig(WithDefaults(cfgEnv(nil)))
	if err != nil {
		t.Fatalf("empty environment: %v", err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"Addr", cfg.Addr, "127.0.0.1:8000"},
		{"Issuer", cfg.Issuer, "http://localhost:8000"},
		{"DatabaseURL", string(cfg.DatabaseURL), "sqlite:" + filepath.Join("./data", "identity.db")},
		{"RedisURL", string(cfg.RedisURL), ""},
		{"Secret", string(cfg.Secret), ""},
		{"DataDir", cfg.DataDir, "./data"},
		{"AccessTokenTTL", cfg.AccessTokenTTL, time.Hour},
		{"RefreshTokenTTL", cfg.RefreshTokenTTL, 168 * time.Hour},
		{"AuthCodeTTL", cfg.AuthCodeTTL, 10 * time.Minute},
		{"IDTokenTTL", cfg.IDTokenTTL, time.Hour},
		{"RefreshGrace", cfg.RefreshGrace, time.Duration(0)},
		{"BcryptCost", cfg.BcryptCost, 12},
		{"SecretRotation", cfg.SecretRotation, 24 * time.Hour},
		{"SecretCacheTTL", cfg.SecretCacheTTL, 5 * time.Minute},
		{"SessionTTL", cfg.SessionTTL, 24 * time.Hour},
		{"RememberTTL", cfg.RememberTTL, 720 * time.Hour},
		{"KeyReloadInterval", cfg.KeyReloadInterval, 10 * time.Second},
		{"DBMaxConns", cfg.DBMaxConns, 20},
		{"SQLiteReadConns", cfg.SQLiteReadConns, 4},
		{"LogLevel", cfg.LogLevel, slog.LevelInfo},
		{"LogFormat", cfg.LogFormat, "json"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestLoadConfigValues(t *testing.T) {
	dir := t.TempDir()
	cfg, err := LoadConfig(WithDefaults(cfgEnv(map[string]string{
		"IDENTITY_ADDR":                 "0.0.0.0:9000",
		"IDENTITY_ISSUER":               "https://id.example.com/",
		"IDENTITY_DATA_DIR":             dir,
		"REDIS_URL":                     "rediss://cache.example:6380/2",
		"IDENTITY_ACCESS_TOKEN_TTL":     "15m",
		"IDENTITY_REFRESH_GRACE_PERIOD": "5m",
		"IDENTITY_BCRYPT_COST":          " 11 ",
		"IDENTITY_LOG_LEVEL":            "debug",
		"IDENTITY_LOG_FORMAT":           "text",
	})))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	if cfg.Addr != "0.0.0.0:9000" || cfg.Issuer != "https://id.example.com" || cfg.AccessTokenTTL != 15*time.Minute ||
		cfg.RefreshGrace != 5*time.Minute || cfg.BcryptCost != 11 || cfg.LogLevel != slog.LevelDebug || cfg.LogFormat != "text" ||
		string(cfg.RedisURL) != "rediss://cache.example:6380/2" || string(cfg.DatabaseURL) != "sqlite:"+filepath.Join(dir, "identity.db") {
		t.Errorf("config %+v does not carry the environment", cfg)
	}
}

func TestLoadConfigRejects(t *testing.T) {
	pg := "postgres://app@db.example/identity"
	good := "0123456789abcdef0123456789abcdef" // exactly 32 bytes
	cases := []struct {
		name    string
		env     map[string]string
		wantVar string
		// secretValue must not appear in the message.
		secretValue string
	}{
		{"addr without port", map[string]string{"IDENTITY_ADDR": "localhost"}, "IDENTITY_ADDR", ""},
		{"issuer not http", map[string]string{"IDENTITY_ISSUER": "ftp://id.example"}, "IDENTITY_ISSUER", ""},
		{"issuer with query", map[string]string{"IDENTITY_ISSUER": "https://id.example/?a=b"}, "IDENTITY_ISSUER", ""},
		{"issuer with fragment", map[string]string{"IDENTITY_ISSUER": "https://id.example/#x"}, "IDENTITY_ISSUER", ""},
		{"issuer without host", map[string]string{"IDENTITY_ISSUER": "localhost:8000"}, "IDENTITY_ISSUER", ""},
		{"database scheme", map[string]string{"DATABASE_URL": "mysql://root:hunter2-db-pass@db/identity"}, "DATABASE_URL", "hunter2-db-pass"},
		{"redis scheme http", map[string]string{"REDIS_URL": "http://:redis-pass-123@cache:6379"}, "REDIS_URL", "redis-pass-123"},
		{"redis without scheme", map[string]string{"REDIS_URL": "cache:6379"}, "REDIS_URL", ""},
		{"secret too short", map[string]string{"IDENTITY_SECRET": "short-secret-value"}, "IDENTITY_SECRET", "short-secret-value"},
		{"secret 31 bytes", map[string]string{"IDENTITY_SECRET": good[:31]}, "IDENTITY_SECRET", good[:31]},
		{"secret required with postgres", map[string]string{"DATABASE_URL": pg, "SMTP_URL": "smtp://mail.example?from=id@example.com"}, "IDENTITY_SECRET", ""},
		{"secret required with postgresql scheme", map[string]string{"DATABASE_URL": "postgresql://app@db/identity", "SMTP_URL": "smtp://mail.example?from=id@example.com"}, "IDENTITY_SECRET", ""},
		{"short secret with postgres", map[string]string{"DATABASE_URL": pg, "IDENTITY_SECRET": "0123456789", "SMTP_URL": "smtp://mail.example?from=id@example.com"}, "IDENTITY_SECRET", "0123456789"},
		{"access ttl not a duration", map[string]string{"IDENTITY_ACCESS_TOKEN_TTL": "forever"}, "IDENTITY_ACCESS_TOKEN_TTL", ""},
		{"access ttl too short", map[string]string{"IDENTITY_ACCESS_TOKEN_TTL": "10s"}, "IDENTITY_ACCESS_TOKEN_TTL", ""},
		{"access ttl too long", map[string]string{"IDENTITY_ACCESS_TOKEN_TTL": "48h"}, "IDENTITY_ACCESS_TOKEN_TTL", ""},
		{"refresh ttl too short", map[string]string{"IDENTITY_REFRESH_TOKEN_TTL": "30m"}, "IDENTITY_REFRESH_TOKEN_TTL", ""},
		{"code ttl too long", map[string]string{"IDENTITY_AUTH_CODE_TTL": "2h"}, "IDENTITY_AUTH_CODE_TTL", ""},
		{"id token ttl number", map[string]string{"IDENTITY_ID_TOKEN_TTL": "3600"}, "IDENTITY_ID_TOKEN_TTL", ""},
		{"refresh grace above 5m", map[string]string{"IDENTITY_REFRESH_GRACE_PERIOD": "5m1s"}, "IDENTITY_REFRESH_GRACE_PERIOD", ""},
		{"audit floor above the retention", map[string]string{"AUDIT_RETENTION_DAYS": "30", "AUDIT_RETENTION_MIN_DAYS": "31"}, "AUDIT_RETENTION_MIN_DAYS", ""},
		{"audit floor zero", map[string]string{"AUDIT_RETENTION_MIN_DAYS": "0"}, "AUDIT_RETENTION_MIN_DAYS", ""},
		{"refresh grace 1h", map[string]string{"IDENTITY_REFRESH_GRACE_PERIOD": "1h"}, "IDENTITY_REFRESH_GRACE_PERIOD", ""},
		{"refresh grace negative", map[string]string{"IDENTITY_REFRESH_GRACE_PERIOD": "-1s"}, "IDENTITY_REFRESH_GRACE_PERIOD", ""},
		{"bcrypt cost low", map[string]string{"IDENTITY_BCRYPT_COST": "9"}, "IDENTITY_BCRYPT_COST", ""},
		{"bcrypt cost high", map[string]string{"IDENTITY_BCRYPT_COST": "17"}, "IDENTITY_BCRYPT_COST", ""},
		{"bcrypt cost word", map[string]string{"IDENTITY_BCRYPT_COST": "twelve"}, "IDENTITY_BCRYPT_COST", ""},
		{"rotation window too long", map[string]string{"IDENTITY_CLIENT_SECRET_ROTATION_WINDOW": "800h"}, "IDENTITY_CLIENT_SECRET_ROTATION_WINDOW", ""},
		{"secret cache ttl too long", map[string]string{"IDENTITY_SECRET_CACHE_TTL": "2h"}, "IDENTITY_SECRET_CACHE_TTL", ""},
		{"session ttl too short", map[string]string{"IDENTITY_SESSION_TTL": "1m"}, "IDENTITY_SESSION_TTL", ""},
		{"remember ttl not a duration", map[string]string{"IDENTITY_REMEMBER_TTL": "30 days"}, "IDENTITY_REMEMBER_TTL", ""},
		{"key reload zero", map[string]string{"IDENTITY_KEY_RELOAD_INTERVAL": "0s"}, "IDENTITY_KEY_RELOAD_INTERVAL", ""},
		{"db max conns zero", map[string]string{"IDENTITY_DB_MAX_CONNS": "0"}, "IDENTITY_DB_MAX_CONNS", ""},
		{"sqlite read conns zero", map[string]string{"IDENTITY_SQLITE_READ_CONNS": "0"}, "IDENTITY_SQLITE_READ_CONNS", ""},
		{"sqlite read conns too many", map[string]string{"IDENTITY_SQLITE_READ_CONNS": "65"}, "IDENTITY_SQLITE_READ_CONNS", ""},
		{"db timeout too short", map[string]string{"IDENTITY_DB_TIMEOUT": "1ms"}, "IDENTITY_DB_TIMEOUT", ""},
		{"db timeout word", map[string]string{"IDENTITY_DB_TIMEOUT": "soon"}, "IDENTITY_DB_TIMEOUT", ""},
		{"max in flight negative", map[string]string{"IDENTITY_MAX_INFLIGHT": "-1"}, "IDENTITY_MAX_INFLIGHT", ""},
		{"redis timeout too long", map[string]string{"IDENTITY_REDIS_TIMEOUT": "2m"}, "IDENTITY_REDIS_TIMEOUT", ""},
		{"shutdown grace negative", map[string]string{"IDENTITY_SHUTDOWN_GRACE": "-1s"}, "IDENTITY_SHUTDOWN_GRACE", ""},
		{"log level", map[string]string{"IDENTITY_LOG_LEVEL": "verbose"}, "IDENTITY_LOG_LEVEL", ""},
		{"log format", map[string]string{"IDENTITY_LOG_FORMAT": "xml"}, "IDENTITY_LOG_FORMAT", ""},
		// The log mailer would write one-time codes into a production log.
		{"postgres without smtp", map[string]string{"DATABASE_URL": pg, "IDENTITY_SECRET": good}, "SMTP_URL", ""},
		{"postgres without smtp, dev setting off", map[string]string{"DATABASE_URL": pg, "IDENTITY_SECRET": good, "IDENTITY_DEV_LOG_MAIL": "0"}, "SMTP_URL", ""},
		{"dev log mail not a flag", map[string]string{"IDENTITY_DEV_LOG_MAIL": "maybe"}, "IDENTITY_DEV_LOG_MAIL", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := LoadConfig(WithDefaults(cfgEnv(tc.env)))
			if err == nil {
				t.Fatalf("LoadConfig(%v) accepted it", tc.env)
			}
			msg := err.Error()
			if !strings.Contains(msg, tc.wantVar+": ") {
				t.Errorf("error %q does not name %s", msg, tc.wantVar)
			}
			if strings.Count(msg, ": ") != 2 { // "configuration: VAR: problem"
				t.Errorf("error %q reports more than the one problem", msg)
			}
			if strings.ContainsAny(msg, "\n\r") {
				t.Errorf("error %q is not one line", msg)
			}
			if tc.secretValue != "" && strings.Contains(msg, tc.secretValue) {
				t.Errorf("error %q repeats a secret", msg)
			}
		})
	}
}

func TestLoadConfigAcceptsEdges(t *testing.T) {
	good := "0123456789abcdef0123456789abcdef"
	cases := []struct {
		name string
		env  map[string]string
	}{
		{"postgres with 32-byte secret", map[string]string{"DATABASE_URL": "postgres://app@db/identity", "IDENTITY_SECRET": good, "SMTP_URL": "smtp://mail.example?from=id@example.com"}},
		{"postgres with the log mailer on a development machine", map[string]string{"DATABASE_URL": "postgres://app@db/identity", "IDENTITY_SECRET": good, "IDENTITY_DEV_LOG_MAIL": "1"}},
		{"sqlite without secret", map[string]string{"DATABASE_URL": "sqlite:/tmp/x.db"}},
		{"refresh grace exactly 5m", map[string]string{"IDENTITY_REFRESH_GRACE_PERIOD": "5m"}},
		{"redis", map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/0"}},
		{"rediss", map[string]string{"REDIS_URL": "rediss://cache:6380"}},
		{"bcrypt bounds", map[string]string{"IDENTITY_BCRYPT_COST": "10"}},
		{"secret cache off", map[string]string{"IDENTITY_SECRET_CACHE_TTL": "0s"}},
		{"ipv6 addr", map[string]string{"IDENTITY_ADDR": "[::1]:8000"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := LoadConfig(WithDefaults(cfgEnv(tc.env))); err != nil {
				t.Fatalf("LoadConfig(%v): %v", tc.env, err)
			}
		})
	}
}

func TestLoadConfigReportsEveryProblem(t *testing.T) {
	_, err := LoadConfig(WithDefaults(cfgEnv(map[string]string{
		"DATABASE_URL":                  "postgres://app@db/identity",
		"REDIS_URL":                     "memcached://x",
		"IDENTITY_BCRYPT_COST":          "4",
		"IDENTITY_REFRESH_GRACE_PERIOD": "10m",
		"IDENTITY_LOG_FORMAT":           "yaml",
	})))
	if err == nil {
		t.Fatal("accepted five bad values")
	}
	msg := err.Error()
	for _, v := range []string{"IDENTITY_SECRET", "REDIS_URL", "IDENTITY_BCRYPT_COST", "IDENTITY_REFRESH_GRACE_PERIOD", "IDENTITY_LOG_FORMAT"} {
		if !strings.Contains(msg, v+": ") {
			t.Errorf("error does not report %s: %q", v, msg)
		}
	}
	for _, v := range []string{"IDENTITY_ADDR", "IDENTITY_ISSUER", "DATABASE_URL:"} {
		if strings.Contains(msg, v) {
			t.Errorf("error blames the good %s: %q", v, msg)
		}
	}
	if strings.ContainsAny(msg, "\n\r") {
		t.Errorf("error is not one line: %q", msg)
	}
}

func TestSecretNeverPrints(t *testing.T) {
	const value = "super-secret-value-0123456789abcdef"
	cfg, err := LoadConfig(WithDefaults(cfgEnv(map[string]string{"IDENTITY_SECRET": value, "REDIS_URL": "redis://:pw-" + value + "@h:1"})))
	if err != nil {
		t.Fatalf("load: %v", err)
	}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("config", "secret", cfg.Secret, "redis", cfg.RedisURL, "database", cfg.DatabaseURL)
	slog.New(slog.NewTextHandler(&logs, nil)).Info("config", "secret", cfg.Secret)
	for _, out := range []string{fmt.Sprint(cfg.Secret), fmt.Sprintf("%v %s", cfg.Secret, cfg.RedisURL), fmt.Sprintf("%+v", *cfg), logs.String()} {
		if strings.Contains(out, value) {
			t.Errorf("secret printed: %.300s", out)
		}
	}
	if !strings.Contains(logs.String(), "[redacted]") {
		t.Errorf("logs do not show the redaction: %s", logs.String())
	}
}

func TestEnsureDevSecret(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "nested", "data")
	load := func() *Config {
		t.Helper()
		cfg, err := LoadConfig(WithDefaults(cfgEnv(map[string]string{"IDENTITY_DATA_DIR": dir})))
		if err != nil {
			t.Fatalf("load: %v", err)
		}
		return cfg
	}
	first := load()
	if err := first.ensureDevSecret(); err != nil {
		t.Fatalf("generate: %v", err)
	}
	file := filepath.Join(dir, "identity.secret")
	st, err := os.Stat(file)
	if err != nil {
		t.Fatalf("secret file: %v", err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Errorf("secret file mode %v, want 0600", st.Mode().Perm())
	}
	if dst, err := os.Stat(dir); err != nil || dst.Mode().Perm()&0o077 != 0 {
		t.Errorf("data dir mode %v (%v), want no group or other access", dst.Mode().Perm(), err)
	}
	raw, _ := os.ReadFile(file)
	if got := strings.TrimSpace(string(raw)); got != string(first.Secret) || len(got) < 32 {
		t.Fatalf("file holds %d bytes, config %d: not the same secret of at least 32 bytes", len(got), len(first.Secret))
	}
	if !first.generatedSecret {
		t.Error("a generated secret is not marked as such (no warning would be logged)")
	}

	second := load()
	if err := second.ensureDevSecret(); err != nil {
		t.Fatalf("reuse: %v", err)
	}
	if second.Secret != first.Secret {
		t.Error("a second start generated a new secret instead of reusing the file")
	}

	other := filepath.Join(t.TempDir(), "other")
	third, _ := LoadConfig(WithDefaults(cfgEnv(map[string]string{"IDENTITY_DATA_DIR": other})))
	if err := third.ensureDevSecret(); err != nil {
		t.Fatalf("generate: %v", err)
	}
	if third.Secret == first.Secret {
		t.Error("two data directories got the same secret")
	}

	t.Run("set secret writes no file", func(t *testing.T) {
		d := t.TempDir()
		cfg, _ := LoadConfig(WithDefaults(cfgEnv(map[string]string{"IDENTITY_DATA_DIR": d, "IDENTITY_SECRET": "0123456789abcdef0123456789abcdef"})))
		if err := cfg.ensureDevSecret(); err != nil {
			t.Fatalf("ensure: %v", err)
		}
		if _, err := os.Stat(filepath.Join(d, "identity.secret")); !os.IsNotExist(err) {
			t.Errorf("a secret file was written although IDENTITY_SECRET is set (%v)", err)
		}
		if cfg.generatedSecret {
			t.Error("a configured secret is marked generated")
		}
	})
	t.Run("short file refused", func(t *testing.T) {
		d := t.TempDir()
		if err := os.WriteFile(filepath.Join(d, "identity.secret"), []byte("too-short\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		cfg, _ := LoadConfig(WithDefaults(cfgEnv(map[string]string{"IDENTITY_DATA_DIR": d})))
		err := cfg.ensureDevSecret()
		if err == nil || !strings.HasPrefix(err.Error(), "IDENTITY_SECRET: ") {
			t.Fatalf("short secret file: %v, want an IDENTITY_SECRET error", err)
		}
		if strings.Contains(err.Error(), "too-short") {
			t.Errorf("error repeats the file's content: %v", err)
		}
	})
}

// TestLogMailerNeverLogsCodesAtInfo: the log mailer logs recipient and
// subject at info; the body (where one-time codes are) only at debug and
// only with IDENTITY_DEV_LOG_MAIL=1.
func TestLogMailerNeverLogsCodesAtInfo(t *testing.T) {
	const code = "Your sign-in code is 914273."
	tests := []struct {
		name     string
		dev      string
		level    string
		wantBody bool
	}{
		{"default, info", "", "info", false},
		{"default, debug", "", "debug", false},
		{"dev setting, info", "1", "info", false},
		{"dev setting, debug", "1", "debug", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			cfg, err := LoadConfig(WithDefaults(cfgEnv(map[string]string{"IDENTITY_DATA_DIR": dir, "IDENTITY_DEV_LOG_MAIL": tt.dev, "IDENTITY_LOG_LEVEL": tt.level})))
			if err != nil {
				t.Fatal(err)
			}
			var logs bytes.Buffer
			app, err := Build(t.Context(), cfg, NewLogger(cfg, &logs))
			if err != nil {
				t.Fatal(err)
			}
			defer app.Close()
			if err := app.Mailer.Send(t.Context(), identity.Message{To: "ada@example.com", Subject: "Your sign-in code", Text: code}); err != nil {
				t.Fatal(err)
			}
			out := logs.String()
			if !strings.Contains(out, "ada@example.com") || !strings.Contains(out, "Your sign-in code") {
				t.Errorf("the log does not name the recipient and subject: %s", out)
			}
			if got := strings.Contains(out, "914273"); got != tt.wantBody {
				t.Errorf("code in the log = %v, want %v: %s", got, tt.wantBody, out)
			}
			for _, line := range strings.Split(out, "\n") {
				if strings.Contains(line, "914273") && !strings.Contains(line, `"level":"DEBUG"`) {
					t.Errorf("the code is logged above debug: %s", line)
				}
			}
		})
	}
}
