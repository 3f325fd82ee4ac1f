// Package quickstart runs the README's "Five-minute quickstart" as a person
// would: its ```sh blocks, in order, pasted into one bash, against a server
// started from the binary the README builds.
//
// What the test changes, and nothing else:
//   - the line `alias identityd='go run ./cmd/identityd'` is dropped: the
//     shell finds identityd on its PATH, the binary built once by the test;
//   - the line `IDENTITY=http://localhost:8000` gets the test server's
//     address (a free port);
//   - the server block (marked markerServer) is not run: the test starts
//     `identityd serve` with the variables that line sets, plus its own
//     address and a temporary IDENTITY_DATA_DIR shared with the shell's CLI
//     calls (the README has both use ./data), and IDENTITY_BCRYPT_COST=10;
//   - the browser block (marked markerBrowser) is not run: the test signs
//     in and consents through the pages with a cookie jar, and sets CODE as
//     the block would.
//
// Every other line runs literally, and each block's output is checked for
// the shape the README promises.
package quickstart

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/identityd/identityd/internal/apptest"
)

const readme = "../../README.md"

// What the README tells the person to type on the sign-in page.
const (
	tenantSlug  = "acme"
	adaEmail    = "ada@example.com"
	adaPassword = "Correct-Horse-Battery-9"
	redirectURI = "http://localhost:3000/callback"
	spaOrigin   = "http://localhost:3000"
)

// readyTimeout bounds the server's start (migrations on a fresh SQLite
// database, on a busy machine).
const readyTimeout = 2 * time.Minute

func TestREADMEQuickstart(t *testing.T) {
	if testing.Short() {
		t.Skip("builds identityd and runs the README's quickstart")
	}
	tools := map[string]string{}
	for _, name := range []string{"bash", "curl", "jq", "openssl", "go"} {
		p, err := exec.LookPath(name)
		if err != nil {
			if os.Getenv("CI") != "" {
				t.Fatalf("the README quickstart needs %s on PATH (CI is set, so it is not skipped)", name)
			}
			t.Skipf("the README quickstart needs %s on PATH", name)
		}
		tools[name] = p
	}
	blocks, err := quickstartBlocks(readme)
	if err != nil {
		t.Fatal(err)
	}
	cfgVars, err := configVariables(readme)
	if err != nil {
		t.Fatal(err)
	}
	raw, err := os.ReadFile(readme)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"organisation `" + tenantSlug + "`", "`" + adaEmail + "`", "`" + adaPassword + "`"} {
		if !strings.Contains(string(raw), s) {
			t.Fatalf("the README's sign-in step no longer says %s; update the test's constants with it", s)
		}
	}

	dir := t.TempDir()
	bin := filepath.Join(dir, "bin")
	if err := os.Mkdir(bin, 0o755); err != nil {
		t.Fatal(err)
	}
	build := exec.Command(tools["go"], "build", "-o", filepath.Join(bin, "identityd"), "./cmd/identityd")
	build.Dir = "../.."
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -o identityd ./cmd/identityd: %v\n%s", err, out)
	}

	// The processes get none of the server's variables from the environment
	// the test runs in, only the ones set here.
	port := freePort(t)
	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	dataDir := filepath.Join(dir, "data")
	env := append(scrub(os.Environ(), cfgVars),
		"PATH="+bin+string(os.PathListSeparator)+os.Getenv("PATH"),
		"IDENTITY_DATA_DIR="+dataDir,
		"IDENTITY_BCRYPT_COST=10",
	)

	var serverBlockSeen bool
	var runs []block
	for _, b := range blocks {
		if b.kind != serverBlock {
			runs = append(runs, b)
			continue
		}
		if serverBlockSeen {
			t.Fatalf("a second server block: %s", b)
		}
		serverBlockSeen = true
		vars, err := serverEnv(b)
		if err != nil {
			t.Fatal(err)
		}
		if vars["IDENTITY_CORS_ORIGINS"] != spaOrigin {
			t.Fatalf("the server block should set IDENTITY_CORS_ORIGINS=%s for the SPA, got %s", spaOrigin, b)
		}
		srv := startServer(t, filepath.Join(bin, "identityd"), dir, env, vars, port, base)
		requireCORS(t, base, srv)
	}
	if !serverBlockSeen {
		t.Fatalf("the quickstart has no server block (marked %q)", markerServer)
	}
	runs, err = rewrite(runs, base)
	if err != nil {
		t.Fatal(err)
	}

	work := filepath.Join(dir, "shell")
	if err := os.Mkdir(work, 0o700); err != nil {
		t.Fatal(err)
	}
	sh, err := startShell(tools["bash"], work, env)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sh.close)

	q := &run{t: t, sh: sh, base: base}
	steps := quickstartSteps(q)
	if len(runs) != len(steps) {
		var got []string
		for _, b := range runs {
			got = append(got, b.String())
		}
		t.Fatalf("the quickstart has %d blocks, the test checks %d; give each block a step:\n%s", len(runs), len(steps), strings.Join(got, "\n---\n"))
	}
	for i, b := range runs {
		st := steps[i]
		if !strings.Contains(b.text, st.contains) {
			t.Fatalf("block %d should be the step %q (holding %q), got %s", i+1, st.name, st.contains, b)
		}
		q.block = b
		if b.kind == browserBlock {
			st.check(q, result{})
			continue
		}
		out, errOut, status, err := sh.run(b.text)
		q.res = result{stdout: out, stderr: errOut}
		if err != nil {
			q.fail("the shell: %v", err)
		}
		if status != 0 || strings.Contains(errOut, failedMarker) {
			q.fail("a command failed (status %d)", status)
		}
		st.check(q, q.res)
	}
}

