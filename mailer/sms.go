package mailer

import (
	"context"
	"log/slog"

	"github.com/identityd/identityd/identity"
)

// LogSMS logs each text message instead of sending it (Identity has no SMS
// provider): the recipient at info level, never the text, which carries
// verification codes. With ShowBody (IDENTITY_DEV_LOG_MAIL=1, as for the
// log mailer) the text is logged too, at debug level only.
type LogSMS struct {
	Log      *slog.Logger
	ShowBody bool
}

// SendSMS implements identity.SMSSender.
func (m *LogSMS) SendSMS(ctx context.Context, msg identity.SMS) error {
	m.Log.InfoContext(ctx, "sms (log sender: no SMS provider configured)", "to", msg.To)
	if m.ShowBody {
		m.Log.DebugContext(ctx, "sms text (IDENTITY_DEV_LOG_MAIL=1)", "to", msg.To, "text", msg.Text)
	}
	return nil
}
