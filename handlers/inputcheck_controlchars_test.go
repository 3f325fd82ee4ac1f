package handlers_test

import (
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
)

// ccBad are the strings every input must refuse: NUL (PostgreSQL answered
// 500 for it), another C0 control, DEL, a C1 control, a line break, a tab
// and bytes that are not UTF-8.
var ccBad = []struct{ name, value string }{
	{"NUL", "a\x00b"},
	{"ESC", "a\x1bb"},
	{"DEL", "a\x7fb"},
	{"C1", "a\u0085b"},
	{"newline", "a\nb"},
	{"tab", "a\tb"},
	{"invalid UTF-8", "a\xffb"},
}

// ccDo sends one request with the body as given (Content-Type ctype, when
// set) and does not follow redirects.
func ccDo(t *testing.T, srv *apptest.Server, method, target, token, ctype, body string) *apptest.Result {
	t.Helper()
	var rd io.Reader = http.NoBody
	if body != "" {
		rd = strings.NewReader(body)
	}
	req, err := http.NewRequest(method, srv.URL+target, rd)
	require.NoError(t, err)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := biNoRedirect().Do(req)
	require.NoError(t, err)
	return apptest.ReadResult(t, resp)
}

// ccJSON encodes a JSON object by hand: encoding/json would replace the
// invalid UTF-8 case with U+FFFD before it left the test.
func ccJSON(fields map[string]string) string {
	var b strings.Builder
	b.WriteByte('{')
	first := true
	for k, v := range fields {
		if !first {
			b.WriteByte(',')
		}
		first = false
		fmt.Fprintf(&b, "%q:", k)
		b.WriteByte('"')
		for _, c := range []byte(v) {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c < 0x20 || c == 0x7f:
				fmt.Fprintf(&b, `\u%04x`, c)
			default:
				b.WriteByte(c) // raw bytes: the invalid UTF-8 case stays invalid
			}
		}
		b.WriteByte('"')
	}
	b.WriteByte('}')
	return b.String()
}

// ccRequireAPI422 asserts the JSON API's validation answer naming field.
func ccRequireAPI422(t *testing.T, res *apptest.Result, field, what string) {
	t.Helper()
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s: %s", what, res.Body)
	m := res.JSON(t)
	require.Equal(t, "validation_failed", m["error"], "%s: %s", what, res.Body)
	fields, _ := m["fields"].(map[string]any)
	require.Contains(t, fields, field, "%s: fields must name %q: %s", what, field, res.Body)
}

