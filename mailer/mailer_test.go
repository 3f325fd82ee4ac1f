package mailer_test

import (
	"context"
	"errors"
	"io"
	"net"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/mailer"
)

// received is one message as a real SMTP server got it.
type received struct {
	From string   // MAIL FROM
	To   []string // RCPT TO
	Data []byte   // the message
	User string   // the AUTH PLAIN user, if any
}

// smtpServer is a real SMTP server (github.com/emersion/go-smtp) on
// 127.0.0.1 that keeps what it receives. With user set it offers AUTH PLAIN
// (over plain text, as local relays do) and requires it before MAIL.
type smtpServer struct {
	Addr       string
	user, pass string

	mu   sync.Mutex
	msgs []received
	got  chan struct{}
}

func startSMTP(t *testing.T, user, pass string) *smtpServer {
	t.Helper()
	s := &smtpServer{user: user, pass: pass, got: make(chan struct{}, 16)}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{srv: s}, nil }))
	srv.Domain = "localhost"
	srv.AllowInsecureAuth = true
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

// messages returns what arrived so far.
func (s *smtpServer) messages() []received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]received(nil), s.msgs...)
}

type smtpSession struct {
	srv    *smtpServer
	authed string
	from   string
	to     []string
}

func (s *smtpSession) AuthMechanisms() []string {
	if s.srv.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *smtpSession) Auth(mech string) (sasl.Server, error) {
	if mech != sasl.Plain || s.srv.user == "" {
		return nil, smtp.ErrAuthUnsupported
	}
	return sasl.NewPlainServer(func(_, username, password string) error {
		if username != s.srv.user || password != s.srv.pass {
			return errors.New("invalid credentials")
		}
		s.authed = username
		return nil
	}), nil
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.user != "" && s.authed == "" {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.mu.Lock()
	s.srv.msgs = append(s.srv.msgs, received{From: s.from, To: s.to, Data: b, User: s.authed})
	s.srv.mu.Unlock()
	s.srv.got <- struct{}{}
	return nil
}

func (s *smtpSession) Reset()        { s.from, s.to = "", nil }
func (s *smtpSession) Logout() error { return nil }

func TestNewSMTPParsesURL(t *testing.T) {
	ok := []string{
		"smtp://mail.example.com?from=identity@example.com",
		"smtp://mail.example.com:2525?from=identity@example.com&tls=starttls",
		"smtp://user:pa%40ss@mail.example.com:465?from=identity@example.com&tls=tls",
		"smtps://mail.example.com?from=identity@example.com",
		"smtp://127.0.0.1:25?from=identity@example.com&tls=none",
	}
	for _, raw := range ok {
		if _, err := mailer.NewSMTP(raw); err != nil {
			t.Errorf("NewSMTP(%q): %v", raw, err)
		}
	}
	bad := []struct {
		raw, want string
	}{
		{"", "smtp://"},
		{"http://mail.example.com?from=a@example.com", "smtp://"},
		{"smtp://?from=a@example.com", "smtp://"},
		{"smtp:// bad host?from=a@example.com", "smtp://"},
		{"smtp://mail.example.com", "from="},
		{"smtp://mail.example.com?tls=none", "from="},
		{"smtp://mail.example.com?from=a@example.com&tls=ssl3", "tls must be"},
		{"smtp://mail.example.com?from=a@example.com&tls=yes", "tls must be"},
		{"smtp://mail.example.com:notaport?from=a@example.com", ""},
	}
	for _, c := range bad {
		_, err := mailer.NewSMTP(c.raw)
		if err == nil {
			t.Errorf("NewSMTP(%q) accepted a bad URL", c.raw)
			continue
		}
		if !strings.HasPrefix(err.Error(), "SMTP_URL") {
			t.Errorf("NewSMTP(%q): error %q does not name SMTP_URL", c.raw, err)
		}
		if c.want != "" && !strings.Contains(err.Error(), c.want) {
			t.Errorf("NewSMTP(%q): error %q, want it to mention %q", c.raw, err, c.want)
		}
		if strings.Contains(err.Error(), "pa%40ss") || strings.Contains(err.Error(), "pa@ss") {
			t.Errorf("NewSMTP(%q): error leaks the password: %q", c.raw, err)
		}
	}
}

// wait blocks until n messages arrived or fails the test.
func (s *smtpServer) wait(t *testing.T, n int) []received {
	t.Helper()
	deadline := time.After(60 * time.Second)
	for len(s.messages()) < n {
		select {
		case <-s.got:
		case <-deadline:
			t.Fatalf("the SMTP server received %d messages, want %d", len(s.messages()), n)
		}
	}
	return s.messages()
}

func checkMessage(t *testing.T, r received, from, to, subject, body string) {
	t.Helper()
	if r.From != from {
		t.Errorf("MAIL FROM %q, want %q", r.From, from)
	}
	if len(r.To) != 1 || r.To[0] != to {
		t.Errorf("RCPT TO %v, want [%s]", r.To, to)
	}
	m, err := mail.ReadMessage(strings.NewReader(string(r.Data)))
	if err != nil {
		t.Fatalf("parse the received message: %v\n%s", err, r.Data)
	}
	if got, _ := mail.ParseAddress(m.Header.Get("From")); got == nil || got.Address != from {
		t.Errorf("From header %q, want %s", m.Header.Get("From"), from)
	}
	if got, _ := mail.ParseAddress(m.Header.Get("To")); got == nil || got.Address != to {
		t.Errorf("To header %q, want %s", m.Header.Get("To"), to)
	}
	if got := m.Header.Get("Subject"); got != subject {
		t.Errorf("Subject %q, want %q", got, subject)
	}
	if ct := m.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q, want text/plain", ct)
	}
	b, _ := io.ReadAll(m.Body)
	if !strings.Contains(strings.ReplaceAll(string(b), "\r\n", "\n"), body) {
		t.Errorf("body %q does not contain %q", b, body)
	}
}