// step is the check of one README block: contains is a piece of text that
// identifies it, check looks at what it printed and the variables it set.
type step struct {
	name, contains string
	check          func(q *run, r result)
}

type result struct{ stdout, stderr string }

// run is the state of a quickstart run: the shell, the current block, and
// what earlier steps found out.
type run struct {
	t     *testing.T
	sh    *shell
	base  string
	block block
	res   result
	// authURL is the authorization URL the README printed.
	authURL string
}

// fail stops the test showing the block, its output and the message.
func (q *run) fail(format string, args ...any) {
	q.t.Helper()
	q.t.Fatalf("%s\n\n%s\n--- stdout:\n%s\n--- stderr:\n%s", fmt.Sprintf(format, args...), q.block, q.res.stdout, q.res.stderr)
}

// v is the shell variable name, which must be set, non-empty and not jq's
// "null" (a member the answer did not have).
func (q *run) v(name string) string {
	q.t.Helper()
	val, err := q.sh.get(name)
	if err != nil {
		q.fail("read $%s: %v", name, err)
	}
	if val == "" || val == "null" {
		q.fail("$%s is %q after the block", name, val)
	}
	return val
}

// prefixed checks that $name starts with prefix and returns it.
func (q *run) prefixed(name, prefix string) string {
	q.t.Helper()
	val := q.v(name)
	if !strings.HasPrefix(val, prefix) {
		q.fail("$%s should start with %s, got %q", name, prefix, val)
	}
	return val
}

// jsonValues decodes the block's stdout as a sequence of JSON values (jq
// and the CLI print one after another).
func (q *run) jsonValues(out string) []any {
	q.t.Helper()
	dec := json.NewDecoder(strings.NewReader(out))
	var vals []any
	for {
		var v any
		err := dec.Decode(&v)
		if errors.Is(err, io.EOF) {
			return vals
		}
		if err != nil {
			q.fail("stdout is not JSON: %v", err)
		}
		vals = append(vals, v)
	}
}

// object is the one JSON object the block printed.
func (q *run) object(out string) map[string]any {
	q.t.Helper()
	vals := q.jsonValues(out)
	if len(vals) != 1 {
		q.fail("want one JSON object on stdout, got %d values", len(vals))
	}
	m, ok := vals[0].(map[string]any)
	if !ok {
		q.fail("want a JSON object on stdout")
	}
	return m
}

