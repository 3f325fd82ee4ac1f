package handlers_test

import (
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
)

// TestBrowserTwoFactorTrustDevice runs two authorization-code flows in one
// headless Chromium: the first signs in with the password and a TOTP code,
// ticking "Trust this device for 30 days"; after signing out of Identity, the
// second asks for the password again but skips the second factor.
func TestBrowserTwoFactorTrustDevice(t *testing.T) {
	t.Parallel()
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
	waitClient := func(b *apptest.Chrome, state string) url.Values {
		t.Helper()
		select {
		case got := <-cb.query:
			if got.Get("state") != state || got.Get("code") == "" || got.Get("error") != "" {
				t.Fatalf("the client received %v", got)
			}
			return got
		case <-time.After(60 * time.Second):
			t.Fatalf("the browser never reached the client; it is at %s", b.Text())
		}
		return nil
	}

	b := apptest.StartChrome(t, apptest.ChromeOptions{})

	// Flow 1: login page → 2FA page → trust this device → consent → client.
	verifier1, challenge1 := secPKCE(t)
	b.Do("open the login page",
		chromedp.Navigate(authURL("state-one-0123456789", challenge1)),
		chromedp.WaitVisible(chromedp.ID("email")),
	)
	if loc, _ := chromedp.Run(b.Ctx, chromedp.Location()); !strings.HasPrefix(loc, ts.URL+"/login?") {
		t.Fatalf("the authorization request landed on %q, want the login page", loc)
	}
	b.Shot("login-phone.png")
	b.Do("sign in with the password",
		chromedp.SendKeys(chromedp.ID("email"), u.Email),
		chromedp.SendKeys(chromedp.ID("password"), apptest.Password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("code")),
	)
	if page := b.Text(); !strings.Contains(page, "authenticator app") || !strings.Contains(page, "Trust this device for 30 days") {
		t.Errorf("the 2FA page: %s", page)
	}
	b.Shot("2fa-phone.png")
	// enableTOTP used the previous step; the next one is within the window.
	code := apptest.TOTPAt(t, secret, time.Now().Add(30*time.Second))
	b.Do("verify the TOTP code",
		chromedp.SendKeys(chromedp.ID("code"), code),
		chromedp.Click(chromedp.CSS(`input[name="trust_device"]`)),
		chromedp.Click(chromedp.CSS(`form[action="/login/2fa"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS("ul.scopes")),
	)
	b.Do("allow", chromedp.Click(chromedp.CSS(`button[value="allow"]`)))
	got := waitClient(b, "state-one-0123456789")
	exchange(got.Get("code"), verifier1)
	if n := e.auditCount(t, u, identity.AuditDeviceTrusted); n != 1 {
		t.Errorf("%d device.trusted audit rows after ticking trust, want 1", n)
	}

	// Sign out of Identity through the page's form: the login session ends,
	// the device cookie stays.
	b.Do("sign out",
		chromedp.Navigate(ts.URL+"/logout"),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/logout"] button[type="submit"]`)),
		chromedp.Click(chromedp.CSS(`form[action="/logout"] button[type="submit"]`)),
	)
	b.WaitText("You are signed out")

	// Flow 2 in the same browser: the password again, no second factor.
	verifier2, challenge2 := secPKCE(t)
	b.Do("the second flow did not ask for the password after signing out",
		chromedp.Navigate(authURL("state-two-0123456789", challenge2)),
		chromedp.WaitVisible(chromedp.ID("email")),
	)
	b.Do("second sign-in",
		chromedp.SendKeys(chromedp.ID("email"), u.Email),
		chromedp.SendKeys(chromedp.ID("password"), apptest.Password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	)
	consents := 0
	var got2 url.Values
	deadline := time.Now().Add(60 * time.Second)
wait:
	for {
		select {
		case got2 = <-cb.query:
			break wait
		case <-time.After(100 * time.Millisecond):
		}
		switch {
		case b.Has(`input[name="code"]`):
			t.Fatalf("the trusted device was asked for the second factor again: %s", b.Text())
		case b.Has(`button[value="allow"]`) && consents == 0:
			consents++ // consent given in flow 1 may be asked again; it is not a second factor
			b.Do("allow", chromedp.Click(chromedp.CSS(`button[value="allow"]`)))
		}
		if time.Now().After(deadline) {
			t.Fatalf("the second flow never reached the client: %s", b.Text())
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
	b.Do("account security page",
		chromedp.Navigate(ts.URL+"/account/security"),
		chromedp.WaitVisible(chromedp.CSS("main h2")),
	)
	page := b.Text()
	if !strings.Contains(page, u.Email) || !strings.Contains(page, "authenticator app") {
		t.Errorf("the account security page: %s", page)
	}
	// The page fits the phone: nothing wider than the viewport.
	if w, err := chromedp.Run(b.Ctx, chromedp.Evaluate[int](`document.documentElement.scrollWidth`)); err != nil || w > apptest.PhoneWidth {
		t.Errorf("the account security page is %d px wide on a %d px phone (%v)", w, apptest.PhoneWidth, err)
	}
	b.Shot("account-security-phone.png")
}
