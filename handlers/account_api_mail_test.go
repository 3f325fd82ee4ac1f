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
	"github.com/identityd/identityd/storage/storagetest"
)

// TestLockoutMailOverSMTP: with SMTP_URL set, the lockout notice after five
// wrong passwords reaches a real SMTP server, addressed to the user.
func TestLockoutMailOverSMTP(t *testing.T) {
	t.Parallel()
	smtpSrv := apptest.StartSMTP(t)
	b := apptest.Backend{Backend: storagetest.SQLiteBackend(t), RedisURL: storagetest.RedisURL(t)}
	srv := apptest.New(t, b, func(cfg *app.Config) {
		cfg.SMTPURL = smtpSrv.URL()
	})
	// The server's own mailer: this test does not swap it.
	e := &accountEnv{Env: &apptest.Env{Server: srv}}
	slug := "mail-" + apptest.RandomID(t, 8)
	tenant, err := srv.CreateTenant(t, slug, "Mail Co")
	if err != nil {
		t.Fatal(err)
	}
	e.Tenant = tenant
	u := e.newUser(t)

	for i := 1; i <= 4; i++ {
		if r := e.PasswordLogin(t, e.Tenant.Slug, u.Email, "Wrong-Password-123!", nil); r.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %s", i, r)
		}
	}
	if n := len(smtpSrv.Messages()); n != 0 {
		t.Fatalf("%d messages before the lock", n)
	}
	if r := e.PasswordLogin(t, e.Tenant.Slug, u.Email, "Wrong-Password-123!", nil); r.Status != http.StatusUnauthorized {
		t.Fatalf("5th wrong password: %s", r)
	}
	if r := e.PasswordLogin(t, e.Tenant.Slug, u.Email, apptest.Password, nil); r.Status != http.StatusTooManyRequests || r.Str("error") != "account_locked" {
		t.Fatalf("the right password after the lock: %s", r)
	}
	// The mail worker delivers the notice from the outbox: wait for it.
	deadline := time.Now().Add(60 * time.Second)
	for len(smtpSrv.Messages()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	msgs := smtpSrv.Messages()
	if len(msgs) != 1 {
		t.Fatalf("the SMTP server received %d messages, want the one lockout notice", len(msgs))
	}
	got := msgs[0]
	if got.From != "identity@example.com" || len(got.To) != 1 || got.To[0] != u.Email {
		t.Errorf("envelope from %q to %v, want identity@example.com to %s", got.From, got.To, u.Email)
	}
	m, err := mail.ReadMessage(strings.NewReader(string(got.Data)))
	if err != nil {
		t.Fatalf("parse: %v\n%s", err, got.Data)
	}
	if to, _ := mail.ParseAddress(m.Header.Get("To")); to == nil || to.Address != u.Email {
		t.Errorf("To header %q, want %s", m.Header.Get("To"), u.Email)
	}
	subject := m.Header.Get("Subject")
	body, _ := io.ReadAll(m.Body)
	if !strings.Contains(strings.ToLower(subject), "locked") || !strings.Contains(string(body), "locked until") {
		t.Errorf("subject %q, body %q: want the lock mentioned", subject, body)
	}
	if strings.Contains(string(body), apptest.Password) || strings.Contains(string(body), "Wrong-Password") {
		t.Errorf("the notice contains a password: %q", body)
	}
}
