package handlers_test

import (
	"encoding/base64"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/identityd/identityd/internal/apptest"
)

// rfcErrorCodes are the error codes an OAuth endpoint may answer with:
// RFC 6749 §4.1.2.1 and §5.2, RFC 7009 §2.2.1, RFC 6750 §3.1, OpenID Connect
// Core §3.1.2.6, and fosite's request_unauthorized (RFC 7662 §2.3 leaves the
// code of an unauthorised introspection caller open).
var rfcErrorCodes = []string{
	"invalid_request", "invalid_client", "invalid_grant", "unauthorized_client",
	"unsupported_grant_type", "invalid_scope", "access_denied", "unsupported_response_type",
	"temporarily_unavailable", "unsupported_token_type", "invalid_token",
	"login_required", "consent_required", "interaction_required", "request_unauthorized",
	"invalid_request_uri", "invalid_request_object", "request_not_supported", "request_uri_not_supported",
	"registration_not_supported",
}

// leakMarkers must never appear in a response body: SQL, driver text, traces.
var leakMarkers = []string{"SELECT", "sql", "SQL", "goroutine", "panic", "pgx", "gorm", "runtime/", ".go:"}

// randomRun matches a run of base64url characters long enough to be a
// token, a code, a CSRF value or a key id.
var randomRun = regexp.MustCompile(`[A-Za-z0-9_-]{20,}`)

// leakedMarker returns the first leak marker in text, or "". Random values
// (tokens, codes, CSRF fields) are blanked first: a 43-character random
// string holds "pgx" or "sql" often enough to fail a fuzz run now and then,
// which is what a CI run once did.
func leakedMarker(text string) string {
	masked := randomRun.ReplaceAllStringFunc(text, func(run string) string {
		if looksRandom(run) {
			return "~"
		}
		return run
	})
	for _, m := range leakMarkers {
		if strings.Contains(masked, m) {
			return m
		}
	}
	return ""
}

// looksRandom reports whether run mixes digits, upper and lower case, as a
// CSPRNG value in base64url does and an identifier in a trace does not.
func looksRandom(run string) bool {
	var digit, upper, lower bool
	for _, r := range run {
		switch {
		case r >= '0' && r <= '9':
			digit = true
		case r >= 'A' && r <= 'Z':
			upper = true
		case r >= 'a' && r <= 'z':
			lower = true
		}
	}
	return digit && upper && lower
}

const (
	biClientID     = "bi-client"
	biClientSecret = "bi-client-secret-0123456789"
	biRedirectURI  = "http://127.0.0.1:9/cb"
)

// biSetup creates a tenant and a confidential client that may use every grant.
func biSetup(t testing.TB, ts *apptest.Server) {
	t.Helper()
	if _, err := ts.CreateTenant(t, "acme", "Acme"); err != nil {
		t.Fatalf("create tenant: %v", err)
	}
	if _, err := ts.CreateClient(t, apptest.NewClient{
		TenantSlug: "acme", ID: biClientID, Secret: biClientSecret, Name: "Bad Input",
		GrantTypes:   []string{"authorization_code", "client_credentials", "refresh_token"},
		Scopes:       []string{"openid", "offline_access", "read"},
		RedirectURIs: []string{biRedirectURI},
	}); err != nil {
		t.Fatalf("create client: %v", err)
	}
}

func biBasic(id, secret string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(url.QueryEscape(id)+":"+url.QueryEscape(secret)))
}

// biExpect is what kind of answer a bad request must get.
type biExpect int

const (
	// biOAuthError: a 4xx JSON body whose "error" is an RFC code.
	biOAuthError biExpect = iota
	// biAPIError: a 4xx JSON body {"error","message"} (routing-level answers).
	biAPIError
	// biRedirectError: a redirect to the registered redirect URI carrying an RFC error.
	biRedirectError
	// biInactive: 200 {"active":false} (RFC 7662 §2.2 for a token it cannot vouch for).
	biInactive
	// biRevokeOK: 200 (RFC 7009 §2.2: an invalid token is not an error).
	biRevokeOK
	// biPage: the HTML error page (a browser, and no redirect URI to trust).
	biPage
	// biLogin: a valid request; the browser is sent to sign in.
	biLogin
)

