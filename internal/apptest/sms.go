package apptest

import (
	"context"
	"regexp"
	"sync"

	"github.com/identityd/identityd/identity"
)

// Phone keeps the text messages the account services send (the phone
// verification codes).
type Phone struct {
	mu   sync.Mutex
	msgs []identity.SMS
}

// CapturePhone makes the account services send text messages into the
// returned Phone instead of the log sender.
func (s *Server) CapturePhone() *Phone {
	p := &Phone{}
	s.SMS.Use(p)
	return p
}

// SendSMS keeps m.
func (p *Phone) SendSMS(_ context.Context, m identity.SMS) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.msgs = append(p.msgs, m)
	return nil
}

// Sent returns the messages sent to number so far.
func (p *Phone) Sent(number string) []identity.SMS {
	p.mu.Lock()
	defer p.mu.Unlock()
	var out []identity.SMS
	for _, m := range p.msgs {
		if m.To == number {
			out = append(out, m)
		}
	}
	return out
}

var smsCode = regexp.MustCompile(`\b[0-9]{6}\b`)

// LastCode returns the 6-digit code of the newest message to number, or "".
func (p *Phone) LastCode(number string) string {
	msgs := p.Sent(number)
	if len(msgs) == 0 {
		return ""
	}
	return smsCode.FindString(msgs[len(msgs)-1].Text)
}
