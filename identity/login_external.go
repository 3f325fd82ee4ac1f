package identity

import (
	"context"
	"errors"
	"slices"

	"github.com/identityd/identityd/models"
)

// ExternalSignIn is a sign-in proven without the password: an upstream
// identity provider's validated ID token (or OAuth 2.0 userinfo), or a
// passkey. The caller has already proven who User is; SignInExternal
// applies every rule a password login applies after the password (the
// lock, the user's and tenant's state, the tenant's sign-in rules, the
// second factor, the device, the session, the audit row and its events).
type ExternalSignIn struct {
	User *models.User
	// AMR are the methods the proof stands for (RFC 8176 values): for a
	// passkey "hwk" (and "user" when the authenticator verified the
	// person), for an upstream provider "fed" and what the provider said.
	AMR []string
	// MultiFactor: the proof already is multi-factor (a passkey with user
	// verification, an upstream provider that reported MFA). No second
	// factor is asked, and it satisfies a tenant's required second factor.
	MultiFactor bool
	// Browser, WebSession, Remember, DeviceName, DeviceToken and
	// ForceSecondFactor mean what they mean in LoginInput.
	Browser           bool
	WebSession        bool
	Remember          bool
	DeviceName        string
	DeviceToken       string
	ForceSecondFactor bool
	Meta              Meta
}

// SignInExternal completes a sign-in proven outside the password (see
// ExternalSignIn): it asks for the second factor when the user has one, the
// proof is not multi-factor and the device is not trusted, and completes
// the login otherwise, exactly as after a password. A locked account is
// refused (ErrAccountLocked): a lock stops every way in.
func (l *Login) SignInExternal(ctx context.Context, in ExternalSignIn) (*LoginResult, error) {
	if in.User == nil || len(in.AMR) == 0 {
		return nil, models.ErrInternal(errExternalSignIn)
	}
	user := in.User
	now := l.now()
	if user.Locked(now) {
		l.recordOutside(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditLoginFailed, Meta: in.Meta,
			Metadata: map[string]any{"reason": "locked", "amr": in.AMR}})
		return nil, models.ErrAccountLocked(user.LockedUntil.Sub(now))
	}
	if err := l.checkActive(ctx, user); err != nil {
		l.recordOutside(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditLoginFailed, Meta: in.Meta,
			Metadata: map[string]any{"reason": "inactive", "amr": in.AMR}})
		return nil, err
	}
	data := challengeData{Browser: in.Browser, WebSession: in.WebSession && !in.Browser, Remember: in.Remember, DeviceName: in.DeviceName,
		AMR: slices.Clone(in.AMR), MultiFactor: in.MultiFactor, AuthTime: now.UnixNano()}
	if in.DeviceToken != "" {
		if d, err := l.devices.GetDeviceByToken(ctx, user.TenantID, user.ID, sha(in.DeviceToken)); err == nil {
			data.DeviceID = d.ID
			if d.Trusted(now) && user.HasSecondFactor() && !in.ForceSecondFactor && !in.MultiFactor {
				data.AMR = append(data.AMR, "trusted_device")
			}
		}
	}
	if in.MultiFactor {
		return l.complete(ctx, user, data, false, in.Meta)
	}
	return l.afterPassword(ctx, user, data, in.Meta)
}

var errExternalSignIn = errors.New("SignInExternal needs a user and the methods that proved it")
