package handlers_test

import (
	"encoding/json"
	"html"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
)

// require2FA sets the tenant's settings.require_2fa_roles as its Owner
// would (PATCH /api/tenant, a danger action: ownerTok is stepped up).
func require2FA(t *testing.T, srv *apptest.Server, ownerTok string, roles ...string) {
	t.Helper()
	res := srv.Call(t, http.MethodPatch, "/api/tenant", ownerTok, map[string]any{"settings": map[string]any{"require_2fa_roles": roles}})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
}

// enrolmentStep requires res to be the forced-enrolment step of a login
// and returns its challenge: no token, no session.
func enrolmentStep(t *testing.T, res *apptest.Result) string {
	t.Helper()
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	m := res.JSON(t)
	require.Equal(t, true, m["two_factor_enrolment_required"], "%s", res.Body)
	require.Nil(t, m["access_token"], "no token before the enrolment")
	require.Nil(t, m["session_id"])
	require.ElementsMatch(t, []any{"totp", "email"}, m["methods"])
	ch, _ := m["challenge"].(string)
	require.NotEmpty(t, ch)
	return ch
}

// enrolTOTP walks the API's authenticator enrolment of challenge and
// returns the completed login's answer.
func enrolTOTP(t *testing.T, srv *apptest.Server, challenge string) map[string]any {
	t.Helper()
	res := srv.Call(t, http.MethodPost, "/api/auth/2fa/enrol/totp/setup", "", map[string]any{"challenge": challenge})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	setup := res.JSON(t)
	secret, _ := setup["secret"].(string)
	require.NotEmpty(t, secret)
	require.True(t, strings.HasPrefix(setup["otpauth_uri"].(string), "otpauth://totp/"), "%v", setup["otpauth_uri"])
	require.True(t, strings.HasPrefix(setup["qr_code"].(string), "data:image/png;base64,"))
	requireAPIError(t, srv.Call(t, http.MethodPost, "/api/auth/2fa/enrol/totp", "", map[string]any{"challenge": challenge, "code": apptest.WrongTOTP(t, secret)}),
		http.StatusUnauthorized, "invalid_code")
	res = srv.Call(t, http.MethodPost, "/api/auth/2fa/enrol/totp", "", map[string]any{"challenge": challenge, "code": apptest.TOTP(t, secret, 0)})
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	m := res.JSON(t)
	require.NotEmpty(t, m["access_token"], "%s", res.Body)
	require.Len(t, m["recovery_codes"], 8)
	return m
}

