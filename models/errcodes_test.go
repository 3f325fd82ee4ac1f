package models_test

import (
	"errors"
	"log/slog"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
)

func TestErrorConstructors(t *testing.T) {
	tests := []struct {
		name string
		new  func() *models.Error
		kind models.Kind
		code string
	}{
		{"invalid", func() *models.Error { return models.ErrInvalid(map[string]string{"f": "bad"}) }, models.KindInvalid, models.CodeValidationFailed},
		{"invalid body", models.ErrInvalidBody, models.KindInvalid, models.CodeInvalidBody},
		{"internal", func() *models.Error { return models.ErrInternal(nil) }, models.KindInternal, models.CodeInternal},
		{"unavailable", func() *models.Error { return models.ErrUnavailable("db", errors.New("down")) }, models.KindUnavailable, models.CodeUnavailable},
		{"rate limited", func() *models.Error { return models.ErrRateLimited(time.Second) }, models.KindRateLimited, models.CodeRateLimited},
		{"not found", func() *models.Error { return models.ErrNotFound("user") }, models.KindNotFound, "user_not_found"},
		{"exists", func() *models.Error { return models.ErrExists("tenant") }, models.KindConflict, "tenant_exists"},
		{"unauthenticated", models.ErrUnauthenticated, models.KindUnauthenticated, models.CodeUnauthenticated},
		{"invalid token", models.ErrInvalidToken, models.KindUnauthenticated, models.CodeInvalidToken},
		{"first party", models.ErrFirstPartyTokenRequired, models.KindForbidden, models.CodeFirstPartyTokenRequired},
		{"principal", models.ErrPrincipalNotAllowed, models.KindForbidden, models.CodePrincipalNotAllowed},
		{"forbidden", func() *models.Error { return models.ErrForbidden("a.b") }, models.KindForbidden, models.CodeForbidden},
		{"step up", func() *models.Error { return models.ErrStepUpRequired("a.b") }, models.KindStepUpRequired, models.CodeStepUpRequired},
		{"step up n/a", models.ErrStepUpNotAvailable, models.KindForbidden, models.CodeStepUpNotAvailable},
		{"enrolled", models.ErrFactorEnrolledInSession, models.KindForbidden, models.CodeFactorEnrolledInSession},
		{"impersonation", models.ErrImpersonationForbidden, models.KindForbidden, models.CodeImpersonationForbidden},
		{"cannot impersonate", models.ErrCannotImpersonate, models.KindForbidden, models.CodeCannotImpersonate},
		{"password required", models.ErrPasswordRequired, models.KindForbidden, models.CodePasswordRequired},
		{"password change", models.ErrPasswordChangeRequired, models.KindForbidden, models.CodePasswordChangeRequired},
		{"tenant suspended", models.ErrTenantSuspended, models.KindForbidden, models.CodeTenantSuspended},
		{"target tenant suspended", models.ErrTargetTenantSuspended, models.KindConflict, models.CodeTenantSuspended},
		{"credentials", models.ErrInvalidCredentials, models.KindUnauthenticated, models.CodeInvalidCredentials},
		{"password", models.ErrInvalidPassword, models.KindUnauthenticated, models.CodeInvalidPassword},
		{"pin", models.ErrInvalidPIN, models.KindUnauthenticated, models.CodeInvalidPIN},
		{"code", models.ErrInvalidCode, models.KindUnauthenticated, models.CodeInvalidCode},
		{"challenge", models.ErrInvalidChallenge, models.KindUnauthenticated, models.CodeInvalidChallenge},
		{"pending deletion", models.ErrTenantPendingDeletion, models.KindForbidden, models.CodeTenantPendingDeletion},
		{"deletion scheduled", models.ErrTenantDeletionScheduled, models.KindConflict, models.CodeTenantPendingDeletion},
		{"not pending deletion", models.ErrTenantNotPendingDeletion, models.KindConflict, models.CodeTenantNotPendingDeletion},
		{"enrolment required", models.ErrTwoFactorEnrolmentRequired, models.KindForbidden, models.CodeTwoFactorEnrolmentRequired},
		{"inactive", models.ErrAccountInactive, models.KindUnauthenticated, models.CodeAccountInactive},
		{"account locked", func() *models.Error { return models.ErrAccountLocked(time.Minute) }, models.KindLocked, models.CodeAccountLocked},
		{"pin locked", func() *models.Error { return models.ErrPINLocked(time.Minute) }, models.KindLocked, models.CodePINLocked},
		{"password policy", func() *models.Error { return models.ErrPasswordPolicy(map[string]string{"password.length": "x"}) }, models.KindInvalid, models.CodePasswordPolicy},
		{"password reused", func() *models.Error { return models.ErrPasswordReused(nil) }, models.KindInvalid, models.CodePasswordReused},
		{"pin policy", func() *models.Error { return models.ErrPINPolicy(nil) }, models.KindInvalid, models.CodePINPolicy},
		{"pin not set", models.ErrPINNotSet, models.KindConflict, models.CodePINNotSet},
		{"invitation expired", models.ErrInvitationExpired, models.KindConflict, models.CodeInvitationExpired},
		{"invitation revoked", models.ErrInvitationRevoked, models.KindConflict, models.CodeInvitationRevoked},
		{"invitation used", models.ErrInvitationUsed, models.KindConflict, models.CodeInvitationUsed},
		{"signup disabled", models.ErrSignupDisabled, models.KindForbidden, models.CodeSignupDisabled},
		{"company signup disabled", models.ErrCompanySignupDisabled, models.KindForbidden, models.CodeCompanySignupDisabled},
		{"registration closed", models.ErrRegistrationClosed, models.KindForbidden, models.CodeRegistrationClosed},
		{"slug taken", models.ErrSlugTaken, models.KindConflict, models.CodeSlugTaken},
		{"last sign-in method", models.ErrLastSignInMethod, models.KindConflict, models.CodeLastSignInMethod},
		{"passkeys unavailable", models.ErrPasskeysUnavailable, models.KindForbidden, models.CodePasskeysUnavailable},
		{"passkey invalid", models.ErrPasskeyInvalid, models.KindUnauthenticated, models.CodePasskeyInvalid},
		{"passkey clone", models.ErrPasskeyCloneDetected, models.KindForbidden, models.CodePasskeyCloneDetected},
		{"passkey uv", models.ErrPasskeyUserVerificationRequired, models.KindUnauthenticated, models.CodePasskeyUserVerificationRequired},
		{"federation failed", func() *models.Error { return models.ErrFederationFailed("") }, models.KindUnauthenticated, models.CodeFederationFailed},
		{"federation email unverified", models.ErrFederationEmailUnverified, models.KindForbidden, models.CodeFederationEmailUnverified},
		{"federation not allowed", func() *models.Error { return models.ErrFederationNotAllowed("no") }, models.KindForbidden, models.CodeFederationNotAllowed},
		{"federation unsupported", func() *models.Error { return models.ErrFederationUnsupported("no") }, models.KindInvalid, models.CodeFederationUnsupported},
		{"email not verified", models.ErrEmailNotVerified, models.KindForbidden, models.CodeEmailNotVerified},
		{"verification expired", models.ErrEmailVerificationExpired, models.KindConflict, models.CodeEmailVerificationExpired},
		{"verification used", models.ErrEmailVerificationUsed, models.KindConflict, models.CodeEmailVerificationUsed},
		{"2fa on", models.Err2FAAlreadyEnabled, models.KindConflict, models.Code2FAAlreadyEnabled},
		{"2fa not set up", models.Err2FANotSetUp, models.KindConflict, models.Code2FANotSetUp},
		{"2fa off", models.Err2FANotEnabled, models.KindConflict, models.Code2FANotEnabled},
		{"email 2fa off", models.ErrEmail2FANotEnabled, models.KindConflict, models.CodeEmail2FANotEnabled},
		{"self", func() *models.Error { return models.ErrCannotTargetSelf("delete") }, models.KindConflict, models.CodeCannotTargetSelf},
		{"own tenant", func() *models.Error { return models.ErrOwnTenant("suspend") }, models.KindConflict, models.CodeOwnTenant},
		{"user inactive", models.ErrUserInactive, models.KindConflict, models.CodeUserInactive},
		{"email taken", models.ErrEmailTaken, models.KindConflict, models.CodeEmailTaken},
		{"name taken", models.ErrNameTaken, models.KindConflict, models.CodeNameTaken},
		{"system role", models.ErrSystemRole, models.KindConflict, models.CodeSystemRole},
		{"role assigned", models.ErrRoleAlreadyAssigned, models.KindConflict, models.CodeRoleAlreadyAssigned},
		{"policy assigned", models.ErrPolicyAlreadyAssigned, models.KindConflict, models.CodePolicyAlreadyAssigned},
		{"public client", models.ErrPublicClient, models.KindConflict, models.CodePublicClient},
		{"api key inactive", models.ErrAPIKeyInactive, models.KindConflict, models.CodeAPIKeyInactive},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := tt.new()
			if e.Kind != tt.kind || e.Code != tt.code || e.Msg == "" {
				t.Fatalf("got kind %v code %q msg %q, want kind %v code %q and a message", e.Kind, e.Code, e.Msg, tt.kind, tt.code)
			}
			if !errors.Is(e, &models.Error{Kind: tt.kind, Code: tt.code}) {
				t.Error("errors.Is does not match its own kind and code")
			}
			// Each call is a fresh value: changing one changes no other.
			msg := e.Msg
			e.WithMessage("changed").WithFields(map[string]string{"x": "y"}).Code = "changed"
			if again := tt.new(); again == e || again.Msg != msg || again.Code != tt.code || again.Fields["x"] != "" {
				t.Errorf("the constructor returned a shared value: %+v", again)
			}
		})
	}
}