// has checks that m holds each member with the value given.
func (q *run) has(m map[string]any, want map[string]any) {
	q.t.Helper()
	for k, v := range want {
		if fmt.Sprint(m[k]) != fmt.Sprint(v) {
			q.fail("%s: want %v, got %v (in %v)", k, v, m[k], m)
		}
	}
}

// shortened is how the README shows a token: its first 12 characters
// (the prefix and a few more) and an ellipsis, never the whole token.
func shortened(token string) string {
	if len(token) > 12 {
		token = token[:12]
	}
	return token + "…"
}

// quickstartSteps are the checks of the quickstart's blocks, in the
// README's order.
func quickstartSteps(q *run) []step {
	var adaID, refresh string
	return []step{
		{"tenant and service client", "tenants create", func(q *run, r result) {
			q.has(q.object(r.stdout), map[string]any{"slug": tenantSlug, "name": "Acme Inc"})
			if s := q.v("BILLING_SECRET"); len(s) < 16 {
				q.fail("$BILLING_SECRET is too short for a generated secret: %d characters", len(s))
			}
		}},
		{"client-credentials token", "grant_type=client_credentials", func(q *run, r result) {
			tok := q.prefixed("TOKEN", "idt_at_")
			if strings.TrimSpace(r.stdout) != shortened(tok) {
				q.fail("the block should print the token's start, %q", shortened(tok))
			}
		}},
		{"introspection", "/api/oauth/introspect | jq .", func(q *run, r result) {
			q.has(q.object(r.stdout), map[string]any{"active": true, "client_id": "billing", "scope": "service",
				"sub": "billing", "principal_type": "client", "token_use": "access_token"})
		}},
		{"revocation", "/api/oauth/revoke", func(q *run, r result) {
			if strings.TrimSpace(r.stdout) != `{"active":false}` {
				q.fail(`after the revocation introspection should answer {"active":false}`)
			}
		}},
		{"admin API token", "/api/auth/login", func(q *run, r result) {
			vals := q.jsonValues(r.stdout)
			if len(vals) != 2 {
				q.fail("want the created user and the user list, got %d JSON values", len(vals))
			}
			created, _ := vals[0].(map[string]any)
			user, _ := created["user"].(map[string]any)
			q.has(user, map[string]any{"email": "admin@example.com"})
			if roles, _ := user["roles"].([]any); len(roles) != 1 || fmt.Sprint(roles[0].(map[string]any)["name"]) != "Owner" {
				q.fail("the created user should hold the Owner role, got %v", user["roles"])
			}
			q.prefixed("ADMIN", "idt_at_")
			list, _ := vals[1].([]any)
			if len(list) != 1 {
				q.fail("the user list should hold the one user, got %v", vals[1])
			}
			entry, _ := list[0].(map[string]any)
			if fmt.Sprint(entry["email"]) != "admin@example.com" || fmt.Sprint(entry["roles"]) != "[Owner]" {
				q.fail("the user list should show admin@example.com with the Owner role, got %v", entry)
			}
		}},
		{"user and web client", "--redirect-uris " + redirectURI, func(q *run, r result) {
			adaID = q.v("ADA_ID")
			if !regexp.MustCompile(`^[0-9a-f-]{36}$`).MatchString(adaID) {
				q.fail("$ADA_ID should be a user id, got %q", adaID)
			}
			q.v("WEBAPP_SECRET")
		}},
		{"PKCE pair and authorization URL", "CHALLENGE=", func(q *run, r result) {
			verifier, challenge, state := q.v("VERIFIER"), q.v("CHALLENGE"), q.v("STATE")
			if !regexp.MustCompile(`^[A-Za-z0-9._~-]{43,128}$`).MatchString(verifier) {
				q.fail("$VERIFIER should be 43–128 unreserved characters (RFC 7636), got %q", verifier)
			}
			sum := sha256.Sum256([]byte(verifier))
			if want := base64.RawURLEncoding.EncodeToString(sum[:]); challenge != want {
				q.fail("$CHALLENGE should be BASE64URL(SHA256($VERIFIER)) = %s, got %s", want, challenge)
			}
			line := strings.TrimSpace(r.stdout)
			if strings.Contains(line, "\n") {
				q.fail("the authorization URL should be printed on one line")
			}
			u, err := url.Parse(line)
			if err != nil || u.Scheme+"://"+u.Host+u.Path != q.base+"/api/oauth/authorize" {
				q.fail("want the authorization endpoint's URL, got %q (%v)", line, err)
			}
			got := map[string]any{}
			for k := range u.Query() {
				got[k] = u.Query().Get(k)
			}
			q.has(got, map[string]any{"response_type": "code", "client_id": "webapp", "redirect_uri": redirectURI,
				"scope": "openid offline_access email profile", "state": state, "nonce": q.v("NONCE"),
				"code_challenge": challenge, "code_challenge_method": "S256"})
			q.authURL = line
		}},
		{"the browser step", "CODE=", func(q *run, _ result) {
			if !regexp.MustCompile(`^CODE='[^'\n]*'\n$`).MatchString(q.block.text) {
				q.fail("the browser block should be the one line CODE='…' the person fills in")
			}
			code := signInAndConsent(q)
			if err := q.sh.set("CODE", code); err != nil {
				q.fail("set CODE: %v", err)
			}
		}},
		{"code exchange", "grant_type=authorization_code", func(q *run, r result) {
			var tokens map[string]any
			if err := json.Unmarshal([]byte(q.v("TOKENS")), &tokens); err != nil {
				q.fail("$TOKENS is not JSON: %v", err)
			}
			if tokens["error"] != nil {
				q.fail("the token endpoint refused the code: %v", tokens)
			}
			q.has(q.object(r.stdout), map[string]any{"token_type": "bearer", "scope": "openid offline_access email profile", "has_id_token": true})
			q.prefixed("ACCESS", "idt_at_")
			refresh = q.prefixed("REFRESH", "idt_rt_")
			claims := jwtClaims(q, fmt.Sprint(tokens["id_token"]))
			q.has(claims, map[string]any{"sub": adaID, "aud": "[webapp]", "nonce": q.v("NONCE"), "iss": q.base})
		}},
		{"userinfo and refresh", "grant_type=refresh_token", func(q *run, r result) {
			info, _, _ := strings.Cut(r.stdout, "idt_rt_")
			q.has(q.object(info), map[string]any{"sub": adaID, "email": adaEmail, "name": "Ada"})
			next := q.prefixed("REFRESH", "idt_rt_")
			if next == refresh {
				q.fail("the refresh should have returned a new refresh token")
			}
			if !strings.HasSuffix(strings.TrimSpace(r.stdout), "\n"+shortened(next)) {
				q.fail("the block should print the new refresh token's start, %q", shortened(next))
			}
		}},
	}
}

