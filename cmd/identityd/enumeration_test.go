package main

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/mail"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/storage/storagetest"
)

// enSame asserts two answers are the same to a client: status, error code,
// the whole body and its content type.
func enSame(t *testing.T, want, got *httpResult, what string) {
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
	accEachBackend(t, nil, func(t *testing.T, e *accEnv) {
		u := e.newUser(t)
		// A real account with a live code, so "no code" is not what differs.
		res := e.do(t, accReq{Path: "/api/auth/password/forgot", Body: map[string]any{"tenant": e.tenant.Slug, "email": u.Email}})
		require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
		code, _ := e.mail.lastCode(t, u.Email)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		reset := func(tenant, email, code, pw string) *httpResult {
			return e.do(t, accReq{Path: "/api/auth/password/reset", Body: map[string]any{"tenant": tenant, "email": email, "code": code, "new_password": pw}})
		}
		passwords := []struct{ name, pw string }{
			{"weak password", "weak"},
			{"password without digit", "No-Digits-Here-At-All!"},
			{"password reusing the current one", e2ePassword},
			{"good password", "Reset-Passw0rd-Good!"},
			{"empty password", ""},
		}
		for _, p := range passwords {
			t.Run(p.name, func(t *testing.T) {
				unknown := reset(e.tenant.Slug, "nobody-"+randomID(t, 6)+"@example.com", wrong, p.pw)
				require.Equal(t, http.StatusUnauthorized, unknown.Status, "%s", unknown.Body)
				require.Equal(t, "invalid_code", unknown.JSON(t)["error"])
				enSame(t, unknown, reset(e.tenant.Slug, u.Email, wrong, p.pw), "real account, wrong code")
				enSame(t, unknown, reset(e.tenant.Slug, u.Email, "", p.pw), "real account, no code")
				enSame(t, unknown, reset("no-such-tenant-"+randomID(t, 4), u.Email, wrong, p.pw), "unknown tenant")
			})
		}
		// The wrong codes above used up the code's attempts: a fresh one.
		// With the right code the policy speaks, and the code survives it.
		res = e.do(t, accReq{Path: "/api/auth/password/forgot", Body: map[string]any{"tenant": e.tenant.Slug, "email": u.Email}})
		require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
		code, _ = e.mail.lastCode(t, u.Email)
		accErr(t, reset(e.tenant.Slug, u.Email, code, "weak"), http.StatusUnprocessableEntity, "password_policy")
		res = reset(e.tenant.Slug, u.Email, code, "Reset-Passw0rd-Good!")
		require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)
	})
}

// TestLockShownOnlyToTheRightPassword: a wrong password on a locked account
// answers exactly like a wrong password on an unlocked or unknown account;
// only the right password learns of the lock.
func TestLockShownOnlyToTheRightPassword(t *testing.T) {
	accEachBackend(t, nil, func(t *testing.T, e *accEnv) {
		login := func(email, pw string) *httpResult {
			return e.do(t, accReq{Path: "/api/auth/login", Body: map[string]any{"tenant": e.tenant.Slug, "email": email, "password": pw}})
		}
		locked, open := e.newUser(t), e.newUser(t)
		for i := 0; i < 5; i++ {
			accErr(t, login(locked.Email, "Wrong-Password-1"), http.StatusUnauthorized, "invalid_credentials")
		}
		unknown := login("nobody-"+randomID(t, 6)+"@example.com", "Wrong-Password-1")
		require.Equal(t, http.StatusUnauthorized, unknown.Status)
		enSame(t, unknown, login(open.Email, "Wrong-Password-1"), "wrong password, unlocked account")
		for _, pw := range []string{"Wrong-Password-1", "another-wrong-one", "x"} {
			enSame(t, unknown, login(locked.Email, pw), "wrong password "+pw+", locked account")
		}
		accErr(t, login(locked.Email, e2ePassword), http.StatusTooManyRequests, "account_locked")
	})
}

// enGatedSMTP is a real SMTP server whose DATA waits until release is
// closed: a request that sent mail inline would wait with it.
type enGatedSMTP struct {
	Addr    string
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	msgs    [][]byte
}