// TestRequire2FARoles: settings.require_2fa_roles, on both backends. Only
// roles of the tenant are accepted (422 naming the unknown ones); a holder
// of a listed role without a second factor gets no token from any sign-in
// path until they enrol one (the password login and a forced password
// change lead to the enrolment step, a PIN login is refused), by
// authenticator app or e-mailed codes, after which the login completes and
// 2fa.enabled is audited with forced true; users with a second factor and
// users without a listed role sign in as before.
func TestRequire2FARoles(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		mail := srv.CaptureMail()
		tenant := newTestTenant(t, srv)
		other := newTestTenant(t, srv)
		owner := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner, dangerZone: true})
		ownerTok := srv.Login(t, tenant.Slug, owner.Email, apptest.Password)
		srv.StepUp(t, ownerTok, apptest.Password)

		// Set up before the rule exists: an Admin with a PIN on a known
		// device, an Admin who already has 2FA, an Admin forced to change
		// their password.
		pinAdmin := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleAdmin})
		pl := apptest.ParseLogin(t, srv.PasswordLogin(t, tenant.Slug, pinAdmin.Email, apptest.Password, nil))
		require.NotEmpty(t, pl.Device)
		require.Equal(t, http.StatusNoContent, srv.Do(t, apptest.Request{Method: http.MethodPut, Path: "/api/auth/pin", Token: pl.Token,
			Body: map[string]any{"pin": "258147", "password": apptest.Password}}).Status)
		pinLogin := func() *apptest.Result {
			return srv.Do(t, apptest.Request{Path: "/api/auth/pin/login", Device: pl.Device,
				Body: map[string]any{"tenant": tenant.Slug, "email": pinAdmin.Email, "pin": "258147"}})
		}
		withTOTP := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleAdmin})
		wt := srv.Login(t, tenant.Slug, withTOTP.Email, apptest.Password)
		res := srv.Call(t, http.MethodPost, "/api/auth/2fa/setup", wt, map[string]any{"password": apptest.Password})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		wtSecret := res.Str("secret")
		res = srv.Call(t, http.MethodPost, "/api/auth/2fa/enable", wt, map[string]any{"password": apptest.Password, "code": apptest.TOTP(t, wtSecret, 0)})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		forced := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleAdmin})
		srv.Exec(t, "UPDATE users SET force_password_change = ? WHERE id = ?", true, forced.ID)
		member := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleMember})

		t.Run("validation", func(t *testing.T) {
			// A custom role of another tenant is no role of this one.
			otherOwner := newRoleUser(t, srv, other, userOpts{role: identity.RoleOwner, dangerZone: true})
			otherTok := srv.Login(t, other.Slug, otherOwner.Email, apptest.Password)
			res := srv.Call(t, http.MethodPost, "/api/roles", otherTok, map[string]any{"name": "Auditors", "permissions": []string{identity.PermUsersRead}})
			require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)

			m := requireAPIError(t, srv.Call(t, http.MethodPatch, "/api/tenant", ownerTok, map[string]any{
				"settings": map[string]any{"require_2fa_roles": []string{"Admin", "Nope", "Auditors", " "}}}), http.StatusUnprocessableEntity, "validation_failed")
			fields, _ := m["fields"].(map[string]any)
			msg, _ := fields["settings.require_2fa_roles"].(string)
			require.Contains(t, msg, `"Nope"`)
			require.Contains(t, msg, `"Auditors"`)
			require.NotContains(t, msg, `"Admin"`, "a role of the tenant is fine")
			for _, bad := range []any{"Admin", []any{5}, map[string]any{}} {
				requireAPIError(t, srv.Call(t, http.MethodPatch, "/api/tenant", ownerTok, map[string]any{"settings": map[string]any{"require_2fa_roles": bad}}),
					http.StatusUnprocessableEntity, "invalid_body")
			}
			many := make([]string, 51)
			for i := range many {
				many[i] = "Admin"
			}
			requireAPIError(t, srv.Call(t, http.MethodPatch, "/api/tenant", ownerTok, map[string]any{"settings": map[string]any{"require_2fa_roles": many}}),
				http.StatusUnprocessableEntity, "validation_failed")
			got := srv.Call(t, http.MethodGet, "/api/tenant", ownerTok, nil).JSON(t)
			require.Equal(t, []any{}, got["settings"].(map[string]any)["require_2fa_roles"], "nothing saved")

			require2FA(t, srv, ownerTok, " Admin", "Admin", "Manager")
			got = srv.Call(t, http.MethodGet, "/api/tenant", ownerTok, nil).JSON(t)
			require.Equal(t, []any{"Admin", "Manager"}, got["settings"].(map[string]any)["require_2fa_roles"], "trimmed, without duplicates")
		})

		t.Run("unaffected", func(t *testing.T) {
			// No listed role: signs in as before.
			srv.Login(t, tenant.Slug, member.Email, apptest.Password)
			// A second factor already: the usual second step, not the enrolment.
			m := srv.PasswordLogin(t, tenant.Slug, withTOTP.Email, apptest.Password, nil).JSON(t)
			require.Equal(t, true, m["two_factor_required"], "%v", m)
			require.Nil(t, m["two_factor_enrolment_required"])
			// A token from before the rule keeps working: the rule is for the next sign-in.
			require.Equal(t, http.StatusOK, srv.Call(t, http.MethodGet, "/api/auth/me", pl.Token, nil).Status)
		})

		t.Run("pin cannot bypass", func(t *testing.T) {
			requireAPIError(t, pinLogin(), http.StatusForbidden, "two_factor_enrolment_required")
		})

		t.Run("authenticator app", func(t *testing.T) {
			ch := enrolmentStep(t, srv.PasswordLogin(t, tenant.Slug, pinAdmin.Email, apptest.Password, nil))
			// The step is not a second-factor challenge, nor the reverse.
			requireAPIError(t, srv.Call(t, http.MethodPost, "/api/auth/2fa/verify", "", map[string]any{"challenge": ch, "code": "123456"}),
				http.StatusUnauthorized, "invalid_challenge")
			requireAPIError(t, srv.Call(t, http.MethodPost, "/api/auth/2fa/enrol/totp", "", map[string]any{"challenge": ch, "code": "123456"}),
				http.StatusConflict, "2fa_not_set_up")
			requireAPIError(t, srv.Call(t, http.MethodPost, "/api/auth/2fa/enrol/totp/setup", "", map[string]any{}), http.StatusUnprocessableEntity, "validation_failed")
			requireAPIError(t, srv.Call(t, http.MethodPost, "/api/auth/2fa/enrol/totp/setup", "", map[string]any{"challenge": "nope"}), http.StatusUnauthorized, "invalid_challenge")
			m := enrolTOTP(t, srv, ch)
			tok := m["access_token"].(string)
			me := srv.Call(t, http.MethodGet, "/api/auth/me", tok, nil)
			require.Equal(t, http.StatusOK, me.Status, "%s", me.Body)
			user := me.JSON(t)["user"].(map[string]any)
			require.Equal(t, true, user["two_factor_enabled"])
			require.Equal(t, "totp", user["two_factor_method"])
			requireAPIError(t, srv.Call(t, http.MethodPost, "/api/auth/2fa/enrol/totp/setup", "", map[string]any{"challenge": ch}),
				http.StatusUnauthorized, "invalid_challenge")

			rows := auditRows(t, srv, tenant.ID, identity.Audit2FAEnabled)
			var forcedRows int
			for _, r := range rows {
				var md map[string]any
				require.NoError(t, json.Unmarshal([]byte(r.Metadata), &md))
				if md["forced"] == true && r.UserID != nil && *r.UserID == pinAdmin.ID {
					forcedRows++
					require.Equal(t, "totp", md["method"])
				}
			}
			require.Equal(t, 1, forcedRows, "one 2fa.enabled row with forced true")
			// Enrolled: the next password login asks for the second factor,
			// and the PIN signs in again.
			require.Equal(t, true, srv.PasswordLogin(t, tenant.Slug, pinAdmin.Email, apptest.Password, nil).JSON(t)["two_factor_required"])
			res := pinLogin()
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		})

		t.Run("e-mailed codes", func(t *testing.T) {
			admin := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleManager})
			ch := enrolmentStep(t, srv.PasswordLogin(t, tenant.Slug, admin.Email, apptest.Password, nil))
			requireAPIError(t, srv.Call(t, http.MethodPost, "/api/auth/2fa/enrol/email", "", map[string]any{"challenge": ch}),
				http.StatusUnprocessableEntity, "validation_failed")
			res := srv.Call(t, http.MethodPost, "/api/auth/2fa/enrol/email/send", "", map[string]any{"challenge": ch})
			require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
			code, _ := mail.LastCode(t, admin.Email)
			wrong := "000000"
			if code == wrong {
				wrong = "111111"
			}
			requireAPIError(t, srv.Call(t, http.MethodPost, "/api/auth/2fa/enrol/email", "", map[string]any{"challenge": ch, "code": wrong}),
				http.StatusUnauthorized, "invalid_code")
			res = srv.Call(t, http.MethodPost, "/api/auth/2fa/enrol/email", "", map[string]any{"challenge": ch, "code": code})
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			m := res.JSON(t)
			require.NotEmpty(t, m["access_token"])
			require.Len(t, m["recovery_codes"], 8)
			require.Equal(t, "email", m["user"].(map[string]any)["two_factor_method"])
		})

		t.Run("forced password change first", func(t *testing.T) {
			m := srv.PasswordLogin(t, tenant.Slug, forced.Email, apptest.Password, nil).JSON(t)
			require.Equal(t, true, m["password_change_required"], "%v", m)
			res := srv.Call(t, http.MethodPost, "/api/auth/password/change-required", "", map[string]any{"challenge": m["challenge"], "new_password": "A brand new passphrase 42!"})
			ch := enrolmentStep(t, res)
			enrolTOTP(t, srv, ch)
		})

		t.Run("accepted invitation", func(t *testing.T) {
			// The sign-in an accepted invitation gives ends in the same step.
			addr := "invitee-" + apptest.RandomID(t, 6) + "@example.com"
			res := srv.Call(t, http.MethodPost, "/api/invitations", ownerTok, map[string]any{"email": addr, "roles": []string{identity.RoleAdmin}})
			require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
			token, _ := invToken(t, srv, mail, addr)
			res = srv.Call(t, http.MethodPost, "/api/invitations/accept", "", map[string]any{"token": token, "name": "New Admin", "password": "A brand new passphrase 42!"})
			enrolTOTP(t, srv, enrolmentStep(t, res))
		})

		t.Run("other tenant unaffected", func(t *testing.T) {
			u := newRoleUser(t, srv, other, userOpts{role: identity.RoleAdmin})
			srv.Login(t, other.Slug, u.Email, apptest.Password)
		})
	})
}

