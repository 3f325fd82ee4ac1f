package handlers_test

import (
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

var (
	evLinkRE = regexp.MustCompile(`(https?://\S+/verify-email\?token=)(\S+)`)
	evCodeRE = regexp.MustCompile(`enter this code: (\d{6})\n`)
)

// evMessage returns the newest verification message to addr, its link's
// token and its code, checking the link is built on the issuer.
func evMessage(t *testing.T, srv *apptest.Server, mail *apptest.Mailbox, addr string) (token, code string, m identity.Message) {
	t.Helper()
	msgs := mail.To(addr, "Confirm your")
	require.NotEmpty(t, msgs, "a verification message to %s", addr)
	m = msgs[len(msgs)-1]
	sm := evLinkRE.FindStringSubmatch(m.Text)
	require.NotNil(t, sm, "a link in %q", m.Text)
	require.True(t, strings.HasPrefix(sm[1], srv.Config.Issuer+"/verify-email?token="), "link %s on the issuer", sm[1])
	tok, err := url.QueryUnescape(sm[2])
	require.NoError(t, err)
	require.Len(t, tok, 43, "32 random bytes in base64url")
	cm := evCodeRE.FindStringSubmatch(m.Text)
	require.NotNil(t, cm, "a code in %q", m.Text)
	return tok, cm[1], m
}

// evRelaxed raises the verification rate limits out of the tests' way (the
// rate-limit test keeps the defaults).
func evRelaxed(cfg *app.Config) {
	cfg.RateEmailVerificationVerify = identity.Limit{Rate: 10000, Period: time.Minute}
	cfg.RateEmailVerificationSend = identity.Limit{Rate: 10000, Period: time.Minute}
}

// evStart sends u the sign-up verification, as sign-up does.
func evStart(t *testing.T, srv *apptest.Server, u *models.User) {
	t.Helper()
	require.NoError(t, srv.EmailVerification.StartVerification(t.Context(), u.TenantID, u.ID))
}

// evFields are the field errors of a 422.
func evFields(res *apptest.Result) map[string]any {
	f, _ := res.Fields()["fields"].(map[string]any)
	return f
}

func meVerified(t *testing.T, srv *apptest.Server, tok string) (string, bool) {
	t.Helper()
	m := requireAnswer(t, srv.Call(t, http.MethodGet, "/api/auth/me", tok, nil), http.StatusOK, "")
	u := m["user"].(map[string]any)
	return u["email"].(string), u["email_verified"].(bool)
}

// TestEmailVerification: issue 10 part 2 end to end: the link, the code,
// reuse, replacement, expiry on the service's clock, the public and the
// signed-in resend, bad input.
func TestEmailVerification(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, evRelaxed)
		srv, slug := e.Server, e.Tenant.Slug
		mail := srv.CaptureMail()
		const verify = "/api/auth/email/verify"
		tok := srv.Login(t, slug, e.User.Email, apptest.Password)
		_, verified := meVerified(t, srv, tok)
		require.False(t, verified, "a user created by an administrator is unverified")

		// The signed-in resend: a message with a link and a code.
		m := requireAnswer(t, srv.Call(t, http.MethodPost, verify+"/resend", tok, nil), http.StatusAccepted, "")
		require.Equal(t, true, m["sent"])
		first, _, msg := evMessage(t, srv, mail, e.User.Email)
		require.Contains(t, msg.Text, "expire in 24 hours")
		require.Contains(t, msg.Text, e.Tenant.Name)
		// StartVerification (sign-up's) replaces it: the old link is gone.
		evStart(t, srv, e.User)
		link, _, _ := evMessage(t, srv, mail, e.User.Email)
		require.NotEqual(t, first, link)
		requireAnswer(t, srv.Call(t, http.MethodPost, verify, "", map[string]any{"token": first}), http.StatusNotFound, "email_verification_not_found")

		// Bad input: 422 with the fields.
		for _, tt := range []struct {
			name   string
			body   any
			fields []string
		}{
			{"nothing", map[string]any{}, []string{"tenant", "email", "code"}},
			{"token and code", map[string]any{"token": link, "code": "123456"}, []string{"token"}},
			{"short code", map[string]any{"tenant": slug, "email": e.User.Email, "code": "12345"}, []string{"code"}},
			{"bad address", map[string]any{"tenant": slug, "email": "nope", "code": "123456"}, []string{"email"}},
		} {
			res := srv.Call(t, http.MethodPost, verify, "", tt.body).NotServerError(t)
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s: %s", tt.name, res.Body)
			for _, f := range tt.fields {
				require.Contains(t, evFields(res), f, "%s: %s", tt.name, res.Body)
			}
		}
		require.Equal(t, http.StatusUnprocessableEntity, srv.Call(t, http.MethodPost, verify, "", "{").NotServerError(t).Status)

		// The link: once.
		m = requireAnswer(t, srv.Call(t, http.MethodPost, verify, "", map[string]any{"token": link}), http.StatusOK, "")
		require.Equal(t, map[string]any{"email_verified": true, "email": e.User.Email, "purpose": "signup"}, m)
		_, verified = meVerified(t, srv, tok)
		require.True(t, verified)
		requireAnswer(t, srv.Call(t, http.MethodPost, verify, "", map[string]any{"token": link}), http.StatusConflict, models.CodeEmailVerificationUsed)
		require.Contains(t, auditActions(t, srv, e.Tenant.ID), identity.AuditEmailVerified)
		m = requireAnswer(t, srv.Call(t, http.MethodPost, verify+"/resend", tok, nil), http.StatusOK, "")
		require.Equal(t, map[string]any{"sent": false, "email_verified": true}, m, "nothing to send for a verified address")

		// The code, through the public resend, which answers the same
		// whatever the address.
		bob := srv.AddUser(t, apptest.NewUser{TenantSlug: slug, Email: "bob." + slug + "@example.com", Password: apptest.Password, Name: "Bob"})
		known := requireAnswer(t, srv.Call(t, http.MethodPost, verify+"/resend", "", map[string]any{"tenant": slug, "email": bob.Email}), http.StatusAccepted, "")
		unknown := requireAnswer(t, srv.Call(t, http.MethodPost, verify+"/resend", "", map[string]any{"tenant": slug, "email": "nobody." + slug + "@example.com"}), http.StatusAccepted, "")
		noTenant := requireAnswer(t, srv.Call(t, http.MethodPost, verify+"/resend", "", map[string]any{"tenant": "no-such-" + slug, "email": bob.Email}), http.StatusAccepted, "")
		verifiedOne := requireAnswer(t, srv.Call(t, http.MethodPost, verify+"/resend", "", map[string]any{"tenant": slug, "email": e.User.Email}), http.StatusAccepted, "")
		require.Equal(t, known, unknown)
		require.Equal(t, known, noTenant)
		require.Equal(t, known, verifiedOne)
		require.Empty(t, mail.Sent("nobody."+slug+"@example.com"))
		require.Len(t, mail.To(e.User.Email, "Confirm your"), 2, "no message for an address already verified")
		requireAnswer(t, srv.Call(t, http.MethodPost, verify+"/resend", "", map[string]any{"tenant": slug}), http.StatusUnprocessableEntity, models.CodeValidationFailed)
		_, code, _ := evMessage(t, srv, mail, bob.Email)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		requireAnswer(t, srv.Call(t, http.MethodPost, verify, "", map[string]any{"tenant": slug, "email": bob.Email, "code": wrong}), http.StatusUnauthorized, models.CodeInvalidCode)
		requireAnswer(t, srv.Call(t, http.MethodPost, verify, "", map[string]any{"tenant": "no-such-" + slug, "email": bob.Email, "code": code}), http.StatusUnauthorized, models.CodeInvalidCode)
		requireAnswer(t, srv.Call(t, http.MethodPost, verify, "", map[string]any{"tenant": slug, "email": "nobody." + slug + "@example.com", "code": code}), http.StatusUnauthorized, models.CodeInvalidCode)
		m = requireAnswer(t, srv.Call(t, http.MethodPost, verify, "", map[string]any{"tenant": slug, "email": strings.ToUpper(bob.Email), "code": code}), http.StatusOK, "")
		require.Equal(t, bob.Email, m["email"])
		requireAnswer(t, srv.Call(t, http.MethodPost, verify, "", map[string]any{"tenant": slug, "email": bob.Email, "code": code}), http.StatusUnauthorized, models.CodeInvalidCode)
		bobTok := srv.Login(t, slug, bob.Email, apptest.Password)
		_, verified = meVerified(t, srv, bobTok)
		require.True(t, verified)

		// Expiry, on the service's clock: the link says so, the code is
		// the one answer.
		cleo := srv.AddUser(t, apptest.NewUser{TenantSlug: slug, Email: "cleo." + slug + "@example.com", Password: apptest.Password, Name: "Cleo"})
		evStart(t, srv, cleo)
		link, code, _ = evMessage(t, srv, mail, cleo.Email)
		srv.EmailVerification.SetClock(func() time.Time { return time.Now().Add(24*time.Hour + time.Minute) })
		requireAnswer(t, srv.Call(t, http.MethodPost, verify, "", map[string]any{"token": link}), http.StatusConflict, models.CodeEmailVerificationExpired)
		requireAnswer(t, srv.Call(t, http.MethodPost, verify, "", map[string]any{"tenant": slug, "email": cleo.Email, "code": code}), http.StatusUnauthorized, models.CodeInvalidCode)
		srv.EmailVerification.SetClock(time.Now)
		requireAnswer(t, srv.Call(t, http.MethodPost, verify, "", map[string]any{"token": link}), http.StatusOK, "")

		// A third-party or service token cannot ask for the signed-in resend.
		requireAnswer(t, srv.Call(t, http.MethodPost, verify+"/resend", "not-a-token", nil), http.StatusUnauthorized, "")
	})
}

