package handlers_test

import (
	"io"
	"net/http"
	"net/mail"
	"strings"
	"testing"
	"time"

	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/stretchr/testify/require"
)

// enSame asserts two answers are the same to a client: status, error code,
// the whole body and its content type.
func enSame(t *testing.T, want, got *apptest.Result, what string) {
	t.Helper()
	require.Equal(t, want.Status, got.Status, "%s: status (want %s, got %s)", what, want.Body, got.Body)
	require.Equal(t, string(want.Body), string(got.Body), "%s: body", what)
	require.Equal(t, want.Header.Get("Content-Type"), got.Header.Get("Content-Type"), "%s: content type", what)
}

// TestPasswordResetAnswersAlike: until the caller shows a valid code, a reset
// for a real account answers exactly like one for an unknown account or
// tenant, whatever the new password (the policy used to answer 422 for a
// real account only, before the code was checked).
func TestPasswordResetAnswersAlike(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		u := e.newUser(t)
		// A real account with a live code, so "no code" is not what differs.
		res := e.Do(t, apptest.Request{Path: "/api/auth/password/forgot", Body: map[string]any{"tenant": e.Tenant.Slug, "email": u.Email}})
		require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
		code, _ := e.mail.LastCode(t, u.Email)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		reset := func(tenant, email, code, pw string) *apptest.Result {
			return e.Do(t, apptest.Request{Path: "/api/auth/password/reset", Body: map[string]any{"tenant": tenant, "email": email, "code": code, "new_password": pw}})
		}
		passwords := []struct{ name, pw string }{
			{"weak password", "weak"},
			{"password without digit", "No-Digits-Here-At-All!"},
			{"password reusing the current one", apptest.Password},
			{"good password", "Reset-Passw0rd-Good!"},
			{"empty password", ""},
		}
		for _, p := range passwords {
			t.Run(p.name, func(t *testing.T) {
				unknown := reset(e.Tenant.Slug, "nobody-"+apptest.RandomID(t, 6)+"@example.com", wrong, p.pw)
				require.Equal(t, http.StatusUnauthorized, unknown.Status, "%s", unknown.Body)
				require.Equal(t, "invalid_code", unknown.JSON(t)["error"])
				enSame(t, unknown, reset(e.Tenant.Slug, u.Email, wrong, p.pw), "real account, wrong code")
				enSame(t, unknown, reset(e.Tenant.Slug, u.Email, "", p.pw), "real account, no code")
				enSame(t, unknown, reset("no-such-tenant-"+apptest.RandomID(t, 4), u.Email, wrong, p.pw), "unknown tenant")
			})
		}
		// The wrong codes above used up the code's attempts: a fresh one.
		// With the right code the policy speaks, and the code survives it.
		res = e.Do(t, apptest.Request{Path: "/api/auth/password/forgot", Body: map[string]any{"tenant": e.Tenant.Slug, "email": u.Email}})
		require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
		code, _ = e.mail.LastCode(t, u.Email)
		requireErrorShape(t, reset(e.Tenant.Slug, u.Email, code, "weak"), http.StatusUnprocessableEntity, "password_policy")
		res = reset(e.Tenant.Slug, u.Email, code, "Reset-Passw0rd-Good!")
		require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)
	})
}

// TestLockShownOnlyToTheRightPassword: a wrong password on a locked account
// answers exactly like a wrong password on an unlocked or unknown account;
// only the right password learns of the lock.
func TestLockShownOnlyToTheRightPassword(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		login := func(email, pw string) *apptest.Result {
			return e.PasswordLogin(t, e.Tenant.Slug, email, pw, nil)
		}
		locked, open := e.newUser(t), e.newUser(t)
		for i := 0; i < 5; i++ {
			requireErrorShape(t, login(locked.Email, "Wrong-Password-1"), http.StatusUnauthorized, "invalid_credentials")
		}
		unknown := login("nobody-"+apptest.RandomID(t, 6)+"@example.com", "Wrong-Password-1")
		require.Equal(t, http.StatusUnauthorized, unknown.Status)
		enSame(t, unknown, login(open.Email, "Wrong-Password-1"), "wrong password, unlocked account")
		for _, pw := range []string{"Wrong-Password-1", "another-wrong-one", "x"} {
			enSame(t, unknown, login(locked.Email, pw), "wrong password "+pw+", locked account")
		}
		requireErrorShape(t, login(locked.Email, apptest.Password), http.StatusTooManyRequests, "account_locked")
	})
}