// signInAndConsent does what the README asks the person to do in the
// browser: open the printed URL, sign in as Ada, allow the request; it
// returns the code of the redirect to the callback, whose state must be
// the URL's.
func signInAndConsent(q *run) string {
	q.t.Helper()
	if q.authURL == "" {
		q.fail("no authorization URL was printed before the browser step")
	}
	b := (&apptest.Server{URL: q.base}).NewBrowser(q.t)
	res := b.Get(q.authURL)
	if !b.IsPage(res, "/login") {
		q.fail("the authorization URL should open the sign-in page, got %s at %s", res, res.URL)
	}
	res = b.LoginAs(res, tenantSlug, adaEmail, adaPassword)
	if !b.IsPage(res, "/consent") {
		q.fail("signing in as %s should lead to the consent page, got %s at %s", adaEmail, res, res.URL)
	}
	res = b.Decide(res, "allow")
	loc := res.Location(q.t)
	if res.Status < 300 || res.Status >= 400 || loc == nil {
		q.fail("allowing should redirect to the callback, got %s", res)
	}
	if got := loc.Scheme + "://" + loc.Host + loc.Path; got != redirectURI {
		q.fail("the redirect should go to %s, got %s", redirectURI, loc)
	}
	want, _ := url.Parse(q.authURL)
	if loc.Query().Get("state") != want.Query().Get("state") {
		q.fail("the callback's state %q is not the URL's", loc.Query().Get("state"))
	}
	code := loc.Query().Get("code")
	if !strings.HasPrefix(code, "idt_ac_") {
		q.fail("the callback should carry an idt_ac_ code, got %s", loc)
	}
	return code
}

