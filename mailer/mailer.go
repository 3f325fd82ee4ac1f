// Package mailer sends e-mail and text messages: LogMailer writes messages
// to the log (the embedded default), SMTP sends them through the server
// SMTP_URL names, with github.com/wneessen/go-mail; LogSMS logs text
// messages (there is no SMS provider).
package mailer

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strconv"

	"github.com/wneessen/go-mail"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/trace"

	"github.com/identityd/identityd/identity"
)

// LogMailer logs each message instead of sending it: the recipient and the
// subject at info level, never the body, which carries one-time codes. With
// ShowBody (IDENTITY_DEV_LOG_MAIL=1, a development machine whose log is its
// inbox) the whole message is logged too, at debug level only.
type LogMailer struct {
	Log      *slog.Logger
	ShowBody bool
}

// Send implements identity.Mailer.
func (m *LogMailer) Send(ctx context.Context, msg identity.Message) error {
	m.Log.InfoContext(ctx, "mail (log mailer: set SMTP_URL to send)", "to", msg.To, "subject", msg.Subject)
	if m.ShowBody {
		m.Log.DebugContext(ctx, "mail body (IDENTITY_DEV_LOG_MAIL=1)", "to", msg.To, "subject", msg.Subject, "body", msg.Text)
	}
	return nil
}

// SMTP sends mail through one SMTP server.
type SMTP struct {
	client *mail.Client
	from   string
	host   string
	port   int
	// Tracer, when set, wraps each send in a client span (issue 11 §7):
	// the server's address only, never the recipient, subject or body.
	Tracer trace.Tracer
}

// NewSMTP parses SMTP_URL: smtp://[user:pass@]host[:port]?from=addr[&tls=starttls|tls|none].
// The default is STARTTLS when offered (opportunistic) on port 587; tls=tls
// is implicit TLS (port 465); tls=none sends in the clear (local relays, tests).
func NewSMTP(raw string) (*SMTP, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "smtp" && u.Scheme != "smtps") || u.Hostname() == "" {
		return nil, errors.New("SMTP_URL: use smtp://[user:pass@]host[:port]?from=address")
	}
	q := u.Query()
	from := q.Get("from")
	if from == "" {
		return nil, errors.New("SMTP_URL: add ?from=address")
	}
	mode := q.Get("tls")
	if u.Scheme == "smtps" {
		mode = "tls"
	}
	opts := []mail.Option{}
	port := 587
	switch mode {
	case "", "starttls":
		opts = append(opts, mail.WithTLSPortPolicy(mail.TLSOpportunistic))
	case "tls":
		port = 465
		opts = append(opts, mail.WithSSL())
	case "none":
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		return nil, errors.New("SMTP_URL: tls must be starttls, tls or none")
	}
	if p := u.Port(); p != "" {
		n, err := strconv.Atoi(p)
		if err != nil {
			return nil, errors.New("SMTP_URL: bad port")
		}
		port = n
	}
	opts = append(opts, mail.WithPort(port))
	if u.User != nil {
		pass, _ := u.User.Password()
		auth := mail.SMTPAuthAutoDiscover
		if mode == "none" {
			// Discovery never offers a password over a plain connection;
			// tls=none is the operator's explicit choice of one.
			auth = mail.SMTPAuthPlainNoEnc
		}
		opts = append(opts, mail.WithSMTPAuth(auth), mail.WithUsername(u.User.Username()), mail.WithPassword(pass))
	}
	c, err := mail.NewClient(u.Hostname(), opts...)
	if err != nil {
		return nil, fmt.Errorf("SMTP_URL: %w", err)
	}
	return &SMTP{client: c, from: from, host: u.Hostname(), port: port}, nil
}

// Send implements identity.Mailer.
func (s *SMTP) Send(ctx context.Context, msg identity.Message) error {
	m := mail.NewMsg()
	if err := m.From(s.from); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	if err := m.To(msg.To); err != nil {
		return fmt.Errorf("mail to: %w", err)
	}
	m.Subject(msg.Subject)
	m.SetBodyString(mail.TypeTextPlain, msg.Text)
	if s.Tracer != nil {
		var span trace.Span
		ctx, span = s.Tracer.Start(ctx, "smtp send", trace.WithSpanKind(trace.SpanKindClient),
			trace.WithAttributes(attribute.String("server.address", s.host), attribute.Int("server.port", s.port)))
		defer span.End()
		if err := s.client.DialAndSendWithContext(ctx, m); err != nil {
			// The error's type only: an SMTP reply may quote the address.
			span.SetStatus(codes.Error, fmt.Sprintf("%T", err))
			return fmt.Errorf("send mail: %w", err)
		}
		return nil
	}
	if err := s.client.DialAndSendWithContext(ctx, m); err != nil {
		return fmt.Errorf("send mail: %w", err)
	}
	return nil
}
