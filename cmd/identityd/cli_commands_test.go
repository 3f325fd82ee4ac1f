package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"sigs.k8s.io/yaml"

	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
)

// cliServer is a running identityd over the CLI test's data directory:
// the same database the local commands act on, served on a real port
// whose URL is the issuer (so the protocol commands' discovery matches).
type cliServer struct {
	env    map[string]string
	url    string
	admin  string // a system administrator's access token (an Owner of acme)
	member string // a Member's of acme
}

func startCLIServer(t *testing.T) *cliServer {
	t.Helper()
	env := cliEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	base := "http://" + ln.Addr().String()
	env["IDENTITY_ISSUER"] = base
	env["IDENTITY_SECRET"] = "cli-commands-secret-cli-commands-secret-0123"
	env["IDENTITY_DEV_LOG_MAIL"] = "1"
	cliOK(t, env, "tenants", "create", "--slug", "acme", "--name", "Acme Inc")
	// The remote commands' token: a system administrator's (tenants, and
	// the roles and policies a tenant Owner may only change after a
	// step-up); a Member's shows the API's refusals.
	cliOK(t, env, "users", "create", "--tenant", "acme", "--email", "owner@example.com", "--password", "Tall-Maple-Lantern-42", "--role", "Owner", "--system-admin")
	cliOK(t, env, "users", "create", "--tenant", "acme", "--email", "member@example.com", "--password", "Tall-Maple-Lantern-42", "--role", "Member")

	cfg, err := app.LoadConfig(app.WithDefaults(cfgEnv(env)))
	require.NoError(t, err)
	a, err := app.Build(context.Background(), cfg, slog.New(slog.DiscardHandler))
	require.NoError(t, err)
	srv := httptest.NewUnstartedServer(a.Echo)
	srv.Listener.Close()
	srv.Listener = ln
	srv.Start()
	t.Cleanup(func() { srv.Close(); a.Close() })

	return &cliServer{env: env, url: base, admin: loginToken(t, base, "owner@example.com"), member: loginToken(t, base, "member@example.com")}
}

func loginToken(t *testing.T, base, email string) string {
	t.Helper()
	res, err := apptest.Send(base, apptest.LoginRequest("acme", email, "Tall-Maple-Lantern-42", nil))
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, res.Status, "%s", res)
	var login struct {
		AccessToken string `json:"access_token"`
	}
	require.NoError(t, json.Unmarshal(res.Body, &login))
	require.NotEmpty(t, login.AccessToken)
	return login.AccessToken
}

// local runs a command on the database (as the system principal of acme
// when tenant is set); remote the same command against the server with the
// Owner's token. Both return stdout and the error.
func (s *cliServer) local(t *testing.T, tenant bool, args ...string) (string, error) {
	t.Helper()
	if tenant {
		args = append(args, "--tenant", "acme")
	}
	out, _, err := cliRun(t, s.env, args...)
	return out, err
}

func (s *cliServer) remote(t *testing.T, args ...string) (string, error) {
	t.Helper()
	args = append(args, "--endpoint", s.url, "--token", s.admin)
	out, _, err := cliRun(t, s.env, args...)
	return out, err
}

func decode(t *testing.T, out string) map[string]any {
	t.Helper()
	var m map[string]any
	require.NoError(t, json.Unmarshal([]byte(out), &m), "not JSON: %q", out)
	return m
}

