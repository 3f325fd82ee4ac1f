package handlers_test

import (
	"bytes"
	"encoding/base64"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
	"github.com/stretchr/testify/require"
	xhtml "golang.org/x/net/html"
)

var (
	totpKeyText       = regexp.MustCompile(`Key: <code>([A-Z2-7]+)</code>`)
	recoveryCodeItems = regexp.MustCompile(`<li><code>([A-Z0-9]{5}-[A-Z0-9]{5})</code></li>`)
)

// pageLogin signs in on /login (no return_to) and returns the page the
// browser ends on.
func pageLogin(t *testing.T, br *apptest.Browser, tenant, email, password string) *htmlPage {
	t.Helper()
	login := parsePage(t, br.Get(br.Server().URL+"/login"))
	require.Equal(t, http.StatusOK, login.Status)
	return login.submit(t, br, "/login", map[string]string{"tenant": tenant, "email": email, "password": password})
}

// imgSrc returns the (entity-decoded) src of the page's img with class.
func imgSrc(t *testing.T, res *apptest.Result, class string) string {
	t.Helper()
	doc, err := xhtml.Parse(bytes.NewReader(res.Body))
	require.NoError(t, err)
	var src string
	var walk func(n *xhtml.Node)
	walk = func(n *xhtml.Node) {
		if n.Type == xhtml.ElementNode && n.Data == "img" && apptest.Attr(n, "class") == class {
			src = apptest.Attr(n, "src")
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	require.NotEmpty(t, src, "no img.%s on the page", class)
	return src
}

// requireOn asserts the browser ended on path with 200.
func (p *htmlPage) requireOn(t *testing.T, path string) {
	t.Helper()
	require.Equal(t, http.StatusOK, p.Status, "page %s: %s", p.URL, p.Body)
	require.Equal(t, path, p.URL.Path, "ended on %s: %s", p.URL, p.Body)
}

// requireAccount asserts p is the account security page (a form action
// re-renders it at the action's URL).
func (p *htmlPage) requireAccount(t *testing.T) {
	t.Helper()
	require.Equal(t, http.StatusOK, p.Status, "page %s: %s", p.URL, p.Body)
	require.True(t, strings.HasPrefix(p.URL.Path, "/account/security"), "ended on %s", p.URL)
	require.Contains(t, p.Forms, "/account/security/logout-all", "the account page: %s", p.Body)
}

func (p *htmlPage) text() string { return html.UnescapeString(string(p.Body)) }

func TestAccountPages(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		t.Run("security page", func(t *testing.T) {
			t.Parallel()
			u := e.newUser(t)
			br := e.Server.NewBrowser(t)
			res := br.Get(e.Server.URL + "/account/security")
			require.Equal(t, "/login", res.URL.Path, "signed out: sent to the login page")

			p := pageLogin(t, br, e.Tenant.Slug, u.Email, apptest.Password)
			p.requireOn(t, "/account/security")
			require.Contains(t, p.text(), u.Email)
			require.Contains(t, p.Header.Get("Content-Security-Policy"), "form-action 'self'")

			// CSRF: without the token, or with a wrong one, nothing happens.
			const next = "Page-Passw0rd-1"
			form := url.Values{"current_password": {apptest.Password}, "new_password": {next}, "confirm_password": {next}}
			res = br.Post(e.Server.URL+"/account/security/password", form)
			require.Equal(t, http.StatusForbidden, res.Status, "no csrf: %s", res.Body)
			form.Set("csrf", "forged")
			require.Equal(t, http.StatusForbidden, br.Post(e.Server.URL+"/account/security/password", form).Status)
			require.Equal(t, http.StatusForbidden, br.Post(e.Server.URL+"/account/security/logout-all", url.Values{}).Status)

			old := e.token(t, u)
			// Change password: the other sessions end, this one goes on.
			bad := p.submit(t, br, "/account/security/password", map[string]string{"current_password": apptest.Password, "new_password": "weak", "confirm_password": "weak"})
			require.Equal(t, http.StatusUnprocessableEntity, bad.Status)
			require.Contains(t, bad.text(), "Use at least 12 characters.")
			p = p.submit(t, br, "/account/security/password", map[string]string{"current_password": apptest.Password, "new_password": next, "confirm_password": next})
			p.requireAccount(t)
			require.Contains(t, p.text(), "Your password is changed")
			e.requireDead(t, old.Token)
			other := e.login(t, u, next, nil)
			keep := e.login(t, u, next, nil)
			require.NotEmpty(t, other.Token)

			// Set a PIN.
			p = p.submit(t, br, "/account/security/pin", map[string]string{"pin": "258147", "password": next})
			p.requireAccount(t)
			require.Contains(t, p.text(), "Your PIN is saved.")
			require.Equal(t, http.StatusOK, e.Do(t, apptest.Request{Path: "/api/auth/pin/verify", Token: keep.Token, Body: map[string]any{"pin": "258147"}}).Status)

			// Revoke another session from the list.
			p = parsePage(t, br.Get(e.Server.URL+"/account/security"))
			p = p.submit(t, br, "/account/security/sessions/"+other.SessionID+"/revoke", nil)
			p.requireAccount(t)
			require.Contains(t, p.text(), "The session was signed out.")
			e.requireDead(t, other.Token)
			e.requireLive(t, keep.Token)
			require.NotContains(t, p.Forms, "/account/security/sessions/"+other.SessionID+"/revoke")

			// Authenticator app: the QR code, then 8 recovery codes.
			p = p.submit(t, br, "/account/security/2fa/setup", map[string]string{"password": next})
			p.requireAccount(t)
			src := imgSrc(t, p.Result, "qr")
			require.True(t, strings.HasPrefix(src, "data:image/png;base64,"), "the QR code is an inline PNG: %.60s", src)
			png, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(src, "data:image/png;base64,"))
			require.NoError(t, err)
			require.True(t, bytes.HasPrefix(png, []byte("\x89PNG")), "a PNG image")
			key := totpKeyText.FindStringSubmatch(string(p.Body))
			require.NotNil(t, key, "the key is shown for typing")
			p = p.submit(t, br, "/account/security/2fa/enable", map[string]string{"code": apptest.TOTP(t, key[1], -1), "password": next})
			p.requireAccount(t)
			require.Contains(t, p.text(), "Two-step verification is on.")
			require.Len(t, recoveryCodeItems.FindAllStringSubmatch(string(p.Body), -1), 8)
			require.Contains(t, p.Forms, "/account/security/2fa/disable")
			require.Equal(t, true, e.login(t, u, next, nil).Body["two_factor_required"], "the API login now asks for the second step")

			// Sign out everywhere: every session, this browser's too.
			p = p.submit(t, br, "/account/security/logout-all", nil)
			p.requireOn(t, "/login")
			e.requireDead(t, keep.Token)
			require.Equal(t, "/login", br.Get(e.Server.URL+"/account/security").URL.Path)
		})

		t.Run("second step page", func(t *testing.T) {
			t.Parallel()
			u := e.newUser(t)
			_, codes := e.enableTOTP(t, e.token(t, u).Token)

			// A recovery code in the code field, trusting the device.
			br := e.Server.NewBrowser(t)
			p := pageLogin(t, br, e.Tenant.Slug, u.Email, apptest.Password)
			require.Contains(t, p.Forms, "/login/2fa", "the second step: %s", p.Body)
			require.Empty(t, br.Cookie("identity_session"), "no session before the second step")
			wrong := p.submit(t, br, "/login/2fa", map[string]string{"code": "ABCDE-FGHJK"})
			require.Contains(t, wrong.Forms, "/login/2fa", "asked again")
			require.Contains(t, wrong.text(), "The code is not correct.")
			p = wrong.submit(t, br, "/login/2fa", map[string]string{"code": codes[0], "trust_device": "1"})
			p.requireOn(t, "/account/security")
			require.Contains(t, p.text(), u.Email)
			require.NotEmpty(t, br.Cookie("identity_device"))
			// The trusted browser skips the second step next time.
			p = pageLogin(t, br, e.Tenant.Slug, u.Email, apptest.Password)
			p.requireOn(t, "/account/security")
			require.Contains(t, p.text(), "trusted")

			// A recovery code works once; a fresh browser is asked again.
			br2 := e.Server.NewBrowser(t)
			p = pageLogin(t, br2, e.Tenant.Slug, u.Email, apptest.Password)
			p = p.submit(t, br2, "/login/2fa", map[string]string{"code": codes[0]})
			require.Contains(t, p.Forms, "/login/2fa")
			require.Contains(t, p.text(), "The code is not correct.")
			p = p.submit(t, br2, "/login/2fa", map[string]string{"code": codes[1]})
			p.requireOn(t, "/account/security")
		})

		t.Run("second step page with a TOTP code", func(t *testing.T) {
			t.Parallel()
			u := e.newUser(t)
			secret, _ := e.enableTOTP(t, e.token(t, u).Token)
			br := e.Server.NewBrowser(t)
			p := pageLogin(t, br, e.Tenant.Slug, u.Email, apptest.Password)
			require.Contains(t, p.Forms, "/login/2fa")
			p = p.submit(t, br, "/login/2fa", map[string]string{"code": apptest.TOTP(t, secret, 0)})
			p.requireOn(t, "/account/security")
			require.Contains(t, p.text(), u.Email)
			require.NotEmpty(t, br.Cookie("identity_session"), "signed in")
		})

		t.Run("forced password change page", func(t *testing.T) {
			t.Parallel()
			u := e.newUser(t)
			_, err := e.Server.Store.UpdateUser(t.Context(), e.Tenant.ID, u.ID, func(u *models.User) error { u.ForcePasswordChange = true; return nil })
			require.NoError(t, err)
			br := e.Server.NewBrowser(t)
			p := pageLogin(t, br, e.Tenant.Slug, u.Email, apptest.Password)
			require.Contains(t, p.Forms, "/login/password", "the forced change page: %s", p.Body)
			require.Empty(t, br.Cookie("identity_session"))
			p = p.submit(t, br, "/login/password", map[string]string{"new_password": "Forced-Passw0rd-1", "confirm_password": "Forced-Passw0rd-2"})
			require.Contains(t, p.text(), "The two passwords differ.")
			p = p.submit(t, br, "/login/password", map[string]string{"new_password": "weakweak", "confirm_password": "weakweak"})
			require.Contains(t, p.Forms, "/login/password")
			for _, msg := range []string{"Use at least 12 characters.", "Include an upper-case letter.", "Include a digit."} {
				require.Contains(t, p.text(), msg)
			}
			p = p.submit(t, br, "/login/password", map[string]string{"new_password": "Forced-Passw0rd-1", "confirm_password": "Forced-Passw0rd-1"})
			p.requireOn(t, "/account/security")
			require.Contains(t, p.text(), u.Email)
			fresh, err := e.Server.Store.GetUser(t.Context(), e.Tenant.ID, u.ID)
			require.NoError(t, err)
			require.False(t, fresh.ForcePasswordChange)
			require.NotEmpty(t, e.login(t, u, "Forced-Passw0rd-1", nil).Token)
		})
	})
}
