package handlers_test

import (
	"net/http"
	"regexp"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
)

var (
	ssVerifyLinkRE = regexp.MustCompile(`https?://\S+/verify-email\?token=\S+`)
	ssInviteLinkRE = regexp.MustCompile(`https?://\S+/invitations/accept\?token=\S+`)
	ssSecretRE     = regexp.MustCompile(`Key: ([A-Z2-7]{16,})`)
)

// TestBrowserSelfServiceJourney is issue 10's walk through an organisation
// that runs itself, in headless Chromium at phone width without JavaScript,
// with every e-mail read from what a real SMTP server received:
//
//  1. a person signs up with a company and becomes its Owner;
//  2. confirms the address from the verification e-mail;
//  3. signs in;
//  4. requires two-step verification for Admins and invites a colleague as
//     an Admin (through the API: the console for it is not a page yet);
//  5. the colleague accepts from the e-mailed link, is made to set up an
//     authenticator before anything else, and lands in the tenant as an
//     Admin with a verified address.
func TestBrowserSelfServiceJourney(t *testing.T) {
	t.Parallel()
	mailSrv := apptest.StartSMTP(t)
	srv := apptest.New(t, apptest.SQLite(t), func(cfg *app.Config) { cfg.SMTPURL = mailSrv.URL() })
	id := apptest.RandomID(t, 8)
	owner, colleague := "olga."+id+"@example.com", "colin."+id+"@example.com"
	company, slug := "Journey "+id+" Ltd", "journey-"+id+"-ltd"

	// 1. Sign up with a company.
	b := apptest.StartChrome(t, apptest.ChromeOptions{NoScript: true})
	b.Do("open sign-up from the sign-in page",
		chromedp.Navigate(srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/register"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/register"]`)),
		chromedp.WaitVisible(chromedp.ID("company_name")),
	)
	b.Do("sign up",
		chromedp.SendKeys(chromedp.ID("company_name"), company),
		chromedp.SendKeys(chromedp.ID("name"), "Olga Owner"),
		chromedp.SendKeys(chromedp.ID("email"), owner),
		chromedp.SendKeys(chromedp.ID("password"), regPassword),
		chromedp.SendKeys(chromedp.ID("confirm_password"), regPassword),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	)
	b.WaitText("Check your e-mail")
	tenant, err := srv.Store.GetTenantBySlug(t.Context(), slug)
	require.NoError(t, err, "the sign-up made the organisation")
	u, roles, _ := regUser(t, srv, tenant.ID, owner)
	require.False(t, u.EmailVerified)
	require.Equal(t, []string{identity.RoleOwner}, roles)

	// 2. Confirm the address from the e-mail's link (the page asks for a
	// press of its button, so a link scanner cannot use it up).
	link := ssVerifyLinkRE.FindString(mailSrv.WaitMessage(t, owner, "Confirm your e-mail address"))
	require.NotEmpty(t, link, "a verification link in the e-mail")
	b.Do("open the verification link",
		chromedp.Navigate(link),
		chromedp.WaitVisible(chromedp.CSS(`form[action="/verify-email"] button[type="submit"]`)),
	)
	require.Contains(t, b.Text(), owner)
	b.Do("confirm", chromedp.Click(chromedp.CSS(`form[action="/verify-email"] button[type="submit"]`)))
	b.WaitText("is confirmed")
	u, _, _ = regUser(t, srv, tenant.ID, owner)
	require.True(t, u.EmailVerified, "the link verified the address")

	// 3. Sign in from the confirmation page.
	b.Do("sign in as the Owner",
		chromedp.Click(chromedp.CSS(`a[href^="/login"]`)),
		chromedp.WaitVisible(chromedp.ID("password")),
		chromedp.SendKeys(chromedp.ID("email"), owner),
		chromedp.SendKeys(chromedp.ID("password"), regPassword),
		chromedp.Click(chromedp.CSS(`form[action="/login"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/account/profile"]`)),
	)

	// 4. Two-step verification for Admins, and an invitation as Admin.
	tok := srv.Login(t, slug, owner, regPassword)
	srv.StepUp(t, tok, regPassword)
	requireAnswer(t, srv.Call(t, http.MethodPatch, "/api/tenant", tok,
		map[string]any{"settings": map[string]any{"require_2fa_roles": []string{identity.RoleAdmin}}}), http.StatusOK, "")
	requireAnswer(t, srv.Call(t, http.MethodPost, "/api/invitations", tok,
		map[string]any{"email": colleague, "roles": []string{identity.RoleAdmin}, "message": "Welcome aboard"}), http.StatusCreated, "")

	// 5. The colleague, in a browser of their own, accepts from the e-mail.
	invitation := mailSrv.WaitMessage(t, colleague, "invited you to join "+company)
	require.Contains(t, invitation, "Olga Owner", "the e-mail names the inviter")
	link = ssInviteLinkRE.FindString(invitation)
	require.NotEmpty(t, link, "an invitation link in %q", invitation)
	c := apptest.StartChrome(t, apptest.ChromeOptions{NoScript: true})
	c.Do("open the invitation", chromedp.Navigate(link), chromedp.WaitVisible(chromedp.ID("password")))
	require.Contains(t, c.Text(), "Olga Owner has invited you to join "+company)
	c.Do("accept",
		chromedp.SendKeys(chromedp.ID("name"), "Colin Colleague"),
		chromedp.SendKeys(chromedp.ID("password"), invPassword),
		chromedp.SendKeys(chromedp.ID("confirm_password"), invPassword),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
	)
	// Admins must have a second factor: the enrolment comes before the account.
	c.WaitText("Your organisation asks everyone in your role to use two-step verification")
	require.False(t, c.Has(`a[href="/account/profile"]`), "not signed in before enrolling")
	c.Shot("journey-enrol.png")
	sm := ssSecretRE.FindStringSubmatch(c.Text())
	require.NotNil(t, sm, "the key is shown as text: %s", c.Text())
	c.Do("enter the authenticator's code",
		chromedp.SendKeys(chromedp.CSS(`form[action="/login/2fa/enrol"] input[name="code"]`), apptest.TOTP(t, sm[1], 0)),
		chromedp.Click(chromedp.CSS(`form[action="/login/2fa/enrol"] button[type="submit"]`)),
	)
	c.WaitText("Your recovery codes")
	c.Do("go on to the account",
		chromedp.Click(chromedp.CSS(`a.button`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/account/profile"]`)),
	)

	member, roles, _ := regUser(t, srv, tenant.ID, colleague)
	require.Equal(t, []string{identity.RoleAdmin}, roles, "the colleague holds the invited role")
	require.True(t, member.EmailVerified, "accepting the e-mailed link proved the address")
	require.True(t, member.TOTPEnabled, "the colleague enrolled an authenticator")
	require.Equal(t, "Colin Colleague", member.Name)
	require.Equal(t, 1, srv.Int(t, "SELECT COUNT(*) FROM invitations WHERE tenant_id = ? AND accepted_at IS NOT NULL", tenant.ID))
}
