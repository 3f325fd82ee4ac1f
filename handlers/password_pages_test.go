package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/internal/apptest"
)

// TestPasswordResetPages: the sign-in page links /forgot-password; asking
// for a code answers the same page for a known and an unknown account; the
// e-mail is a password reset carrying a link to /reset-password with the
// code; a wrong or expired code is refused at the code field, policy
// failures are listed at the password field, and the right code changes the
// password. Every state links back to sign-in.
func TestPasswordResetPages(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		srv := e.Server
		signInLink := `href="/login?tenant=` + e.Tenant.Slug + `"`

		forgot := func(t *testing.T, br *apptest.Browser, tenant, email string) *htmlPage {
			t.Helper()
			login := parsePage(t, br.Get(srv.URL+"/login?tenant="+url.QueryEscape(tenant)))
			require.Contains(t, string(login.Body), `href="/forgot-password?tenant=`+tenant+`"`, "the sign-in page links the forgotten-password page")
			page := parsePage(t, br.Get(srv.URL+"/forgot-password?tenant="+url.QueryEscape(tenant)))
			require.Equal(t, http.StatusOK, page.Status, "%s", page.Body)
			require.Contains(t, string(page.Body), signInLink)
			return page.submit(t, br, "/forgot-password", map[string]string{"tenant": tenant, "email": email})
		}
		// resetMail returns the newest reset e-mail's link and code.
		resetMail := func(t *testing.T, email string) (*url.URL, string) {
			t.Helper()
			msgs := e.mail.To(email, "Reset your password")
			require.NotEmpty(t, msgs, "a reset e-mail to %s", email)
			m := msgs[len(msgs)-1]
			require.NotContains(t, m.Text, "sign-in code", "worded as a password reset")
			code := apptest.CodeIn(t, m.Text)
			require.Contains(t, m.Text, "reset code on the password reset page: "+code, "the code for typing")
			var link *url.URL
			for _, f := range strings.Fields(m.Text) {
				if strings.Contains(f, "/reset-password?") {
					var err error
					link, err = url.Parse(f)
					require.NoError(t, err)
				}
			}
			require.NotNil(t, link, "a link in %q", m.Text)
			require.Equal(t, srv.URL+"/reset-password", link.Scheme+"://"+link.Host+link.Path, "an absolute link to the issuer's reset page")
			require.Equal(t, code, link.Query().Get("code"))
			require.Equal(t, email, link.Query().Get("email"))
			require.Equal(t, e.Tenant.Slug, link.Query().Get("tenant"))
			return link, code
		}
		open := func(t *testing.T, br *apptest.Browser, link *url.URL) *htmlPage {
			t.Helper()
			page := parsePage(t, br.Get(srv.URL+link.RequestURI()))
			require.Equal(t, http.StatusOK, page.Status, "%s", page.Body)
			require.Equal(t, "no-referrer", page.Header.Get("Referrer-Policy"), "the code in the URL leaves by no Referer")
			require.Contains(t, string(page.Body), signInLink)
			return page
		}

		t.Run("enumeration-safe", func(t *testing.T) {
			t.Parallel()
			u := e.newUser(t)
			br := srv.NewBrowser(t)
			nobody := "nobody-" + apptest.RandomID(t, 6) + "@example.com"
			known := forgot(t, br, e.Tenant.Slug, u.Email)
			unknown := forgot(t, br, e.Tenant.Slug, nobody)
			require.Equal(t, http.StatusOK, known.Status, "%s", known.Body)
			require.Equal(t, known.Status, unknown.Status)
			require.Equal(t, withoutEmail(known, u.Email), withoutEmail(unknown, nobody), "the same page whether or not the account exists")
			require.Contains(t, known.text(), "If there is an account for")
			require.Contains(t, string(known.Body), signInLink)
			require.Len(t, e.mail.To(u.Email, "Reset your password"), 1)
		})

		t.Run("form flow", func(t *testing.T) {
			t.Parallel()
			u := e.newUser(t)
			br := srv.NewBrowser(t)
			sent := forgot(t, br, e.Tenant.Slug, u.Email)
			require.Equal(t, http.StatusOK, sent.Status)
			link, code := resetMail(t, u.Email)
			page := open(t, br, link)
			form := page.Forms["/reset-password"]
			require.Equal(t, code, form.Get("code"), "the link fills the code in")
			require.Equal(t, u.Email, form.Get("email"))

			// Without the CSRF token the form is refused.
			res := br.Post(srv.URL+"/reset-password", url.Values{"tenant": {e.Tenant.Slug}, "email": {u.Email}, "code": {code}, "new_password": {"Reset-Passw0rd-1"}, "confirm_password": {"Reset-Passw0rd-1"}})
			require.NotEqual(t, http.StatusOK, res.Status)

			// The two passwords differ.
			differ := page.submit(t, br, "/reset-password", map[string]string{"new_password": "Reset-Passw0rd-1", "confirm_password": "Reset-Passw0rd-2"})
			require.Equal(t, http.StatusUnprocessableEntity, differ.Status)
			require.Contains(t, differ.text(), "The two passwords differ.")
			require.Contains(t, string(differ.Body), `id="confirm-error"`)

			// Policy failures: each rule at the password field.
			weak := page.submit(t, br, "/reset-password", map[string]string{"new_password": "weak", "confirm_password": "weak"})
			require.Equal(t, http.StatusUnprocessableEntity, weak.Status, "%s", weak.Body)
			require.Contains(t, string(weak.Body), `id="password-errors"`)
			for _, msg := range []string{"Use at least 12 characters.", "Include an upper-case letter.", "Include a digit.", "Include a special character"} {
				require.Contains(t, weak.text(), msg)
			}
			require.Equal(t, code, weak.Forms["/reset-password"].Get("code"), "a policy failure keeps the code")
			// The right code and a good password: done, and sign-in works.
			done := weak.submit(t, br, "/reset-password", map[string]string{"new_password": "Reset-Passw0rd-1", "confirm_password": "Reset-Passw0rd-1"})
			require.Equal(t, http.StatusOK, done.Status, "%s", done.Body)
			require.Contains(t, done.text(), "Your password was changed.")
			require.Contains(t, string(done.Body), signInLink)
			require.NotContains(t, done.Forms, "/reset-password")
			require.NotEmpty(t, srv.Login(t, e.Tenant.Slug, u.Email, "Reset-Passw0rd-1"))
			signedIn := pageLogin(t, srv.NewBrowser(t), e.Tenant.Slug, u.Email, "Reset-Passw0rd-1")
			signedIn.requireOn(t, "/account/security")

			// The code worked once.
			br2 := srv.NewBrowser(t)
			again := open(t, br2, link)
			used := again.submit(t, br2, "/reset-password", map[string]string{"new_password": "Reset-Passw0rd-2", "confirm_password": "Reset-Passw0rd-2"})
			require.Equal(t, http.StatusUnauthorized, used.Status)
			require.Contains(t, used.text(), "This code is not correct, was already used, or has expired.")
		})

		t.Run("wrong code", func(t *testing.T) {
			t.Parallel()
			u := e.newUser(t)
			br := srv.NewBrowser(t)
			forgot(t, br, e.Tenant.Slug, u.Email)
			link, code := resetMail(t, u.Email)
			wrong := "000000"
			if code == wrong {
				wrong = "111111"
			}
			page := open(t, br, link)
			refused := page.submit(t, br, "/reset-password", map[string]string{"code": wrong, "new_password": "Reset-Passw0rd-1", "confirm_password": "Reset-Passw0rd-1"})
			require.Equal(t, http.StatusUnauthorized, refused.Status, "%s", refused.Body)
			require.Contains(t, string(refused.Body), `id="code-error"`)
			require.Contains(t, refused.text(), "This code is not correct, was already used, or has expired.")
			require.Contains(t, string(refused.Body), `href="/forgot-password?`, "a way to a new code")
			require.Contains(t, string(refused.Body), signInLink)
			require.Empty(t, refused.Forms["/reset-password"].Get("code"), "the wrong code is not shown again")

			// An unknown account gets the same answer.
			nobody := refused.submit(t, br, "/reset-password", map[string]string{"email": "nobody@example.com", "code": code, "new_password": "Reset-Passw0rd-1", "confirm_password": "Reset-Passw0rd-1"})
			require.Equal(t, http.StatusUnauthorized, nobody.Status)
			require.Equal(t, withoutEmail(refused, u.Email), withoutEmail(nobody, "nobody@example.com"), "no account, the same page")

			// The password did not change.
			require.NotEmpty(t, srv.Login(t, e.Tenant.Slug, u.Email, apptest.Password))
		})

		t.Run("bad input is never a 500", func(t *testing.T) {
			t.Parallel()
			br := srv.NewBrowser(t)
			long := strings.Repeat("a", 10000)
			for _, v := range []string{"", long, "x\x00y", "\xff\xfe", "a@b\r\nBcc: c@d"} {
				require.Less(t, br.Get(srv.URL+"/forgot-password?tenant="+url.QueryEscape(v)+"&email="+url.QueryEscape(v)).Status, 500)
				require.Less(t, br.Get(srv.URL+"/reset-password?code="+url.QueryEscape(v)).Status, 500)
				fp := parsePage(t, br.Get(srv.URL+"/forgot-password"))
				sent := fp.submit(t, br, "/forgot-password", map[string]string{"tenant": v, "email": v})
				require.Less(t, sent.Status, 500, "%q: %s", v, sent.Body)
				rp := parsePage(t, br.Get(srv.URL+"/reset-password"))
				res := rp.submit(t, br, "/reset-password", map[string]string{"tenant": v, "email": v, "code": v, "new_password": v, "confirm_password": v})
				require.Less(t, res.Status, 500, "%q: %s", v, res.Body)
			}
		})

		t.Run("expired code", func(t *testing.T) {
			t.Parallel()
			u := e.newUser(t)
			br := srv.NewBrowser(t)
			forgot(t, br, e.Tenant.Slug, u.Email)
			link, _ := resetMail(t, u.Email)
			srv.Exec(t, "UPDATE email_codes SET expires_at = '2001-01-01 00:00:00+00:00' WHERE user_id = '"+u.ID+"' AND purpose = 'reset'")
			page := open(t, br, link)
			refused := page.submit(t, br, "/reset-password", map[string]string{"new_password": "Reset-Passw0rd-1", "confirm_password": "Reset-Passw0rd-1"})
			require.Equal(t, http.StatusUnauthorized, refused.Status, "%s", refused.Body)
			require.Contains(t, refused.text(), "has expired")
			require.NotEmpty(t, srv.Login(t, e.Tenant.Slug, u.Email, apptest.Password), "the password did not change")
		})
	})
}

// withoutEmail is the page's body with email (plain and query-escaped) and
// its CSRF token replaced.
func withoutEmail(p *htmlPage, email string) string {
	body := strings.ReplaceAll(strings.ReplaceAll(string(p.Body), url.QueryEscape(email), "EMAIL"), email, "EMAIL")
	for _, f := range p.Forms {
		if c := f.Get("csrf"); c != "" {
			body = strings.ReplaceAll(body, c, "CSRF")
		}
	}
	return body
}