// TestEmailVerificationCodeAttempts: a code allows 5 tries, however they
// race; 20 concurrent verifications of one right code: one success.
func TestEmailVerificationCodeAttempts(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, evRelaxed)
		srv, slug := e.Server, e.Tenant.Slug
		mail := srv.CaptureMail()
		const verify = "/api/auth/email/verify"
		evStart(t, srv, e.User)
		_, code, _ := evMessage(t, srv, mail, e.User.Email)
		wrong := "999999"
		if code == wrong {
			wrong = "888888"
		}
		// Five wrong codes in parallel spend the attempts: the right one is
		// refused after them.
		var wg sync.WaitGroup
		for range 5 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				srv.Call(t, http.MethodPost, verify, "", map[string]any{"tenant": slug, "email": e.User.Email, "code": wrong})
			}()
		}
		wg.Wait()
		requireAnswer(t, srv.Call(t, http.MethodPost, verify, "", map[string]any{"tenant": slug, "email": e.User.Email, "code": code}), http.StatusUnauthorized, models.CodeInvalidCode)

		// A new message; 20 concurrent verifications of its right code.
		evStart(t, srv, e.User)
		_, code, _ = evMessage(t, srv, mail, e.User.Email)
		var ok, refused atomic.Int64
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				res := srv.Call(t, http.MethodPost, verify, "", map[string]any{"tenant": slug, "email": e.User.Email, "code": code})
				switch res.Status {
				case http.StatusOK:
					ok.Add(1)
				case http.StatusUnauthorized:
					refused.Add(1)
				default:
					t.Errorf("concurrent verify: %s", res)
				}
			}()
		}
		wg.Wait()
		require.EqualValues(t, 1, ok.Load(), "exactly one of 20 concurrent verifications succeeds")
		require.EqualValues(t, 19, refused.Load())
		n := 0
		for _, a := range auditActions(t, srv, e.Tenant.ID) {
			if a == identity.AuditEmailVerified {
				n++
			}
		}
		require.Equal(t, 1, n, "one user.email_verified")
	})
}