type biCase struct {
	name        string
	method      string
	path        string
	query       string
	contentType string
	accept      string
	body        string
	auth        bool // HTTP Basic as the registered client
	authHeader  string
	want        biExpect
	wantStatus  int    // 0: any status that fits want
	wantCode    string // "": any RFC code
}

func biNoRedirect() *http.Client {
	return &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func TestBadInput(t *testing.T) {
	t.Parallel()
	form := "application/x-www-form-urlencoded"
	huge := strings.Repeat("a", 70<<10)
	long := strings.Repeat("x", 8<<10)
	authz := func(q url.Values) string { return q.Encode() }
	goodAuthz := func(mut func(url.Values)) string {
		q := url.Values{
			"response_type":         {"code"},
			"client_id":             {biClientID},
			"redirect_uri":          {biRedirectURI},
			"scope":                 {"openid"},
			"state":                 {"state-0123456789"},
			"code_challenge":        {"E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"},
			"code_challenge_method": {"S256"},
		}
		mut(q)
		return authz(q)
	}
	cases := []biCase{
		// token endpoint
		{name: "token/malformed form", method: "POST", path: "/api/oauth/token", contentType: form, body: "grant_type=%zz&%%%=1", auth: true, want: biOAuthError, wantStatus: 400, wantCode: "invalid_request"},
		{name: "token/json body", method: "POST", path: "/api/oauth/token", contentType: "application/json", body: `{"grant_type":"client_credentials"}`, auth: true, want: biOAuthError, wantStatus: 400, wantCode: "invalid_request"},
		{name: "token/json body no auth", method: "POST", path: "/api/oauth/token", contentType: "application/json", body: `{"grant_type":"client_credentials","client_id":"bi-client"}`, want: biOAuthError},
		{name: "token/unknown grant_type", method: "POST", path: "/api/oauth/token", contentType: form, body: "grant_type=password_please", auth: true, want: biOAuthError, wantCode: "unsupported_grant_type"},
		{name: "token/missing grant_type", method: "POST", path: "/api/oauth/token", contentType: form, body: "scope=read", auth: true, want: biOAuthError, wantStatus: 400, wantCode: "invalid_request"},
		{name: "token/empty body", method: "POST", path: "/api/oauth/token", contentType: form, body: "", auth: true, want: biOAuthError, wantStatus: 400, wantCode: "invalid_request"},
		{name: "token/GET", method: "GET", path: "/api/oauth/token", query: "grant_type=client_credentials", auth: true, want: biAPIError, wantStatus: 405},
		{name: "token/oversize body", method: "POST", path: "/api/oauth/token", contentType: form, body: "grant_type=client_credentials&scope=" + huge, auth: true, want: biOAuthError, wantStatus: 400, wantCode: "invalid_request"},
		{name: "token/duplicate grant_type", method: "POST", path: "/api/oauth/token", contentType: form, body: "grant_type=client_credentials&grant_type=refresh_token", auth: true, want: biOAuthError, wantStatus: 400, wantCode: "invalid_request"},
		{name: "token/duplicate scope", method: "POST", path: "/api/oauth/token", contentType: form, body: "grant_type=client_credentials&scope=read&scope=admin", auth: true, want: biOAuthError, wantStatus: 400, wantCode: "invalid_request"},
		{name: "token/invalid utf8 grant_type", method: "POST", path: "/api/oauth/token", contentType: form, body: "grant_type=%ff%fe%fd", auth: true, want: biOAuthError},
		{name: "token/invalid utf8 scope", method: "POST", path: "/api/oauth/token", contentType: form, body: "grant_type=client_credentials&scope=%ff%fe", auth: true, want: biOAuthError},
		{name: "token/invalid utf8 client_id", method: "POST", path: "/api/oauth/token", contentType: form, body: "grant_type=client_credentials&client_id=%ff%fe&client_secret=x", want: biOAuthError, wantCode: "invalid_client"},
		{name: "token/nul client_id", method: "POST", path: "/api/oauth/token", contentType: form, body: "grant_type=client_credentials&client_id=a%00b&client_secret=x", want: biOAuthError, wantCode: "invalid_client"},
		{name: "token/invalid utf8 basic user", method: "POST", path: "/api/oauth/token", contentType: form, body: "grant_type=client_credentials", authHeader: "Basic " + base64.StdEncoding.EncodeToString([]byte("\xff\xfe:secret")), want: biOAuthError, wantCode: "invalid_client"},
		{name: "token/garbage basic header", method: "POST", path: "/api/oauth/token", contentType: form, body: "grant_type=client_credentials", authHeader: "Basic !!!not-base64!!!", want: biOAuthError},
		{name: "token/very long scope", method: "POST", path: "/api/oauth/token", contentType: form, body: "grant_type=client_credentials&scope=" + long, auth: true, want: biOAuthError, wantCode: "invalid_scope"},
		{name: "token/very long client_id", method: "POST", path: "/api/oauth/token", contentType: form, body: "grant_type=client_credentials&client_id=" + long + "&client_secret=x", want: biOAuthError, wantCode: "invalid_client"},
		{name: "token/unknown client", method: "POST", path: "/api/oauth/token", contentType: form, body: "grant_type=client_credentials", authHeader: biBasic("no-such-client", "whatever-secret"), want: biOAuthError, wantStatus: 401, wantCode: "invalid_client"},
		{name: "token/wrong secret", method: "POST", path: "/api/oauth/token", contentType: form, body: "grant_type=client_credentials", authHeader: biBasic(biClientID, "wrong-secret-wrong-secret"), want: biOAuthError, wantStatus: 401, wantCode: "invalid_client"},
		{name: "token/garbage code", method: "POST", path: "/api/oauth/token", contentType: form, body: "grant_type=authorization_code&code=idt_ac_garbage.garbage&redirect_uri=" + url.QueryEscape(biRedirectURI) + "&code_verifier=" + strings.Repeat("v", 50), auth: true, want: biOAuthError, wantCode: "invalid_grant"},
		{name: "token/garbage refresh", method: "POST", path: "/api/oauth/token", contentType: form, body: "grant_type=refresh_token&refresh_token=idt_rt_x.y", auth: true, want: biOAuthError, wantCode: "invalid_grant"},
		{name: "token/multipart garbage", method: "POST", path: "/api/oauth/token", contentType: "multipart/form-data; boundary=zzz", body: "--zzz\r\nnonsense", auth: true, want: biOAuthError, wantStatus: 400, wantCode: "invalid_request"},

		// introspection
		{name: "introspect/no auth", method: "POST", path: "/api/oauth/introspect", contentType: form, body: "token=abc", want: biOAuthError},
		{name: "introspect/malformed form", method: "POST", path: "/api/oauth/introspect", contentType: form, body: "token=%zz", auth: true, want: biOAuthError, wantStatus: 400, wantCode: "invalid_request"},
		{name: "introspect/json body", method: "POST", path: "/api/oauth/introspect", contentType: "application/json", body: `{"token":"abc"}`, auth: true, want: biOAuthError, wantStatus: 400, wantCode: "invalid_request"},
		{name: "introspect/missing token", method: "POST", path: "/api/oauth/introspect", contentType: form, body: "", auth: true, want: biOAuthError, wantStatus: 400, wantCode: "invalid_request"},
		{name: "introspect/GET", method: "GET", path: "/api/oauth/introspect", query: "token=abc", auth: true, want: biAPIError, wantStatus: 405},
		{name: "introspect/oversize", method: "POST", path: "/api/oauth/introspect", contentType: form, body: "token=" + huge, auth: true, want: biOAuthError, wantStatus: 400, wantCode: "invalid_request"},
		{name: "introspect/garbage token", method: "POST", path: "/api/oauth/introspect", contentType: form, body: "token=idt_at_garbage.garbage", auth: true, want: biInactive},
		{name: "introspect/invalid utf8 token", method: "POST", path: "/api/oauth/introspect", contentType: form, body: "token=%ff%fe.%00", auth: true, want: biInactive},
		{name: "introspect/very long token", method: "POST", path: "/api/oauth/introspect", contentType: form, body: "token=" + long, auth: true, want: biInactive},
		{name: "introspect/unknown client", method: "POST", path: "/api/oauth/introspect", contentType: form, body: "token=abc", authHeader: biBasic("no-such-client", "whatever-secret"), want: biOAuthError},
		{name: "introspect/bearer garbage", method: "POST", path: "/api/oauth/introspect", contentType: form, body: "token=abc", authHeader: "Bearer idt_at_garbage.garbage", want: biOAuthError},

		// revocation
		{name: "revoke/no auth", method: "POST", path: "/api/oauth/revoke", contentType: form, body: "token=abc", want: biOAuthError},
		{name: "revoke/malformed form", method: "POST", path: "/api/oauth/revoke", contentType: form, body: "token=%zz", auth: true, want: biOAuthError, wantStatus: 400, wantCode: "invalid_request"},
		{name: "revoke/json body", method: "POST", path: "/api/oauth/revoke", contentType: "application/json", body: `{"token":"abc"}`, auth: true, want: biOAuthError},
		{name: "revoke/missing token", method: "POST", path: "/api/oauth/revoke", contentType: form, body: "", auth: true, want: biOAuthError},
		{name: "revoke/GET", method: "GET", path: "/api/oauth/revoke", query: "token=abc", auth: true, want: biAPIError, wantStatus: 405},
		{name: "revoke/oversize", method: "POST", path: "/api/oauth/revoke", contentType: form, body: "token=" + huge, auth: true, want: biOAuthError, wantStatus: 400, wantCode: "invalid_request"},
		{name: "revoke/garbage token", method: "POST", path: "/api/oauth/revoke", contentType: form, body: "token=idt_rt_garbage.garbage", auth: true, want: biRevokeOK},
		{name: "revoke/invalid utf8 token", method: "POST", path: "/api/oauth/revoke", contentType: form, body: "token=%ff%fe%00", auth: true, want: biRevokeOK},
		{name: "revoke/unknown token type hint", method: "POST", path: "/api/oauth/revoke", contentType: form, body: "token=abc&token_type_hint=banana", auth: true, want: biRevokeOK},
		{name: "revoke/unknown client", method: "POST", path: "/api/oauth/revoke", contentType: form, body: "token=abc", authHeader: biBasic("no-such-client", "whatever-secret"), want: biOAuthError, wantCode: "invalid_client"},

		// authorization endpoint
		{name: "authorize/unknown client", method: "GET", path: "/api/oauth/authorize", query: goodAuthz(func(q url.Values) { q.Set("client_id", "no-such-client") }), want: biOAuthError, wantCode: "invalid_client"},
		{name: "authorize/missing client", method: "GET", path: "/api/oauth/authorize", query: goodAuthz(func(q url.Values) { q.Del("client_id") }), want: biOAuthError, wantCode: "invalid_client"},
		{name: "authorize/invalid utf8 client", method: "GET", path: "/api/oauth/authorize", query: strings.Replace(goodAuthz(func(q url.Values) {}), "client_id=bi-client", "client_id=%ff%fe%00", 1), want: biOAuthError, wantCode: "invalid_client"},
		{name: "authorize/very long client", method: "GET", path: "/api/oauth/authorize", query: goodAuthz(func(q url.Values) { q.Set("client_id", long) }), want: biOAuthError, wantCode: "invalid_client"},
		{name: "authorize/unregistered redirect", method: "GET", path: "/api/oauth/authorize", query: goodAuthz(func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }), want: biOAuthError, wantCode: "invalid_request"},
		{name: "authorize/redirect with fragment", method: "GET", path: "/api/oauth/authorize", query: goodAuthz(func(q url.Values) { q.Set("redirect_uri", biRedirectURI+"#frag") }), want: biOAuthError, wantCode: "invalid_request"},
		{name: "authorize/relative redirect", method: "GET", path: "/api/oauth/authorize", query: goodAuthz(func(q url.Values) { q.Set("redirect_uri", "/cb") }), want: biOAuthError, wantCode: "invalid_request"},
		{name: "authorize/unsupported response_type", method: "GET", path: "/api/oauth/authorize", query: goodAuthz(func(q url.Values) { q.Set("response_type", "token") }), want: biRedirectError, wantCode: "unsupported_response_type"},
		{name: "authorize/missing response_type", method: "GET", path: "/api/oauth/authorize", query: goodAuthz(func(q url.Values) { q.Del("response_type") }), want: biRedirectError, wantCode: "unsupported_response_type"},
		{name: "authorize/unknown scope", method: "GET", path: "/api/oauth/authorize", query: goodAuthz(func(q url.Values) { q.Set("scope", "openid admin") }), want: biRedirectError, wantCode: "invalid_scope"},
		{name: "authorize/duplicate redirect_uri", method: "GET", path: "/api/oauth/authorize", query: goodAuthz(func(q url.Values) { q.Add("redirect_uri", "https://evil.example/cb") }), want: biOAuthError, wantCode: "invalid_request"},
		{name: "authorize/malformed query", method: "GET", path: "/api/oauth/authorize", query: "client_id=%zz&response_type=code", want: biOAuthError},
		{name: "authorize/invalid utf8 state", method: "GET", path: "/api/oauth/authorize", query: goodAuthz(func(q url.Values) { q.Set("state", "state-\xff\xfe\x00-0123456789") }), want: biLogin},
		{name: "authorize/unregistered redirect, browser", method: "GET", path: "/api/oauth/authorize", accept: "text/html,application/xhtml+xml", query: goodAuthz(func(q url.Values) { q.Set("redirect_uri", "https://evil.example/cb") }), want: biPage, wantStatus: 400},
		{name: "authorize/unknown client, browser", method: "GET", path: "/api/oauth/authorize", accept: "text/html", query: goodAuthz(func(q url.Values) { q.Set("client_id", "no-such-client") }), want: biPage, wantStatus: 401},
		{name: "authorize/duplicate client_id", method: "GET", path: "/api/oauth/authorize", query: goodAuthz(func(q url.Values) { q.Add("client_id", "other") }), want: biOAuthError, wantStatus: 400, wantCode: "invalid_request"},
		{name: "authorize/query and body repeat", method: "POST", path: "/api/oauth/authorize", query: "scope=openid", contentType: form, body: goodAuthz(func(q url.Values) {}), want: biOAuthError, wantStatus: 400, wantCode: "invalid_request"},
		{name: "authorize/oversize POST", method: "POST", path: "/api/oauth/authorize", contentType: form, body: goodAuthz(func(q url.Values) {}) + "&x=" + huge, want: biOAuthError},
		{name: "authorize/PUT", method: "PUT", path: "/api/oauth/authorize", query: goodAuthz(func(q url.Values) {}), want: biAPIError, wantStatus: 405},
		{name: "authorize/DELETE", method: "DELETE", path: "/api/oauth/authorize", query: goodAuthz(func(q url.Values) {}), want: biAPIError, wantStatus: 405},
	}

	for _, b := range apptest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ts := apptest.New(t, b, nil)
			biSetup(t, ts)
			hc := biNoRedirect()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					target := ts.URL + tc.path
					if tc.query != "" {
						target += "?" + tc.query
					}
					var body io.Reader
					if tc.body != "" || tc.method == "POST" {
						body = strings.NewReader(tc.body)
					}
					req, err := http.NewRequest(tc.method, target, body)
					if err != nil {
						t.Fatalf("request: %v", err)
					}
					if tc.contentType != "" {
						req.Header.Set("Content-Type", tc.contentType)
					}
					if tc.accept != "" {
						req.Header.Set("Accept", tc.accept)
					}
					if tc.auth {
						req.Header.Set("Authorization", biBasic(biClientID, biClientSecret))
					}
					if tc.authHeader != "" {
						req.Header.Set("Authorization", tc.authHeader)
					}
					resp, err := hc.Do(req)
					if err != nil {
						t.Fatalf("do: %v", err)
					}
					raw, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					biCheck(t, tc, resp, raw)
				})
			}
		})
	}
}