// TestCLIResourceCommandsLocalAndRemote: every resource's create, get,
// list, update and delete, run on the database and against a server; the
// same object is printed byte for byte the same either way.
func TestCLIResourceCommandsLocalAndRemote(t *testing.T) {
	t.Parallel()
	s := startCLIServer(t)

	// A service account for the api-keys commands.
	sa := decode(t, must(s.local(t, true, "service-accounts", "create", "--name", "reporting")))
	saID := sa["id"].(string)

	type resourceCase struct {
		name    string
		create  []string // flags for create (locally, then remotely with "2" appended to unique values)
		create2 []string
		update  []string
		idKey   string
		parent  []string
		check   func(t *testing.T, created, updated map[string]any)
	}
	cases := []resourceCase{
		{name: "roles", create: []string{"--name", "Auditor", "--permissions", "identity.audit.read"}, create2: []string{"--name", "Auditor2", "--permissions", "identity.audit.read"},
			update: []string{"--description", "reads the audit log"}, idKey: "id",
			check: func(t *testing.T, _, u map[string]any) { require.Equal(t, "reads the audit log", u["description"]) }},
		{name: "policies", create: []string{"--name", "exporters", "--permissions", "identity.users.read"}, create2: []string{"--name", "exporters2", "--permissions", "identity.users.read"},
			update: []string{"--name", "exporters-renamed"}, idKey: "id",
			check: func(t *testing.T, _, u map[string]any) { require.Equal(t, "exporters-renamed", u["name"]) }},
		{name: "service-accounts", create: []string{"--name", "ci"}, create2: []string{"--name", "ci2"},
			update: []string{"--description", "the CI runner"}, idKey: "id",
			check: func(t *testing.T, _, u map[string]any) { require.Equal(t, "the CI runner", u["description"]) }},
		{name: "clients", create: []string{"--grant-types", "client_credentials", "--scopes", "service", "--name", "svc"},
			create2: []string{"--grant-types", "client_credentials", "--scopes", "service", "--name", "svc2"},
			update:  []string{"--scopes", "service,reports"}, idKey: "client_id",
			check: func(t *testing.T, c, u map[string]any) {
				require.NotEmpty(t, c["client_secret"], "the secret is shown at creation")
				require.Equal(t, []any{"service", "reports"}, u["scopes"])
				require.NotContains(t, u, "client_secret")
			}},
		{name: "webhooks", create: []string{"--url", "https://hooks.example.com/a", "--event-types", "identity.user.created"},
			create2: []string{"--url", "https://hooks.example.com/b"},
			update:  []string{"--enabled=false"}, idKey: "id",
			check: func(t *testing.T, _, u map[string]any) { require.Equal(t, false, u["enabled"]) }},
		{name: "identity-providers", create: []string{"--kind", "oauth2", "--name", "Corp", "--authorization-url", "https://sso.example.com/authorize",
			"--token-url", "https://sso.example.com/token", "--userinfo-url", "https://sso.example.com/userinfo", "--client-id", "identityd", "--client-secret", "upstream-secret-0123456789"},
			create2: []string{"--kind", "oauth2", "--name", "Corp2", "--authorization-url", "https://sso2.example.com/authorize",
				"--token-url", "https://sso2.example.com/token", "--userinfo-url", "https://sso2.example.com/userinfo", "--client-id", "identityd", "--client-secret", "upstream-secret-0123456789"},
			update: []string{"--button-label", "Sign in with Corp"}, idKey: "id",
			check: func(t *testing.T, c, u map[string]any) {
				raw, _ := json.Marshal(c)
				require.NotContains(t, string(raw), "upstream-secret-0123456789", "the upstream secret is never printed")
				require.Equal(t, "Sign in with Corp", u["button_label"])
			}},
		{name: "users", create: []string{"--email", "ada@example.com", "--password", "Correct-Horse-Battery-9", "--name", "Ada"},
			create2: []string{"--email", "bob@example.com", "--password", "Correct-Horse-Battery-9"},
			update:  []string{"--name", "Ada L."}, idKey: "id",
			check: func(t *testing.T, _, u map[string]any) { require.Equal(t, "Ada L.", u["name"]) }},
	}
	unwrap := func(m map[string]any) map[string]any {
		if inner, ok := m["user"].(map[string]any); ok {
			return inner
		}
		return m
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			created := unwrap(decode(t, must(s.local(t, true, append([]string{tc.name, "create"}, tc.create...)...))))
			id, _ := created[tc.idKey].(string)
			require.NotEmpty(t, id, "%v", created)
			created2 := unwrap(decode(t, must(s.remote(t, append([]string{tc.name, "create"}, tc.create2...)...))))
			id2, _ := created2[tc.idKey].(string)
			require.NotEmpty(t, id2, "%v", created2)

			// The same object prints the same, local or remote.
			getLocal := must(s.local(t, true, tc.name, "get", id2))
			getRemote := must(s.remote(t, tc.name, "get", id2))
			require.Equal(t, getLocal, getRemote, "get prints the same either way")

			listLocal := must(s.local(t, true, tc.name, "list"))
			require.Equal(t, listLocal, must(s.remote(t, tc.name, "list")), "list prints the same either way")
			require.Contains(t, listLocal, id)
			require.Contains(t, listLocal, id2)

			updated := unwrap(decode(t, must(s.remote(t, append([]string{tc.name, "update", id}, tc.update...)...))))
			tc.check(t, created, updated)

			_, err := s.local(t, true, tc.name, "delete", id)
			require.NoError(t, err)
			_, err = s.remote(t, tc.name, "delete", id2)
			require.NoError(t, err)
			for _, gone := range []string{id, id2} {
				_, err := s.local(t, true, tc.name, "get", gone)
				require.Equal(t, exitNotFound, exitCode(err), "get after delete: %v", err)
				_, err = s.remote(t, tc.name, "get", gone)
				require.Equal(t, exitNotFound, exitCode(err), "remote get after delete: %v", err)
			}
		})
	}

	t.Run("api-keys", func(t *testing.T) {
		key := decode(t, must(s.local(t, true, "api-keys", "create", "--service-account", saID, "--name", "ci")))
		keyID, _ := key["id"].(string)
		require.NotEmpty(t, keyID, "%v", key)
		list := must(s.remote(t, "api-keys", "list", "--service-account", saID))
		require.Equal(t, list, must(s.local(t, true, "api-keys", "list", "--service-account", saID)))
		require.Contains(t, list, keyID)
		rotated := decode(t, must(s.remote(t, "api-keys", "rotate", keyID, "--service-account", saID)))
		require.NotEmpty(t, rotated)
		_, err := s.local(t, true, "api-keys", "list")
		require.Equal(t, exitUsage, exitCode(err), "--service-account is required: %v", err)
	})

	t.Run("tenants", func(t *testing.T) {
		tn := decode(t, must(s.local(t, false, "tenants", "create", "--slug", "globex", "--name", "Globex")))
		id := tn["id"].(string)
		require.Equal(t, must(s.local(t, false, "tenants", "get", id)), must(s.remote(t, "tenants", "get", id)))
		// A Member of acme is no system administrator: the admin API
		// refuses, and the CLI says so in one line with exit 1.
		_, _, err := cliRun(t, s.env, "tenants", "list", "--endpoint", s.url, "--token", s.member)
		require.Equal(t, exitError, exitCode(err))
		require.Contains(t, err.Error(), "forbidden")
		require.NotContains(t, err.Error(), "\n")
		up := decode(t, must(s.local(t, false, "tenants", "update", id, "--name", "Globex Corp")))
		require.Equal(t, "Globex Corp", up["name"])
		_, err = s.local(t, false, "tenants", "create", "--slug", "globex", "--name", "Again")
		require.Equal(t, exitConflict, exitCode(err), "a duplicate slug is a conflict: %v", err)
		must(s.local(t, false, "tenants", "delete", id))
		_, err = s.local(t, false, "tenants", "get", id)
		require.Equal(t, exitNotFound, exitCode(err))
	})

	t.Run("users invite and unlock, clients rotate-secret", func(t *testing.T) {
		inv := decode(t, must(s.remote(t, "users", "invite", "grace@example.com", "--role", "Member")))
		require.Contains(t, strings.ToLower(string(must(json.Marshal(inv)))), "grace@example.com")
		u := decode(t, must(s.local(t, true, "users", "create", "--email", "lock@example.com", "--password", "Correct-Horse-Battery-9")))
		uid := u["user"].(map[string]any)["id"].(string)
		must(s.local(t, true, "users", "unlock", uid))
		c := decode(t, must(s.local(t, true, "clients", "create", "--grant-types", "client_credentials", "--id", "rotating")))
		r := decode(t, must(s.remote(t, "clients", "rotate-secret", "rotating")))
		require.NotEmpty(t, r["client_secret"])
		require.NotEqual(t, c["client_secret"], r["client_secret"])
	})

	t.Run("audit, keys, health, version", func(t *testing.T) {
		list := decode(t, must(s.local(t, true, "audit", "list", "--action", "client.created", "--limit", "5")))
		require.NotEmpty(t, list)
		csv := must(s.remote(t, "audit", "export", "--format", "csv"))
		require.Contains(t, csv, "client.created")
		keys := must(s.local(t, false, "keys", "list"))
		require.Equal(t, keys, must(s.remote(t, "keys", "list")))
		require.Contains(t, keys, `"kid"`)
		h := decode(t, must(s.remote(t, "health")))
		require.NotEmpty(t, h)
		v := decode(t, must(s.local(t, false, "version")))
		require.NotEmpty(t, v["version"])
		require.NotEmpty(t, v["go_version"])
	})

	t.Run("output formats", func(t *testing.T) {
		j := must(s.local(t, true, "roles", "list", "-o", "json"))
		y := must(s.local(t, true, "roles", "list", "-o", "yaml"))
		fromYAML, err := yaml.YAMLToJSON([]byte(y))
		require.NoError(t, err)
		require.JSONEq(t, j, string(fromYAML), "yaml is the same answer")
		tbl := must(s.local(t, true, "roles", "list", "-o", "table"))
		require.True(t, strings.HasPrefix(tbl, "ID"), "a table with a header: %q", tbl)
		require.Contains(t, tbl, "Owner")
		_, err = s.local(t, true, "roles", "list", "-o", "xml")
		require.Equal(t, exitUsage, exitCode(err))
	})

	t.Run("errors", func(t *testing.T) {
		_, err := s.local(t, true, "clients", "create", "--grant-types", "password")
		require.Equal(t, exitError, exitCode(err))
		require.Contains(t, err.Error(), "grant_types")
		_, err = s.remote(t, "clients", "get", "nope")
		require.Equal(t, exitNotFound, exitCode(err))
		_, err = s.remote(t, "clients", "list", "--tenant", "acme")
		require.Equal(t, exitUsage, exitCode(err), "the tenant is the token's remotely")
		_, _, err = cliRun(t, s.env, "clients", "list", "--endpoint", s.url, "--token", "not-a-token")
		require.Equal(t, exitError, exitCode(err))
		_, _, err = cliRun(t, s.env, "roles", "list", "--endpoint", s.url)
		require.Equal(t, exitUsage, exitCode(err), "no token")
		_, _, err = cliRun(t, s.env, "roles", "list", "--endpoint", "http://127.0.0.1:1", "--token", "x")
		require.Equal(t, exitError, exitCode(err), "a server that is down is an error, not a hang")
		_, err = s.remote(t, "keys", "rotate")
		require.Equal(t, exitUsage, exitCode(err), "keys rotate works on the database only")
		_, err = s.local(t, false, "roles", "list")
		require.Equal(t, exitUsage, exitCode(err), "a tenant's command needs --tenant locally")
		_, err = s.local(t, true, "roles", "get")
		require.Equal(t, exitUsage, exitCode(err), "get needs an id")
		_, err = s.local(t, true, "roles", "update", "x")
		require.Equal(t, exitUsage, exitCode(err), "update needs a change")
	})

	t.Run("secrets from a file and stdin", func(t *testing.T) {
		dir := t.TempDir()
		path := dir + "/secret"
		require.NoError(t, os.WriteFile(path, []byte("file-secret-0123456789abcdef\n"), 0o600))
		c := decode(t, must(s.local(t, true, "clients", "create", "--grant-types", "client_credentials", "--id", "from-file", "--secret-file", path)))
		require.Equal(t, "file-secret-0123456789abcdef", c["client_secret"])
		var stdout, stderr bytes.Buffer
		err := runWith(t.Context(), []string{"perform", "client-credentials", "--endpoint", s.url, "--client-id", "from-file", "--client-secret-file", "-"},
			cfgEnv(s.env), strings.NewReader("file-secret-0123456789abcdef\n"), &stdout, &stderr)
		require.NoError(t, err, "%s", stderr.String())
		require.NotContains(t, stdout.String()+stderr.String(), "file-secret-0123456789abcdef", "the secret is never echoed")
	})
}

