package handlers_test

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/storage"
)

// secBrowser is a minimal browser: a cookie jar, no automatic redirects, and
// a record of every query string it sent.
type secBrowser struct {
	t       testing.TB
	base    string
	hc      *http.Client
	queries []string
}

func secNewBrowser(t testing.TB, base string) *secBrowser {
	t.Helper()
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatalf("cookie jar: %v", err)
	}
	return &secBrowser{t: t, base: base, hc: &http.Client{
		Jar:           jar,
		Timeout:       30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

// do sends one request; target may be a path on the server.
func (b *secBrowser) do(method, target string, form url.Values, basicID, basicSecret string) (*http.Response, string) {
	b.t.Helper()
	if strings.HasPrefix(target, "/") {
		target = b.base + target
	}
	var body io.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	req, err := http.NewRequest(method, target, body)
	if err != nil {
		b.t.Fatalf("request %s %s: %v", method, target, err)
	}
	if req.URL.RawQuery != "" {
		b.queries = append(b.queries, req.URL.RawQuery)
	}
	if form != nil {
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	if basicID != "" {
		req.SetBasicAuth(url.QueryEscape(basicID), url.QueryEscape(basicSecret))
	}
	resp, err := b.hc.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", method, target, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		b.t.Fatalf("read %s %s: %v", method, target, err)
	}
	return resp, string(raw)
}

// redirect expects a 302/303 and returns its Location.
func (b *secBrowser) redirect(resp *http.Response, body string) string {
	b.t.Helper()
	if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
		b.t.Fatalf("%s %s: status %d, want a redirect; body %.400s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, body)
	}
	return resp.Header.Get("Location")
}

// cookie returns the value of the named cookie the server set.
func (b *secBrowser) Cookie(name string) string {
	b.t.Helper()
	u, _ := url.Parse(b.base)
	for _, c := range b.hc.Jar.Cookies(u) {
		if c.Name == name {
			return c.Value
		}
	}
	return ""
}

var secHiddenRE = regexp.MustCompile(`<input type="hidden" name="([^"]+)" value="([^"]*)">`)

// secHidden returns the hidden fields of a page's form.
func secHidden(t testing.TB, page string) url.Values {
	t.Helper()
	v := url.Values{}
	for _, m := range secHiddenRE.FindAllStringSubmatch(page, -1) {
		v.Set(m[1], html.UnescapeString(m[2]))
	}
	if v.Get("csrf") == "" {
		t.Fatalf("page has no CSRF field: %.600s", page)
	}
	return v
}

// decode decodes a 200 JSON answer.
func (b *secBrowser) decode(resp *http.Response, body string) map[string]any {
	t := b.t
	t.Helper()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("%s %s: status %d: %.400s", resp.Request.Method, resp.Request.URL.Path, resp.StatusCode, body)
	}
	var out map[string]any
	if err := json.Unmarshal([]byte(body), &out); err != nil {
		t.Fatalf("%s: not JSON: %v: %.400s", resp.Request.URL.Path, err, body)
	}
	return out
}

func secString(t testing.TB, m map[string]any, key string) string {
	t.Helper()
	s, _ := m[key].(string)
	if s == "" {
		t.Fatalf("response has no %s: %v", key, m)
	}
	return s
}

// secPKCE returns a verifier and its S256 challenge.
func secPKCE(t testing.TB) (verifier, challenge string) {
	t.Helper()
	verifier, err := keyring.RandomToken(32)
	if err != nil {
		t.Fatalf("verifier: %v", err)
	}
	sum := sha256.Sum256([]byte(verifier))
	return verifier, base64.RawURLEncoding.EncodeToString(sum[:])
}

func secSHA256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// secAuthorizeCode drives a browser from the authorization URL through the
// login and consent pages and returns the code the client receives.
func secAuthorizeCode(t testing.TB, b *secBrowser, authURL, tenant, email, password, redirectURI, state string) string {
	t.Helper()
	loc := b.redirect(b.do("GET", authURL, nil, "", ""))
	if !strings.HasPrefix(loc, "/login?") {
		t.Fatalf("authorize sent the browser to %q, want /login", loc)
	}
	resp, page := b.do("GET", loc, nil, "", "")
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("login page: %d", resp.StatusCode)
	}
	f := secHidden(t, page)
	if f.Get("tenant") != tenant {
		t.Fatalf("login page tenant %q, want it locked to %q", f.Get("tenant"), tenant)
	}
	f.Set("email", email)
	f.Set("password", password)
	loc = b.redirect(b.do("POST", "/login", f, "", ""))
	if !strings.HasPrefix(loc, "/api/oauth/authorize?") {
		t.Fatalf("login sent the browser to %q", loc)
	}
	loc = b.redirect(b.do("GET", loc, nil, "", ""))
	if strings.HasPrefix(loc, "/consent?") {
		resp, page = b.do("GET", loc, nil, "", "")
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("consent page: %d", resp.StatusCode)
		}
		f = secHidden(t, page)
		f.Set("decision", "allow")
		loc = b.redirect(b.do("POST", "/consent", f, "", ""))
		loc = b.redirect(b.do("GET", loc, nil, "", ""))
	}
	if !strings.HasPrefix(loc, redirectURI+"?") {
		t.Fatalf("authorization ended at %q, want %s", loc, redirectURI)
	}
	u, _ := url.Parse(loc)
	b.queries = append(b.queries, u.RawQuery)
	if u.Query().Get("state") != state {
		t.Fatalf("state %q, want %q", u.Query().Get("state"), state)
	}
	code := u.Query().Get("code")
	if code == "" {
		t.Fatalf("no code in %s", loc)
	}
	return code
}

