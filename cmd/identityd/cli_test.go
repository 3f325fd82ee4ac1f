package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"testing"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
)

// cliEnv is the environment of a CLI test: an empty SQLite data dir.
func cliEnv(t *testing.T) map[string]string {
	t.Helper()
	return map[string]string{
		"IDENTITY_DATA_DIR":    t.TempDir(),
		"IDENTITY_BCRYPT_COST": "10",
		"IDENTITY_LOG_LEVEL":   "warn",
	}
}

// cliRun runs identityd with args and returns stdout, stderr and the error.
func cliRun(t *testing.T, env map[string]string, args ...string) (string, string, error) {
	t.Helper()
	var stdout, stderr bytes.Buffer
	err := run(t.Context(), args, cfgEnv(env), &stdout, &stderr)
	return stdout.String(), stderr.String(), err
}

// cliOK runs a command that must succeed and decodes its JSON output.
func cliOK(t *testing.T, env map[string]string, args ...string) map[string]any {
	t.Helper()
	stdout, stderr, err := cliRun(t, env, args...)
	if err != nil {
		t.Fatalf("identityd %s: %v\nstderr: %s", strings.Join(args, " "), err, stderr)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(stdout), &out); err != nil {
		t.Fatalf("identityd %s: stdout is not JSON: %v: %q", strings.Join(args, " "), err, stdout)
	}
	return out
}

