package handlers_test

import (
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
)

// regFill fills the sign-up form of page with the person's details.
func regFill(t *testing.T, page *apptest.Result, kv ...string) *apptest.Form {
	t.Helper()
	f := apptest.ParseForm(t, page)
	f.Fields.Set("name", "Pia Page")
	f.Fields.Set("password", regPassword)
	f.Fields.Set("confirm_password", regPassword)
	for i := 0; i+1 < len(kv); i += 2 {
		f.Fields.Set(kv[i], kv[i+1])
	}
	return f
}

// TestRegisterPage: the sign-up page, linked from the sign-in page, works
// without JavaScript: a new organisation, its problems in plain words, a
// taken short name, joining an open or a closed organisation, and CSRF.
func TestRegisterPage(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		srv := e.Server
		id := apptest.RandomID(t, 8)
		br := srv.NewBrowser(t)

		login := br.Get(srv.URL + "/login")
		require.Contains(t, string(login.Body), `href="/register"`, "the sign-in page links to sign-up")
		page := br.Get(srv.URL + "/register")
		require.Equal(t, http.StatusOK, page.Status)
		body := string(page.Body)
		require.Contains(t, body, `name="viewport"`, "readable on a phone")
		require.NotContains(t, body, "<script", "no JavaScript")
		require.Contains(t, body, `href="/register?join=1"`)
		require.Contains(t, body, `href="/login"`, "a way back to sign in")
		f := apptest.ParseForm(t, page)
		require.Equal(t, srv.URL+"/register", f.Action)
		require.True(t, f.Hidden["csrf"])
		require.Equal(t, "company", f.Fields.Get("mode"))
		for _, field := range []string{"company_name", "company_slug", "name", "email", "password", "confirm_password"} {
			require.Contains(t, f.Fields, field)
		}
		for _, r := range identity.PasswordRules {
			require.Contains(t, body, r.Msg, "the page states the password rules")
		}

		// CSRF: without the token, or with another, nothing is created.
		email := "pia." + id + "@example.com"
		f = regFill(t, page, "company_name", "Page "+id, "email", email)
		noToken := url.Values{}
		for k, v := range f.Fields {
			if k != "csrf" {
				noToken[k] = v
			}
		}
		res := br.Post(f.Action, noToken)
		require.Equal(t, http.StatusForbidden, res.Status)
		require.Contains(t, string(res.Body), "This form has expired")
		forged := srv.NewBrowser(t)
		res = forged.Post(f.Action, f.Fields)
		require.Equal(t, http.StatusForbidden, res.Status, "another browser's token is refused")
		require.Equal(t, 0, srv.Int(t, "SELECT COUNT(*) FROM users WHERE email = ?", email))

		// Plain-word problems, the form kept.
		bad := regFill(t, page, "company_name", "Page "+id, "email", email, "confirm_password", "something else")
		res = br.Post(bad.Action, bad.Fields)
		require.Equal(t, http.StatusUnprocessableEntity, res.Status)
		require.Contains(t, string(res.Body), "The two passwords differ")
		require.Equal(t, "Page "+id, apptest.ParseForm(t, res).Fields.Get("company_name"), "what was typed stays")
		bad = regFill(t, page, "company_name", "Page "+id, "email", email, "password", "weak", "confirm_password", "weak")
		res = br.Post(bad.Action, bad.Fields)
		require.Equal(t, http.StatusUnprocessableEntity, res.Status)
		require.Contains(t, string(res.Body), "Use at least 12 characters.")
		bad = regFill(t, page, "company_name", "", "email", email)
		res = br.Post(bad.Action, bad.Fields)
		require.Equal(t, http.StatusUnprocessableEntity, res.Status)
		require.Contains(t, string(res.Body), "Enter the name of your organisation.")
		require.Equal(t, 0, srv.Int(t, "SELECT COUNT(*) FROM users WHERE email = ?", email))

		// A new organisation: "check your e-mail", its short name, a link to sign in.
		f = regFill(t, page, "company_name", "Page "+id, "email", email)
		res = br.Post(f.Action, f.Fields)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		body = string(res.Body)
		require.Contains(t, body, "Check your e-mail")
		require.Contains(t, body, email)
		require.Contains(t, body, "<strong>page-"+id+"</strong>", "the short name to sign in with")
		require.Contains(t, body, `href="/login?tenant=page-`+id+`"`)
		require.NotContains(t, body, `name="password"`)
		tn, err := srv.Store.GetTenantBySlug(t.Context(), "page-"+id)
		require.NoError(t, err)
		_, roles, _ := regUser(t, srv, tn.ID, email)
		require.Equal(t, []string{identity.RoleOwner}, roles)
		require.Empty(t, br.Cookie("identity_session"), "nobody is signed in by signing up")

		// The same name again: the short name is taken, offered to change.
		f = regFill(t, br.Get(srv.URL+"/register"), "company_name", "Page "+id, "email", "other."+id+"@example.com")
		res = br.Post(f.Action, f.Fields)
		require.Equal(t, http.StatusConflict, res.Status)
		require.Contains(t, string(res.Body), "Another organisation already uses the short name page-"+id)
		f = apptest.ParseForm(t, res)
		require.Equal(t, "page-"+id, f.Fields.Get("company_slug"), "the taken short name is there to change")
		f.Fields.Set("company_slug", "page-"+id+"-two")
		f.Fields.Set("password", regPassword)
		f.Fields.Set("confirm_password", regPassword)
		res = br.Post(f.Action, f.Fields)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		require.Contains(t, string(res.Body), "page-"+id+"-two")

		// Joining: closed by default (the same words as an unknown organisation), then open.
		page = br.Get(srv.URL + "/register?join=1")
		f = apptest.ParseForm(t, page)
		require.Equal(t, "join", f.Fields.Get("mode"))
		require.Contains(t, string(page.Body), `href="/register"`, "a way to create an organisation instead")
		joinEmail := "joiner." + id + "@example.com"
		closed := br.Post(f.Action, regFill(t, page, "tenant", e.Tenant.Slug, "email", joinEmail).Fields)
		require.Equal(t, http.StatusForbidden, closed.Status)
		require.Contains(t, string(closed.Body), "does not accept sign-ups")
		unknown := br.Post(f.Action, regFill(t, page, "tenant", "nowhere-"+id, "email", joinEmail).Fields)
		require.Equal(t, http.StatusForbidden, unknown.Status)
		require.Equal(t, pageError(string(closed.Body)), pageError(string(unknown.Body)))
		regSettings(t, srv, e.Tenant.ID, `{"self_registration": true}`)
		page = br.Get(srv.URL + "/register?tenant=" + e.Tenant.Slug)
		f = regFill(t, page, "email", joinEmail)
		require.Equal(t, e.Tenant.Slug, f.Fields.Get("tenant"), "?tenant= fills the organisation in")
		res = br.Post(f.Action, f.Fields)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		require.Contains(t, string(res.Body), "Check your e-mail")
		require.Contains(t, string(res.Body), `href="/login?tenant=`+e.Tenant.Slug+`"`)
		_, roles, _ = regUser(t, srv, e.Tenant.ID, joinEmail)
		require.Equal(t, []string{identity.RoleMember}, roles)
		// An address the organisation has: the same page, and a notice by e-mail.
		mail := srv.CaptureMail()
		res = br.Post(f.Action, regFill(t, br.Get(srv.URL+"/register?tenant="+e.Tenant.Slug), "email", e.User.Email).Fields)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		require.Contains(t, string(res.Body), "Check your e-mail")
		require.Len(t, mail.To(e.User.Email, "Someone tried to sign up"), 1)
	})
}

// pageError is the alert paragraph of a page.
func pageError(body string) string {
	_, after, _ := strings.Cut(body, `role="alert">`)
	msg, _, _ := strings.Cut(after, "</p>")
	return msg
}
