package identity

import (
	"context"
	"log/slog"
	"sync"
	"time"
)

// Accounts is account security: login with lockout and second factors,
// passwords, TOTP, recovery and e-mail codes, PIN, devices and sessions. One
// implementation serves the JSON API and the HTML pages.
type Accounts struct {
	Store   AccountStore
	Tokens  TokenIssuer
	Limiter Limiter
	Mailer  Mailer
	Sealer  Sealer
	// StepUps is where step-up flags live (the Authorizer's cache): a
	// step-up done with the password stands in for the password when a
	// factor is enrolled.
	StepUps StepUpCache
	Log     *slog.Logger
	Now     func() time.Time
	Config  AccountsConfig
	// Issuer names this service in authenticator apps.
	Issuer string

	dummyOnce sync.Once
	dummy     []byte
}

func (a *Accounts) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

func (a *Accounts) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

// audit writes an event outside any transaction; a failure is logged, not
// returned, because the action it records already happened.
func (a *Accounts) audit(ctx context.Context, ev Event) {
	if err := WriteAudit(ctx, a.Store, ev); err != nil {
		a.log().ErrorContext(ctx, "write audit log", "action", ev.Action, "err", err)
	}
}

// auditTx writes an event inside the caller's transaction.
func (a *Accounts) auditTx(ctx context.Context, ev Event) error { return WriteAudit(ctx, a.Store, ev) }