// TestEmailVerificationRateLimits: the defaults bound resends per address
// (5 an hour) and verification attempts per IP.
func TestEmailVerificationRateLimits(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, func(cfg *app.Config) {
			cfg.RateEmailVerificationVerify = identity.Limit{Rate: 8, Period: time.Hour}
		})
		srv, slug := e.Server, e.Tenant.Slug
		mail := srv.CaptureMail()
		body := map[string]any{"tenant": slug, "email": e.User.Email}
		for i := range 5 {
			requireAnswer(t, srv.Call(t, http.MethodPost, "/api/auth/email/verify/resend", "", body), http.StatusAccepted, "")
			require.Len(t, mail.To(e.User.Email, "Confirm your"), i+1)
		}
		res := srv.Call(t, http.MethodPost, "/api/auth/email/verify/resend", "", body)
		requireAnswer(t, res, http.StatusTooManyRequests, models.CodeRateLimited)
		require.NotEmpty(t, res.Header.Get("Retry-After"))
		require.Len(t, mail.To(e.User.Email, "Confirm your"), 5, "no sixth message")
		// The page says it in plain words.
		br := srv.NewBrowser(t)
		page := br.Get(srv.URL + "/verify-email?tenant=" + slug + "&email=" + url.QueryEscape(e.User.Email))
		f := apptest.ParseForm(t, page)
		require.Equal(t, srv.URL+"/verify-email", f.Action, "the first form is the code form")
		res = br.Post(srv.URL+"/verify-email/resend", url.Values{"csrf": {f.Fields.Get("csrf")}, "tenant": {slug}, "email": {e.User.Email}})
		require.Equal(t, http.StatusTooManyRequests, res.Status)
		require.Contains(t, string(res.Body), "too many e-mails")

		// Verification attempts per IP: 8 an hour here (5 resends counted).
		requireAnswer(t, srv.Call(t, http.MethodPost, "/api/auth/email/verify", "", map[string]any{"token": "x"}), http.StatusNotFound, "")
		requireAnswer(t, srv.Call(t, http.MethodPost, "/api/auth/email/verify", "", map[string]any{"token": "x"}), http.StatusTooManyRequests, models.CodeRateLimited)
	})
}

