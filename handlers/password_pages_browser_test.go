package handlers_test

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/internal/apptest"
)

// TestBrowserPasswordReset runs forgot → e-mail → reset → sign in in
// headless Chromium at phone width, with JavaScript off: from the sign-in
// page's link, through the link in the reset e-mail, back to sign-in.
func TestBrowserPasswordReset(t *testing.T) {
	t.Parallel()
	srv := apptest.New(t, apptest.SQLite(t), nil)
	mail := srv.CaptureMail()
	e := apptest.Seed(t, srv)

	b := apptest.StartChrome(t, apptest.ChromeOptions{NoScript: true}) // the pages need no JavaScript

	// Sign-in page → "Forgot your password?" → ask for a code.
	b.Do("open the forgotten-password page",
		chromedp.Navigate(srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`a[href^="/forgot-password"]`)),
		chromedp.Click(chromedp.CSS(`a[href^="/forgot-password"]`)),
		chromedp.WaitVisible(chromedp.ID("email")),
	)
	b.Shot("forgot-password.png")
	b.Do("ask for a code",
		chromedp.SendKeys(chromedp.ID("tenant"), e.Tenant.Slug),
		chromedp.SendKeys(chromedp.ID("email"), e.User.Email),
		chromedp.Click(chromedp.CSS(`form[action="/forgot-password"] button[type="submit"]`)),
	)
	b.WaitText("If there is an account for")
	if !b.Has(`a[href^="/login"]`) {
		t.Error("the sent page has no way back to sign-in")
	}
	b.Shot("forgot-password-sent.png")

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
	b.Do("open the e-mail's link",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.ID("new_password")),
	)
	code, err := chromedp.Run(b.Ctx, chromedp.Value(chromedp.ID("code")))
	if err != nil {
		t.Fatal(err)
	}
	require.Equal(t, apptest.CodeIn(t, msgs[0].Text), code, "the link fills the code in")
	b.Shot("reset-password.png")

	// A weak password first: the rules, at the field.
	b.Do("submit a weak password",
		chromedp.SendKeys(chromedp.ID("new_password"), "weak"),
		chromedp.SendKeys(chromedp.ID("confirm_password"), "weak"),
		chromedp.Click(chromedp.CSS(`form[action="/reset-password"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("password-errors")),
	)
	b.WaitText("Your new password needs a change")
	b.Shot("reset-password-policy.png")
	const newPassword = "Reset-Passw0rd-1"
	b.Do("submit the new password",
		chromedp.SendKeys(chromedp.ID("new_password"), newPassword),
		chromedp.SendKeys(chromedp.ID("confirm_password"), newPassword),
		chromedp.Click(chromedp.CSS(`form[action="/reset-password"] button[type="submit"]`)),
	)
	b.WaitText("Your password was changed.")
	b.Shot("reset-password-done.png")

	// Back to sign-in, with the new password.
	b.Do("sign in with the new password",
		chromedp.Click(chromedp.CSS(`a[href^="/login"]`)),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("email"), e.User.Email),
		chromedp.SendKeys(chromedp.ID("password"), newPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/account/profile"]`)),
	)
}