func enStartGatedSMTP(t *testing.T) *enGatedSMTP {
	t.Helper()
	g := &enGatedSMTP{release: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &enSession{g: g}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = time.Minute, time.Minute
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	g.Addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { g.open(); _ = srv.Close() })
	return g
}

// open lets every held and later message through.
func (g *enGatedSMTP) open() { g.once.Do(func() { close(g.release) }) }

func (g *enGatedSMTP) messages() [][]byte {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([][]byte(nil), g.msgs...)
}

type enSession struct{ g *enGatedSMTP }

func (s *enSession) Mail(string, *smtp.MailOptions) error { return nil }
func (s *enSession) Rcpt(string, *smtp.RcptOptions) error { return nil }
func (s *enSession) Reset()                               {}
func (s *enSession) Logout() error                        { return nil }
func (s *enSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	<-s.g.release
	s.g.mu.Lock()
	defer s.g.mu.Unlock()
	s.g.msgs = append(s.g.msgs, b)
	return nil
}

var enCodeRE = regexp.MustCompile(`\b(\d{6})\b`)

// TestForgotPasswordMailLeavesTheRequestPath: with the server's own mailer
// (SMTP_URL), forgot-password answers while the SMTP server still holds the
// message, the reset code is in the outbox (sealed, no plaintext code in the
// database), and the mail worker delivers it once SMTP lets go; the code
// then resets the password. The answer for a real account is the answer for
// an unknown one.
func TestForgotPasswordMailLeavesTheRequestPath(t *testing.T) {
	e2eEachBackend(t, func(t *testing.T, b storagetest.Backend, redisURL string) {
		smtpSrv := enStartGatedSMTP(t)
		srv := newTestServer(t, b, redisURL, func(cfg *Config) {
			cfg.SMTPURL = Secret("smtp://" + smtpSrv.Addr + "?from=identity@example.com&tls=none")
		})
		e := &cxEnv{srv: srv}
		tenant, err := srv.Admin.CreateTenant(context.Background(), "fp-"+randomID(t, 8), "Forgot Co")
		require.NoError(t, err)
		e.tenant = tenant
		u := e.user(t, "ada")

		forgot := func(email string) *httpResult {
			done := make(chan *httpResult, 1)
			go func() {
				done <- apiCall(t, srv, http.MethodPost, "/api/auth/password/forgot", "", map[string]any{"tenant": tenant.Slug, "email": email})
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
		enSame(t, known, forgot("nobody-"+randomID(t, 6)+"@example.com"), "unknown account")

		// The code waits in the outbox, sealed.
		rows := accRows(t, srv, "mail_outbox")
		require.NotEmpty(t, rows, "the reset mail is in the outbox")
		for _, row := range rows {
			for col, v := range row {
				require.NotContains(t, v, u.Email, "outbox column %s holds the message in clear", col)
			}
		}
		require.Empty(t, smtpSrv.messages())

		smtpSrv.open()
		deadline := time.Now().Add(60 * time.Second)
		for len(smtpSrv.messages()) == 0 {
			require.False(t, time.Now().After(deadline), "the mail worker never delivered the reset code")
			time.Sleep(20 * time.Millisecond)
		}
		msgs := smtpSrv.messages()
		require.Len(t, msgs, 1, "one message: none for the unknown account")
		m, err := mail.ReadMessage(strings.NewReader(string(msgs[0])))
		require.NoError(t, err)
		body, _ := io.ReadAll(m.Body)
		match := enCodeRE.FindStringSubmatch(string(body))
		require.NotNil(t, match, "no code in %q", body)
		for _, row := range accRows(t, srv, "mail_outbox") {
			for col, v := range row {
				require.NotContains(t, v, match[1], "outbox column %s holds the code", col)
			}
		}
		res := apiCall(t, srv, http.MethodPost, "/api/auth/password/reset", "", map[string]any{
			"tenant": tenant.Slug, "email": u.Email, "code": match[1], "new_password": "Reset-Passw0rd-Good!"})
		require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)
		deadline = time.Now().Add(60 * time.Second)
		for len(accRows(t, srv, "mail_outbox")) != 0 {
			require.False(t, time.Now().After(deadline), "delivered mail stays in the outbox")
			time.Sleep(20 * time.Millisecond)
		}
	})
}