// evRequireVerified turns the tenant's allow_unverified_sign_in off (or
// on) through PATCH /api/tenant, as its Owner.
func evRequireVerified(t *testing.T, e *apptest.Env, allow bool) {
	t.Helper()
	srv, slug := e.Server, e.Tenant.Slug
	owner := newRoleUser(t, srv, e.Tenant, userOpts{role: identity.RoleOwner, dangerZone: true})
	// The Owner proves their own address first, or the tenant would lock
	// them out with the setting.
	mail := apptest.Mailbox{}
	srv.DeliverTo(&mail)
	evStart(t, srv, owner)
	link, _, _ := evMessage(t, srv, &mail, owner.Email)
	requireAnswer(t, srv.Call(t, http.MethodPost, "/api/auth/email/verify", "", map[string]any{"token": link}), http.StatusOK, "")
	tok := srv.Login(t, slug, owner.Email, apptest.Password)
	srv.StepUp(t, tok, apptest.Password)
	m := requireAnswer(t, srv.Call(t, http.MethodPatch, "/api/tenant", tok, map[string]any{"settings": map[string]any{"allow_unverified_sign_in": allow}}), http.StatusOK, "")
	require.Equal(t, allow, m["settings"].(map[string]any)["allow_unverified_sign_in"], "%v", m)
}

// evPageLogin signs in on the plain sign-in page (no authorization request).
func evPageLogin(t *testing.T, br *apptest.Browser, slug, email string) *apptest.Result {
	t.Helper()
	f := apptest.ParseForm(t, br.Get(br.Server().URL+"/login?tenant="+slug))
	require.Equal(t, br.Server().URL+"/login", f.Action)
	f.Fields.Set("email", email)
	f.Fields.Set("password", apptest.Password)
	return br.Post(f.Action, f.Fields)
}