var enrolKeyRE = regexp.MustCompile(`Key: <code>([A-Z2-7]+)</code>`)

// TestForcedEnrolmentPage: the sign-in page of an authorization-code flow
// (golang.org/x/oauth2) shows a tenant's forced enrolment to an Admin of a
// tenant requiring 2FA for Admins, on both backends: no code reaches the
// client and no browser session exists until the authenticator app is
// confirmed; a wrong code shows the same key again; then the recovery codes
// page continues to consent and the client gets a code it exchanges for
// tokens. A Member of that tenant goes straight through; the e-mail
// alternative works on the page too.
func TestForcedEnrolmentPage(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		mail := e.Server.CaptureMail()
		_, err := e.Server.Store.UpdateTenant(t.Context(), e.Tenant.ID, map[string]any{"settings": `{"require_2fa_roles":["Admin"]}`})
		require.NoError(t, err)
		admin := newRoleUser(t, e.Server, e.Tenant, userOpts{role: identity.RoleAdmin})
		web := e.WebClient(t, nil)
		cfg := e.Server.OAuthConfig(web, oidc.ScopeOpenID, "email")

		t.Run("authenticator app", func(t *testing.T) {
			br := e.Server.NewBrowser(t)
			ar := newAuthRequest(cfg)
			page := br.Get(ar.URL)
			require.True(t, br.IsPage(page, "/login"), "%s", page)
			page = br.LoginAs(page, e.Tenant.Slug, admin.Email, apptest.Password)
			require.Equal(t, http.StatusOK, page.Status, "%s", page.Body)
			require.Contains(t, string(page.Body), "Set up two-step verification")
			require.Contains(t, string(page.Body), `src="data:image/png;base64,`, "a server-rendered QR code")
			require.Contains(t, string(page.Body), `href="otpauth://totp/`, "the otpauth link")
			require.Contains(t, string(page.Body), `href="/logout"`, "a way out")
			require.NotContains(t, string(page.Body), "<script")
			key := enrolKeyRE.FindStringSubmatch(string(page.Body))
			require.Len(t, key, 2, "the key is shown as text: %s", page.Body)
			require.Empty(t, br.Cookie("identity_session"), "no browser session before the enrolment")
			// Going back to the client's request: sign in again, no code.
			again := br.Get(ar.URL)
			require.True(t, br.IsPage(again, "/login"), "%s", again)

			f := apptest.ParseForm(t, page)
			require.True(t, strings.HasSuffix(f.Action, "/login/2fa/enrol"), f.Action)
			require.True(t, f.Hidden["csrf"])
			require.NotEmpty(t, f.Fields.Get("challenge"))
			require.NotEmpty(t, f.Fields.Get("return_to"))
			f.Fields.Set("code", apptest.WrongTOTP(t, key[1]))
			page = br.Post(f.Action, f.Fields)
			require.Contains(t, string(page.Body), "The code is not correct", "%s", page.Body)
			require.Equal(t, key[1], enrolKeyRE.FindStringSubmatch(string(page.Body))[1], "the same key after a wrong code")
			require.Empty(t, br.Cookie("identity_session"))

			f = apptest.ParseForm(t, page)
			f.Fields.Set("code", apptest.TOTP(t, key[1], 0))
			page = br.Post(f.Action, f.Fields)
			require.Equal(t, http.StatusOK, page.Status, "%s", page.Body)
			require.Contains(t, string(page.Body), "Your recovery codes")
			require.NotEmpty(t, br.Cookie("identity_session"), "signed in once enrolled")
			cont := regexp.MustCompile(`href="([^"]*)">I have saved them`).FindStringSubmatch(string(page.Body))
			require.Len(t, cont, 2, "%s", page.Body)
			next, err := url.Parse(html.UnescapeString(cont[1]))
			require.NoError(t, err)
			require.Equal(t, "/api/oauth/authorize", next.Path, "continues to the authorization request")
			res := br.Get(e.Server.URL + next.String())
			require.True(t, br.IsPage(res, "/consent"), "%s %s (from %s)", res, res.Header.Get("Location"), cont[1])
			res = br.Decide(res, "allow")
			loc := res.Location(t)
			require.NotNil(t, loc, "%s", res)
			require.Equal(t, ar.State, loc.Query().Get("state"))
			code := loc.Query().Get("code")
			require.NotEmpty(t, code, "%s", loc)
			tok := ar.exchange(t, cfg, code)
			require.NotEmpty(t, tok.AccessToken)
			info := e.Server.RequireActive(t, web, tok.AccessToken)
			require.Equal(t, admin.ID, info["sub"])
		})

		t.Run("e-mailed codes", func(t *testing.T) {
			u := newRoleUser(t, e.Server, e.Tenant, userOpts{role: identity.RoleAdmin})
			br := e.Server.NewBrowser(t)
			ar := newAuthRequest(cfg)
			page := br.LoginAs(br.Get(ar.URL), e.Tenant.Slug, u.Email, apptest.Password)
			require.Contains(t, string(page.Body), "E-mail me codes instead")
			var emailForm *apptest.Form
			for _, f := range allForms(t, page) {
				if strings.HasSuffix(f.Action, "/login/2fa/enrol/email") {
					emailForm = f
				}
			}
			require.NotNil(t, emailForm, "the e-mail form")
			page = br.Post(emailForm.Action, emailForm.Fields)
			require.Contains(t, string(page.Body), "We sent a 6-digit code", "%s", page.Body)
			code, _ := mail.LastCode(t, u.Email)
			f := apptest.ParseForm(t, page)
			require.Equal(t, "email", f.Fields.Get("method"))
			f.Fields.Set("code", code)
			page = br.Post(f.Action, f.Fields)
			require.Contains(t, string(page.Body), "Your recovery codes", "%s", page.Body)
			require.NotEmpty(t, br.Cookie("identity_session"))
		})

		t.Run("member unaffected", func(t *testing.T) {
			br := e.Server.NewBrowser(t)
			ar := newAuthRequest(cfg)
			f := br.Authorize(e, ar.URL, true, "allow")
			tok := ar.exchange(t, cfg, f.Code(t, ar.State))
			require.NotEmpty(t, tok.AccessToken)
		})
	})
}

