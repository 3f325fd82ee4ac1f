package handlers_test

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
)

// TestBrowserInvitationAccept accepts an invitation in headless Chromium at
// phone width, without JavaScript: the e-mailed link, name and password,
// and the account page signed in.
func TestBrowserInvitationAccept(t *testing.T) {
	chromium := brChromium(t)
	srv := apptest.New(t, apptest.SQLite(t), nil)
	e := apptest.Seed(t, srv)
	mail := srv.CaptureMail()
	_, ownerTok, _ := invInviters(t, e)
	email := "bea." + e.Tenant.Slug + "@example.com"
	requireAnswer(t, srv.Call(t, http.MethodPost, "/api/invitations", ownerTok, map[string]any{"email": email, "roles": []string{identity.RoleMember}}), http.StatusCreated, "")
	_, msg := invToken(t, srv, mail, email)
	link := invLinkRE.FindString(msg.Text)

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
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.ID("password")),
	); err != nil {
		t.Fatalf("open the invitation: %v; page %s", err, b2PageText(bctx))
	}
	page := b2PageText(bctx)
	require.Contains(t, page, "Olga Owner has invited you to join "+e.Tenant.Name)
	b2Shot(t, bctx, shots, "invitation.png")
	if err := chromedp.Do(bctx,
		chromedp.SendKeys(chromedp.ID("name"), "Bea Browser"),
		chromedp.SendKeys(chromedp.ID("password"), invPassword),
		chromedp.SendKeys(chromedp.ID("confirm_password"), invPassword),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/account/profile"]`)),
	); err != nil {
		t.Fatalf("accept: %v; page %s", err, b2PageText(bctx))
	}
	require.True(t, strings.Contains(b2PageText(bctx), email) || strings.Contains(b2PageText(bctx), "Bea Browser"), "signed in as the new member: %s", b2PageText(bctx))
	require.Equal(t, 1, srv.Int(t, "SELECT COUNT(*) FROM users WHERE email = ?", email))
}