func TestStepUpRequiredPointsToTheStepUpAPI(t *testing.T) {
	e := models.ErrStepUpRequired("identity.users.delete")
	if e.RequiredPermission != "identity.users.delete" || e.StepUp == nil ||
		e.StepUp.RequestEndpoint != "/api/auth/step-up" || e.StepUp.StatusEndpoint != "/api/auth/step-up/status" {
		t.Fatalf("step-up error %+v %+v", e, e.StepUp)
	}
	e.StepUp.TTLSeconds = 5
	if models.ErrStepUpRequired("x").StepUp.TTLSeconds != 0 {
		t.Error("the StepUp member is shared between errors")
	}
}

func TestErrorLogLevel(t *testing.T) {
	tests := []struct {
		kind models.Kind
		want slog.Level
	}{
		{models.KindInternal, slog.LevelError},
		{models.KindUnavailable, slog.LevelError},
		{models.KindLocked, slog.LevelWarn},
		{models.KindRateLimited, slog.LevelWarn},
		{models.KindInvalid, slog.LevelInfo},
		{models.KindUnauthenticated, slog.LevelInfo},
		{models.KindForbidden, slog.LevelInfo},
		{models.KindStepUpRequired, slog.LevelInfo},
		{models.KindNotFound, slog.LevelInfo},
		{models.KindConflict, slog.LevelInfo},
	}
	for _, tt := range tests {
		if got := (&models.Error{Kind: tt.kind}).LogLevel(); got != tt.want {
			t.Errorf("%v: level %v, want %v", tt.kind, got, tt.want)
		}
	}
}