// biCheck asserts that a response to a bad request is a well-formed refusal.
func biCheck(t *testing.T, tc biCase, resp *http.Response, raw []byte) {
	t.Helper()
	text := string(raw)
	if resp.StatusCode >= 500 {
		t.Fatalf("status %d, body %.300s", resp.StatusCode, text)
	}
	biNoLeak(t, text)
	biNoLeak(t, resp.Header.Get("Location"))
	if tc.wantStatus != 0 && resp.StatusCode != tc.wantStatus {
		t.Errorf("status %d, want %d; body %.300s", resp.StatusCode, tc.wantStatus, text)
	}
	switch tc.want {
	case biOAuthError, biAPIError:
		if resp.StatusCode < 400 {
			t.Fatalf("status %d, want a 4xx; body %.300s", resp.StatusCode, text)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Errorf("content type %q, want JSON", ct)
		}
		var e map[string]any
		if err := json.Unmarshal(raw, &e); err != nil {
			t.Fatalf("body is not JSON: %v: %.300s", err, text)
		}
		code, _ := e["error"].(string)
		if tc.want == biOAuthError {
			if !slices.Contains(rfcErrorCodes, code) {
				t.Errorf("error %q is not an RFC 6749 code; body %.300s", code, text)
			}
		} else {
			if msg, _ := e["message"].(string); code == "" || msg == "" {
				t.Errorf("API error without error and message: %.300s", text)
			}
		}
		if tc.wantCode != "" && code != tc.wantCode {
			t.Errorf("error %q, want %q; body %.300s", code, tc.wantCode, text)
		}
	case biRedirectError:
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("status %d, want a redirect; body %.300s", resp.StatusCode, text)
		}
		loc, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatalf("location: %v", err)
		}
		if got := loc.Scheme + "://" + loc.Host + loc.Path; got != biRedirectURI {
			t.Fatalf("redirected to %q, want the registered %q", got, biRedirectURI)
		}
		params := loc.Query()
		if loc.Fragment != "" {
			if fq, err := url.ParseQuery(loc.Fragment); err == nil && fq.Get("error") != "" {
				params = fq
			}
		}
		code := params.Get("error")
		if !slices.Contains(rfcErrorCodes, code) {
			t.Errorf("redirect error %q is not an RFC code (%s)", code, loc)
		}
		if tc.wantCode != "" && code != tc.wantCode {
			t.Errorf("redirect error %q, want %q", code, tc.wantCode)
		}
		if params.Get("state") != "state-0123456789" {
			t.Errorf("redirect lost state: %s", loc)
		}
	case biInactive:
		if resp.StatusCode != http.StatusOK {
			t.Fatalf("status %d, want 200 {active:false}; body %.300s", resp.StatusCode, text)
		}
		var r map[string]any
		if err := json.Unmarshal(raw, &r); err != nil || r["active"] != false {
			t.Errorf("body %.300s, want {\"active\":false}", text)
		}
	case biRevokeOK:
		if resp.StatusCode != http.StatusOK {
			t.Errorf("status %d, want 200; body %.300s", resp.StatusCode, text)
		}
	case biPage:
		if resp.StatusCode < 400 {
			t.Fatalf("status %d, want a 4xx page", resp.StatusCode)
		}
		if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/html") {
			t.Errorf("content type %q, want the HTML error page", ct)
		}
		if !strings.Contains(text, "<html") || !strings.Contains(text, `class="error"`) {
			t.Errorf("not the error page: %.300s", text)
		}
		if resp.Header.Get("Location") != "" {
			t.Errorf("error page redirects to %q", resp.Header.Get("Location"))
		}
	case biLogin:
		loc := resp.Header.Get("Location")
		if resp.StatusCode != http.StatusSeeOther || !strings.HasPrefix(loc, "/login?return_to=") {
			t.Errorf("status %d location %q, want 303 to /login", resp.StatusCode, loc)
		}
	}
}

