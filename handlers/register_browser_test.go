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

// TestBrowserRegisterCompany signs up with a company in headless Chromium
// at phone width, without JavaScript: from the sign-in page's link to
// "check your e-mail", then signs in with the short name it shows.
func TestBrowserRegisterCompany(t *testing.T) {
	chromium := brChromium(t)
	srv := apptest.New(t, apptest.SQLite(t), nil)
	id := apptest.RandomID(t, 8)
	email := "bo." + id + "@example.com"

	parent, cancelParent := context.WithTimeout(t.Context(), 120*time.Second)
	defer cancelParent()
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(parent,
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU,
		chromedp.NoFirstRun, chromedp.NoDefaultBrowserCheck,
		chromedp.Flag("disable-background-networking", true), chromedp.Flag("disable-dev-shm-usage", true),
		chromedp.Flag("disable-extensions", true), chromedp.Flag("hide-scrollbars", true),
		chromedp.Flag("blink-settings", "scriptEnabled=false"), // the page needs no JavaScript
		chromedp.UserDataDir(t.TempDir()),
	)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(allocCtx)
	defer cancelBrowser()
	shots := t.TempDir()
	if err := chromedp.Do(bctx, chromedp.EmulateViewport(b2PhoneWidth, b2PhoneHeight, chromedp.EmulateScale(1))); err != nil {
		t.Fatalf("phone viewport: %v", err)
	}
	if err := chromedp.Do(bctx,
		chromedp.Navigate(srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/register"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/register"]`)),
		chromedp.WaitVisible(chromedp.ID("company_name")),
	); err != nil {
		t.Fatalf("open sign-up from sign-in: %v; page %s", err, b2PageText(bctx))
	}
	b2Shot(t, bctx, shots, "register.png")
	if err := chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.ID("company_name"), "Bo's Bakery "+id),
		chromedp.SendKeys(chromedp.ID("name"), "Bo Baker"),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), regPassword),
		chromedp.SendKeys(chromedp.ID("confirm_password"), regPassword),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href^="/login?tenant="]`)),
	); err != nil {
		t.Fatalf("sign up: %v; page %s", err, b2PageText(bctx))
	}
	page := b2PageText(bctx)
	slug := "bo-s-bakery-" + id
	require.Contains(t, page, "Check your e-mail")
	require.Contains(t, page, slug, "the page shows the short name to sign in with")
	b2Shot(t, bctx, shots, "register-done.png")
	if err := chromedp.Do(bctx,
		chromedp.Click(chromedp.CSS(`a[href^="/login?tenant="]`)),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), regPassword),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/account/profile"]`)),
	); err != nil {
		t.Fatalf("sign in as the new Owner: %v; page %s", err, b2PageText(bctx))
	}
	require.True(t, strings.Contains(b2PageText(bctx), email) || strings.Contains(b2PageText(bctx), "Bo Baker"), "signed in: %s", b2PageText(bctx))
	require.Equal(t, 1, srv.Int(t, "SELECT COUNT(*) FROM tenants WHERE slug = ?", slug))
}
