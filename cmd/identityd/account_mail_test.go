package main

import (
	"io"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-smtp"

	"github.com/identityd/identityd/storage/storagetest"
)

// mtMessage is one message a real SMTP server received.
type mtMessage struct {
	From string
	To   []string
	Data []byte
}

// mtServer is a real SMTP server (github.com/emersion/go-smtp) on
// 127.0.0.1 that keeps every message.
type mtServer struct {
	Addr string
	mu   sync.Mutex
	msgs []mtMessage
}

func mtStart(t *testing.T) *mtServer {
	t.Helper()
	s := &mtServer{}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &mtSession{srv: s}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = 10*time.Second, 10*time.Second
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("listen: %v", err)
	}
	s.Addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { _ = srv.Close() })
	return s
}

func (s *mtServer) messages() []mtMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]mtMessage(nil), s.msgs...)
}

type mtSession struct {
	srv  *mtServer
	from string
	to   []string
}

func (s *mtSession) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *mtSession) Rcpt(to string, _ *smtp.RcptOptions) error   { s.to = append(s.to, to); return nil }
func (s *mtSession) Reset()                                      { s.from, s.to = "", nil }
func (s *mtSession) Logout() error                               { return nil }
func (s *mtSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.msgs = append(s.srv.msgs, mtMessage{From: s.from, To: s.to, Data: b})
	return nil
}

// TestLockoutMailOverSMTP: with SMTP_URL set, the lockout notice after five
// wrong passwords reaches a real SMTP server, addressed to the user.
func TestLockoutMailOverSMTP(t *testing.T) {
	smtpSrv := mtStart(t)
	b := storagetest.SQLiteBackend(t)
	srv := newTestServer(t, b, storagetest.RedisURL(t), func(cfg *Config) {
		cxFastBcrypt(cfg)
		cfg.SMTPURL = Secret("smtp://" + smtpSrv.Addr + "?from=identity@example.com&tls=none")
	})
	// The server's own mailer: this test does not swap it.
	e := &cxEnv{srv: srv}
	slug := "mail-" + randomID(t, 8)
	tenant, err := srv.Admin.CreateTenant(t.Context(), slug, "Mail Co")
	if err != nil {
		t.Fatal(err)
	}
	e.tenant = tenant
	u := e.user(t, "grace")

	for i := 1; i <= 4; i++ {
		if r := e.login(t, u, "Wrong-Password-123!"); r.Status != http.StatusUnauthorized {
			t.Fatalf("wrong password %d: %s", i, r)
		}
	}
	if n := len(smtpSrv.messages()); n != 0 {
		t.Fatalf("%d messages before the lock", n)
	}
	if r := e.login(t, u, "Wrong-Password-123!"); r.Status != http.StatusUnauthorized {
		t.Fatalf("5th wrong password: %s", r)
	}
	if r := e.login(t, u, cxPassword); r.Status != http.StatusTooManyRequests || r.str("error") != "account_locked" {
		t.Fatalf("the right password after the lock: %s", r)
	}
	// The mail worker delivers the notice from the outbox: wait for it.
	deadline := time.Now().Add(60 * time.Second)
	for len(smtpSrv.messages()) == 0 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	msgs := smtpSrv.messages()
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
	if strings.Contains(string(body), cxPassword) || strings.Contains(string(body), "Wrong-Password") {
		t.Errorf("the notice contains a password: %q", body)
	}
}