// TestForgotPasswordMailLeavesTheRequestPath: with the server's own mailer
// (SMTP_URL), forgot-password answers while the SMTP server still holds the
// message, the reset code is in the outbox (sealed, no plaintext code in the
// database), and the mail worker delivers it once SMTP lets go; the code
// then resets the password. The answer for a real account is the answer for
// an unknown one.
func TestForgotPasswordMailLeavesTheRequestPath(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		smtpSrv := apptest.StartHeldSMTP(t)
		srv := apptest.New(t, b, func(cfg *app.Config) {
			cfg.SMTPURL = smtpSrv.URL()
		})
		e := &accountEnv{Env: &apptest.Env{Server: srv}}
		tenant, err := srv.CreateTenant(t, "fp-"+apptest.RandomID(t, 8), "Forgot Co")
		require.NoError(t, err)
		e.Tenant = tenant
		u := e.newUser(t)

		forgot := func(email string) *apptest.Result {
			done := make(chan *apptest.Result, 1)
			go func() {
				done <- srv.Call(t, http.MethodPost, "/api/auth/password/forgot", "", map[string]any{"tenant": tenant.Slug, "email": email})
			}()
			select {
			case r := <-done:
				return r
			case <-time.After(60 * time.Second):
				t.Fatal("forgot-password waited on the SMTP server: mail is sent on the request path")
				return nil
			}
		}
		known := forgot(u.Email)
		require.Equal(t, http.StatusAccepted, known.Status, "%s", known.Body)
		enSame(t, known, forgot("nobody-"+apptest.RandomID(t, 6)+"@example.com"), "unknown account")

		// The code waits in the outbox, sealed.
		rows := srv.TableRows(t, "mail_outbox")
		require.NotEmpty(t, rows, "the reset mail is in the outbox")
		for _, row := range rows {
			for col, v := range row {
				require.NotContains(t, v, u.Email, "outbox column %s holds the message in clear", col)
			}
		}
		require.Empty(t, smtpSrv.Messages())

		smtpSrv.Release()
		deadline := time.Now().Add(60 * time.Second)
		for len(smtpSrv.Messages()) == 0 {
			require.False(t, time.Now().After(deadline), "the mail worker never delivered the reset code")
			time.Sleep(20 * time.Millisecond)
		}
		msgs := smtpSrv.Messages()
		require.Len(t, msgs, 1, "one message: none for the unknown account")
		m, err := mail.ReadMessage(strings.NewReader(string(msgs[0].Data)))
		require.NoError(t, err)
		body, _ := io.ReadAll(m.Body)
		code := apptest.CodeIn(t, string(body))
		for _, row := range srv.TableRows(t, "mail_outbox") {
			for col, v := range row {
				require.NotContains(t, v, code, "outbox column %s holds the code", col)
			}
		}
		res := srv.Call(t, http.MethodPost, "/api/auth/password/reset", "", map[string]any{
			"tenant": tenant.Slug, "email": u.Email, "code": code, "new_password": "Reset-Passw0rd-Good!"})
		require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)
		deadline = time.Now().Add(60 * time.Second)
		for len(srv.TableRows(t, "mail_outbox")) != 0 {
			require.False(t, time.Now().After(deadline), "delivered mail stays in the outbox")
			time.Sleep(20 * time.Millisecond)
		}
	})
}