func TestSMTPSendsWithoutTLS(t *testing.T) {
	srv := startSMTP(t, "", "")
	m, err := mailer.NewSMTP("smtp://" + srv.Addr + "?from=identity@example.com&tls=none")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	msg := identity.Message{To: "ada@example.com", Subject: "Your account was locked", Text: "Hello,\n\nYour account was locked until 12:00.\n"}
	if err := m.Send(ctx, msg); err != nil {
		t.Fatalf("send: %v", err)
	}
	got := srv.wait(t, 1)
	checkMessage(t, got[0], "identity@example.com", "ada@example.com", msg.Subject, "Your account was locked until 12:00.")
	if got[0].User != "" {
		t.Errorf("authenticated as %q without credentials in the URL", got[0].User)
	}
}

func TestSMTPAuthenticates(t *testing.T) {
	srv := startSMTP(t, "relay-user", "relay p@ss")
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	msg := identity.Message{To: "bob@example.com", Subject: "Your sign-in code", Text: "Your sign-in code is 123456.\n"}

	// Wrong credentials: the server refuses, and Send says so.
	bad, err := mailer.NewSMTP("smtp://relay-user:wrong@" + srv.Addr + "?from=identity@example.com&tls=none")
	if err != nil {
		t.Fatal(err)
	}
	if err := bad.Send(ctx, msg); err == nil {
		t.Fatal("sending with a wrong SMTP password succeeded")
	}
	// No credentials: MAIL is refused before AUTH.
	anon, err := mailer.NewSMTP("smtp://" + srv.Addr + "?from=identity@example.com&tls=none")
	if err != nil {
		t.Fatal(err)
	}
	if err := anon.Send(ctx, msg); err == nil {
		t.Fatal("sending without AUTH to a server that requires it succeeded")
	}
	if n := len(srv.messages()); n != 0 {
		t.Fatalf("%d messages arrived without valid AUTH", n)
	}

	m, err := mailer.NewSMTP("smtp://relay-user:relay%20p%40ss@" + srv.Addr + "?from=identity@example.com&tls=none")
	if err != nil {
		t.Fatal(err)
	}
	if err := m.Send(ctx, msg); err != nil {
		t.Fatalf("send with AUTH: %v", err)
	}
	got := srv.wait(t, 1)
	if got[0].User != "relay-user" {
		t.Errorf("the message arrived as user %q, want relay-user", got[0].User)
	}
	checkMessage(t, got[0], "identity@example.com", "bob@example.com", msg.Subject, "Your sign-in code is 123456.")
}

func TestSMTPSendFailsWhenServerIsDown(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	m, err := mailer.NewSMTP("smtp://" + addr + "?from=identity@example.com&tls=none")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := m.Send(ctx, identity.Message{To: "ada@example.com", Subject: "s", Text: "t"}); err == nil {
		t.Fatal("Send reported success with no server listening")
	}
}

// TestSMTPConcurrentSends: the server sends mail from concurrent requests
// (lockout notices, sign-in codes) through one SMTP value.
func TestSMTPConcurrentSends(t *testing.T) {
	srv := startSMTP(t, "relay-user", "secret")
	m, err := mailer.NewSMTP("smtp://relay-user:secret@" + srv.Addr + "?from=identity@example.com&tls=none")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	const n = 8
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- m.Send(ctx, identity.Message{To: "user" + string(rune('a'+i)) + "@example.com", Subject: "s", Text: "t"})
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("concurrent send: %v", err)
		}
	}
	got := srv.wait(t, n)
	seen := map[string]bool{}
	for _, r := range got {
		seen[strings.Join(r.To, ",")] = true
	}
	if len(seen) != n {
		t.Errorf("recipients %v, want %d distinct", seen, n)
	}
}
