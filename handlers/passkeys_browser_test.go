package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/cdp"
	"github.com/chromedp/cdproto/network"
	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/internal/apptest"
)

// TestBrowserPasskeys drives the passkey pages in headless Chromium with a
// virtual authenticator (the DevTools WebAuthn domain: CTAP2, internal
// transport, resident keys, user verification): register a passkey from
// /account/security, use it as the second factor after the password, then
// sign in with it alone from the sign-in page. The server's issuer is
// http://localhost:port: a secure context whose host can be the RP ID.
func TestBrowserPasskeys(t *testing.T) {
	t.Parallel()
	e := apptest.NewEnv(t, apptest.SQLite(t), localhostIssuer)
	base := e.Config.Issuer
	require.True(t, strings.HasPrefix(base, "http://localhost:"), base)
	b := apptest.StartChrome(t, apptest.ChromeOptions{})

	b.Do("open the sign-in page", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.ID("email")))
	if _, err := chromedp.Call(b.Ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
		t.Fatalf("WebAuthn.enable: %v", err)
	}
	auth, err := chromedp.Call(b.Ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{Options: &webauthn.VirtualAuthenticatorOptions{
		Protocol: webauthn.AuthenticatorProtocolCtap2, Ctap2version: webauthn.Ctap2versionCtap21, Transport: webauthn.AuthenticatorTransportInternal,
		HasResidentKey: true, HasUserVerification: true, IsUserVerified: true, AutomaticPresenceSimulation: true,
	}})
	if err != nil {
		t.Fatalf("WebAuthn.addVirtualAuthenticator: %v", err)
	}
	b.Do("reload with the authenticator", chromedp.Navigate(base+"/login"), chromedp.WaitVisible(chromedp.ID("passkey-login")))

	// 1. Sign in with the password and register a passkey.
	b.Do("sign in with the password",
		chromedp.SendKeys(chromedp.ID("tenant"), e.Tenant.Slug),
		chromedp.SendKeys(chromedp.ID("email"), e.User.Email),
		chromedp.SendKeys(chromedp.ID("password"), apptest.Password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("passkeys")),
	)
	b.Do("ask to add a passkey",
		chromedp.WaitVisible(chromedp.ID("passkey-add")),
		chromedp.SendKeys(chromedp.ID("pk_new_name"), "Laptop"),
		chromedp.SendKeys(chromedp.ID("pk_password"), apptest.Password),
		chromedp.Click(chromedp.CSS(`#passkey-add button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("passkey-create-button")),
	)
	b.Do("create the passkey", chromedp.Click(chromedp.ID("passkey-create-button")))
	b.WaitText("Passkey “Laptop” added")
	b.Shot("passkeys-account.png")
	creds, err := chromedp.Call(b.Ctx, webauthn.GetCredentials, webauthn.GetCredentialsParams{AuthenticatorID: auth.AuthenticatorID})
	require.NoError(t, err)
	require.Len(t, creds.Credentials, 1, "the authenticator holds the passkey")
	require.True(t, creds.Credentials[0].IsResidentCredential, "a discoverable passkey")
	require.Equal(t, "localhost", creds.Credentials[0].RpID)

	// 2. Password, then the passkey as the second step.
	signOut := func() {
		t.Helper()
		if _, err := chromedp.Call(b.Ctx, network.ClearBrowserCookies, cdp.Empty{}); err != nil {
			t.Fatalf("clear cookies: %v", err)
		}
	}
	signOut()
	b.Do("sign in with the password again",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("tenant"), e.Tenant.Slug),
		chromedp.SendKeys(chromedp.ID("email"), e.User.Email),
		chromedp.SendKeys(chromedp.ID("password"), apptest.Password),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("passkey-2fa")),
	)
	b.Shot("passkeys-2fa.png")
	b.Do("use the passkey", chromedp.Click(chromedp.ID("passkey-2fa")), chromedp.WaitVisible(chromedp.ID("passkeys")))
	require.Contains(t, b.Text(), "Signed in as")
	require.Contains(t, b.Text(), "last used")

	// 3. The passkey alone, from the sign-in page.
	signOut()
	b.Do("sign in with the passkey",
		chromedp.Navigate(base+"/login"),
		chromedp.WaitVisible(chromedp.ID("passkey-login")),
		chromedp.SendKeys(chromedp.ID("tenant"), e.Tenant.Slug),
		chromedp.Click(chromedp.ID("passkey-login")),
		chromedp.WaitVisible(chromedp.ID("passkeys")),
	)
	require.Contains(t, b.Text(), e.User.Email)

	// The passkey was used twice since it was registered.
	stored, err := e.Store.ListWebAuthnCredentials(t.Context(), e.Tenant.ID, e.User.ID)
	require.NoError(t, err)
	require.Len(t, stored, 1)
	require.Equal(t, "Laptop", stored[0].Name)
	require.NotNil(t, stored[0].LastUsedAt)
	require.False(t, stored[0].Disabled)
}

// TestPasskeyPagesWithoutJavaScript: the passkey controls are hidden until
// passkeys.js shows them, so the sign-in and security pages read right
// without JavaScript, and the password form is untouched.
func TestPasskeyPagesWithoutJavaScript(t *testing.T) {
	t.Parallel()
	e := apptest.NewEnv(t, apptest.SQLite(t), localhostIssuer)
	br := e.NewBrowser(t)
	page := br.Get(e.URL + "/login")
	require.Equal(t, http.StatusOK, page.Status)
	body := string(page.Body)
	require.Contains(t, body, `id="passkey-login" class="secondary" hidden`)
	require.Contains(t, body, `<script src="/assets/passkeys.js"></script>`)
	require.Contains(t, page.Header.Get("Content-Security-Policy"), "script-src 'self'")
	require.Contains(t, body, `<form method="post" action="/login"`)
	js := br.Get(e.URL + "/assets/passkeys.js")
	require.Equal(t, http.StatusOK, js.Status)
	require.Contains(t, string(js.Body), "navigator.credentials.get")

	// An IP-address issuer has no passkeys: no button, no script.
	ip := apptest.NewEnv(t, apptest.SQLite(t), nil)
	page = ip.NewBrowser(t).Get(ip.URL + "/login")
	require.NotContains(t, string(page.Body), "passkey")
	require.NotContains(t, page.Header.Get("Content-Security-Policy"), "script-src")
}

// TestPasskeyTwoStepPageAfterAWrongCode: the two-step page shown again
// after a wrong code still offers the passkey (it once lost the choice:
// the page was re-rendered without the challenge's methods).
func TestPasskeyTwoStepPageAfterAWrongCode(t *testing.T) {
	t.Parallel()
	e := apptest.NewEnv(t, apptest.SQLite(t), localhostIssuer)
	tok := e.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
	registerPasskey(t, e, tok, apptest.Password, newSoftAuthenticator(t, e.Config.Issuer), "Key")
	br := e.NewBrowser(t)
	login := apptest.ParseForm(t, br.Get(e.URL+"/login"))
	login.Fields.Set("tenant", e.Tenant.Slug)
	login.Fields.Set("email", e.User.Email)
	login.Fields.Set("password", apptest.Password)
	step := br.Post(login.Action, login.Fields)
	require.Equal(t, http.StatusOK, step.Status, "%s", step.Body)
	require.Contains(t, string(step.Body), `action="/login/2fa/passkey"`, "the two-step page offers the passkey")
	var f *apptest.Form
	for _, form := range allForms(t, step) {
		if strings.HasSuffix(form.Action, "/login/2fa") {
			f = form
		}
	}
	require.NotNil(t, f, "the code form: %s", step.Body)
	f.Fields.Set("code", "000000")
	again := br.Post(f.Action, f.Fields)
	require.Contains(t, string(again.Body), `class="error"`, "the wrong code is said: %s", again.Body)
	require.Contains(t, string(again.Body), `action="/login/2fa/passkey"`, "the page shown again still offers the passkey")
}