// jwtClaims decodes the claims of a JWT (its signature is the OIDC
// library's business; the code exchange's own tests verify it).
func jwtClaims(q *run, token string) map[string]any {
	q.t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		q.fail("the id_token is not a JWT: %q", token)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		q.fail("the id_token's payload: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		q.fail("the id_token's claims: %v", err)
	}
	return claims
}

// server is the running `identityd serve`.
type server struct {
	cmd  *exec.Cmd
	logs *syncBuffer
	done chan error
}

// startServer runs `identityd serve` with env, the README's variables and
// the test's address, and waits until /api/health/ready answers 200.
func startServer(t *testing.T, bin, dir string, env []string, vars map[string]string, port int, base string) *server {
	t.Helper()
	cmd := exec.Command(bin, "serve")
	cmd.Dir = dir
	cmd.Env = append([]string{}, env...)
	for k, v := range vars {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	cmd.Env = append(cmd.Env, fmt.Sprintf("IDENTITY_ADDR=127.0.0.1:%d", port), "IDENTITY_ISSUER="+base)
	s := &server{cmd: cmd, logs: &syncBuffer{}, done: make(chan error, 1)}
	cmd.Stdout, cmd.Stderr = s.logs, s.logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start identityd serve: %v", err)
	}
	go func() { s.done <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-s.done:
		case <-time.After(time.Minute):
			_ = cmd.Process.Kill()
			<-s.done
		}
		if t.Failed() {
			t.Logf("server log:\n%s", s.logs)
		}
	})
	client := &http.Client{Timeout: 10 * time.Second}
	deadline := time.Now().Add(readyTimeout)
	for {
		res, err := client.Get(base + "/api/health/ready")
		if err == nil {
			_ = res.Body.Close()
			if res.StatusCode == http.StatusOK {
				return s
			}
		}
		select {
		case err := <-s.done:
			t.Fatalf("identityd serve exited before it was ready: %v\n%s", err, s.logs)
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("identityd serve was not ready within %s (last: %v)\n%s", readyTimeout, err, s.logs)
		}
	}
}

// requireCORS checks what the README says IDENTITY_CORS_ORIGINS does: a
// browser at the SPA's origin may call the token endpoint.
func requireCORS(t *testing.T, base string, s *server) {
	t.Helper()
	req, err := http.NewRequest(http.MethodOptions, base+"/api/oauth/token", nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Origin", spaOrigin)
	req.Header.Set("Access-Control-Request-Method", http.MethodPost)
	res, err := (&http.Client{Timeout: 30 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("CORS preflight: %v", err)
	}
	_ = res.Body.Close()
	if got := res.Header.Get("Access-Control-Allow-Origin"); got != spaOrigin {
		t.Fatalf("with IDENTITY_CORS_ORIGINS=%s a preflight from it should be allowed: status %d, Access-Control-Allow-Origin %q\n%s",
			spaOrigin, res.StatusCode, got, s.logs)
	}
}

// scrub drops from environ every variable the server reads (names: the
// README's configuration table) and every IDENTITY_ one.
func scrub(environ, names []string) []string {
	drop := map[string]bool{}
	for _, n := range names {
		drop[n] = true
	}
	var out []string
	for _, kv := range environ {
		name, _, _ := strings.Cut(kv, "=")
		if drop[name] || strings.HasPrefix(name, "IDENTITY") || name == "PATH" {
			continue
		}
		out = append(out, kv)
	}
	return out
}

// freePort asks the kernel for a free TCP port on 127.0.0.1.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
