package handlers_test

import (
	"bytes"
	"image/png"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/identityd/identityd/internal/apptest"
)

// brCallback is the "client": it records what arrives at its redirect URI.
type brCallback struct {
	query chan url.Values
}

func (c *brCallback) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/cb" {
		http.NotFound(w, r)
		return
	}
	select {
	case c.query <- r.URL.Query():
	default:
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	_, _ = w.Write([]byte("<!doctype html><title>client</title><p id=done>client received the response</p>"))
}

// TestBrowserAuthorizationCode runs the authorization-code flow in headless
// Chromium: the login page (tenant locked to the client's), the consent page
// listing the scopes, Allow, and the landing on the client's redirect URI
// with a code that the client then exchanges with PKCE.
func TestBrowserAuthorizationCode(t *testing.T) {
	t.Parallel()
	ts := apptest.New(t, apptest.SQLite(t), nil)
	const (
		tenant   = "browser-co"
		email    = "carol@browser.example"
		password = "browser password 1234"
		clientID = "browser-web"
		secret   = "browser-web-secret-0123456789"
	)
	cb := &brCallback{query: make(chan url.Values, 1)}
	client := httptest.NewServer(cb)
	t.Cleanup(client.Close)
	redirectURI := client.URL + "/cb"

	if _, err := ts.CreateTenant(t, tenant, "Browser Co"); err != nil {
		t.Fatal(err)
	}
	user, err := ts.CreateUser(t, apptest.NewUser{TenantSlug: tenant, Email: email, Password: password, Name: "Carol"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ts.CreateClient(t, apptest.NewClient{
		TenantSlug: tenant, ID: clientID, Secret: secret, Name: "Browser App",
		GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "profile", "email", "offline_access"},
		RedirectURIs: []string{redirectURI},
	}); err != nil {
		t.Fatal(err)
	}
	verifier, challenge := secPKCE(t)
	state := "browser-state-0123456789"
	authURL := ts.URL + "/api/oauth/authorize?" + url.Values{
		"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirectURI},
		"scope": {"openid profile email"}, "state": {state}, "nonce": {"browser-nonce-0123"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}.Encode()

	b := apptest.StartChrome(t, apptest.ChromeOptions{Timeout: 90 * time.Second})

	// The login page: the tenant is fixed by the client, not asked for.
	b.Do("open the login page",
		chromedp.Navigate(authURL),
		chromedp.WaitVisible(chromedp.ID("email")),
	)
	loc, _ := chromedp.Run(b.Ctx, chromedp.Location())
	if !strings.HasPrefix(loc, ts.URL+"/login?") {
		t.Fatalf("the authorization request landed on %q, want the login page", loc)
	}
	tenantField, err := chromedp.Run(b.Ctx, chromedp.Evaluate[map[string]string](
		`(() => { const e = document.querySelector('input[name="tenant"]'); return e ? {type: e.type, value: e.value} : null })()`))
	if err != nil || tenantField["type"] != "hidden" || tenantField["value"] != tenant {
		t.Errorf("tenant field %v (%v), want hidden and locked to %q", tenantField, err, tenant)
	}
	if page, _ := chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS("main"))); !strings.Contains(page, "Browser App") {
		t.Errorf("the login page does not name the client: %q", page)
	}

	shot, err := chromedp.Run(b.Ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	shotFile := filepath.Join(b.Shots, "login.png")
	if err := os.WriteFile(shotFile, shot, 0o600); err != nil {
		t.Fatal(err)
	}
	if raw, err := os.ReadFile(shotFile); err != nil || !bytes.HasPrefix(raw, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot file %s is not a PNG (%v)", shotFile, err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil || img.Bounds().Dx() < 100 || img.Bounds().Dy() < 100 {
		t.Fatalf("screenshot does not decode to a real image: %v", err)
	}

	// Sign in; the consent page lists the scopes.
	b.Do("sign in",
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("ul.scopes")),
	)
	scopes, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS("ul.scopes")))
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range []string{"openid", "profile", "email"} {
		if !strings.Contains(scopes, s) {
			t.Errorf("the consent page does not list %q: %q", s, scopes)
		}
	}
	if strings.Contains(scopes, "offline_access") {
		t.Errorf("the consent page lists a scope that was not requested: %q", scopes)
	}

	// Allow: the browser lands on the client's redirect URI with a code.
	b.Do("allow", chromedp.Click(chromedp.CSS(`button[value="allow"]`)))
	var got url.Values
	select {
	case got = <-cb.query:
	case <-time.After(60 * time.Second):
		t.Fatalf("the browser never reached the client; it is at %s", b.Text())
	}
	b.Do("client page", chromedp.WaitVisible(chromedp.ID("done")))
	if loc, _ := chromedp.Run(b.Ctx, chromedp.Location()); !strings.HasPrefix(loc, redirectURI+"?") {
		t.Errorf("the browser is at %q, want the client's redirect URI", loc)
	}
	if got.Get("state") != state || got.Get("code") == "" || got.Get("error") != "" {
		t.Fatalf("the client received %v", got)
	}

	// The client exchanges the code with its secret and the PKCE verifier.
	api := secNewBrowser(t, ts.URL)
	tok := api.decode(api.do("POST", "/api/oauth/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {got.Get("code")}, "redirect_uri": {redirectURI}, "code_verifier": {verifier},
	}, clientID, secret))
	access := secString(t, tok, "access_token")
	secString(t, tok, "id_token")
	in := api.decode(api.do("POST", "/api/oauth/introspect", url.Values{"token": {access}}, clientID, secret))
	if in["active"] != true || in["sub"] != user.ID || in["client_id"] != clientID {
		t.Errorf("introspection of the browser's token: %v", in)
	}
	// The code is single-use.
	resp, body := api.do("POST", "/api/oauth/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {got.Get("code")}, "redirect_uri": {redirectURI}, "code_verifier": {verifier},
	}, clientID, secret)
	if resp.StatusCode != http.StatusBadRequest || !strings.Contains(body, "invalid_grant") {
		t.Errorf("a second exchange of the code: %d %s", resp.StatusCode, body)
	}
}