// TestAllowUnverifiedSignIn: the tenant setting, enforced on the JSON login
// and the sign-in page (with the way to get the link again), off by
// default.
func TestAllowUnverifiedSignIn(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, evRelaxed)
		srv, slug := e.Server, e.Tenant.Slug
		// Default: unverified users sign in (existing tenants keep working).
		l := apptest.ParseLogin(t, srv.PasswordLogin(t, slug, e.User.Email, apptest.Password, nil))
		require.NotEmpty(t, l.Token)
		require.Equal(t, http.StatusNoContent, srv.Call(t, http.MethodPut, "/api/auth/pin", l.Token, map[string]any{"pin": "258147", "password": apptest.Password}).Status)
		pinLogin := func() *apptest.Result {
			return srv.Do(t, apptest.Request{Path: "/api/auth/pin/login", Device: l.Device, Body: map[string]any{"tenant": slug, "email": e.User.Email, "pin": "258147"}})
		}
		requireAnswer(t, pinLogin(), http.StatusOK, "")

		evRequireVerified(t, e, false)
		mail := srv.CaptureMail()
		res := srv.PasswordLogin(t, slug, e.User.Email, apptest.Password, nil)
		requireAnswer(t, res, http.StatusForbidden, models.CodeEmailNotVerified)
		requireAnswer(t, pinLogin(), http.StatusForbidden, models.CodeEmailNotVerified)
		// Only the right password learns it.
		requireAnswer(t, srv.PasswordLogin(t, slug, e.User.Email, "Wrong-Password-2026!", nil), http.StatusUnauthorized, models.CodeInvalidCredentials)

		// The page: plain words and the form that sends the link again.
		br := srv.NewBrowser(t)
		page := evPageLogin(t, br, slug, e.User.Email)
		require.Equal(t, http.StatusForbidden, page.Status, "%s", page.Body)
		require.Contains(t, string(page.Body), "confirm your e-mail address")
		require.Empty(t, br.Cookie("identity_session"), "no browser session")
		f := apptest.ParseForm(t, page)
		require.Equal(t, srv.URL+"/verify-email/resend", f.Action)
		require.Equal(t, slug, f.Fields.Get("tenant"))
		require.Equal(t, e.User.Email, f.Fields.Get("email"))
		sent := br.Post(f.Action, f.Fields)
		require.Equal(t, http.StatusOK, sent.Status, "%s", sent.Body)
		require.Contains(t, string(sent.Body), "we have sent it a new link")
		require.Contains(t, string(sent.Body), `href="/login?tenant=`+slug+`"`, "a way back to sign-in")
		link, _, _ := evMessage(t, srv, mail, e.User.Email)

		// Confirm from the link's page, then sign in on both paths.
		page = br.Get(srv.URL + "/verify-email?token=" + url.QueryEscape(link))
		done := br.Post(apptest.ParseForm(t, page).Action, apptest.ParseForm(t, page).Fields)
		require.Equal(t, http.StatusOK, done.Status, "%s", done.Body)
		require.Contains(t, string(done.Body), "is confirmed")
		apptest.ParseLogin(t, srv.PasswordLogin(t, slug, e.User.Email, apptest.Password, nil))
		requireAnswer(t, pinLogin(), http.StatusOK, "")
		page = evPageLogin(t, br, slug, e.User.Email)
		require.True(t, br.IsPage(page, "/account/security"), "signed in: %d %s", page.Status, page.URL)

		// An administrator's change of the address makes it unverified again
		// (set without proof), and the tenant refuses it until it is proved.
		admin := srv.AddUser(t, apptest.NewUser{TenantSlug: slug, Email: "adm." + slug + "@example.com", Password: apptest.Password, Name: "Adm", Role: identity.RoleAdmin})
		evStart(t, srv, admin)
		adminLink, _, _ := evMessage(t, srv, mail, admin.Email)
		requireAnswer(t, srv.Call(t, http.MethodPost, "/api/auth/email/verify", "", map[string]any{"token": adminLink}), http.StatusOK, "")
		adminTok := srv.Login(t, slug, admin.Email, apptest.Password)
		moved := "ada.moved." + slug + "@example.com"
		m := requireAnswer(t, srv.Call(t, http.MethodPatch, "/api/users/"+e.User.ID, adminTok, map[string]any{"email": moved}), http.StatusOK, "")
		require.Equal(t, false, m["email_verified"], "%v", m)
		requireAnswer(t, srv.PasswordLogin(t, slug, moved, apptest.Password, nil), http.StatusForbidden, models.CodeEmailNotVerified)

		// Back on: the unverified address signs in again.
		evRequireVerified(t, e, true)
		apptest.ParseLogin(t, srv.PasswordLogin(t, slug, moved, apptest.Password, nil))
	})
}

