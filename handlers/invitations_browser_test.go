package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
)

// TestBrowserInvitationAccept accepts an invitation in headless Chromium at
// phone width, without JavaScript: the e-mailed link, name and password,
// and the account page signed in.
func TestBrowserInvitationAccept(t *testing.T) {
	t.Parallel()
	srv := apptest.New(t, apptest.SQLite(t), nil)
	e := apptest.Seed(t, srv)
	mail := srv.CaptureMail()
	_, ownerTok, _ := invInviters(t, e)
	email := "bea." + e.Tenant.Slug + "@example.com"
	requireAnswer(t, srv.Call(t, http.MethodPost, "/api/invitations", ownerTok, map[string]any{"email": email, "roles": []string{identity.RoleMember}}), http.StatusCreated, "")
	_, msg := invToken(t, srv, mail, email)
	link := invLinkRE.FindString(msg.Text)

	b := apptest.StartChrome(t, apptest.ChromeOptions{NoScript: true}) // the page needs no JavaScript
	b.Do("open the invitation",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.ID("password")),
	)
	page := b.Text()
	require.Contains(t, page, "Olga Owner has invited you to join "+e.Tenant.Name)
	b.Shot("invitation.png")
	b.Do("accept",
		chromedp.SendKeys(chromedp.ID("name"), "Bea Browser"),
		chromedp.SendKeys(chromedp.ID("password"), invPassword),
		chromedp.SendKeys(chromedp.ID("confirm_password"), invPassword),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/account/profile"]`)),
	)
	require.True(t, strings.Contains(b.Text(), email) || strings.Contains(b.Text(), "Bea Browser"), "signed in as the new member: %s", b.Text())
	require.Equal(t, 1, srv.Int(t, "SELECT COUNT(*) FROM users WHERE email = ?", email))
}
