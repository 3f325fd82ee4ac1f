package mailer_test

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/mailer"
)

// TestLogSMSNeverLogsTheTextAtInfo: the log sender logs the recipient at
// info level; the text (a verification code) only at debug with ShowBody.
func TestLogSMSNeverLogsTheTextAtInfo(t *testing.T) {
	for _, show := range []bool{false, true} {
		var buf bytes.Buffer
		log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
		s := &mailer.LogSMS{Log: log, ShowBody: show}
		if err := s.SendSMS(t.Context(), identity.SMS{To: "+447700900123", Text: "Your verification code is 493817."}); err != nil {
			t.Fatal(err)
		}
		if out := buf.String(); strings.Contains(out, "493817") || !strings.Contains(out, "+447700900123") {
			t.Errorf("show=%v: info log %q", show, out)
		}
		buf.Reset()
		debug := &mailer.LogSMS{Log: slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), ShowBody: show}
		_ = debug.SendSMS(t.Context(), identity.SMS{To: "+447700900123", Text: "Your verification code is 493817."})
		if got := strings.Contains(buf.String(), "493817"); got != show {
			t.Errorf("show=%v: the code at debug level: %v", show, got)
		}
	}
}