// cliCount counts the rows of table in the data dir's database.
func cliCount(t *testing.T, env map[string]string, table string) int {
	t.Helper()
	ctx := t.Context()
	st, err := storage.Open(ctx, storage.Options{DatabaseURL: "sqlite:" + filepath.Join(env["IDENTITY_DATA_DIR"], "identity.db")})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	defer st.Close()
	db, err := st.SQLDB()
	if err != nil {
		t.Fatalf("sql: %v", err)
	}
	var n int
	if err := db.QueryRowContext(ctx, "SELECT count(*) FROM "+table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// cliApp builds the app over the data dir, to check what the CLI created.
func cliApp(t *testing.T, env map[string]string) *app.App {
	t.Helper()
	cfg, err := app.LoadConfig(app.WithDefaults(cfgEnv(env)))
	if err != nil {
		t.Fatalf("config: %v", err)
	}
	app, err := app.Build(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatalf("build: %v", err)
	}
	t.Cleanup(app.Close)
	return app
}

func TestCLICreates(t *testing.T) {
	t.Parallel()
	env := cliEnv(t)
	ctx := t.Context()

	out := cliOK(t, env, "migrate")
	if out["migrated"] != true || out["dialect"] != "sqlite" {
		t.Errorf("migrate printed %v", out)
	}

	tenant := cliOK(t, env, "tenants", "create", "--slug", "acme", "--name", "Acme Corp")
	if tenant["slug"] != "acme" || tenant["name"] != "Acme Corp" || tenant["id"] == "" || tenant["id"] == nil {
		t.Errorf("tenants create printed %v", tenant)
	}

	const password = "Users-Create-Passw0rd-1" // passes the password policy, as the API demands
	created := cliOK(t, env, "users", "create", "--tenant", "acme", "--email", "Alice@Example.COM", "--password", password, "--name", "Alice")
	user, _ := created["user"].(map[string]any)
	if user["email"] != "alice@example.com" || user["tenant_id"] != tenant["id"] || user["id"] == nil {
		t.Errorf("users create printed %v", user)
	}
	if strings.Contains(fmt.Sprint(created), password) {
		t.Errorf("users create printed the password: %v", user)
	}

	svc := cliOK(t, env, "clients", "create", "--tenant", "acme", "--grant-types", "client_credentials", "--scopes", "read,write", "--name", "Service")
	svcID, _ := svc["client_id"].(string)
	svcSecret, _ := svc["client_secret"].(string)
	if svcID == "" || len(svcSecret) < 32 {
		t.Fatalf("clients create did not generate an id and a secret: %v", svc)
	}
	if svc["public"] != false {
		t.Errorf("clients create printed %v", svc)
	}
	svc2 := cliOK(t, env, "clients", "create", "--tenant", "acme", "--grant-types", "client_credentials")
	if svc2["client_id"] == svcID || svc2["client_secret"] == svcSecret {
		t.Errorf("two generated clients share an id or secret: %v %v", svc, svc2)
	}

	given := cliOK(t, env, "clients", "create", "--tenant", "acme", "--id", "given-id", "--secret", "given-secret-0123456789",
		"--grant-types", "authorization_code,refresh_token", "--scopes", "openid,offline_access",
		"--redirect-uris", "https://app.example/cb,http://127.0.0.1:8080/cb", "--skip-consent")
	if given["client_id"] != "given-id" || given["client_secret"] != "given-secret-0123456789" || given["skip_consent"] != true {
		t.Errorf("clients create with id and secret printed %v", given)
	}

	if given["id_token_signed_response_alg"] != "RS256" {
		t.Errorf("clients create printed id_token_signed_response_alg %v, want the default RS256", given["id_token_signed_response_alg"])
	}
	es := cliOK(t, env, "clients", "create", "--tenant", "acme", "--id", "es-client", "--grant-types", "authorization_code",
		"--scopes", "openid", "--redirect-uris", "https://app.example/cb", "--id-token-signed-response-alg", "ES256")
	if es["id_token_signed_response_alg"] != "ES256" {
		t.Errorf("clients create --id-token-signed-response-alg ES256 printed %v", es)
	}
	if up := cliOK(t, env, "clients", "update", "es-client", "--tenant", "acme", "--id-token-signed-response-alg", "RS256"); up["id_token_signed_response_alg"] != "RS256" {
		t.Errorf("clients update --id-token-signed-response-alg RS256 printed %v", up)
	}

	public := cliOK(t, env, "clients", "create", "--tenant", "acme", "--public", "--grant-types", "authorization_code",
		"--redirect-uris", "http://localhost/cb,com.example.app:/cb")
	if s, ok := public["client_secret"]; ok && s != "" {
		t.Errorf("a public client got a secret: %v", public)
	}
	if public["public"] != true || public["token_endpoint_auth_method"] != "none" || public["client_id"] == "" {
		t.Errorf("clients create --public printed %v", public)
	}

	// What was printed is what works: the secrets verify against the stored
	// hashes, and no secret is stored as given.
	app := cliApp(t, env)
	for _, c := range []struct{ id, secret string }{{svcID, svcSecret}, {"given-id", "given-secret-0123456789"}} {
		cl, err := app.Store.GetClient(ctx, c.id)
		if err != nil {
			t.Fatalf("client %s not stored: %v", c.id, err)
		}
		hash := cl.GetHashedSecret()
		if bytes.Contains(hash, []byte(c.secret)) {
			t.Errorf("client %s: secret stored in clear", c.id)
		}
		if err := app.Hasher.Compare(ctx, hash, []byte(c.secret)); err != nil {
			t.Errorf("client %s: printed secret does not verify: %v", c.id, err)
		}
		if err := app.Hasher.Compare(ctx, hash, []byte(c.secret+"x")); err == nil {
			t.Errorf("client %s: a wrong secret verifies", c.id)
		}
	}
	if n := cliCount(t, env, "oauth_clients"); n != 5 {
		t.Errorf("%d clients stored, want 5", n)
	}
	if _, err := app.Login.WithPassword(ctx, identity.LoginInput{Tenant: "acme", Email: "alice@example.com", Password: password}); err != nil {
		t.Errorf("the created user cannot sign in: %v", err)
	}
}

func TestCLIKeysRotate(t *testing.T) {
	t.Parallel()
	env := cliEnv(t)
	first := cliOK(t, env, "keys", "rotate")
	second := cliOK(t, env, "keys", "rotate")
	k1, _ := first["kid"].(string)
	k2, _ := second["kid"].(string)
	if k1 == "" || k2 == "" || k1 == k2 {
		t.Fatalf("keys rotate printed kids %q then %q, want two different ones", k1, k2)
	}
	if first["algorithm"] != "RS256" {
		t.Errorf("algorithm %v", first["algorithm"])
	}
	// Every algorithm's key rotates, and is listed.
	var ecKIDs []string
	for _, out := range []map[string]any{first, second} {
		keys, _ := out["keys"].([]any)
		algs := map[string]string{}
		for _, k := range keys {
			m, _ := k.(map[string]any)
			kid, _ := m["kid"].(string)
			alg, _ := m["algorithm"].(string)
			algs[alg] = kid
		}
		if algs["RS256"] != out["kid"] || algs["ES256"] == "" || len(algs) != 2 {
			t.Fatalf("keys rotate printed keys %v, want the RS256 key (kid %v) and an ES256 key", keys, out["kid"])
		}
		ecKIDs = append(ecKIDs, algs["ES256"])
	}
	if ecKIDs[0] == ecKIDs[1] {
		t.Errorf("the ES256 key did not rotate: %v", ecKIDs)
	}
	// Both keys stay published (older tokens must still verify).
	app := cliApp(t, env)
	set, err := app.Keys.JWKS(t.Context())
	if err != nil {
		t.Fatalf("jwks: %v", err)
	}
	raw, _ := json.Marshal(set)
	if !strings.Contains(string(raw), k1) || !strings.Contains(string(raw), k2) {
		t.Errorf("JWKS %s does not publish both %s and %s", raw, k1, k2)
	}
	kid, _, err := app.Keys.Signer(t.Context(), models.SigningAlgRS256)
	if err != nil || kid != k2 {
		t.Errorf("signing with %q (%v), want the newest %q", kid, err, k2)
	}
	if !strings.Contains(string(raw), ecKIDs[0]) || !strings.Contains(string(raw), ecKIDs[1]) {
		t.Errorf("JWKS %s does not publish both ES256 keys %v", raw, ecKIDs)
	}
	if kid, _, err := app.Keys.Signer(t.Context(), models.SigningAlgES256); err != nil || kid != ecKIDs[1] {
		t.Errorf("ES256 signing with %q (%v), want the newest %q", kid, err, ecKIDs[1])
	}
}

func TestCLIUsageErrors(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		args []string
	}{
		{"no command", nil},
		{"unknown command", []string{"frobnicate"}},
		{"unknown subcommand", []string{"tenants", "delete"}},
		{"group without subcommand", []string{"clients"}},
		{"unknown flag", []string{"tenants", "create", "--slug", "a", "--name", "A", "--colour", "red"}},
		{"flag without value", []string{"tenants", "create", "--slug"}},
		{"bad bool flag", []string{"clients", "create", "--tenant", "a", "--grant-types", "client_credentials", "--public=maybe"}},
		{"stray argument", []string{"migrate", "now"}},
		{"tenants create without name", []string{"tenants", "create", "--slug", "acme"}},
		{"tenants create blank slug", []string{"tenants", "create", "--slug", "  ", "--name", "Acme"}},
		{"users create without password", []string{"users", "create", "--tenant", "acme", "--email", "a@b.example"}},
		{"users create nothing", []string{"users", "create"}},
		{"clients create without grant types", []string{"clients", "create", "--tenant", "acme"}},
		{"clients create without tenant", []string{"clients", "create", "--grant-types", "client_credentials"}},
		{"serve flag", []string{"serve", "--port", "1"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			env := cliEnv(t)
			stdout, _, err := cliRun(t, env, tc.args...)
			var ue errUsage
			if !errors.As(err, &ue) {
				t.Fatalf("identityd %v: %v (%T), want a usage error", tc.args, err, err)
			}
			if ue.Error() == "" {
				t.Error("usage error without a message")
			}
			if stdout != "" {
				t.Errorf("a usage error printed %q", stdout)
			}
		})
	}
	t.Run("missing flags named", func(t *testing.T) {
		_, _, err := cliRun(t, cliEnv(t), "users", "create", "--tenant", "acme")
		if err == nil || !strings.Contains(err.Error(), "--email") || !strings.Contains(err.Error(), "--password") {
			t.Errorf("error %v does not name both missing flags", err)
		}
	})
	t.Run("help", func(t *testing.T) {
		stdout, _, err := cliRun(t, cliEnv(t), "help")
		if err != nil || !strings.Contains(stdout, "Usage:") || !strings.Contains(stdout, "identityd [command]") {
			t.Errorf("help: %v %q", err, stdout)
		}
	})
}

func TestCLIValidationErrors(t *testing.T) {
	t.Parallel()
	env := cliEnv(t)
	cliOK(t, env, "tenants", "create", "--slug", "acme", "--name", "Acme")
	cases := []struct {
		name  string
		args  []string
		table string
		want  []string // substrings of the message
	}{
		{"uppercase slug", []string{"tenants", "create", "--slug", "Acme", "--name", "X"}, "tenants", []string{"slug"}},
		{"slug with space", []string{"tenants", "create", "--slug", "my tenant", "--name", "X"}, "tenants", []string{"slug"}},
		{"slug leading hyphen", []string{"tenants", "create", "--slug", "-acme", "--name", "X"}, "tenants", []string{"slug"}},
		{"duplicate slug", []string{"tenants", "create", "--slug", "acme", "--name", "Again"}, "tenants", nil},
		{"bad email", []string{"users", "create", "--tenant", "acme", "--email", "not-an-email", "--password", "long-enough-pw"}, "users", []string{"email"}},
		{"short password", []string{"users", "create", "--tenant", "acme", "--email", "a@b.example", "--password", "short"}, "users", []string{"password"}},
		{"unknown tenant", []string{"users", "create", "--tenant", "nope", "--email", "a@b.example", "--password", "long-enough-pw"}, "users", nil},
		{"unknown grant type", []string{"clients", "create", "--tenant", "acme", "--grant-types", "password"}, "oauth_clients", []string{"grant_types", `"password"`}},
		{"implicit grant", []string{"clients", "create", "--tenant", "acme", "--grant-types", "implicit", "--redirect-uris", "https://a.example/cb"}, "oauth_clients", []string{"grant_types"}},
		{"http redirect for a remote host", []string{"clients", "create", "--tenant", "acme", "--grant-types", "authorization_code", "--redirect-uris", "http://app.example.com/cb"}, "oauth_clients", []string{"redirect_uris", "https"}},
		{"redirect with fragment", []string{"clients", "create", "--tenant", "acme", "--grant-types", "authorization_code", "--redirect-uris", "https://app.example.com/cb#x"}, "oauth_clients", []string{"redirect_uris", "fragment"}},
		{"code client without redirect", []string{"clients", "create", "--tenant", "acme", "--grant-types", "authorization_code"}, "oauth_clients", []string{"redirect_uris"}},
		{"public client credentials", []string{"clients", "create", "--tenant", "acme", "--public", "--grant-types", "client_credentials"}, "oauth_clients", []string{"grant_types"}},
		{"public with secret", []string{"clients", "create", "--tenant", "acme", "--public", "--secret", "a-secret-of-some-length", "--grant-types", "authorization_code", "--redirect-uris", "http://127.0.0.1/cb"}, "oauth_clients", []string{"secret"}},
		{"short secret", []string{"clients", "create", "--tenant", "acme", "--secret", "short", "--grant-types", "client_credentials"}, "oauth_clients", []string{"secret"}},
		{"bad client id", []string{"clients", "create", "--tenant", "acme", "--id", "a b", "--grant-types", "client_credentials"}, "oauth_clients", []string{"id"}},
		{"unknown tenant for client", []string{"clients", "create", "--tenant", "nope", "--grant-types", "client_credentials"}, "oauth_clients", nil},
		{"bad token format", []string{"clients", "create", "--tenant", "acme", "--grant-types", "client_credentials", "--access-token-format", "saml"}, "oauth_clients", []string{"access_token_format"}},
		{"bad ID token algorithm", []string{"clients", "create", "--tenant", "acme", "--grant-types", "client_credentials", "--id-token-signed-response-alg", "HS256"}, "oauth_clients", []string{"id_token_signed_response_alg", "RS256 or ES256"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := cliCount(t, env, tc.table)
			stdout, stderr, err := cliRun(t, env, tc.args...)
			if err == nil {
				t.Fatalf("identityd %v succeeded: %s", tc.args, stdout)
			}
			var ue errUsage
			if errors.As(err, &ue) {
				t.Errorf("a validation problem reported as a usage error: %v", err)
			}
			msg := err.Error()
			if msg == "" || strings.ContainsAny(msg, "\n") || strings.Contains(msg, "models.") || strings.Contains(msg, "&{") {
				t.Errorf("error is not one readable line: %q", msg)
			}
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
			for _, leak := range []string{"SELECT", "INSERT", "sqlite", "constraint", "goroutine"} {
				if strings.Contains(msg, leak) || strings.Contains(stderr, "goroutine") {
					t.Errorf("error %q leaks %q", msg, leak)
				}
			}
			if stdout != "" {
				t.Errorf("a failed create printed %q", stdout)
			}
			if after := cliCount(t, env, tc.table); after != before {
				t.Errorf("%s went from %d to %d rows", tc.table, before, after)
			}
		})
	}
}

// cfgEnv is a getenv over a map.
func cfgEnv(m map[string]string) func(string) string {
	return func(k string) string { return m[k] }
}
