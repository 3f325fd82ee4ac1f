package identity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/identityd/identityd/models"
)

// StepUpCache holds step-up flags; Redis when configured, so every instance
// sees an elevation at once.
type StepUpCache interface {
	Get(ctx context.Context, key string) ([]byte, bool, error)
	Set(ctx context.Context, key string, value []byte, ttl time.Duration) error
	Delete(ctx context.Context, key string) error
}

func stepUpKey(p Principal) string {
	return "stepup:" + p.TenantID + ":" + p.UserID + ":" + p.SessionID
}

// StepUpInput re-authenticates for elevation: one of password, PIN or code.
type StepUpInput struct {
	Password string
	PIN      string
	Code     string
	Reason   string
	Meta     Meta
}

// StepUp elevates the principal's session for StepUpTTL after a fresh proof
// of identity; the flag lives in the shared cache.
func (z *Authorizer) StepUp(ctx context.Context, p Principal, in StepUpInput) (time.Time, error) {
	if p.Kind == models.PrincipalServiceAccount {
		return time.Time{}, models.NewError(models.KindForbidden, "step_up_not_available", "Service accounts do not step up.", nil)
	}
	if p.ActorID != "" {
		return time.Time{}, ErrImpersonationForbidden()
	}
	a := z.Accounts
	method := ""
	switch {
	case in.Password != "":
		method = "password"
		if _, err := a.verifyPassword(ctx, p, in.Password, in.Meta); err != nil {
			return time.Time{}, err
		}
	case in.PIN != "":
		method = "pin"
		if err := z.stepUpWithPIN(ctx, p, in); err != nil {
			return time.Time{}, err
		}
	case in.Code != "":
		method = "otp"
		if err := z.stepUpWithCode(ctx, p, in); err != nil {
			return time.Time{}, err
		}
	default:
		return time.Time{}, models.ErrInvalid(map[string]string{"password": "Send a password, a PIN or a code."})
	}
	until := z.now().Add(z.StepUpTTL)
	if err := z.Cache.Set(ctx, stepUpKey(p), stepUpFlag(until, method), z.StepUpTTL); err != nil {
		return time.Time{}, models.ErrInternal(fmt.Errorf("step-up flag: %w", err))
	}
	a.audit(ctx, Event{TenantID: p.TenantID, UserID: p.UserID, ActorID: p.ActorID, Action: AuditStepUp, Meta: in.Meta,
		Metadata: map[string]any{"method": method, "reason": truncate(in.Reason, 200), "until": until}})
	return until, nil
}

// StepUpStatus reports whether the principal's session is elevated, and until when.
func (z *Authorizer) StepUpStatus(ctx context.Context, p Principal) (bool, time.Time, error) {
	v, ok, err := z.Cache.Get(ctx, stepUpKey(p))
	if err != nil {
		return false, time.Time{}, models.ErrInternal(fmt.Errorf("step-up flag: %w", err))
	}
	if !ok {
		return false, time.Time{}, nil
	}
	until, _, parsed := parseStepUpFlag(v)
	if !parsed || !z.now().Before(until) {
		return false, time.Time{}, nil
	}
	return true, until, nil
}

// EndStepUp drops the elevation early.
func (z *Authorizer) EndStepUp(ctx context.Context, p Principal) error {
	if err := z.Cache.Delete(ctx, stepUpKey(p)); err != nil {
		return models.ErrInternal(fmt.Errorf("step-up flag: %w", err))
	}
	return nil
}

// errEnrolledInSession refuses a step-up with a factor enrolled in the
// session being elevated: whoever enrolled it may hold only a stolen token.
func errEnrolledInSession() *models.Error {
	return models.NewError(models.KindForbidden, "factor_enrolled_in_session",
		"A factor set up in this session cannot confirm it. Step up with your password, or sign in again.", nil)
}

// enrolledHere reports whether a factor enrolled by session enrolledBy
// would elevate that same session (or a token bound to no session at all).
func enrolledHere(p Principal, enrolledBy string) bool {
	return p.SessionID == "" || enrolledBy == p.SessionID
}

func (z *Authorizer) stepUpWithPIN(ctx context.Context, p Principal, in StepUpInput) error {
	a := z.Accounts
	at, err := a.beginAttempt(ctx, a.Config.PINLimit, in.Meta.IP, "user:"+p.UserID)
	if err != nil {
		return err
	}
	user, err := a.Store.GetUser(ctx, p.TenantID, p.UserID)
	if err != nil {
		return err
	}
	if user.PINHash != "" && enrolledHere(p, user.PINSessionID) {
		return errEnrolledInSession()
	}
	if err := a.comparePIN(ctx, user, in.PIN, in.Meta); err != nil {
		at.failed(ctx)
		return err
	}
	at.succeeded(ctx)
	return nil
}

func (z *Authorizer) stepUpWithCode(ctx context.Context, p Principal, in StepUpInput) error {
	a := z.Accounts
	at, err := a.beginAttempt(ctx, a.Config.TwoFactorLimit, in.Meta.IP, "user:"+p.UserID)
	if err != nil {
		return err
	}
	user, err := a.Store.GetUser(ctx, p.TenantID, p.UserID)
	if err != nil {
		return err
	}
	if (user.TOTPEnabled && enrolledHere(p, user.TOTPSessionID)) || (!user.TOTPEnabled && user.Email2FAEnabled && enrolledHere(p, user.Email2FASessionID)) {
		return errEnrolledInSession()
	}
	if _, ok, err := a.checkSecondFactor(ctx, user, in.Code, ""); err != nil {
		return err
	} else if !ok {
		at.failed(ctx)
		return errInvalidCode()
	}
	at.succeeded(ctx)
	return nil
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
