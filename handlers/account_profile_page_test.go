package handlers_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/internal/apptest"
)

// TestProfilePage: /account/profile (linked from /account/security) shows
// and saves the profile with CSRF-protected forms, reports bad fields in
// words, and confirms the phone number with the texted code.
func TestProfilePage(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		srv := e.Server
		phone := srv.CapturePhone()
		br := srv.NewBrowser(t)
		security := pageLogin(t, br, e.Tenant.Slug, e.User.Email, apptest.Password)
		security.requireOn(t, "/account/security")
		require.Contains(t, string(security.Body), `href="/account/profile"`, "the security page links the profile")

		// Signed out: to the login page.
		anon := srv.NewBrowser(t).Get(srv.URL + "/account/profile")
		require.Equal(t, "/login", anon.URL.Path)

		page := parsePage(t, br.Get(srv.URL+"/account/profile"))
		page.requireOn(t, "/account/profile")
		require.Contains(t, page.text(), "Your profile")

		// Without the CSRF token the form is refused.
		res := br.Post(srv.URL+"/account/profile", map[string][]string{"given_name": {"Mallory"}})
		require.NotEqual(t, http.StatusOK, res.Status)

		// Bad fields: the page says what is wrong, nothing is saved.
		bad := page.submit(t, br, "/account/profile", map[string]string{"given_name": "Ada", "zoneinfo": "Atlantis/Capital", "picture": "http://x.example/a.png"})
		require.Equal(t, http.StatusUnprocessableEntity, bad.Status, "%s", bad.Body)
		require.Contains(t, bad.text(), "Europe/Paris")
		require.Contains(t, bad.text(), "https://")
		me := srv.Call(t, http.MethodGet, "/api/auth/me", srv.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password), nil).JSON(t)["user"].(map[string]any)
		require.Equal(t, "", me["given_name"])

		saved := page.submit(t, br, "/account/profile", map[string]string{
			"given_name": "Ada", "family_name": "Lovelace", "locale": "en-GB", "zoneinfo": "Europe/London",
			"phone_number": "+44 7700 900123", "marketing_emails": "1",
		})
		require.Equal(t, http.StatusOK, saved.Status, "%s", saved.Body)
		require.Contains(t, saved.text(), "We sent a code to +447700900123")
		require.Contains(t, saved.Forms, "/account/profile/phone/verify")
		code := phone.LastCode("+447700900123")
		require.Len(t, code, 6)

		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		refused := saved.submit(t, br, "/account/profile/phone/verify", map[string]string{"code": wrong})
		require.Contains(t, refused.text(), "not correct")
		done := refused.submit(t, br, "/account/profile/phone/verify", map[string]string{"code": code})
		require.Equal(t, http.StatusOK, done.Status, "%s", done.Body)
		require.Contains(t, done.text(), "Your phone number is confirmed.")
		require.NotContains(t, done.Forms, "/account/profile/phone/verify")

		me = srv.Call(t, http.MethodGet, "/api/auth/me", srv.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password), nil).JSON(t)["user"].(map[string]any)
		require.Equal(t, "Lovelace", me["family_name"])
		require.Equal(t, "Europe/London", me["zoneinfo"])
		require.Equal(t, true, me["marketing_emails"])
		require.Equal(t, false, me["profile_visible_to_colleagues"], "an unticked box is off")
		require.Equal(t, true, me["phone_number_verified"])
	})
}

// TestBrowserProfilePage edits the profile and confirms the phone number in
// headless Chromium at phone width, without JavaScript on the page.
func TestBrowserProfilePage(t *testing.T) {
	t.Parallel()
	srv := apptest.New(t, apptest.SQLite(t), nil)
	e := apptest.Seed(t, srv)
	phone := srv.CapturePhone()

	b := apptest.StartChrome(t, apptest.ChromeOptions{NoScript: true}) // the page needs no JavaScript
	b.Do("sign in and open the profile",
		chromedp.Navigate(srv.URL+"/login"),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("tenant"), e.Tenant.Slug),
		chromedp.SendKeys(chromedp.ID("email"), e.User.Email),
		chromedp.SendKeys(chromedp.ID("password"), apptest.Password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/account/profile"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/account/profile"]`)),
		chromedp.WaitVisible(chromedp.ID("given_name")),
	)
	b.Do("save the profile",
		chromedp.SendKeys(chromedp.ID("given_name"), "Ada"),
		chromedp.SendKeys(chromedp.ID("family_name"), "Lovelace"),
		chromedp.SendKeys(chromedp.ID("zoneinfo"), "Europe/London"),
		chromedp.SendKeys(chromedp.ID("phone_number"), "+44 7700 900123"),
		chromedp.Click(chromedp.CSS(`input[name="profile_visible_to_colleagues"]`)),
		chromedp.Click(chromedp.CSS(`form[action="/account/profile"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.ID("phone_code")),
	)
	if page := b.Text(); !strings.Contains(page, "We sent a code to +447700900123") {
		t.Errorf("after saving: %s", page)
	}
	b.Shot("profile-phone.png")
	code := phone.LastCode("+447700900123")
	b.Do("confirm the phone",
		chromedp.SendKeys(chromedp.ID("phone_code"), code),
		chromedp.Click(chromedp.CSS(`form[action="/account/profile/phone/verify"] button[type="submit"]`)),
	)
	b.WaitText("Your phone number is confirmed.")
	if b.Has("#phone_code") {
		t.Error("the code form is still shown after confirming")
	}
	u, err := srv.Store.GetUser(t.Context(), e.Tenant.ID, e.User.ID)
	require.NoError(t, err)
	require.Equal(t, "Lovelace", u.FamilyName)
	require.True(t, u.PhoneNumberVerified)
	require.True(t, u.ProfileVisibleToColleagues)
}
