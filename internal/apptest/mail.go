package apptest

import (
	"context"
	"io"
	"net"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/emersion/go-smtp"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
)

// Mailbox is an identity.Mailer that keeps every message, for tests that
// count or read the e-mails a server sends.
type Mailbox struct {
	mu   sync.Mutex
	msgs []identity.Message
}

// CaptureMail makes the account services send straight into a new Mailbox
// (no outbox, no worker) and returns it. Call it before the first request,
// so no handler sees the old mailer.
func (s *Server) CaptureMail() *Mailbox {
	m := &Mailbox{}
	s.DeliverTo(m)
	return m
}

// DeliverTo makes the account services send straight into m: several
// instances of one deployment may share a mailbox.
func (s *Server) DeliverTo(m *Mailbox) {
	s.AccountMail.Use(m)
}

// Send keeps msg.
func (m *Mailbox) Send(_ context.Context, msg identity.Message) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.msgs = append(m.msgs, msg)
	return nil
}

// Sent returns the messages sent to addr so far.
func (m *Mailbox) Sent(addr string) []identity.Message {
	return m.To(addr, "")
}

// To returns the messages sent to addr whose subject contains subject.
func (m *Mailbox) To(addr, subject string) []identity.Message {
	m.mu.Lock()
	defer m.mu.Unlock()
	var out []identity.Message
	for _, msg := range m.msgs {
		if strings.EqualFold(msg.To, addr) && strings.Contains(msg.Subject, subject) {
			out = append(out, msg)
		}
	}
	return out
}

var sixDigits = regexp.MustCompile(`\b(\d{6})\b`)

// LastCode returns the 6-digit code of the newest message to addr and how
// many messages addr has received.
func (m *Mailbox) LastCode(t testing.TB, addr string) (string, int) {
	t.Helper()
	msgs := m.Sent(addr)
	require.NotEmpty(t, msgs, "no e-mail to %s", addr)
	return CodeIn(t, msgs[len(msgs)-1].Text), len(msgs)
}

// CodeIn returns the first 6-digit code in text.
func CodeIn(t testing.TB, text string) string {
	t.Helper()
	match := sixDigits.FindStringSubmatch(text)
	require.NotNil(t, match, "no 6-digit code in %q", text)
	return match[1]
}

// SMTPMessage is one message the SMTP server received.
type SMTPMessage struct {
	From string
	To   []string
	Data []byte
}

// SMTPServer is a real SMTP server (github.com/emersion/go-smtp) on
// 127.0.0.1 that keeps every message, for tests of the real mail path
// (SMTP_URL, the outbox and its worker).
type SMTPServer struct {
	Addr    string
	release chan struct{}
	once    sync.Once
	mu      sync.Mutex
	msgs    []SMTPMessage
	holding atomic.Int32
}

// StartSMTP starts an SMTP server that takes every message at once.
func StartSMTP(t testing.TB) *SMTPServer {
	t.Helper()
	s := startSMTP(t, 10*time.Second)
	s.Release()
	return s
}

// StartHeldSMTP starts an SMTP server that holds every message (the DATA
// command does not answer) until Release.
func StartHeldSMTP(t testing.TB) *SMTPServer {
	t.Helper()
	return startSMTP(t, time.Minute)
}

func startSMTP(t testing.TB, timeout time.Duration) *SMTPServer {
	t.Helper()
	s := &SMTPServer{release: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &smtpSession{srv: s}, nil }))
	srv.Domain = "localhost"
	srv.ReadTimeout, srv.WriteTimeout = timeout, timeout
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err, "listen")
	s.Addr = ln.Addr().String()
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { s.Release(); _ = srv.Close() })
	return s
}

// URL is the SMTP_URL that sends to this server, from
// identity@example.com, without TLS.
func (s *SMTPServer) URL() app.Secret {
	return app.Secret("smtp://" + s.Addr + "?from=identity@example.com&tls=none")
}

// Release lets every held and later message through.
func (s *SMTPServer) Release() { s.once.Do(func() { close(s.release) }) }

// Holding counts the messages a held server is holding right now: their
// sender is waiting for the answer to DATA.
func (s *SMTPServer) Holding() int { return int(s.holding.Load()) }

// Messages returns the messages received so far.
func (s *SMTPServer) Messages() []SMTPMessage {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SMTPMessage(nil), s.msgs...)
}

type smtpSession struct {
	srv  *SMTPServer
	from string
	to   []string
}

func (s *smtpSession) Mail(from string, _ *smtp.MailOptions) error { s.from = from; return nil }
func (s *smtpSession) Rcpt(to string, _ *smtp.RcptOptions) error   { s.to = append(s.to, to); return nil }
func (s *smtpSession) Reset()                                      { s.from, s.to = "", nil }
func (s *smtpSession) Logout() error                               { return nil }
func (s *smtpSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	s.srv.holding.Add(1)
	<-s.srv.release
	s.srv.holding.Add(-1)
	s.srv.mu.Lock()
	defer s.srv.mu.Unlock()
	s.srv.msgs = append(s.srv.msgs, SMTPMessage{From: s.from, To: s.to, Data: b})
	return nil
}

// CaptureAdminMail makes the user administration (the notices it sends when
// an administrator changes a user's e-mail or password) send straight into
// a new Mailbox, and returns it.
func (s *Server) CaptureAdminMail() *Mailbox {
	m := &Mailbox{}
	s.Users.SetMailer(m)
	return m
}