// secSecret is a value that must rest nowhere.
type secSecret struct{ name, value string }

// secTokenSecrets names a token and, for a token with a signature part, the
// signature alone.
func secTokenSecrets(name, token string) []secSecret {
	out := []secSecret{{name, token}}
	if i := strings.LastIndexByte(token, '.'); i >= 0 && i < len(token)-1 {
		out = append(out, secSecret{name + " signature", token[i+1:]})
	}
	return out
}

// secDump returns every table's rows as text, one entry per column value.
func secDump(t testing.TB, st *storage.Store) map[string][]string {
	t.Helper()
	db, err := st.SQLDB()
	if err != nil {
		t.Fatalf("sql db: %v", err)
	}
	ctx := t.Context()
	q := `SELECT name FROM sqlite_master WHERE type = 'table'`
	if st.Dialect() == storage.Postgres {
		q = `SELECT table_name FROM information_schema.tables WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'`
	}
	rows, err := db.QueryContext(ctx, q)
	if err != nil {
		t.Fatalf("list tables: %v", err)
	}
	var tables []string
	for rows.Next() {
		var n string
		if err := rows.Scan(&n); err != nil {
			t.Fatalf("scan table name: %v", err)
		}
		tables = append(tables, n)
	}
	rows.Close()
	if len(tables) < 5 {
		t.Fatalf("found only tables %v", tables)
	}
	out := map[string][]string{}
	for _, table := range tables {
		rows, err := db.QueryContext(ctx, `SELECT * FROM "`+table+`"`)
		if err != nil {
			t.Fatalf("read %s: %v", table, err)
		}
		cols, _ := rows.Columns()
		for rows.Next() {
			vals := make([]any, len(cols))
			ptrs := make([]any, len(cols))
			for i := range vals {
				ptrs[i] = &vals[i]
			}
			if err := rows.Scan(ptrs...); err != nil {
				t.Fatalf("scan %s: %v", table, err)
			}
			for i, v := range vals {
				var s string
				switch v := v.(type) {
				case nil:
					continue
				case []byte:
					s = string(v)
				case string:
					s = v
				case map[string]any, []any:
					j, _ := json.Marshal(v)
					s = string(j)
				default:
					s = fmt.Sprint(v)
				}
				out[table] = append(out[table], cols[i]+"="+s)
			}
		}
		if err := rows.Err(); err != nil {
			t.Fatalf("rows of %s: %v", table, err)
		}
		rows.Close()
	}
	return out
}

