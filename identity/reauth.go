package identity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/models"
)

// Rate limits that do not punish success (issue 8 §3). Every credential
// check (password login, the re-checked password of a signed-in user, a
// second factor, a PIN, a reset code) runs through one attempt:
//
//   - per (IP, account): l's budget of attempts; a success clears the pair,
//     so a user who signs in again and again is never throttled;
//   - per IP: failures only, under Config.IPFailureLimit, so credential
//     stuffing across many accounts from one address is still throttled
//     while a hundred colleagues behind one NAT all sign in;
//   - per account: the lockout (MaxFailedLogins → LockoutDuration), counted
//     in one SQL statement by the callers.
//
// The per-IP budget is read before the attempt and taken after a failure:
// concurrent attempts can overrun it by at most the number in flight.
type attempt struct {
	a    *Accounts
	l    Limit
	ip   string
	pair string
}

// beginAttempt checks the IP's failure budget and takes one attempt of the
// (IP, account) pair; account "" skips the pair (nothing to key it on yet).
func (a *Accounts) beginAttempt(ctx context.Context, l Limit, ip, account string) (*attempt, error) {
	at := &attempt{a: a, l: l, ip: ip}
	if a.Limiter == nil {
		return at, nil
	}
	if f := a.ipFailureLimit(); f.Rate > 0 && f.Period > 0 {
		ok, retry, err := a.Limiter.Peek(ctx, l.Name+":ipfail:"+ip, f)
		if err != nil {
			return nil, models.ErrInternal(fmt.Errorf("rate limit %s: %w", l.Name, err))
		}
		if !ok {
			return nil, models.ErrRateLimited(retry)
		}
	}
	if account != "" && l.Rate > 0 && l.Period > 0 {
		at.pair = l.Name + ":pair:" + ip + ":" + account
		ok, retry, err := a.Limiter.Allow(ctx, at.pair, l)
		if err != nil {
			return nil, models.ErrInternal(fmt.Errorf("rate limit %s: %w", l.Name, err))
		}
		if !ok {
			return nil, models.ErrRateLimited(retry)
		}
	}
	return at, nil
}

// succeeded clears the pair's counter.
func (at *attempt) succeeded(ctx context.Context) {
	if at == nil || at.a.Limiter == nil || at.pair == "" {
		return
	}
	if err := at.a.Limiter.Reset(ctx, at.pair); err != nil {
		at.a.log().WarnContext(ctx, "clear rate limit", "limit", at.l.Name, "err", err)
	}
}

// finish records the outcome of the attempt: a success clears the pair,
// a refusal counts as a failure (an internal error is neither).
func (at *attempt) finish(ctx context.Context, err error) {
	switch {
	case err == nil:
		at.succeeded(ctx)
	case !models.IsKind(err, models.KindInternal):
		at.failed(ctx)
	}
}

// failed counts one failure against the IP's budget.
func (at *attempt) failed(ctx context.Context) {
	if at == nil || at.a.Limiter == nil {
		return
	}
	f := at.a.ipFailureLimit()
	if f.Rate <= 0 || f.Period <= 0 {
		return
	}
	if _, _, err := at.a.Limiter.Allow(ctx, at.l.Name+":ipfail:"+at.ip, f); err != nil {
		at.a.log().WarnContext(ctx, "count failure", "limit", at.l.Name, "err", err)
	}
}

func (a *Accounts) ipFailureLimit() Limit {
	f := a.Config.IPFailureLimit
	f.Name = "ipfail"
	return f
}

// ErrImpersonationForbidden is the answer to an impersonation token that
// tries to change the user's credentials or security settings, or to step up.
func ErrImpersonationForbidden() *models.Error {
	return models.NewError(models.KindForbidden, "impersonation_forbidden",
		"An impersonation token cannot change credentials or security settings, or step up.", nil)
}

func errInvalidPassword() *models.Error {
	return models.NewError(models.KindUnauthenticated, "invalid_password", "The password is not correct.", nil)
}

func errAccountLocked(until, now time.Time) *models.Error {
	return ErrLocked("account_locked", "This account is locked after too many failed sign-in attempts. Try again later.", until, now)
}

// verifyPassword is the one check of the current password of a signed-in
// user (password change, recovery codes, PIN, e-mail 2FA, 2FA disable,
// step-up, factor enrolment): throttled like login, and a wrong password
// counts towards the account's lockout exactly as a failed login does.
func (a *Accounts) verifyPassword(ctx context.Context, p Principal, password string, meta Meta) (*models.User, error) {
	if p.ActorID != "" {
		return nil, ErrImpersonationForbidden()
	}
	user, err := a.Store.GetUser(ctx, p.TenantID, p.UserID)
	if err != nil {
		return nil, err
	}
	at, err := a.beginAttempt(ctx, a.Config.LoginLimit, meta.IP, "user:"+user.ID)
	if err != nil {
		return nil, err
	}
	now := a.now()
	if user.Locked(now) {
		return nil, errAccountLocked(*user.LockedUntil, now)
	}
	if len(password) > maxPasswordBytes || bcrypt.CompareHashAndPassword([]byte(user.PasswordHash), []byte(password)) != nil {
		at.failed(ctx)
		res, err := a.Store.RecordLoginFailure(ctx, user.TenantID, user.ID, a.Config.MaxFailedLogins, a.Config.LockoutDuration)
		if err != nil {
			return nil, err
		}
		a.audit(ctx, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditLoginFailed, Meta: meta,
			Metadata: map[string]any{"reason": "bad_password", "purpose": "reauthentication", "failures": res.Failures}})
		if res.JustLocked {
			a.onLocked(ctx, user, *res.LockedUntil, meta)
		}
		return nil, errInvalidPassword()
	}
	ok, err := a.Store.ClearLoginFailures(ctx, user.TenantID, user.ID)
	if err != nil {
		return nil, err
	}
	if !ok { // locked by a concurrent failure after we read the user
		return nil, errAccountLocked(now.Add(a.Config.LockoutDuration), now)
	}
	at.succeeded(ctx)
	return user, nil
}

