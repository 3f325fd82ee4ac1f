package handlers_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/internal/apptest"
)

// TestBrowserRegisterCompany signs up with a company in headless Chromium
// at phone width, without JavaScript: from the sign-in page's link to
// "check your e-mail", then signs in with the short name it shows.
func TestBrowserRegisterCompany(t *testing.T) {
	t.Parallel()
	srv := apptest.New(t, apptest.SQLite(t), nil)
	id := apptest.RandomID(t, 8)
	email := "bo." + id + "@example.com"

	b := apptest.StartChrome(t, apptest.ChromeOptions{NoScript: true}) // the page needs no JavaScript
	b.Do("open sign-up from sign-in",
		chromedp.Navigate(srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/register"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/register"]`)),
		chromedp.WaitVisible(chromedp.ID("company_name")),
	)
	b.Shot("register.png")
	b.Do("sign up",
		chromedp.SendKeys(chromedp.ID("company_name"), "Bo's Bakery "+id),
		chromedp.SendKeys(chromedp.ID("name"), "Bo Baker"),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), regPassword),
		chromedp.SendKeys(chromedp.ID("confirm_password"), regPassword),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href^="/login?tenant="]`)),
	)
	page := b.Text()
	slug := "bo-s-bakery-" + id
	require.Contains(t, page, "Check your e-mail")
	require.Contains(t, page, slug, "the page shows the short name to sign in with")
	b.Shot("register-done.png")
	b.Do("sign in as the new Owner",
		chromedp.Click(chromedp.CSS(`a[href^="/login?tenant="]`)),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("email"), email),
		chromedp.SendKeys(chromedp.ID("password"), regPassword),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/account/profile"]`)),
	)
	require.True(t, strings.Contains(b.Text(), email) || strings.Contains(b.Text(), "Bo Baker"), "signed in: %s", b.Text())
	require.Equal(t, 1, srv.Int(t, "SELECT COUNT(*) FROM tenants WHERE slug = ?", slug))
}