// TestCLIProtocolCommands: perform client-credentials, introspect and
// revoke against a running server, like Hydra's.
func TestCLIProtocolCommands(t *testing.T) {
	t.Parallel()
	s := startCLIServer(t)
	const secret = "orders-secret-0123456789abcdef"
	must(s.local(t, true, "clients", "create", "--id", "orders", "--secret", secret, "--grant-types", "client_credentials", "--scopes", "service"))
	tok := decode(t, must(cliRunOut(t, s.env, "perform", "client-credentials", "--endpoint", s.url, "--client-id", "orders", "--client-secret", secret, "--scope", "service")))
	access, _ := tok["access_token"].(string)
	require.NotEmpty(t, access)
	require.Equal(t, "service", tok["scope"])

	info := decode(t, must(cliRunOut(t, s.env, "introspect", access, "--endpoint", s.url, "--client-id", "orders", "--client-secret", secret)))
	require.Equal(t, true, info["active"])
	require.Equal(t, "orders", info["client_id"])

	must(cliRunOut(t, s.env, "revoke", access, "--endpoint", s.url, "--client-id", "orders", "--client-secret", secret))
	info = decode(t, must(cliRunOut(t, s.env, "introspect", access, "--endpoint", s.url, "--client-id", "orders", "--client-secret", secret)))
	require.Equal(t, false, info["active"])

	_, err := cliRunOut(t, s.env, "perform", "client-credentials", "--endpoint", s.url, "--client-id", "orders", "--client-secret", "wrong-secret-0123456789")
	require.Equal(t, exitError, exitCode(err))
	require.Contains(t, err.Error(), "invalid_client")
	require.NotContains(t, err.Error(), "wrong-secret")
	_, err = cliRunOut(t, s.env, "perform", "client-credentials", "--client-id", "orders", "--client-secret", secret)
	require.Equal(t, exitUsage, exitCode(err), "the protocol commands need --endpoint")

	// authorization-code: the "browser" is the test, signing in through
	// identityd's pages and following the redirect to the loopback listener.
	must(s.local(t, true, "clients", "create", "--id", "cli", "--public", "--grant-types", "authorization_code,refresh_token",
		"--scopes", "openid,offline_access,email", "--redirect-uris", "http://127.0.0.1/callback", "--skip-consent"))
	browser := newFormBrowser(t)
	openInBrowser = func(authURL string) error {
		go browser.signIn(t, authURL, "acme", "owner@example.com", "Tall-Maple-Lantern-42")
		return nil
	}
	out, err := cliRunOut(t, s.env, "perform", "authorization-code", "--endpoint", s.url, "--client-id", "cli", "--scope", "openid,offline_access,email", "--open")
	require.NoError(t, err)
	code := decode(t, out)
	require.NotEmpty(t, code["access_token"])
	require.NotEmpty(t, code["id_token"])
	require.NotEmpty(t, code["refresh_token"])
}

