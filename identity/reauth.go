package identity

import (
	"context"
	"fmt"
	"time"

	"github.com/identityd/identityd/models"
)

// ErrImpersonationForbidden is the answer to an impersonation token that
// tries to change the user's credentials or security settings, or to step up.
func ErrImpersonationForbidden() *models.Error {
	return models.ErrImpersonationForbidden()
}

func errInvalidPassword() *models.Error {
	return models.ErrInvalidPassword()
}

func errAccountLocked(until, now time.Time) *models.Error {
	return models.ErrAccountLocked(until.Sub(now))
}

// verifyPassword is the one check of the current password of a signed-in
// user (password change, recovery codes, PIN, e-mail 2FA, 2FA disable,
// step-up, factor enrolment): throttled like login, and a wrong password
// counts towards the account's lockout exactly as a failed login does.
func (c *credentials) verifyPassword(ctx context.Context, p Principal, password string, meta Meta) (*models.User, error) {
	if p.ActorID != "" {
		return nil, ErrImpersonationForbidden()
	}
	user, err := c.users.GetUser(ctx, p.TenantID, p.UserID)
	if err != nil {
		return nil, err
	}
	at, err := c.beginAttempt(ctx, c.cfg.LoginLimit, meta.IP, "user:"+user.ID)
	if err != nil {
		return nil, err
	}
	now := c.now()
	if user.Locked(now) {
		return nil, errAccountLocked(*user.LockedUntil, now)
	}
	match := false
	if len(password) <= maxPasswordBytes {
		if match, err = passwordMatches(ctx, []byte(user.PasswordHash), password); err != nil {
			return nil, err
		}
	}
	if !match {
		at.failed(ctx)
		res, err := c.counters.RecordLoginFailure(ctx, user.TenantID, user.ID, c.cfg.MaxFailedLogins, c.cfg.LockoutDuration)
		if err != nil {
			return nil, err
		}
		c.recordOutside(ctx, p, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditLoginFailed, Meta: meta,
			Metadata: map[string]any{"reason": "bad_password", "purpose": "reauthentication", "failures": res.Failures}})
		if res.JustLocked {
			c.onLocked(ctx, p, user, *res.LockedUntil, meta)
		}
		return nil, errInvalidPassword()
	}
	ok, err := c.counters.ClearLoginFailures(ctx, user.TenantID, user.ID)
	if err != nil {
		return nil, err
	}
	if !ok { // locked by a concurrent failure after we read the user
		return nil, errAccountLocked(now.Add(c.cfg.LockoutDuration), now)
	}
	at.succeeded(ctx)
	return user, nil
}

// proveForFactorChange is the rule of every factor enrolment or change
// (TOTP set-up and confirmation, e-mail codes, PIN, recovery codes): the
// current password now, or a step-up done with the password in this
// session. A bearer token alone, or a step-up with another factor, is not
// enough; an impersonation token never is.
func (c *credentials) proveForFactorChange(ctx context.Context, p Principal, password string, meta Meta) (*models.User, error) {
	if p.ActorID != "" {
		return nil, ErrImpersonationForbidden()
	}
	if password != "" {
		return c.verifyPassword(ctx, p, password, meta)
	}
	if c.stepUps != nil && p.SessionID != "" {
		v, ok, err := c.stepUps.Get(ctx, stepUpKey(p))
		if err != nil {
			return nil, models.ErrInternal(fmt.Errorf("step-up flag: %w", err))
		}
		if until, method, parsed := parseStepUpFlag(v); ok && parsed && method == "password" && c.now().Before(until) {
			return c.users.GetUser(ctx, p.TenantID, p.UserID)
		}
	}
	return nil, models.ErrPasswordRequired()
}

// errInactive is the answer to a pending login step of a user deactivated
// since the step began.
func errInactive() *models.Error {
	return models.ErrAccountInactive()
}

// checkActive is asked at every step of every login path and by bearer
// authentication: the user is active and its tenant is not suspended.
func (c *credentials) checkActive(ctx context.Context, user *models.User) error {
	_, err := c.activeTenant(ctx, user)
	return err
}

// activeTenant is checkActive returning the user's tenant.
func (c *credentials) activeTenant(ctx context.Context, user *models.User) (*models.Tenant, error) {
	if !user.IsActive {
		return nil, errInactive()
	}
	t, err := c.users.GetTenant(ctx, user.TenantID)
	if err != nil {
		return nil, err
	}
	if t.SuspendedAt != nil {
		return nil, ErrTenantSuspended()
	}
	return t, nil
}