// TestChangeEmail: POST /api/auth/me/email re-checks the password, proves
// the new address before it takes effect, tells the old one twice, hides a
// taken address at request time and refuses it at confirmation; PATCH
// /api/auth/me cannot change the address.
func TestChangeEmail(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, evRelaxed)
		srv, slug := e.Server, e.Tenant.Slug
		mail := srv.CaptureMail()
		tok := srv.Login(t, slug, e.User.Email, apptest.Password)
		const change = "/api/auth/me/email"
		newAddr := "ada.new." + slug + "@example.com"
		colleague := srv.AddUser(t, apptest.NewUser{TenantSlug: slug, Email: "carl." + slug + "@example.com", Password: apptest.Password, Name: "Carl"})

		res := srv.Call(t, http.MethodPatch, "/api/auth/me", tok, map[string]any{"email": newAddr})
		requireAnswer(t, res, http.StatusUnprocessableEntity, models.CodeValidationFailed)
		require.Contains(t, evFields(res)["email"], "/api/auth/me/email")
		requireAnswer(t, srv.Call(t, http.MethodPost, change, "", map[string]any{"email": newAddr, "password": apptest.Password}), http.StatusUnauthorized, "")
		requireAnswer(t, srv.Call(t, http.MethodPost, change, tok, map[string]any{"email": newAddr, "password": "Wrong-Password-2026!"}), http.StatusUnauthorized, models.CodeInvalidPassword)
		for _, body := range []map[string]any{{"email": "nope", "password": apptest.Password}, {"email": newAddr}, {"email": e.User.Email, "password": apptest.Password}} {
			requireAnswer(t, srv.Call(t, http.MethodPost, change, tok, body), http.StatusUnprocessableEntity, models.CodeValidationFailed)
		}
		require.Empty(t, mail.Sent(newAddr))

		// A taken address answers the same, and only its owner hears of it.
		taken := requireAnswer(t, srv.Call(t, http.MethodPost, change, tok, map[string]any{"email": colleague.Email, "password": apptest.Password}), http.StatusAccepted, "")
		require.Len(t, mail.To(colleague.Email, "Someone tried to use your e-mail address"), 1)
		require.Empty(t, mail.To(colleague.Email, "Confirm your"), "no link for a taken address")
		free := requireAnswer(t, srv.Call(t, http.MethodPost, change, tok, map[string]any{"email": strings.ToUpper(newAddr), "password": apptest.Password}), http.StatusAccepted, "")
		require.Equal(t, taken, free)
		notices := mail.To(e.User.Email, "Your e-mail address is being changed")
		require.Len(t, notices, 2, "the old address is told of each request")
		require.Contains(t, notices[1].Text, newAddr)
		require.Contains(t, notices[1].Text, "If this wasn't you")
		email, _ := meVerified(t, srv, tok)
		require.Equal(t, e.User.Email, email, "nothing changes before the new address is proved")

		// The code sent to the new address completes it; the session stays.
		_, code, msg := evMessage(t, srv, mail, newAddr)
		require.Equal(t, "Confirm your new e-mail address", msg.Subject)
		m := requireAnswer(t, srv.Call(t, http.MethodPost, "/api/auth/email/verify", "", map[string]any{"tenant": slug, "email": newAddr, "code": code}), http.StatusOK, "")
		require.Equal(t, map[string]any{"email_verified": true, "email": newAddr, "purpose": "change"}, m)
		email, verified := meVerified(t, srv, tok)
		require.Equal(t, newAddr, email)
		require.True(t, verified)
		done := mail.To(e.User.Email, "Your e-mail address was changed")
		require.Len(t, done, 1)
		require.Contains(t, done[0].Text, newAddr)
		actions := auditActions(t, srv, e.Tenant.ID)
		for _, a := range []string{identity.AuditEmailChangeRequested, identity.AuditUserEmailChanged, identity.AuditEmailVerified} {
			require.Contains(t, actions, a)
		}
		apptest.ParseLogin(t, srv.PasswordLogin(t, slug, newAddr, apptest.Password, nil))
		requireAnswer(t, srv.PasswordLogin(t, slug, e.User.Email, apptest.Password, nil), http.StatusUnauthorized, models.CodeInvalidCredentials)

		// Taken between the request and the confirmation: refused safely.
		raced := "ada.raced." + slug + "@example.com"
		requireAnswer(t, srv.Call(t, http.MethodPost, change, tok, map[string]any{"email": raced, "password": apptest.Password}), http.StatusAccepted, "")
		link, _, _ := evMessage(t, srv, mail, raced)
		srv.AddUser(t, apptest.NewUser{TenantSlug: slug, Email: raced, Password: apptest.Password, Name: "Raced"})
		requireAnswer(t, srv.Call(t, http.MethodPost, "/api/auth/email/verify", "", map[string]any{"token": link}), http.StatusConflict, models.CodeEmailTaken)
		email, _ = meVerified(t, srv, tok)
		require.Equal(t, newAddr, email)

		// An old sign-up link no longer proves anything once the address changed.
		dora := srv.AddUser(t, apptest.NewUser{TenantSlug: slug, Email: "dora." + slug + "@example.com", Password: apptest.Password, Name: "Dora"})
		evStart(t, srv, dora)
		old, _, _ := evMessage(t, srv, mail, dora.Email)
		doraTok := srv.Login(t, slug, dora.Email, apptest.Password)
		requireAnswer(t, srv.Call(t, http.MethodPost, change, doraTok, map[string]any{"email": "dora.new." + slug + "@example.com", "password": apptest.Password}), http.StatusAccepted, "")
		link, _, _ = evMessage(t, srv, mail, "dora.new."+slug+"@example.com")
		requireAnswer(t, srv.Call(t, http.MethodPost, "/api/auth/email/verify", "", map[string]any{"token": link}), http.StatusOK, "")
		requireAnswer(t, srv.Call(t, http.MethodPost, "/api/auth/email/verify", "", map[string]any{"token": old}), http.StatusNotFound, "email_verification_not_found")
	})
}

