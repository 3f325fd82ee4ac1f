package apptest

import (
	"encoding/base64"
	"io"
	"mime"
	"mime/quotedprintable"
	"net/mail"
	"strings"
	"testing"
	"time"
)

// WaitMessage waits (up to 60 s) for a message to the address whose subject
// contains subject, and returns its text body, decoded.
func (s *SMTPServer) WaitMessage(t testing.TB, to, subject string) string {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		for _, m := range s.Messages() {
			if len(m.To) == 0 || !strings.EqualFold(m.To[0], to) {
				continue
			}
			msg, err := mail.ReadMessage(strings.NewReader(string(m.Data)))
			if err != nil {
				t.Fatalf("parse a message to %s: %v", to, err)
			}
			subj, err := new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject"))
			if err != nil || !strings.Contains(subj, subject) {
				continue
			}
			var body io.Reader = msg.Body
			switch strings.ToLower(msg.Header.Get("Content-Transfer-Encoding")) {
			case "quoted-printable":
				body = quotedprintable.NewReader(body)
			case "base64":
				body = base64.NewDecoder(base64.StdEncoding, body)
			}
			b, err := io.ReadAll(body)
			if err != nil {
				t.Fatalf("read a message to %s: %v", to, err)
			}
			return strings.ReplaceAll(string(b), "\r\n", "\n")
		}
		if time.Now().After(deadline) {
			t.Fatalf("no message to %s with subject %q; the SMTP server has %d messages", to, subject, len(s.Messages()))
		}
		time.Sleep(50 * time.Millisecond)
	}
}
