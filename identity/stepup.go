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

// StepUp elevates a signed-in user's session for a while after a fresh
// proof (the password, the PIN or a second-factor code), so that danger
// actions pass the Authorizer's gate; the flag lives in the shared cache.
type StepUp struct {
	*credentials
	ttl time.Duration
}

// StepUpDeps are what NewStepUp needs; every field is required. Its only
// stores are the credential checks'.
type StepUpDeps struct {
	AccountDeps
	CredentialStores
	// TTL is how long a step-up lasts.
	TTL time.Duration
}

// NewStepUp builds the step-up service.
func NewStepUp(d StepUpDeps) (*StepUp, error) {
	c, err := newCredentials("NewStepUp", d.CredentialStores, d.AccountDeps)
	if err != nil {
		return nil, err
	}
	if err := checkDeps("StepUp", dep{"StepUps", d.StepUps == nil}, dep{"TTL", d.TTL <= 0}); err != nil {
		return nil, err
	}
	return &StepUp{credentials: c, ttl: d.TTL}, nil
}

// TTL is how long a step-up lasts.
func (su *StepUp) TTL() time.Duration { return su.ttl }

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

// Elevate elevates the principal's session for the step-up TTL after a fresh proof
// of identity; the flag lives in the shared cache.
func (su *StepUp) Elevate(ctx context.Context, p Principal, in StepUpInput) (time.Time, error) {
	if p.Kind == models.PrincipalServiceAccount {
		return time.Time{}, models.ErrStepUpNotAvailable()
	}
	if p.ActorID != "" {
		return time.Time{}, ErrImpersonationForbidden()
	}
	method := ""
	switch {
	case in.Password != "":
		method = "password"
		if _, err := su.verifyPassword(ctx, p, in.Password, in.Meta); err != nil {
			return time.Time{}, err
		}
	case in.PIN != "":
		method = "pin"
		if err := su.withPIN(ctx, p, in); err != nil {
			return time.Time{}, err
		}
	case in.Code != "":
		method = "otp"
		if err := su.withCode(ctx, p, in); err != nil {
			return time.Time{}, err
		}
	default:
		return time.Time{}, models.ErrInvalid(map[string]string{"password": "Send a password, a PIN or a code."})
	}
	until := su.now().Add(su.ttl)
	if err := su.stepUps.Set(ctx, stepUpKey(p), stepUpFlag(until, method), su.ttl); err != nil {
		return time.Time{}, models.ErrInternal(fmt.Errorf("step-up flag: %w", err))
	}
	su.recordOutside(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditStepUp, Meta: in.Meta,
		Metadata: map[string]any{"method": method, "reason": truncate(in.Reason, 200), "until": until}})
	return until, nil
}

// Status reports whether the principal's session is elevated, and until when.
func (su *StepUp) Status(ctx context.Context, p Principal) (bool, time.Time, error) {
	return stepUpStatus(ctx, su.stepUps, su.now(), p)
}

// stepUpStatus reads p's step-up flag from cache: whether the session is
// elevated at now, and until when (StepUp.Status, Authorizer.Decide).
func stepUpStatus(ctx context.Context, cache StepUpCache, now time.Time, p Principal) (bool, time.Time, error) {
	v, ok, err := cache.Get(ctx, stepUpKey(p))
	if err != nil {
		return false, time.Time{}, models.ErrInternal(fmt.Errorf("step-up flag: %w", err))
	}
	if !ok {
		return false, time.Time{}, nil
	}
	until, _, parsed := parseStepUpFlag(v)
	if !parsed || !now.Before(until) {
		return false, time.Time{}, nil
	}
	return true, until, nil
}

// End drops the elevation early.
func (su *StepUp) End(ctx context.Context, p Principal) error {
	if err := su.stepUps.Delete(ctx, stepUpKey(p)); err != nil {
		return models.ErrInternal(fmt.Errorf("step-up flag: %w", err))
	}
	return nil
}

// errEnrolledInSession refuses a step-up with a factor enrolled in the
// session being elevated: whoever enrolled it may hold only a stolen token.
func errEnrolledInSession() *models.Error {
	return models.ErrFactorEnrolledInSession()
}

// enrolledHere reports whether a factor enrolled by session enrolledBy
// would elevate that same session (or a token bound to no session at all).
func enrolledHere(p Principal, enrolledBy string) bool {
	return p.SessionID == "" || enrolledBy == p.SessionID
}

func (su *StepUp) withPIN(ctx context.Context, p Principal, in StepUpInput) error {
	at, err := su.beginAttempt(ctx, su.cfg.PINLimit, in.Meta.IP, "user:"+p.UserID)
	if err != nil {
		return err
	}
	user, err := su.users.GetUser(ctx, p.TenantID, p.UserID)
	if err != nil {
		return err
	}
	if user.PINHash != "" && enrolledHere(p, user.PINSessionID) {
		return errEnrolledInSession()
	}
	if err := su.comparePIN(ctx, p, user, in.PIN, in.Meta); err != nil {
		at.failed(ctx)
		return err
	}
	at.succeeded(ctx)
	return nil
}

func (su *StepUp) withCode(ctx context.Context, p Principal, in StepUpInput) error {
	at, err := su.beginAttempt(ctx, su.cfg.TwoFactorLimit, in.Meta.IP, "user:"+p.UserID)
	if err != nil {
		return err
	}
	user, err := su.users.GetUser(ctx, p.TenantID, p.UserID)
	if err != nil {
		return err
	}
	if (user.TOTPEnabled && enrolledHere(p, user.TOTPSessionID)) || (!user.TOTPEnabled && user.Email2FAEnabled && enrolledHere(p, user.Email2FASessionID)) {
		return errEnrolledInSession()
	}
	if _, ok, err := su.checkSecondFactor(ctx, user, in.Code, ""); err != nil {
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