// formBrowser signs in through identityd's HTML login form without
// JavaScript, as a person would, and follows the redirects.
type formBrowser struct {
	client *http.Client
}

func newFormBrowser(t *testing.T) *formBrowser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	require.NoError(t, err)
	return &formBrowser{client: &http.Client{Jar: jar, Timeout: 60 * time.Second}}
}

func (b *formBrowser) signIn(t *testing.T, authURL, tenant, email, password string) {
	res, err := b.client.Get(authURL)
	if err != nil {
		t.Errorf("open the authorization URL: %v", err)
		return
	}
	page := apptest.ReadResult(t, res)
	form := apptest.ParseForm(t, page)
	vals := form.Fields
	vals.Set("tenant", tenant)
	vals.Set("email", email)
	vals.Set("password", password)
	// The redirects end at the CLI's loopback listener, which takes the code.
	res, err = b.client.PostForm(form.Action, vals)
	if err != nil {
		t.Errorf("sign in: %v", err)
		return
	}
	if got := apptest.ReadResult(t, res); got.Status != http.StatusOK {
		t.Errorf("after sign-in: %s", got)
	}
}

func cliRunOut(t *testing.T, env map[string]string, args ...string) (string, error) {
	t.Helper()
	out, _, err := cliRun(t, env, args...)
	return out, err
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// TestCLIActionCommands: the commands that act on one object or on the
// database, each with the answer it prints.
func TestCLIActionCommands(t *testing.T) {
	t.Parallel()
	s := startCLIServer(t)
	tn := decode(t, must(s.local(t, false, "tenants", "create", "--slug", "initech", "--name", "Initech")))
	tid := tn["id"].(string)
	u := decode(t, must(s.local(t, true, "users", "create", "--email", "milton@example.com", "--password", "Correct-Horse-Battery-9")))
	uid := u["user"].(map[string]any)["id"].(string)
	wh := decode(t, must(s.local(t, true, "webhooks", "create", "--url", "https://hooks.example.com/x")))
	whID := wh["id"].(string)

	cases := []struct {
		name  string
		local bool
		args  []string
		check func(t *testing.T, out map[string]any)
	}{
		{"tenants suspend", false, []string{"tenants", "suspend", tid}, func(t *testing.T, out map[string]any) {
			require.Equal(t, "suspended", out["status"], "%v", out)
		}},
		{"tenants unsuspend", true, []string{"tenants", "unsuspend", tid}, func(t *testing.T, out map[string]any) {
			require.Equal(t, "active", out["status"], "%v", out)
		}},
		{"users deactivate", false, []string{"users", "deactivate", uid}, func(t *testing.T, out map[string]any) {
			raw, _ := json.Marshal(out)
			require.Contains(t, string(raw), `"is_active":false`)
		}},
		{"users reset-2fa", true, []string{"users", "reset-2fa", uid, "--tenant", "acme"}, func(t *testing.T, out map[string]any) {
			require.NotEmpty(t, out)
		}},
		{"webhooks rotate-secret", false, []string{"webhooks", "rotate-secret", whID}, func(t *testing.T, out map[string]any) {
			raw, _ := json.Marshal(out)
			require.Contains(t, string(raw), "secret")
		}},
		{"webhooks test", true, []string{"webhooks", "test", whID, "--tenant", "acme"}, func(t *testing.T, out map[string]any) {
			require.NotEmpty(t, out)
		}},
		{"migrate up", true, []string{"migrate", "up"}, func(t *testing.T, out map[string]any) {
			require.Equal(t, true, out["migrated"])
			require.Equal(t, out["version"], out["newest"])
		}},
		{"migrate status", true, []string{"migrate", "status"}, func(t *testing.T, out map[string]any) {
			require.Equal(t, json.Number("0"), json.Number(fmt.Sprint(out["pending"])))
		}},
		{"health on the database", true, []string{"health"}, func(t *testing.T, out map[string]any) {
			require.NotEmpty(t, out["status"], "%v", out)
		}},
		{"keys rotate", true, []string{"keys", "rotate"}, func(t *testing.T, out map[string]any) {
			require.NotEmpty(t, out["kid"])
		}},
		{"tenants deletions", true, []string{"tenants", "deletions"}, func(t *testing.T, out map[string]any) {
			require.Contains(t, out, "tenants")
		}},
		{"tokens prune", true, []string{"tokens", "prune", "--batch", "100"}, func(t *testing.T, out map[string]any) {
			require.NotNil(t, out)
		}},
	}
	for _, tc := range cases {
		// Not parallel: they run in order on one database.
		var out string
		var err error
		if tc.local {
			out, _, err = cliRun(t, s.env, tc.args...)
		} else {
			out, err = s.remote(t, tc.args...)
		}
		require.NoError(t, err, tc.name)
		tc.check(t, decode(t, out))
	}
	// A database-only command refuses --endpoint.
	for _, args := range [][]string{{"migrate", "status"}, {"tokens", "prune"}, {"audit", "prune"}, {"tenants", "deletions"}, {"serve"}, {"worker"}} {
		_, err := s.remote(t, args...)
		require.Equal(t, exitUsage, exitCode(err), "%v: %v", args, err)
	}
}
