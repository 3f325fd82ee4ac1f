package handlers_test

import (
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/identityd/identityd/internal/apptest"
)

// TestBrowserFederatedAuthorizationCode runs the whole upstream sign-in in
// headless Chromium at phone width: a relying party's authorization request
// to our server → our sign-in page, which shows the tenant's provider
// button → the upstream identityd's own sign-in page (a real page, filled
// in) → back through our callback → our consent page → Allow → the relying
// party's redirect URI with a code, which it exchanges; the token is the
// provisioned account's and says "fed".
func TestBrowserFederatedAuthorizationCode(t *testing.T) {
	t.Parallel()
	w := newFedWorld(t, apptest.SQLite(t), nil)
	w.addUpstreamProvider(t, nil)
	cb := &brCallback{query: make(chan url.Values, 1)}
	client := httptest.NewServer(cb)
	t.Cleanup(client.Close)
	redirectURI := client.URL + "/cb"
	rpClient := w.rp.Client(t, apptest.NewClient{Name: "Relying App", GrantTypes: []string{"authorization_code"},
		Scopes: []string{"openid", "email", "profile"}, RedirectURIs: []string{redirectURI}})
	verifier, challenge := secPKCE(t)
	state := "fed-browser-state-0123456789"
	authURL := w.rp.URL + "/api/oauth/authorize?" + url.Values{
		"response_type": {"code"}, "client_id": {rpClient.Client.ID}, "redirect_uri": {redirectURI},
		"scope": {"openid email"}, "state": {state}, "nonce": {"fed-browser-nonce"},
		"code_challenge": {challenge}, "code_challenge_method": {"S256"},
	}.Encode()

	b := apptest.StartChrome(t, apptest.ChromeOptions{Timeout: 90 * time.Second})
	b.Do("open our sign-in page", chromedp.Navigate(authURL), chromedp.WaitVisible(chromedp.CSS(`a.button`)))
	if page := b.Text(); !strings.Contains(page, "Sign in with Upstream") || !strings.Contains(page, "Relying App") {
		t.Fatalf("our sign-in page does not show the provider's button for the client: %q", page)
	}
	b.Shot("federation-login-phone.png")
	b.Do("press the provider's button", chromedp.Click(chromedp.CSS(`a.button`)), chromedp.WaitVisible(chromedp.ID("password")))
	if loc, _ := chromedp.Run(b.Ctx, chromedp.Location()); !strings.HasPrefix(loc, w.upIssuer+"/login") {
		t.Fatalf("the button led to %q, want the upstream's sign-in page", loc)
	}
	b.Do("sign in upstream",
		chromedp.SendKeys(chromedp.ID("email"), w.up.User.Email),
		chromedp.SendKeys(chromedp.ID("password"), apptest.Password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`button[value="allow"]`)),
	)
	if loc, _ := chromedp.Run(b.Ctx, chromedp.Location()); !strings.HasPrefix(loc, w.rp.URL+"/consent") {
		t.Fatalf("back from upstream at %q, want our consent page", loc)
	}
	b.Do("allow", chromedp.Click(chromedp.CSS(`button[value="allow"]`)))
	var got url.Values
	select {
	case got = <-cb.query:
	case <-time.After(60 * time.Second):
		t.Fatalf("the browser never reached the relying party; it is at %s", b.Text())
	}
	if got.Get("state") != state || got.Get("code") == "" {
		t.Fatalf("the relying party received %v", got)
	}
	api := secNewBrowser(t, w.rp.URL)
	tok := api.decode(api.do("POST", "/api/oauth/token", url.Values{
		"grant_type": {"authorization_code"}, "code": {got.Get("code")}, "redirect_uri": {redirectURI}, "code_verifier": {verifier},
	}, rpClient.Client.ID, rpClient.Secret))
	access := secString(t, tok, "access_token")
	in := api.decode(api.do("POST", "/api/oauth/introspect", url.Values{"token": {access}}, rpClient.Client.ID, rpClient.Secret))
	u, err := w.rp.Store.GetUserByEmail(t.Context(), w.rp.Tenant.ID, w.up.User.Email)
	if err != nil {
		t.Fatalf("no provisioned account: %v", err)
	}
	if in["active"] != true || in["sub"] != u.ID {
		t.Fatalf("introspection: %v, want the provisioned account %s", in, u.ID)
	}
	// The session keeps "fed"; the token's amr carries the RFC 8176 values
	// (oauth.AMRAndACR), here what the upstream said: a password.
	if amr := w.rp.Scalar(t, "SELECT auth_methods FROM sessions WHERE tenant_id = ? AND user_id = ?", w.rp.Tenant.ID, u.ID); !strings.Contains(amr, `"fed"`) {
		t.Errorf("the session's methods %s, want fed", amr)
	}
	if amr, _ := in["amr"].([]any); len(amr) != 1 || amr[0] != "pwd" {
		t.Errorf("the token's amr %v, want the upstream's [pwd]", in["amr"])
	}
}
