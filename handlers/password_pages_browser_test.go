package handlers_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/internal/apptest"
)

// TestBrowserPasswordReset runs forgot → e-mail → reset → sign in in
// headless Chromium at phone width, with JavaScript off: from the sign-in
// page's link, through the link in the reset e-mail, back to sign-in.
func TestBrowserPasswordReset(t *testing.T) {
	chromium := brChromium(t)
	srv := apptest.New(t, apptest.SQLite(t), nil)
	mail := srv.CaptureMail()
	e := apptest.Seed(t, srv)

	parent, cancelParent := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancelParent()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent,
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true), chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("blink-settings", "scriptEnabled=false"), // the pages need no JavaScript
		chromedp.UserDataDir(t.TempDir()),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	shots := t.TempDir()
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(b2PhoneWidth, b2PhoneHeight, chromedp.EmulateScale(1))); err != nil {
		t.Fatalf("phone viewport: %v", err)
	}
	waitText := func(want string) {
		t.Helper()
		deadline := time.Now().Add(60 * time.Second)
		for !strings.Contains(b2PageText(bctx), want) {
			if time.Now().After(deadline) {
				t.Fatalf("waiting for %q: %s", want, b2PageText(bctx))
			}
			time.Sleep(50 * time.Millisecond)
		}
	}

	// Sign-in page → "Forgot your password?" → ask for a code.
	if err := chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`a[href^="/forgot-password"]`)),
		chromedp.Click(chromedp.CSS(`a[href^="/forgot-password"]`)),
		chromedp.WaitVisible(chromedp.ID("email")),
	); err != nil {
		t.Fatalf("open the forgotten-password page: %v; page %s", err, b2PageText(bctx))
	}
	b2Shot(t, bctx, shots, "forgot-password.png")
	if err := chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.ID("tenant"), e.Tenant.Slug),
		chromedp.SendKeys(chromedp.ID("email"), e.User.Email),
		chromedp.Click(chromedp.CSS(`form[action="/forgot-password"] button[type="submit"]`)),
	); err != nil {
		t.Fatalf("ask for a code: %v", err)
	}
	waitText("If there is an account for")
	if !b2Has(bctx, `a[href^="/login"]`) {
		t.Error("the sent page has no way back to sign-in")
	}
	b2Shot(t, bctx, shots, "forgot-password-sent.png")

	// The e-mail's link → the reset page, the code filled in.
	msgs := mail.To(e.User.Email, "Reset your password")
	require.Len(t, msgs, 1)
	var link string
	for _, f := range strings.Fields(msgs[0].Text) {
		if strings.HasPrefix(f, srv.URL+"/reset-password?") {
			link = f
		}
	}
	require.NotEmpty(t, link, "a reset link in %q", msgs[0].Text)
	if err := chromedp.Do(bctx,
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.ID("new_password")),
	); err != nil {
		t.Fatalf("open the e-mail's link: %v; page %s", err, b2PageText(bctx))
	}
	code, err := chromedp.Run(bctx, chromedp.Value(chromedp.ID("code")))
	if err != nil {
		t.Fatal(err)
	}
	require.Equal(t, apptest.CodeIn(t, msgs[0].Text), code, "the link fills the code in")
	b2Shot(t, bctx, shots, "reset-password.png")

	// A weak password first: the rules, at the field.
	if err := chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.ID("new_password"), "weak"),
		chromedp.SendKeys(chromedp.ID("confirm_password"), "weak"),
		chromedp.Click(chromedp.CSS(`form[action="/reset-password"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("password-errors")),
	); err != nil {
		t.Fatalf("submit a weak password: %v; page %s", err, b2PageText(bctx))
	}
	waitText("Your new password needs a change")
	b2Shot(t, bctx, shots, "reset-password-policy.png")
	const newPassword = "Reset-Passw0rd-1"
	if err := chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.ID("new_password"), newPassword),
		chromedp.SendKeys(chromedp.ID("confirm_password"), newPassword),
		chromedp.Click(chromedp.CSS(`form[action="/reset-password"] button[type="submit"]`)),
	); err != nil {
		t.Fatalf("submit the new password: %v", err)
	}
	waitText("Your password was changed.")
	b2Shot(t, bctx, shots, "reset-password-done.png")

	// Back to sign-in, with the new password.
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`a[href^="/login"]`)),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("email"), e.User.Email),
		chromedp.SendKeys(chromedp.ID("password"), newPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/account/profile"]`)),
	); err != nil {
		t.Fatalf("sign in with the new password: %v; page %s", err, b2PageText(bctx))
	}
}
