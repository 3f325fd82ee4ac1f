package handlers_test

import (
	"bytes"
	"context"
	"image/png"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
)

// b2Phone is the viewport of the screenshots: a phone, 390 CSS pixels wide.
const (
	b2PhoneWidth  = 390
	b2PhoneHeight = 844
)

// b2Shot takes a full-page PNG screenshot at phone width, checks it, saves
// it to dir and, with IDENTITY_WRITE_SCREENSHOTS=1, to docs/screenshots.
func b2Shot(t *testing.T, bctx context.Context, dir, name string) {
	t.Helper()
	shot, err := chromedp.Run(bctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatalf("screenshot %s: %v", name, err)
	}
	if len(shot) == 0 || !bytes.HasPrefix(shot, []byte("\x89PNG\r\n\x1a\n")) {
		t.Fatalf("screenshot %s is not a PNG (%d bytes)", name, len(shot))
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot %s does not decode: %v", name, err)
	}
	if w := img.Bounds().Dx(); w != b2PhoneWidth {
		t.Errorf("screenshot %s is %d px wide, want the phone width %d", name, w, b2PhoneWidth)
	}
	if h := img.Bounds().Dy(); h < 200 {
		t.Errorf("screenshot %s is only %d px high", name, h)
	}
	file := filepath.Join(dir, name)
	if err := os.WriteFile(file, shot, 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(file); err != nil || st.Size() == 0 {
		t.Fatalf("screenshot file %s: %v", file, err)
	}
	if os.Getenv("IDENTITY_WRITE_SCREENSHOTS") == "1" {
		if len(shot) > 200<<10 {
			t.Errorf("screenshot %s is %d KB; keep the docs' copies under 200 KB", name, len(shot)>>10)
		}
		docs := filepath.Join("..", "docs", "screenshots")
		if err := os.MkdirAll(docs, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(docs, name), shot, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// b2PageText is the visible text of the page, for failure messages.
func b2PageText(bctx context.Context) string {
	loc, _ := chromedp.Run(bctx, chromedp.Location())
	text, _ := chromedp.Run(bctx, chromedp.Evaluate[string](`document.body ? document.body.innerText : ""`))
	return loc + ": " + text
}

// b2Has reports whether the page has an element matching the CSS selector.
func b2Has(bctx context.Context, sel string) bool {
	ok, err := chromedp.Run(bctx, chromedp.Evaluate[bool](`document.querySelector(`+jsString(sel)+`) !== null`))
	return err == nil && ok
}

func jsString(s string) string {
	return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`).Replace(s) + "'"
}

// TestBrowserTwoFactorTrustDevice runs two authorization-code flows in one
// headless Chromium: the first signs in with the password and a TOTP code,
// ticking "Trust this device for 30 days"; after signing out of Identity, the
// second asks for the password again but skips the second factor.
func TestBrowserTwoFactorTrustDevice(t *testing.T) {
	chromium := brChromium(t)
	ts := apptest.New(t, apptest.SQLite(t), nil)
	e := accountOn(t, ts)
	u := e.newUser(t)
	secret, _ := e.enableTOTP(t, e.token(t, u).Token)

	const (
		clientID = "browser-2fa-web"
		clientSK = "browser-2fa-secret-0123456789"
	)
	cb := &brCallback{query: make(chan url.Values, 1)}
	client := httptest.NewServer(cb)
	t.Cleanup(client.Close)
	redirectURI := client.URL + "/cb"
	if _, err := ts.CreateClient(t, apptest.NewClient{
		TenantSlug: e.Tenant.Slug, ID: clientID, Secret: clientSK, Name: "Two-Factor App",
		GrantTypes: []string{"authorization_code", "refresh_token"}, Scopes: []string{"openid", "profile", "email"},
		RedirectURIs: []string{redirectURI},
	}); err != nil {
		t.Fatal(err)
	}
	authURL := func(state, challenge string) string {
		return ts.URL + "/api/oauth/authorize?" + url.Values{
			"response_type": {"code"}, "client_id": {clientID}, "redirect_uri": {redirectURI},
			"scope": {"openid profile email"}, "state": {state}, "nonce": {"nonce-" + state},
			"code_challenge": {challenge}, "code_challenge_method": {"S256"},
		}.Encode()
	}
	// exchange redeems a code as the client (secret + PKCE verifier) and
	// checks the token belongs to the user.
	exchange := func(code, verifier string) map[string]any {
		t.Helper()
		b := secNewBrowser(t, ts.URL)
		tok := b.decode(b.do("POST", "/api/oauth/token", url.Values{
			"grant_type": {"authorization_code"}, "code": {code}, "redirect_uri": {redirectURI}, "code_verifier": {verifier},
		}, clientID, clientSK))
		access := secString(t, tok, "access_token")
		secString(t, tok, "id_token")
		in := b.decode(b.do("POST", "/api/oauth/introspect", url.Values{"token": {access}}, clientID, clientSK))
		if in["active"] != true || in["sub"] != u.ID {
			t.Errorf("introspection of the browser's token: %v", in)
		}
		return in
	}
	// waitClient waits for the browser to reach the client and returns the
	// query it brought.
	waitClient := func(bctx context.Context, state string) url.Values {
		t.Helper()
		select {
		case got := <-cb.query:
			if got.Get("state") != state || got.Get("code") == "" || got.Get("error") != "" {
				t.Fatalf("the client received %v", got)
			}
			return got
		case <-time.After(60 * time.Second):
			t.Fatalf("the browser never reached the client; it is at %s", b2PageText(bctx))
		}
		return nil
	}

	parent, cancelParent := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancelParent()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent,
		chromedp.ExecPath(chromium),
		chromedp.Headless,
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-quic", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true),
		chromedp.Flag("hide-scrollbars", true),
		chromedp.UserDataDir(t.TempDir()),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	shots := t.TempDir()
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(b2PhoneWidth, b2PhoneHeight, chromedp.EmulateScale(1))); err != nil {
		t.Fatalf("phone viewport: %v", err)
	}

	// Flow 1: login page → 2FA page → trust this device → consent → client.
	verifier1, challenge1 := secPKCE(t)
	if err := chromedp.Do(bctx,
		chromedp.Navigate(authURL("state-one-0123456789", challenge1)),
		chromedp.WaitVisible(chromedp.ID("email")),
	); err != nil {
		t.Fatalf("open the login page: %v", err)
	}
	if loc, _ := chromedp.Run(bctx, chromedp.Location()); !strings.HasPrefix(loc, ts.URL+"/login?") {
		t.Fatalf("the authorization request landed on %q, want the login page", loc)
	}
	b2Shot(t, bctx, shots, "login-phone.png")
	if err := chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.ID("email"), u.Email),
		chromedp.SendKeys(chromedp.ID("password"), apptest.Password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("code")),
	); err != nil {
		t.Fatalf("sign in with the password: %v; page %s", err, b2PageText(bctx))
	}
	if page := b2PageText(bctx); !strings.Contains(page, "authenticator app") || !strings.Contains(page, "Trust this device for 30 days") {
		t.Errorf("the 2FA page: %s", page)
	}
	b2Shot(t, bctx, shots, "2fa-phone.png")
	// enableTOTP used the previous step; the next one is within the window.
	code := apptest.TOTPAt(t, secret, time.Now().Add(30*time.Second))
	if err := chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Click(chromedp.CSS(`input[name="trust_device"]`)),
		chromedp.Click(chromedp.CSS(`form[action="/login/2fa"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("ul.scopes")),
	); err != nil {
		t.Fatalf("verify the TOTP code: %v; page %s", err, b2PageText(bctx))
	}
	if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`button[value="allow"]`))); err != nil {
		t.Fatalf("allow: %v", err)
	}
	got := waitClient(bctx, "state-one-0123456789")
	exchange(got.Get("code"), verifier1)
	if n := e.auditCount(t, u, identity.AuditDeviceTrusted); n != 1 {
		t.Errorf("%d device.trusted audit rows after ticking trust, want 1", n)
	}

	// Sign out of Identity through the page's form: the login session ends,
	// the device cookie stays.
	if err := chromedp.Do(bctx,
		chromedp.Navigate(ts.URL+"/logout"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"] button[type="submit"]`)),
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button[type="submit"]`)),
	); err != nil {
		t.Fatalf("sign out: %v; page %s", err, b2PageText(bctx))
	}
	deadline := time.Now().Add(60 * time.Second)
	for !strings.Contains(b2PageText(bctx), "You are signed out") {
		if time.Now().After(deadline) {
			t.Fatalf("after signing out: %s", b2PageText(bctx))
		}
		time.Sleep(50 * time.Millisecond)
	}

	// Flow 2 in the same browser: the password again, no second factor.
	verifier2, challenge2 := secPKCE(t)
	if err := chromedp.Do(bctx,
		chromedp.Navigate(authURL("state-two-0123456789", challenge2)),
		chromedp.WaitVisible(chromedp.ID("email")),
	); err != nil {
		t.Fatalf("the second flow did not ask for the password after signing out: %v; page %s", err, b2PageText(bctx))
	}
	if err := chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.ID("email"), u.Email),
		chromedp.SendKeys(chromedp.ID("password"), apptest.Password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	); err != nil {
		t.Fatalf("second sign-in: %v", err)
	}
	consents := 0
	var got2 url.Values
	deadline = time.Now().Add(60 * time.Second)
wait:
	for {
		select {
		case got2 = <-cb.query:
			break wait
		case <-time.After(100 * time.Millisecond):
		}
		switch {
		case b2Has(bctx, `input[name="code"]`):
			t.Fatalf("the trusted device was asked for the second factor again: %s", b2PageText(bctx))
		case b2Has(bctx, `button[value="allow"]`) && consents == 0:
			consents++ // consent given in flow 1 may be asked again; it is not a second factor
			if err := chromedp.Do(bctx, chromedp.Click(chromedp.CSS(`button[value="allow"]`))); err != nil {
				t.Fatalf("allow: %v", err)
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second flow never reached the client: %s", b2PageText(bctx))
		}
	}
	if got2.Get("state") != "state-two-0123456789" || got2.Get("code") == "" {
		t.Fatalf("the client received %v in the second flow", got2)
	}
	in := exchange(got2.Get("code"), verifier2)
	if n := e.auditCount(t, u, identity.Audit2FAVerified); n != 1 {
		t.Errorf("%d 2fa.verified rows after two flows, want 1 (the second skipped it)", n)
	}
	if amr, ok := in["amr"].([]any); ok && !slices.Contains(amr, any("pwd")) {
		t.Errorf("amr of the second login %v, want pwd", amr)
	}

	// The account security page, signed in from flow 2.
	if err := chromedp.Do(bctx,
		chromedp.Navigate(ts.URL+"/account/security"),
		chromedp.WaitVisible(chromedp.CSS("main h2")),
	); err != nil {
		t.Fatalf("account security page: %v; page %s", err, b2PageText(bctx))
	}
	page := b2PageText(bctx)
	if !strings.Contains(page, u.Email) || !strings.Contains(page, "authenticator app") {
		t.Errorf("the account security page: %s", page)
	}
	// The page fits the phone: nothing wider than the viewport.
	if w, err := chromedp.Run(bctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil || w > b2PhoneWidth {
		t.Errorf("the account security page is %d px wide on a %d px phone (%v)", w, b2PhoneWidth, err)
	}
	b2Shot(t, bctx, shots, "account-security-phone.png")
}