func TestSecretsRestNowhere(t *testing.T) {
	t.Parallel()
	for _, be := range apptest.Backends(t) {
		t.Run(be.Name, func(t *testing.T) {
			ts := apptest.New(t, be, nil)
			const (
				tenant      = "sec-tenant"
				email       = "alice@sec.example"
				password    = "correct horse battery staple 42"
				webID       = "sec-web"
				webSecret   = "sec-web-secret-0123456789abcdef"
				redirectURI = "http://127.0.0.1:1/sec/callback"
			)
			if _, err := ts.CreateTenant(t, tenant, "Secrets"); err != nil {
				t.Fatalf("tenant: %v", err)
			}
			if _, err := ts.CreateUser(t, apptest.NewUser{TenantSlug: tenant, Email: email, Password: password, Name: "Alice"}); err != nil {
				t.Fatalf("user: %v", err)
			}
			if _, err := ts.CreateClient(t, apptest.NewClient{
				TenantSlug: tenant, ID: webID, Secret: webSecret, Name: "Sec Web",
				GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "offline_access", "profile", "email"},
				RedirectURIs: []string{redirectURI},
			}); err != nil {
				t.Fatalf("web client: %v", err)
			}
			svc, err := ts.CreateClient(t, apptest.NewClient{
				TenantSlug: tenant, ID: "sec-svc", Name: "Sec Service",
				GrantTypes: []string{"client_credentials"}, Scopes: []string{"read"},
			})
			if err != nil {
				t.Fatalf("service client: %v", err)
			}
			svcSecret := svc.Secret
			b := secNewBrowser(t, ts.URL)

			// Client credentials, introspection, revocation.
			tok := b.decode(b.do("POST", "/api/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"read"}}, "sec-svc", svcSecret))
			ccToken := secString(t, tok, "access_token")
			in := b.decode(b.do("POST", "/api/oauth/introspect", url.Values{"token": {ccToken}}, "sec-svc", svcSecret))
			if in["active"] != true || in["tenant_id"] == nil {
				t.Fatalf("introspection of a fresh token: %v", in)
			}
			if resp, body := b.do("POST", "/api/oauth/revoke", url.Values{"token": {ccToken}}, "sec-svc", svcSecret); resp.StatusCode != http.StatusOK {
				t.Fatalf("revoke: %d %s", resp.StatusCode, body)
			}
			if in := b.decode(b.do("POST", "/api/oauth/introspect", url.Values{"token": {ccToken}}, "sec-svc", svcSecret)); in["active"] != false {
				t.Fatalf("introspection after revocation: %v", in)
			}

			// Authorization code with PKCE through the login and consent pages.
			verifier, challenge := secPKCE(t)
			state, _ := keyring.RandomToken(16)
			nonce, _ := keyring.RandomToken(16)
			authURL := "/api/oauth/authorize?" + url.Values{
				"response_type": {"code"}, "client_id": {webID}, "redirect_uri": {redirectURI},
				"scope": {"openid offline_access profile email"}, "state": {state}, "nonce": {nonce},
				"code_challenge": {challenge}, "code_challenge_method": {"S256"},
			}.Encode()
			code := secAuthorizeCode(t, b, authURL, tenant, email, password, redirectURI, state)
			sessionCookie := b.Cookie("identity_session")
			if sessionCookie == "" {
				t.Fatal("no session cookie after login")
			}
			tok = b.decode(b.do("POST", "/api/oauth/token", url.Values{
				"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier},
			}, webID, webSecret))
			access1, refresh1, idToken := secString(t, tok, "access_token"), secString(t, tok, "refresh_token"), secString(t, tok, "id_token")
			tok = b.decode(b.do("POST", "/api/oauth/token", url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refresh1}}, webID, webSecret))
			access2, refresh2 := secString(t, tok, "access_token"), secString(t, tok, "refresh_token")
			if in := b.decode(b.do("POST", "/api/oauth/introspect", url.Values{"token": {access2}}, webID, webSecret)); in["active"] != true {
				t.Fatalf("introspection of the refreshed token: %v", in)
			}

			secrets := []secSecret{
				{"web client secret", webSecret}, {"service client secret", svcSecret},
				{"user password", password}, {"session cookie", sessionCookie},
				{"IDENTITY_SECRET", string(ts.Config.Secret)}, {"PKCE verifier", verifier},
				{"ID token", idToken},
			}
			secrets = append(secrets, secTokenSecrets("client-credentials access token", ccToken)...)
			secrets = append(secrets, secTokenSecrets("authorization code", code)...)
			secrets = append(secrets, secTokenSecrets("access token", access1)...)
			secrets = append(secrets, secTokenSecrets("refresh token", refresh1)...)
			secrets = append(secrets, secTokenSecrets("refreshed access token", access2)...)
			secrets = append(secrets, secTokenSecrets("rotated refresh token", refresh2)...)
			for _, s := range secrets {
				if len(s.value) < 16 {
					t.Fatalf("%s %q is too short to search for", s.name, s.value)
				}
			}

			t.Run("database", func(t *testing.T) {
				dump := secDump(t, ts.Store)
				// The scan must be able to see what is there: the stored
				// key of the live access token is the SHA-256 of its
				// signature, and the session row holds the cookie's hash.
				sig2 := access2[strings.LastIndexByte(access2, '.')+1:]
				for _, want := range []struct{ table, value string }{
					{"oauth_access_tokens", secSHA256Hex(sig2)},
					{"login_sessions", secSHA256Hex(sessionCookie)},
				} {
					found := false
					for _, v := range dump[want.table] {
						found = found || strings.Contains(v, want.value)
					}
					if !found {
						t.Errorf("%s holds no %s: the scan cannot be trusted (tables %d)", want.table, want.value, len(dump))
					}
				}
				for table, vals := range dump {
					for _, v := range vals {
						for _, s := range secrets {
							if strings.Contains(v, s.value) {
								col, _, _ := strings.Cut(v, "=")
								t.Errorf("%s rests in %s.%s", s.name, table, col)
							}
						}
					}
				}
			})

			t.Run("logs", func(t *testing.T) {
				logs := ts.Logs.String()
				if !strings.Contains(logs, `"path":"/api/oauth/token"`) || !strings.Contains(logs, `"path":"/login"`) {
					t.Fatalf("the logs do not show the requests: %.500s", logs)
				}
				for _, s := range secrets {
					if strings.Contains(logs, s.value) {
						t.Errorf("%s is in the logs", s.name)
					}
				}
				if len(b.queries) < 4 {
					t.Fatalf("recorded only %d query strings", len(b.queries))
				}
				for _, q := range b.queries {
					if strings.Contains(logs, q) {
						t.Errorf("query string %.80s… is in the logs", q)
					}
					for _, v := range secQueryValues(q) {
						if len(v) >= 16 && strings.Contains(logs, v) {
							t.Errorf("query value %.40s… is in the logs", v)
						}
					}
				}
			})
		})
	}
}

// secQueryValues returns the values of a query string, decoded.
func secQueryValues(q string) []string {
	vals, _ := url.ParseQuery(q)
	var out []string
	for _, vs := range vals {
		out = append(out, vs...)
	}
	return out
}