// TestControlCharactersRefusedEverywhere is generated from the route table:
// every registered route, with a control character (or invalid UTF-8) in a
// path parameter, the query string, a JSON body field or a form field,
// answers 422 naming the field (JSON API), an RFC 6749 error (OAuth
// endpoints, fosite's own) or the 422 error page (HTML forms), never a 500 and never a
// stored row, on SQLite and PostgreSQL. A route added later is covered
// without touching this test.
func TestControlCharactersRefusedEverywhere(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		tenant := newTestTenant(t, srv)
		admin := newRoleUser(t, srv, tenant, userOpts{systemAdmin: true, role: identity.RoleOwner})
		tok := srv.Login(t, tenant.Slug, admin.Email, apptest.Password)
		users := srv.Scalar(t, "SELECT CAST(COUNT(*) AS TEXT) FROM users")

		seen := map[string]bool{}
		var api, oauth, pages, params int
		for _, r := range srv.Echo.Routes() {
			key := r.Method + " " + r.Path
			if seen[key] || strings.HasPrefix(r.Path, "/assets/") || r.Method == http.MethodHead || r.Method == http.MethodOptions {
				continue
			}
			seen[key] = true
			isOAuth := strings.HasPrefix(r.Path, "/api/oauth/")
			isAPI := strings.HasPrefix(r.Path, "/api/") || strings.HasPrefix(r.Path, "/.well-known/")
			check := func(t *testing.T, res *apptest.Result, field, what string) {
				t.Helper()
				require.NotEqual(t, http.StatusInternalServerError, res.Status, "%s %s: %s", key, what, res.Body)
				switch {
				case isOAuth:
					// fosite's RFC 6749 answers (TestBadInput pins them).
					if res.Status >= 400 && res.Header.Get("Location") == "" {
						require.Contains(t, append(rfcErrorCodes, "insufficient_scope"), res.JSON(t)["error"], "%s %s: %s", key, what, res.Body)
					}
				case isAPI:
					ccRequireAPI422(t, res, field, key+" "+what)
				default:
					require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s %s: %s", key, what, res.Body)
					require.Contains(t, res.Header.Get("Content-Type"), "text/html", "%s %s", key, what)
					require.Contains(t, string(res.Body), "control character", "%s %s: the page names the problem", key, what)
				}
			}
			fill := func(bad string) (string, string) {
				first := ""
				p := oaParamRE.ReplaceAllStringFunc(r.Path, func(m string) string {
					if first == "" {
						first = m[1:]
						return url.PathEscape(bad)
					}
					return "00000000-0000-4000-8000-000000000000"
				})
				return p, first
			}
			clean, _ := fill("00000000-0000-4000-8000-000000000000")
			clean = strings.ReplaceAll(clean, "*", "x")
			t.Run(key, func(t *testing.T) {
				for _, bad := range ccBad {
					// A path parameter.
					if strings.Contains(r.Path, ":") {
						params++
						p, name := fill(bad.value)
						check(t, ccDo(t, srv, r.Method, p, tok, "", ""), name, "path "+bad.name)
					}
					// The query string.
					q := url.Values{"q": {bad.value}}.Encode()
					check(t, ccDo(t, srv, r.Method, clean+"?"+q, tok, "", ""), "q", "query "+bad.name)
					if r.Method == http.MethodGet {
						continue
					}
					switch {
					case isOAuth:
						oauth++
						form := url.Values{"client_id": {bad.value}, "grant_type": {"client_credentials"}}.Encode()
						check(t, ccDo(t, srv, r.Method, clean, "", "application/x-www-form-urlencoded", form), "client_id", "form "+bad.name)
					case isAPI:
						api++
						body := ccJSON(map[string]string{"tenant": tenant.Slug, "email": admin.Email, "name": bad.value, "password": apptest.Password})
						check(t, ccDo(t, srv, r.Method, clean, tok, "application/json", body), "name", "body "+bad.name)
					default:
						pages++
						form := url.Values{"tenant": {tenant.Slug}, "email": {bad.value}, "password": {apptest.Password}}.Encode()
						check(t, ccDo(t, srv, r.Method, clean, "", "application/x-www-form-urlencoded", form), "email", "form "+bad.name)
					}
				}
			})
		}
		t.Logf("probed %d JSON bodies, %d OAuth forms, %d page forms, %d path parameters", api, oauth, pages, params)
		require.NotZero(t, api)
		require.NotZero(t, oauth)
		require.NotZero(t, pages)
		require.NotZero(t, params)

		// The unauthenticated entry points, field by field: the exact field
		// is named, and nothing is counted or stored.
		entry := []struct {
			path   string
			fields map[string]string
		}{
			{"/api/auth/login", map[string]string{"tenant": tenant.Slug, "email": admin.Email, "password": apptest.Password, "device_name": "laptop"}},
			{"/api/auth/password/forgot", map[string]string{"tenant": tenant.Slug, "email": admin.Email}},
			{"/api/auth/password/reset", map[string]string{"tenant": tenant.Slug, "email": admin.Email, "code": "123456", "new_password": "Another-Passw0rd!"}},
			{"/api/auth/pin/login", map[string]string{"tenant": tenant.Slug, "email": admin.Email, "pin": "123456"}},
			{"/api/auth/2fa/verify", map[string]string{"challenge": "x", "code": "123456"}},
		}
		for _, ep := range entry {
			for field := range ep.fields {
				for _, bad := range ccBad {
					body := map[string]string{}
					for k, v := range ep.fields {
						body[k] = v
					}
					body[field] = bad.value
					ccRequireAPI422(t, ccDo(t, srv, http.MethodPost, ep.path, "", "application/json", ccJSON(body)), field, ep.path+" "+field+" "+bad.name)
				}
			}
		}
		// The login page, field by field.
		for _, field := range []string{"tenant", "email", "password", "return_to"} {
			form := url.Values{"tenant": {tenant.Slug}, "email": {admin.Email}, "password": {apptest.Password}}
			form.Set(field, "x\x00y")
			res := ccDo(t, srv, http.MethodPost, "/login", "", "application/x-www-form-urlencoded", form.Encode())
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, "/login %s: %s", field, res.Body)
			require.Contains(t, string(res.Body), field, "the page names the field")
		}
		require.Equal(t, users, srv.Scalar(t, "SELECT CAST(COUNT(*) AS TEXT) FROM users"), "no user was created")
		require.Equal(t, "0", srv.Scalar(t, fmt.Sprintf("SELECT CAST(failed_logins AS TEXT) FROM users WHERE id = %s", sqlQuote(admin.ID))),
			"a refused login is not counted")
		// The right answer still works.
		srv.StepUp(t, tok, apptest.Password)
	})
}