// allForms returns every form of a page.
func allForms(t *testing.T, page *apptest.Result) []*apptest.Form {
	t.Helper()
	var out []*apptest.Form
	rest := string(page.Body)
	for {
		i := strings.Index(rest, "<form")
		if i < 0 {
			return out
		}
		j := strings.Index(rest[i:], "</form>")
		require.GreaterOrEqual(t, j, 0)
		one := *page
		one.Body = []byte(rest[i : i+j+len("</form>")])
		out = append(out, apptest.ParseForm(t, &one))
		rest = rest[i+j:]
	}
}

// TestBrowserForcedEnrolment: in headless Chromium at phone width, without
// JavaScript, an Admin of a tenant that requires 2FA for Admins signs in,
// is shown the enrolment page (key, QR code, a way out), types the code of
// the key it shows, sees the recovery codes once and continues signed in.
func TestBrowserForcedEnrolment(t *testing.T) {
	t.Parallel()
	srv := apptest.New(t, apptest.SQLite(t), nil)
	e := apptest.Seed(t, srv)
	_, err := srv.Store.UpdateTenant(t.Context(), e.Tenant.ID, map[string]any{"settings": `{"require_2fa_roles":["Admin"]}`})
	require.NoError(t, err)
	admin := newRoleUser(t, srv, e.Tenant, userOpts{role: identity.RoleAdmin})

	b := apptest.StartChrome(t, apptest.ChromeOptions{NoScript: true}) // the page needs no JavaScript
	b.Do("sign in",
		chromedp.Navigate(srv.URL+"/login?tenant="+url.QueryEscape(e.Tenant.Slug)),
		chromedp.WaitVisible(chromedp.ID("email")),
		chromedp.SendKeys(chromedp.ID("email"), admin.Email),
		chromedp.SendKeys(chromedp.ID("password"), apptest.Password),
		chromedp.Click(chromedp.CSS(`button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`img.qr`)),
	)
	require.Contains(t, b.Text(), "Set up two-step verification")
	require.True(t, b.Has(`a[href="/logout"]`), "a way out")
	b.Shot("twofactor-enrol-phone.png")
	key, err := chromedp.Run(b.Ctx, chromedp.Text(chromedp.CSS("p.muted code")))
	require.NoError(t, err)
	key = strings.TrimSpace(key)
	require.Regexp(t, `^[A-Z2-7]{16,}$`, key)
	b.Do("enrol",
		chromedp.SendKeys(chromedp.ID("code"), apptest.TOTP(t, key, 0)),
		chromedp.Click(chromedp.CSS(`form[action="/login/2fa/enrol"] button[type="submit"]`)),
		chromedp.WaitVisible(chromedp.CSS(`ul.codes`)),
	)
	require.Contains(t, b.Text(), "Your recovery codes")
	b.Shot("twofactor-enrolled-phone.png")
	b.Do("continue",
		chromedp.Click(chromedp.CSS(`a.button`)),
		chromedp.WaitVisible(chromedp.CSS(`a[href="/account/profile"]`)),
	)
	require.Contains(t, b.Text(), admin.Email)
	require.Equal(t, 1, srv.Int(t, "SELECT COUNT(*) FROM users WHERE id = ? AND totp_enabled", admin.ID))
}