// biNoLeak fails when text shows SQL, driver text or a stack trace.
func biNoLeak(t *testing.T, text string) {
	t.Helper()
	if m := leakedMarker(text); m != "" {
		t.Errorf("response leaks %q: %.400s", m, text)
	}
}

func TestAPIErrorsAndHealth(t *testing.T) {
	t.Parallel()
	for _, b := range apptest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ts := apptest.New(t, b, nil)

			t.Run("unknown api route", func(t *testing.T) {
				for _, r := range []struct{ method, path string }{
					{"GET", "/api/nope"}, {"GET", "/api/oauth/nope"}, {"GET", "/api/users/123/../../etc/passwd"},
					{"GET", "/api/%ff%fe"}, {"POST", "/api/nope"}, {"DELETE", "/api/tenants/x"}, {"PUT", "/api/oauth/nope"},
				} {
					p := r.method + " " + r.path
					req, _ := http.NewRequest(r.method, ts.URL+r.path, strings.NewReader("a=b"))
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
					resp, err := http.DefaultClient.Do(req)
					if err != nil {
						t.Fatalf("%s: %v", p, err)
					}
					raw, _ := io.ReadAll(resp.Body)
					resp.Body.Close()
					if resp.StatusCode != http.StatusNotFound {
						t.Errorf("%s: status %d, want 404", p, resp.StatusCode)
					}
					var e map[string]any
					if err := json.Unmarshal(raw, &e); err != nil {
						t.Fatalf("%s: body is not JSON: %s", p, raw)
					}
					if e["error"] != "not_found" || e["message"] == "" || e["message"] == nil {
						t.Errorf("%s: body %s, want {error: not_found, message: …}", p, raw)
					}
					biNoLeak(t, string(raw))
				}
			})

			wantChecks := []string{"database", "cache"}
			if b.RedisURL != "" {
				wantChecks = append(wantChecks, "redis")
			}
			health := func(t *testing.T) (int, map[string]any) {
				t.Helper()
				resp, err := http.Get(ts.URL + "/api/health")
				if err != nil {
					t.Fatalf("health: %v", err)
				}
				defer resp.Body.Close()
				raw, _ := io.ReadAll(resp.Body)
				biNoLeak(t, string(raw))
				var h map[string]any
				if err := json.Unmarshal(raw, &h); err != nil {
					t.Fatalf("health body is not JSON: %s", raw)
				}
				return resp.StatusCode, h
			}

			t.Run("healthy", func(t *testing.T) {
				status, h := health(t)
				if status != http.StatusOK || h["status"] != "ok" {
					t.Fatalf("health %d %v, want 200 ok", status, h)
				}
				checks, _ := h["checks"].(map[string]any)
				for _, name := range wantChecks {
					c, _ := checks[name].(map[string]any)
					if c == nil || c["status"] != "ok" {
						t.Errorf("check %s = %v, want ok", name, c)
					}
					if _, ok := c["duration_ms"]; !ok {
						t.Errorf("check %s has no duration_ms", name)
					}
				}
				if len(checks) != len(wantChecks) {
					t.Errorf("checks %v, want exactly %v", checks, wantChecks)
				}
			})

			t.Run("database closed", func(t *testing.T) {
				if err := ts.Store.Close(); err != nil {
					t.Fatalf("close store: %v", err)
				}
				status, h := health(t)
				if status != http.StatusServiceUnavailable || h["status"] != "fail" {
					t.Fatalf("health %d %v, want 503 fail", status, h)
				}
				checks, _ := h["checks"].(map[string]any)
				db, _ := checks["database"].(map[string]any)
				if db == nil || db["status"] != "fail" {
					t.Errorf("database check %v, want fail", db)
				}
				if c, _ := checks["cache"].(map[string]any); c == nil || c["status"] != "ok" {
					t.Errorf("cache check %v, want ok (only the database is down)", c)
				}
				// With the database gone the OAuth endpoints still answer in
				// RFC form, without a driver message.
				req, _ := http.NewRequest("POST", ts.URL+"/api/oauth/token", strings.NewReader("grant_type=client_credentials"))
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				req.Header.Set("Authorization", biBasic("any-client", "any-secret-any-secret"))
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatalf("token: %v", err)
				}
				raw, _ := io.ReadAll(resp.Body)
				resp.Body.Close()
				biNoLeak(t, string(raw))
				var e map[string]any
				if err := json.Unmarshal(raw, &e); err != nil || e["error"] == nil {
					t.Errorf("token with the database closed: %d %s, want an RFC error JSON", resp.StatusCode, raw)
				}
			})
		})
	}
}

// TestLeakedMarkerIgnoresRandomValues pins the leak check both ways: the
// token a CI run once failed on passes, and driver text, SQL and traces are
// still caught even beside a token.
func TestLeakedMarkerIgnoresRandomValues(t *testing.T) {
	t.Parallel()
	ok := `{"access_token":"idt_at_4wrOwIzULlHi4mJpvjGUUKy_ELCVw57n_fFCQo81c54._d2n3hzZjQ1pgxR39zx2zENXvrfwjCtFUzBdSeanv0M","token_type":"bearer"}`
	if m := leakedMarker(ok); m != "" {
		t.Errorf("a random token is reported as leaking %q", m)
	}
	for _, bad := range []string{
		`{"error":"server_error","error_description":"failed to connect to pgx pool"}`,
		`{"error":"x","detail":"SELECT * FROM users"}`,
		`goroutine 1 [running]: main.go:12`,
		`{"access_token":"idt_at_4wrOwIzULlHi4mJpvjGUUKy_ELCVw57n","error_description":"sql: no rows"}`,
		`{"error":"github_com_jackc_pgx_v5_pgconn_error"}`,
	} {
		if leakedMarker(bad) == "" {
			t.Errorf("leak not caught in %s", bad)
		}
	}
}