// TestEmailVerifiedClaims: email_verified tells the truth in the ID token
// (go-oidc), userinfo and introspection, before and after the address is
// verified, and in the ID token of a refresh.
func TestEmailVerifiedClaims(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		ctx := t.Context()
		e := apptest.NewEnv(t, b, evRelaxed)
		srv := e.Server
		mail := srv.CaptureMail()
		web := e.WebClient(t, nil)
		rs := e.ServiceClient(t, nil)
		cfg := srv.OAuthConfig(web, oidc.ScopeOpenID, "email", oidc.ScopeOfflineAccess)
		provider, err := oidc.NewProvider(ctx, srv.URL)
		require.NoError(t, err)
		br := srv.NewBrowser(t)

		ar := newAuthRequest(cfg)
		tok := ar.exchange(t, cfg, br.Authorize(e, ar.URL, true, "allow").Code(t, ar.State))
		_, claims := verifyIDToken(t, provider, web.Client.ID, tok, ar.Nonce)
		require.NotNil(t, claims.EmailVerified)
		require.False(t, *claims.EmailVerified, "ID token before verification")
		ui, err := provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		require.NoError(t, err)
		require.False(t, ui.EmailVerified, "userinfo before verification")
		in := srv.RequireActive(t, rs, tok.AccessToken)
		require.Equal(t, false, in["email_verified"], "introspection before verification: %v", in)
		require.Equal(t, e.User.Email, in["email"])

		evStart(t, srv, e.User)
		link, _, _ := evMessage(t, srv, mail, e.User.Email)
		requireAnswer(t, srv.Call(t, http.MethodPost, "/api/auth/email/verify", "", map[string]any{"token": link}), http.StatusOK, "")

		ui, err = provider.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		require.NoError(t, err)
		require.True(t, ui.EmailVerified, "userinfo reads the user now")
		in = srv.RequireActive(t, rs, tok.AccessToken)
		require.Equal(t, true, in["email_verified"], "introspection reads the user now: %v", in)
		// A refresh signs an ID token with today's truth.
		refreshed, err := cfg.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		require.NoError(t, err)
		raw, _ := refreshed.Extra("id_token").(string)
		require.NotEmpty(t, raw, "the refresh answers an ID token")
		idt, err := provider.Verifier(&oidc.Config{ClientID: web.Client.ID}).Verify(ctx, raw)
		require.NoError(t, err)
		var rc idTokenClaims
		require.NoError(t, idt.Claims(&rc))
		require.NotNil(t, rc.EmailVerified)
		require.True(t, *rc.EmailVerified, "the refreshed ID token")
		// A new sign-in's ID token too.
		ar2 := newAuthRequest(cfg)
		tok2 := ar2.exchange(t, cfg, br.Authorize(e, ar2.URL, true, "allow").Code(t, ar2.State))
		_, claims = verifyIDToken(t, provider, web.Client.ID, tok2, ar2.Nonce)
		require.True(t, *claims.EmailVerified, "ID token after verification")
		// A client-credentials token carries no user claims.
		cc := srv.ClientCredentialsConfig(rs.Client.ID, rs.Secret, oauth2.AuthStyleInHeader)
		ctok, err := cc.Token(ctx)
		require.NoError(t, err)
		in = srv.RequireActive(t, rs, ctok.AccessToken)
		require.NotContains(t, in, "email_verified")
	})
}