// stepUpFlag is what a step-up leaves in the shared cache: until when, and
// with which method.
func stepUpFlag(until time.Time, method string) []byte {
	return []byte(until.Format(time.RFC3339Nano) + "|" + method)
}

func parseStepUpFlag(v []byte) (time.Time, string, bool) {
	ts, method, _ := strings.Cut(string(v), "|")
	until, err := time.Parse(time.RFC3339Nano, ts)
	return until, method, err == nil
}

// proveForFactorChange is the rule of every factor enrolment or change
// (TOTP set-up and confirmation, e-mail codes, PIN, recovery codes): the
// current password now, or a step-up done with the password in this
// session. A bearer token alone, or a step-up with another factor, is not
// enough; an impersonation token never is.
func (a *Accounts) proveForFactorChange(ctx context.Context, p Principal, password string, meta Meta) (*models.User, error) {
	if p.ActorID != "" {
		return nil, ErrImpersonationForbidden()
	}
	if password != "" {
		return a.verifyPassword(ctx, p, password, meta)
	}
	if a.StepUps != nil && p.SessionID != "" {
		v, ok, err := a.StepUps.Get(ctx, stepUpKey(p))
		if err != nil {
			return nil, models.ErrInternal(fmt.Errorf("step-up flag: %w", err))
		}
		if until, method, parsed := parseStepUpFlag(v); ok && parsed && method == "password" && a.now().Before(until) {
			return a.Store.GetUser(ctx, p.TenantID, p.UserID)
		}
	}
	return nil, &models.Error{Kind: models.KindForbidden, Code: "password_required",
		Msg: "Enter your current password (or step up with it) to change a sign-in factor."}
}

// errInactive is the answer to a pending login step of a user deactivated
// since the step began.
func errInactive() *models.Error {
	return models.NewError(models.KindUnauthenticated, "account_inactive", "This account is not active. Sign in again or contact your administrator.", nil)
}

// checkActive is asked at every step of every login path and by bearer
// authentication: the user is active and its tenant is not suspended.
func (a *Accounts) checkActive(ctx context.Context, user *models.User) error {
	if !user.IsActive {
		return errInactive()
	}
	t, err := a.Store.GetTenant(ctx, user.TenantID)
	if err != nil {
		return err
	}
	if t.SuspendedAt != nil {
		return ErrTenantSuspended()
	}
	return nil
}

// ActiveUser returns the user of a bearer token, or an error when the user
// no longer exists, is deactivated, or its tenant is suspended.
func (a *Accounts) ActiveUser(ctx context.Context, tenantID, userID string) (*models.User, error) {
	u, suspended, err := a.Store.GetUserAndTenantState(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	if !u.IsActive {
		return nil, errInactive()
	}
	if suspended {
		return nil, ErrTenantSuspended()
	}
	return u, nil
}

// ClientAuthGate refuses a client-secret check (with a RateLimited error)
// when the client id or the address has spent its failure budget. The
// Hasher asks it only for secrets its verified cache does not know, so a
// correct, cached client is never refused by someone else's failures.
func (a *Accounts) ClientAuthGate(ctx context.Context, clientID, ip string) error {
	l := a.Config.ClientAuthFailureLimit
	if a.Limiter == nil || l.Rate <= 0 || l.Period <= 0 {
		return nil
	}
	for _, k := range []string{"client:" + clientID, "ip:" + ip} {
		ok, retry, err := a.Limiter.Peek(ctx, "client_auth:"+k, l)
		if err != nil {
			if models.IsUnavailable(err) {
				// Fail closed, but say why: a 503, never an unlimited guess.
				return fmt.Errorf("rate limit client auth: %w", err)
			}
			return models.ErrInternal(fmt.Errorf("rate limit client auth: %w", err))
		}
		if !ok {
			return models.ErrRateLimited(retry)
		}
	}
	return nil
}

// ClientAuthFailed counts one failed client authentication against the
// client id and the address.
func (a *Accounts) ClientAuthFailed(ctx context.Context, clientID, ip string) {
	l := a.Config.ClientAuthFailureLimit
	if a.Limiter == nil || l.Rate <= 0 || l.Period <= 0 {
		return
	}
	for _, k := range []string{"client:" + clientID, "ip:" + ip} {
		if _, _, err := a.Limiter.Allow(ctx, "client_auth:"+k, l); err != nil {
			a.log().WarnContext(ctx, "count client auth failure", "err", err)
		}
	}
}
