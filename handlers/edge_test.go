package handlers_test

import (
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/handlers"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
)

func edgeGet(t *testing.T, target string, hdr map[string]string) *apptest.Result {
	t.Helper()
	return edgeDo(t, http.MethodGet, target, hdr)
}

func edgeDo(t *testing.T, method, target string, hdr map[string]string) *apptest.Result {
	t.Helper()
	req, err := http.NewRequest(method, target, nil)
	require.NoError(t, err)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	require.NoError(t, err)
	return apptest.ReadResult(t, resp)
}

func TestEdgeSecurityHeaders(t *testing.T) {
	t.Parallel()
	for _, https := range []bool{false, true} {
		name := map[bool]string{false: "http issuer", true: "https issuer"}[https]
		t.Run(name, func(t *testing.T) {
			srv := apptest.New(t, apptest.SQLite(t), func(c *app.Config) {
				if https {
					c.Issuer = "https://id.example.com"
				}
			})
			pages := map[string]bool{"/login": true, "/logout": true}
			for _, path := range []string{"/api/health", "/api/openapi.json", "/api/nope", "/api/auth/me", "/.well-known/openid-configuration",
				"/api/oauth/authorize?client_id=nope", "/login", "/logout", "/no-such-page", "/assets/app.css"} {
				res := edgeGet(t, srv.URL+path, nil)
				h := res.Header
				require.Equal(t, "DENY", h.Get("X-Frame-Options"), path)
				require.Equal(t, "nosniff", h.Get("X-Content-Type-Options"), path)
				require.Equal(t, "strict-origin-when-cross-origin", h.Get("Referrer-Policy"), path)
				require.Equal(t, "same-origin", h.Get("Cross-Origin-Opener-Policy"), path)
				if https {
					require.Contains(t, h.Get("Strict-Transport-Security"), "max-age=", path)
				} else {
					require.Empty(t, h.Get("Strict-Transport-Security"), "no HSTS over http: %s", path)
				}
				csp := h.Get("Content-Security-Policy")
				if pages[path] {
					require.Contains(t, csp, "default-src 'none'", path)
					require.Contains(t, csp, "form-action 'self'", path)
					require.Contains(t, csp, "frame-ancestors 'none'", path)
				} else if strings.Contains(h.Get("Content-Type"), "json") {
					require.Equal(t, "default-src 'none'; frame-ancestors 'none'", csp, path)
				}
				require.NotEmpty(t, csp, "every response has a CSP: %s", path)
			}
			// The OAuth token endpoint's errors too.
			res := apptest.PostForm(t, srv.URL+"/api/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "", "")
			require.Equal(t, "nosniff", res.Header.Get("X-Content-Type-Options"))
			require.Equal(t, "DENY", res.Header.Get("X-Frame-Options"))
		})
	}
}

func TestCORSOriginMatching(t *testing.T) {
	t.Parallel()
	patterns := []string{"https://app.example.com", "https://*.example.org", "http://localhost:3000"}
	tests := []struct {
		origin string
		want   bool
	}{
		{"https://app.example.com", true},
		{"https://APP.example.com", true},
		{"https://app.example.com:443", true},
		{"https://app.example.com:8443", false},
		{"http://app.example.com", false},
		{"https://other.example.com", false},
		{"https://a.example.org", true},
		{"https://a.b.example.org", true}, // any depth of subdomain
		{"https://example.org", false},    // never the bare domain
		{"https://evilexample.org", false},
		{"https://example.org.evil.com", false},
		{"http://a.example.org", false},
		{"http://localhost:3000", true},
		{"http://localhost:3001", false},
		{"null", false},
		{"", false},
		{"https://app.example.com/path", false},
	}
	for _, tt := range tests {
		t.Run(tt.origin, func(t *testing.T) {
			require.Equal(t, tt.want, handlers.OriginAllowed(patterns, tt.origin))
		})
	}
}

func TestCORS(t *testing.T) {
	t.Parallel()
	srv := apptest.New(t, apptest.SQLite(t), func(c *app.Config) {
		c.CORSOrigins = []string{"https://app.example.com", "https://*.example.org"}
	})
	preflight := func(origin string) *apptest.Result {
		return edgeDo(t, http.MethodOptions, srv.URL+"/api/users", map[string]string{
			"Origin": origin, "Access-Control-Request-Method": "PATCH", "Access-Control-Request-Headers": "authorization,content-type"})
	}
	for _, origin := range []string{"https://app.example.com", "https://a.example.org", "https://a.b.example.org"} {
		res := preflight(origin)
		require.Equal(t, http.StatusNoContent, res.Status, origin)
		h := res.Header
		require.Equal(t, origin, h.Get("Access-Control-Allow-Origin"), origin)
		methods := h.Get("Access-Control-Allow-Methods")
		for _, m := range []string{"GET", "POST", "PUT", "PATCH", "DELETE"} {
			require.Contains(t, methods, m)
		}
		require.Contains(t, h.Get("Access-Control-Allow-Headers"), "Authorization")
		require.Contains(t, h.Get("Access-Control-Allow-Headers"), "Content-Type")
		require.Equal(t, "7200", h.Get("Access-Control-Max-Age"))
		require.Empty(t, h.Get("Access-Control-Allow-Credentials"), "bearer tokens, not cookies")
	}
	for _, origin := range []string{"https://example.org", "https://evil.com", "http://app.example.com"} {
		res := preflight(origin)
		require.Empty(t, res.Header.Get("Access-Control-Allow-Origin"), origin)
		require.Empty(t, res.Header.Get("Access-Control-Allow-Methods"), origin)
	}
	res := edgeGet(t, srv.URL+"/api/health", map[string]string{"Origin": "https://app.example.com"})
	require.Equal(t, http.StatusOK, res.Status)
	require.Equal(t, "https://app.example.com", res.Header.Get("Access-Control-Allow-Origin"))
	res = edgeGet(t, srv.URL+"/api/health", map[string]string{"Origin": "https://evil.com"})
	require.Empty(t, res.Header.Get("Access-Control-Allow-Origin"))

	t.Run("no origins configured", func(t *testing.T) {
		plain := apptest.New(t, apptest.SQLite(t), nil)
		for _, method := range []string{http.MethodOptions, http.MethodGet} {
			res := edgeDo(t, method, plain.URL+"/api/health", map[string]string{"Origin": "https://app.example.com", "Access-Control-Request-Method": "GET"})
			for k := range res.Header {
				require.False(t, strings.HasPrefix(k, "Access-Control-"), "%s: no CORS header, got %s", method, k)
			}
		}
	})
}

func TestDenyList(t *testing.T) {
	t.Parallel()
	_, loopback, _ := net.ParseCIDR("127.0.0.0/8")
	_, private, _ := net.ParseCIDR("10.0.0.0/8")
	_, local, _ := net.ParseCIDR("127.0.0.1/32")

	t.Run("denied before anything runs", func(t *testing.T) {
		srv := apptest.New(t, apptest.SQLite(t), func(c *app.Config) { c.IPDenyList = []*net.IPNet{loopback} })
		for _, path := range []string{"/api/health", "/login", "/.well-known/jwks.json", "/api/nope", "/no-such-page"} {
			res := edgeGet(t, srv.URL+path, nil)
			require.Equal(t, http.StatusForbidden, res.Status, path)
			require.Contains(t, res.Header.Get("Content-Type"), "application/json", path)
			m := res.JSON(t)
			require.Equal(t, "ip_denied", m["error"], path)
			require.NotEmpty(t, m["message"], path)
		}
		res := apptest.PostForm(t, srv.URL+"/api/oauth/token", url.Values{"grant_type": {"client_credentials"}}, "x", "y")
		require.Equal(t, http.StatusForbidden, res.Status)
		res = edgeDo(t, http.MethodOptions, srv.URL+"/api/health", map[string]string{"Origin": "https://a.example", "Access-Control-Request-Method": "GET"})
		require.Equal(t, http.StatusForbidden, res.Status)
		require.NotContains(t, srv.Logs.String(), `"msg":"request"`, "no handler or request log ran")
	})
	t.Run("X-Forwarded-For is ignored without trusted proxies", func(t *testing.T) {
		srv := apptest.New(t, apptest.SQLite(t), func(c *app.Config) { c.IPDenyList = []*net.IPNet{private} })
		res := edgeGet(t, srv.URL+"/api/health", map[string]string{"X-Forwarded-For": "10.1.2.3", "X-Real-IP": "10.1.2.3"})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	})
	t.Run("X-Forwarded-For from a trusted proxy", func(t *testing.T) {
		srv := apptest.New(t, apptest.SQLite(t), func(c *app.Config) {
			c.IPDenyList = []*net.IPNet{private}
			c.TrustedProxies = []*net.IPNet{local}
		})
		res := edgeGet(t, srv.URL+"/api/health", map[string]string{"X-Forwarded-For": "10.1.2.3"})
		require.Equal(t, http.StatusForbidden, res.Status)
		res = edgeGet(t, srv.URL+"/api/health", map[string]string{"X-Forwarded-For": "198.51.100.7"})
		require.Equal(t, http.StatusOK, res.Status)
		// The client cannot hide behind a forged hop: the right-most
		// untrusted address is the client.
		res = edgeGet(t, srv.URL+"/api/health", map[string]string{"X-Forwarded-For": "198.51.100.7, 10.1.2.3"})
		require.Equal(t, http.StatusForbidden, res.Status)
	})
	t.Run("configuration", func(t *testing.T) {
		cfg, err := app.LoadConfig(func(k string) string {
			return map[string]string{"IDENTITY_IP_DENY_LIST": "10.0.0.0/8, 192.0.2.7", "IDENTITY_TRUSTED_PROXIES": "127.0.0.1"}[k]
		})
		require.NoError(t, err)
		require.Len(t, cfg.IPDenyList, 2)
		require.Len(t, cfg.TrustedProxies, 1)
		_, err = app.LoadConfig(func(k string) string { return map[string]string{"IDENTITY_TRUSTED_PROXIES": "not-an-ip"}[k] })
		require.ErrorContains(t, err, "IDENTITY_TRUSTED_PROXIES")
	})
}

var traceparentRE = regexp.MustCompile(`^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$`)

func TestEdgeRequestIDAndTraceparent(t *testing.T) {
	t.Parallel()
	srv := apptest.New(t, apptest.SQLite(t), nil)

	a, b := edgeGet(t, srv.URL+"/api/health", nil), edgeGet(t, srv.URL+"/no-such-page", nil)
	require.NotEmpty(t, a.Header.Get("X-Request-Id"))
	require.NotEmpty(t, b.Header.Get("X-Request-Id"))
	require.NotEqual(t, a.Header.Get("X-Request-Id"), b.Header.Get("X-Request-Id"))
	require.Regexp(t, traceparentRE, a.Header.Get("traceparent"), "a trace starts when none came in")

	kept := edgeGet(t, srv.URL+"/api/health", map[string]string{"X-Request-Id": "lb-0123456789abcdef"})
	require.Equal(t, "lb-0123456789abcdef", kept.Header.Get("X-Request-Id"), "a well-formed upstream id is kept")
	bad := edgeGet(t, srv.URL+"/api/health", map[string]string{"X-Request-Id": `x" injected="1`})
	require.NotContains(t, bad.Header.Get("X-Request-Id"), "injected", "a malformed id is replaced")

	const trace, parent = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	res := edgeGet(t, srv.URL+"/api/auth/me", map[string]string{"traceparent": "00-" + trace + "-" + parent + "-01"})
	require.Equal(t, http.StatusUnauthorized, res.Status)
	m := traceparentRE.FindStringSubmatch(res.Header.Get("traceparent"))
	require.NotNil(t, m, "traceparent echoed: %q", res.Header.Get("traceparent"))
	require.Equal(t, trace, m[1], "same trace")
	require.NotEqual(t, parent, m[2], "our own parent id")
	require.NotEqual(t, strings.Repeat("0", 16), m[2])
	require.Equal(t, "01", m[3], "flags kept")

	// The request's log lines carry its request id and trace id.
	rid := res.Header.Get("X-Request-Id")
	found := false
	for _, line := range strings.Split(srv.Logs.String(), "\n") {
		var rec map[string]any
		if json.Unmarshal([]byte(line), &rec) != nil || rec["request_id"] != rid {
			continue
		}
		require.Equal(t, trace, rec["trace_id"], "log line %s", line)
		if rec["msg"] == "request" {
			found = true
		}
	}
	require.True(t, found, "the request log line carries request_id %s", rid)

	for _, invalid := range []string{
		"00-" + strings.Repeat("0", 32) + "-" + parent + "-01", // zero trace id
		"00-" + trace + "-" + strings.Repeat("0", 16) + "-01",  // zero parent id
		"ff-" + trace + "-" + parent + "-01",                   // forbidden version
		"00-" + strings.ToUpper(trace) + "-" + parent + "-01",  // upper case
		"00-" + trace + "-" + parent + "-01-extra",             // version 00 has four fields
		"garbage",
	} {
		res := edgeGet(t, srv.URL+"/api/health", map[string]string{"traceparent": invalid})
		m := traceparentRE.FindStringSubmatch(res.Header.Get("traceparent"))
		require.NotNil(t, m, invalid)
		require.NotEqual(t, trace, m[1], "invalid traceparent %q starts a new trace", invalid)
	}
	// A later version with extra fields is read by its first four.
	res = edgeGet(t, srv.URL+"/api/health", map[string]string{"traceparent": "01-" + trace + "-" + parent + "-00-future"})
	require.Equal(t, trace, traceparentRE.FindStringSubmatch(res.Header.Get("traceparent"))[1])
}

// TestEdgeLoginRedirect: after a plain login (no authorization request), an
// optional next/redirect_uri is followed only to an allowed origin or a path
// of this server.
func TestEdgeLoginRedirect(t *testing.T) {
	t.Parallel()
	srv := apptest.New(t, apptest.SQLite(t), func(c *app.Config) {
		c.RedirectOrigins = []string{"https://app.example.com", "https://*.example.org"}
	})
	e := apptest.Seed(t, srv)
	login := func(query string, override url.Values) *apptest.Result {
		br := srv.NewBrowser(t)
		page := br.Get(srv.URL + "/login?" + query)
		require.Equal(t, http.StatusOK, page.Status)
		f := apptest.ParseForm(t, page)
		f.Fields.Set("tenant", e.Tenant.Slug)
		f.Fields.Set("email", e.User.Email)
		f.Fields.Set("password", apptest.Password)
		for k, v := range override {
			f.Fields[k] = v
		}
		req, err := http.NewRequest(http.MethodPost, f.Action, strings.NewReader(f.Fields.Encode()))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		client := *br.HTTPClient()
		client.CheckRedirect = func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }
		resp, err := client.Do(req)
		require.NoError(t, err)
		return apptest.ReadResult(t, resp)
	}
	tests := []struct {
		name, query string
		override    url.Values
		want        string
	}{
		{"allowed origin", "next=" + url.QueryEscape("https://app.example.com/home?x=1"), nil, "https://app.example.com/home?x=1"},
		{"redirect_uri alias", "redirect_uri=" + url.QueryEscape("https://shop.example.org/"), nil, "https://shop.example.org/"},
		{"local path", "next=" + url.QueryEscape("/account/devices"), nil, "/account/devices"},
		{"other origin", "next=" + url.QueryEscape("https://evil.com/"), nil, "/account/security"},
		{"bare wildcard domain", "next=" + url.QueryEscape("https://example.org/"), nil, "/account/security"},
		{"scheme-relative", "next=" + url.QueryEscape("//evil.com/"), nil, "/account/security"},
		{"backslash", "next=" + url.QueryEscape(`/\evil.com`), nil, "/account/security"},
		{"javascript", "next=" + url.QueryEscape("javascript:alert(1)"), nil, "/account/security"},
		{"forged form field", "", url.Values{"next": {"https://evil.com/"}}, "/account/security"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := login(tt.query, tt.override)
			require.Equal(t, http.StatusSeeOther, res.Status, "%s", res.Body)
			require.Equal(t, tt.want, res.Header.Get("Location"))
		})
	}
}