// TestVerifyEmailPage: the page's forms. A link's GET uses nothing (mail
// scanners prefetch links); its one button is a POST with CSRF, refused
// without it; the code form works without the link; every state links back
// to sign-in; no script; phone-sized.
func TestVerifyEmailPage(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, evRelaxed)
		srv, slug := e.Server, e.Tenant.Slug
		mail := srv.CaptureMail()
		evStart(t, srv, e.User)
		link, _, _ := evMessage(t, srv, mail, e.User.Email)
		br := srv.NewBrowser(t)
		for range 2 { // prefetching twice changes nothing
			page := br.Get(srv.URL + "/verify-email?token=" + url.QueryEscape(link))
			require.Equal(t, http.StatusOK, page.Status)
			require.Equal(t, "no-referrer", page.Header.Get("Referrer-Policy"))
		}
		page := br.Get(srv.URL + "/verify-email?token=" + url.QueryEscape(link))
		body := string(page.Body)
		require.Contains(t, body, e.User.Email)
		require.Contains(t, body, e.Tenant.Name)
		require.Contains(t, body, `name="viewport"`)
		require.NotContains(t, body, "<script")
		require.Contains(t, body, `href="/login?tenant=`+slug+`"`)
		f := apptest.ParseForm(t, page)
		require.True(t, f.Hidden["csrf"] && f.Hidden["token"], "csrf and token are hidden fields")
		require.Equal(t, link, f.Fields.Get("token"))

		// Without the CSRF token, or with another one: refused, nothing used.
		other := srv.NewBrowser(t)
		res := other.Post(f.Action, url.Values{"token": {link}})
		require.Equal(t, http.StatusForbidden, res.Status)
		res = br.Post(f.Action, url.Values{"token": {link}, "csrf": {"forged"}})
		require.Equal(t, http.StatusForbidden, res.Status)
		tok := srv.Login(t, slug, e.User.Email, apptest.Password)
		_, verified := meVerified(t, srv, tok)
		require.False(t, verified, "a refused form uses nothing")

		done := br.Post(f.Action, f.Fields)
		require.Equal(t, http.StatusOK, done.Status, "%s", done.Body)
		require.Contains(t, string(done.Body), "is confirmed")
		require.Contains(t, string(done.Body), `href="/login?tenant=`+slug+`"`)
		_, verified = meVerified(t, srv, tok)
		require.True(t, verified)
		again := br.Get(srv.URL + "/verify-email?token=" + url.QueryEscape(link))
		require.Equal(t, http.StatusConflict, again.Status)
		require.Contains(t, string(again.Body), "already been used")
		bad := br.Get(srv.URL + "/verify-email?token=nonsense")
		require.Equal(t, http.StatusNotFound, bad.Status)
		require.Contains(t, string(bad.Body), "not valid")
		require.Contains(t, string(bad.Body), `href="/login"`)

		// The code form, from the page without a link.
		fay := srv.AddUser(t, apptest.NewUser{TenantSlug: slug, Email: "fay." + slug + "@example.com", Password: apptest.Password, Name: "Fay"})
		evStart(t, srv, fay)
		_, code, _ := evMessage(t, srv, mail, fay.Email)
		page = br.Get(srv.URL + "/verify-email")
		f = apptest.ParseForm(t, page)
		for _, name := range []string{"csrf", "tenant", "email", "code"} {
			require.Contains(t, f.Fields, name)
		}
		f.Fields.Set("tenant", slug)
		f.Fields.Set("email", fay.Email)
		f.Fields.Set("code", "12")
		res = br.Post(f.Action, f.Fields)
		require.Equal(t, http.StatusUnprocessableEntity, res.Status)
		f.Fields.Set("code", "000000")
		if code == "000000" {
			f.Fields.Set("code", "111111")
		}
		res = br.Post(f.Action, f.Fields)
		require.Equal(t, http.StatusUnauthorized, res.Status)
		require.Contains(t, string(res.Body), "not correct")
		f.Fields.Set("code", code)
		res = br.Post(f.Action, f.Fields)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		require.Contains(t, string(res.Body), "is confirmed")
	})
}
