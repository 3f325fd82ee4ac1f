package models

import "time"

// The machine codes of the JSON API's errors: the "error" member of
// {"error", "message", "fields"}, which clients match on, so each is a
// contract (docs/openapi.json components/schemas/Error names the common
// ones; README and docs/security.md the rest). This is the one list: every
// code is a constant here, and every models.Error is built by one of the
// constructors below, which return a fresh value each call (as zitadel/oidc
// pkg/oidc/error.go does), so no caller can change a shared error.
//
// The OAuth endpoints answer RFC 6749 codes through fosite instead
// (oauth/errors.go); the {Kind}_not_found and {what}_exists codes are
// built from the object's name by ErrNotFound and ErrExists.
const (
	// CodeValidationFailed: 422, one entry per bad field in "fields".
	CodeValidationFailed = "validation_failed"
	// CodeInvalidBody: 422, the body is not JSON of this endpoint's shape.
	CodeInvalidBody = "invalid_body"
	// CodePayloadTooLarge: 413, the body is over the limit.
	CodePayloadTooLarge = "payload_too_large"
	// CodeInternal: 500, the cause is logged, never shown.
	CodeInternal = "internal_error"
	// CodeUnavailable: 503 with Retry-After, a dependency is down or slow.
	CodeUnavailable = "temporarily_unavailable"
	// CodeRateLimited: 429 with Retry-After.
	CodeRateLimited = "rate_limited"
	// CodeIPDenied: 403, the client's address is on the deny list.
	CodeIPDenied = "ip_denied"

	// CodeUnauthenticated: 401, no bearer credential at all.
	CodeUnauthenticated = "unauthenticated"
	// CodeInvalidToken: 401, the bearer credential is not (or no longer) valid.
	CodeInvalidToken = "invalid_token"
	// CodeFirstPartyTokenRequired: 403, the account API needs a token of
	// the login API.
	CodeFirstPartyTokenRequired = "first_party_token_required"
	// CodePrincipalNotAllowed: 403, a valid token of a principal this API
	// does not serve.
	CodePrincipalNotAllowed = "principal_not_allowed"
	// CodeForbidden: 403, naming required_permission when one is missing.
	CodeForbidden = "forbidden"
	// CodeStepUpRequired: 403 with step_up, the action needs a recent
	// re-authentication.
	CodeStepUpRequired = "step_up_required"
	// CodeStepUpNotAvailable: 403, service accounts do not step up.
	CodeStepUpNotAvailable = "step_up_not_available"
	// CodeFactorEnrolledInSession: 403, a factor set up in this session
	// cannot elevate it.
	CodeFactorEnrolledInSession = "factor_enrolled_in_session"
	// CodeImpersonationForbidden: 403, an impersonation token may not touch
	// credentials or security settings.
	CodeImpersonationForbidden = "impersonation_forbidden"
	// CodeCannotImpersonate: 403, system administrators cannot be impersonated.
	CodeCannotImpersonate = "cannot_impersonate"
	// CodePasswordRequired: 403, changing a sign-in factor needs the
	// current password or a step-up.
	CodePasswordRequired = "password_required"
	// CodePasswordChangeRequired: 403, the user must choose a new password.
	CodePasswordChangeRequired = "password_change_required"
	// CodeTenantSuspended: 403 at sign-in, 409 for an action on a suspended
	// tenant's user.
	CodeTenantSuspended = "tenant_suspended"
	// CodeTenantPendingDeletion: 403 at sign-in (a member who is not an
	// Owner) and at the token endpoint's error_description, 409 when the
	// tenant's deletion is already scheduled.
	CodeTenantPendingDeletion = "tenant_pending_deletion"
	// CodeTenantNotPendingDeletion: 409, there is no deletion to cancel.
	CodeTenantNotPendingDeletion = "tenant_not_pending_deletion"
	// CodeTwoFactorEnrolmentRequired: 403, the tenant requires a second
	// factor for one of the user's roles: sign in with the password to set
	// one up.
	CodeTwoFactorEnrolmentRequired = "two_factor_enrolment_required"

	// CodeInvalidCredentials: 401, a failed login (one message, whatever
	// failed, so accounts cannot be enumerated).
	CodeInvalidCredentials = "invalid_credentials"
	// CodeInvalidPassword: 401, a re-entered password is wrong.
	CodeInvalidPassword = "invalid_password"
	// CodeInvalidPIN: 401, a re-entered PIN is wrong.
	CodeInvalidPIN = "invalid_pin"
	// CodeInvalidCode: 401, a one-time or reset code is wrong or expired.
	CodeInvalidCode = "invalid_code"
	// CodeInvalidChallenge: 401, the sign-in step is unknown, spent or expired.
	CodeInvalidChallenge = "invalid_challenge"
	// CodeAccountInactive: 401, the account was deactivated.
	CodeAccountInactive = "account_inactive"
	// CodeAccountLocked: 429 with Retry-After, too many failed sign-ins.
	CodeAccountLocked = "account_locked"
	// CodePINLocked: 429 with Retry-After, too many wrong PINs.
	CodePINLocked = "pin_locked"

	// CodePasswordPolicy: 422, the password breaks the rules (in "fields").
	CodePasswordPolicy = "password_policy"
	// CodePasswordReused: 422, the password was used recently.
	CodePasswordReused = "password_reused"
	// CodePINPolicy: 422, the PIN breaks the rules (in "fields").
	CodePINPolicy = "pin_policy"

	// CodeInvitationExpired, CodeInvitationRevoked, CodeInvitationUsed:
	// 409, an invitation link that can no longer be accepted (issue 10 §4).
	CodeInvitationExpired = "invitation_expired"
	CodeInvitationRevoked = "invitation_revoked"
	CodeInvitationUsed    = "invitation_used"
	// CodeSignupDisabled, CodeCompanySignupDisabled: 403, sign-up, or the
	// creation of a company by sign-up, is turned off in this deployment;
	// CodeRegistrationClosed: 403, the tenant to join is unknown or does
	// not allow self-registration (one answer for both); CodeSlugTaken:
	// 409, another tenant has the slug (issue 10 §1).
	CodeSignupDisabled        = "signup_disabled"
	CodeCompanySignupDisabled = "company_signup_disabled"
	CodeRegistrationClosed    = "registration_closed"
	CodeSlugTaken             = "slug_taken"
	// CodeEmailNotVerified: 403, the tenant lets only users with a
	// verified e-mail address sign in (allow_unverified_sign_in false).
	CodeEmailNotVerified = "email_not_verified"
	// CodeEmailVerificationExpired, CodeEmailVerificationUsed: 409, an
	// e-mail verification link that has expired or was already used.
	CodeEmailVerificationExpired = "email_verification_expired"
	CodeEmailVerificationUsed    = "email_verification_used"

	// CodeInvalidRefreshToken: 401, a first-party refresh token that is
	// unknown, expired, rotated, revoked, or whose user may no longer sign
	// in (issue 10 §10); one answer, whatever the reason.
	CodeInvalidRefreshToken = "invalid_refresh_token"
	// CodeSameOriginRequired: 403, a JSON login asked for a browser session
	// from a request that is not a same-origin JSON call (login CSRF).
	CodeSameOriginRequired = "same_origin_required"
	// CodePINNotSet: 409.
	CodePINNotSet = "pin_not_set"
	// Code2FAAlreadyEnabled: 409.
	Code2FAAlreadyEnabled = "2fa_already_enabled"
	// Code2FANotSetUp: 409, enabling before the set-up.
	Code2FANotSetUp = "2fa_not_set_up"
	// Code2FANotEnabled: 409.
	Code2FANotEnabled = "2fa_not_enabled"
	// CodeEmail2FANotEnabled: 409, e-mail codes are not the second factor.
	CodeEmail2FANotEnabled = "email_2fa_not_enabled"
	// CodeCannotTargetSelf: 409, an administrator acting on their own account.
	CodeCannotTargetSelf = "cannot_target_self"
	// CodeOwnTenant: 409, a system admin acting on the tenant they are in.
	CodeOwnTenant = "own_tenant"
	// CodeLastOwner: 409, erasing the tenant's last Owner.
	CodeLastOwner = "last_owner"
	// CodeUserInactive: 409, the user acted on is deactivated.
	CodeUserInactive = "user_inactive"
	// CodeEmailTaken: 409, another user of the tenant has the address.
	CodeEmailTaken = "email_taken"
	// CodeNameTaken: 409, a role or policy of that name exists.
	CodeNameTaken = "name_taken"
	// CodeSystemRole: 409, system roles keep their name and cannot be deleted.
	CodeSystemRole = "system_role"
	// CodeRoleAlreadyAssigned: 409.
	CodeRoleAlreadyAssigned = "role_already_assigned"
	// CodePolicyAlreadyAssigned: 409.
	CodePolicyAlreadyAssigned = "policy_already_assigned"
	// CodePublicClient: 409, a public client has no secret to rotate.
	CodePublicClient = "public_client"
	// CodeAPIKeyInactive: 409, a revoked or expired key cannot be rotated.
	CodeAPIKeyInactive = "api_key_inactive"
	// CodeLastSignInMethod: 409, removing a linked identity or a passkey
	// would leave the account with no way to sign in.
	CodeLastSignInMethod = "last_sign_in_method"

	// Issue 12 §1, the sign-in through an upstream provider.
	// CodeFederationFailed: 401, the upstream answer did not prove anyone
	// (a bad, replayed or expired state, a provider mix-up, a token that
	// does not validate, a wrong nonce, the person refused upstream).
	CodeFederationFailed = "federation_failed"
	// CodeFederationEmailUnverified: 403, the provider did not vouch for
	// the person's e-mail address: no account is made or linked.
	CodeFederationEmailUnverified = "federation_email_unverified"
	// CodeFederationNotAllowed: 403, the provider's rules refuse the person
	// (a domain not allowed, no account and provisioning off).
	CodeFederationNotAllowed = "federation_not_allowed"
	// CodeFederationUnsupported: 422, the provider is set up in a way this
	// server cannot sign in with (private_key_jwt).
	CodeFederationUnsupported = "federation_unsupported"
)

// Step-up endpoints a step_up_required error points to.
const (
	StepUpRequestEndpoint = "/api/auth/step-up"
	StepUpStatusEndpoint  = "/api/auth/step-up/status"
)

// WithMessage replaces the message of a freshly built error and returns it,
// for a call site that says more than the constructor's default.
func (e *Error) WithMessage(msg string) *Error {
	e.Msg = msg
	return e
}

// WithCause keeps err as the freshly built error's cause: logged, never
// shown (LogValue hides it from the response).
func (e *Error) WithCause(err error) *Error {
	e.Err = err
	return e
}

// WithFields sets the per-field problems of a freshly built error and
// returns it.
func (e *Error) WithFields(fields map[string]string) *Error {
	e.Fields = fields
	return e
}

// ErrExists reports a uniqueness conflict on a what ("tenant", "client"):
// code {what}_exists.
func ErrExists(what string) *Error {
	return &Error{Kind: KindConflict, Code: what + "_exists", Msg: "A " + what + " with these details already exists."}
}

// ErrInvalidBody reports a body that is not JSON of the endpoint's shape.
func ErrInvalidBody() *Error {
	return &Error{Kind: KindInvalid, Code: CodeInvalidBody, Msg: "The request body is not valid JSON for this endpoint."}
}

// ErrUnauthenticated reports a request with no bearer credential.
func ErrUnauthenticated() *Error {
	return &Error{Kind: KindUnauthenticated, Code: CodeUnauthenticated, Msg: "Sign in first: send an access token or API key as Authorization: Bearer."}
}

// ErrInvalidToken reports a bearer credential that is not valid; the
// message may say which (WithMessage).
func ErrInvalidToken() *Error {
	return &Error{Kind: KindUnauthenticated, Code: CodeInvalidToken, Msg: "The access token is not active."}
}

// ErrFirstPartyTokenRequired reports a token of another client, or of a
// service account, at the account API.
func ErrFirstPartyTokenRequired() *Error {
	return &Error{Kind: KindForbidden, Code: CodeFirstPartyTokenRequired, Msg: "This API needs a token from /api/auth/login."}
}

// ErrPrincipalNotAllowed reports a valid token whose principal this API
// does not serve.
func ErrPrincipalNotAllowed() *Error {
	return &Error{Kind: KindForbidden, Code: CodePrincipalNotAllowed, Msg: "This token cannot use this API."}
}

// ErrForbidden reports a missing permission (named when permission is set).
func ErrForbidden(permission string) *Error {
	return &Error{Kind: KindForbidden, Code: CodeForbidden, Msg: "You do not have the permission this action needs.", RequiredPermission: permission}
}

// ErrStepUpRequired reports an action (permission, or the pattern a grant
// touches) that needs a recent re-authentication. StepUp.TTLSeconds is left
// 0 for the HTTP layer to fill from its configuration.
func ErrStepUpRequired(permission string) *Error {
	return &Error{Kind: KindStepUpRequired, Code: CodeStepUpRequired, Msg: "This action needs a recent re-authentication.",
		RequiredPermission: permission,
		StepUp:             &StepUpInfo{RequestEndpoint: StepUpRequestEndpoint, StatusEndpoint: StepUpStatusEndpoint}}
}

// ErrStepUpNotAvailable reports a step-up asked by a service account.
func ErrStepUpNotAvailable() *Error {
	return &Error{Kind: KindForbidden, Code: CodeStepUpNotAvailable, Msg: "Service accounts do not step up."}
}

// ErrFactorEnrolledInSession refuses a step-up with a factor enrolled in the
// session being elevated: whoever enrolled it may hold only a stolen token.
func ErrFactorEnrolledInSession() *Error {
	return &Error{Kind: KindForbidden, Code: CodeFactorEnrolledInSession,
		Msg: "A factor set up in this session cannot confirm it. Step up with your password, or sign in again."}
}

// ErrImpersonationForbidden is the answer to an impersonation token that
// tries to change the user's credentials or security settings, or to step up.
func ErrImpersonationForbidden() *Error {
	return &Error{Kind: KindForbidden, Code: CodeImpersonationForbidden,
		Msg: "An impersonation token cannot change credentials or security settings, or step up."}
}

// ErrCannotImpersonate refuses to impersonate a system administrator.
func ErrCannotImpersonate() *Error {
	return &Error{Kind: KindForbidden, Code: CodeCannotImpersonate, Msg: "System administrators cannot be impersonated."}
}

// ErrPasswordRequired asks for the current password (or a step-up with it)
// before a sign-in factor changes.
func ErrPasswordRequired() *Error {
	return &Error{Kind: KindForbidden, Code: CodePasswordRequired, Msg: "Enter your current password (or step up with it) to change a sign-in factor."}
}

// ErrPasswordChangeRequired reports a user whose administrator asked for a
// new password.
func ErrPasswordChangeRequired() *Error {
	return &Error{Kind: KindForbidden, Code: CodePasswordChangeRequired,
		Msg: "Your administrator asked you to choose a new password: sign in with your password."}
}

// ErrTenantSuspended refuses a principal of a suspended tenant (403).
func ErrTenantSuspended() *Error {
	return &Error{Kind: KindForbidden, Code: CodeTenantSuspended, Msg: "This organisation's account is suspended. Contact your administrator."}
}

// ErrTargetTenantSuspended refuses an action on a user of a suspended
// tenant (409: the state of the object acted on, not the caller's).
func ErrTargetTenantSuspended() *Error {
	return &Error{Kind: KindConflict, Code: CodeTenantSuspended, Msg: "The tenant is suspended."}
}

// ErrInvalidCredentials is the one answer to a failed login.
func ErrInvalidCredentials() *Error {
	return &Error{Kind: KindUnauthenticated, Code: CodeInvalidCredentials, Msg: "The e-mail address or password is not correct."}
}

// ErrInvalidPassword reports a wrong re-entered password.
func ErrInvalidPassword() *Error {
	return &Error{Kind: KindUnauthenticated, Code: CodeInvalidPassword, Msg: "The password is not correct."}
}

// ErrInvalidPIN reports a wrong re-entered PIN.
func ErrInvalidPIN() *Error {
	return &Error{Kind: KindUnauthenticated, Code: CodeInvalidPIN, Msg: "The PIN is not correct."}
}

// ErrInvalidCode reports a wrong or expired one-time or reset code.
func ErrInvalidCode() *Error {
	return &Error{Kind: KindUnauthenticated, Code: CodeInvalidCode, Msg: "The code is not correct."}
}

// ErrInvalidChallenge reports a sign-in step that is unknown, spent or
// expired; the message says which (WithMessage).
func ErrInvalidChallenge() *Error {
	return &Error{Kind: KindUnauthenticated, Code: CodeInvalidChallenge, Msg: "This sign-in step has expired. Sign in again."}
}

// ErrAccountInactive reports a deactivated account.
func ErrAccountInactive() *Error {
	return &Error{Kind: KindUnauthenticated, Code: CodeAccountInactive, Msg: "This account is not active. Sign in again or contact your administrator."}
}

// ErrAccountLocked reports an account locked after too many failed
// sign-ins, for retryAfter more.
func ErrAccountLocked(retryAfter time.Duration) *Error {
	return &Error{Kind: KindLocked, Code: CodeAccountLocked,
		Msg: "This account is locked after too many failed sign-in attempts. Try again later.", RetryAfter: retryAfter}
}

// ErrPINLocked reports a PIN locked after too many wrong tries, for
// retryAfter more.
func ErrPINLocked(retryAfter time.Duration) *Error {
	return &Error{Kind: KindLocked, Code: CodePINLocked,
		Msg: "The PIN is locked after too many wrong tries. Unlock it with your password or wait.", RetryAfter: retryAfter}
}

// ErrPasswordPolicy reports the password rules broken, one per field key.
func ErrPasswordPolicy(fields map[string]string) *Error {
	return &Error{Kind: KindInvalid, Code: CodePasswordPolicy, Msg: "The password does not meet the policy.", Fields: fields}
}

// ErrPasswordReused reports a password among the recent ones.
func ErrPasswordReused(fields map[string]string) *Error {
	return &Error{Kind: KindInvalid, Code: CodePasswordReused, Msg: "Choose a password you have not used recently.", Fields: fields}
}

// ErrPINPolicy reports the PIN rules broken, one per field key.
func ErrPINPolicy(fields map[string]string) *Error {
	return &Error{Kind: KindInvalid, Code: CodePINPolicy, Msg: "The PIN does not meet the rules.", Fields: fields}
}

// ErrPINNotSet reports a PIN action on an account without one.
func ErrPINNotSet() *Error {
	return &Error{Kind: KindConflict, Code: CodePINNotSet, Msg: "No PIN is set."}
}

// Err2FAAlreadyEnabled reports enrolling a second factor twice.
func Err2FAAlreadyEnabled() *Error {
	return &Error{Kind: KindConflict, Code: Code2FAAlreadyEnabled, Msg: "Two-factor authentication is already on."}
}

// Err2FANotSetUp reports enabling an authenticator app before its set-up.
func Err2FANotSetUp() *Error {
	return &Error{Kind: KindConflict, Code: Code2FANotSetUp, Msg: "Start the set-up first."}
}

// Err2FANotEnabled reports a second-factor action with none enabled.
func Err2FANotEnabled() *Error {
	return &Error{Kind: KindConflict, Code: Code2FANotEnabled, Msg: "Two-factor authentication is off."}
}

// ErrEmail2FANotEnabled reports an e-mailed code asked by an account whose
// second factor is not e-mail.
func ErrEmail2FANotEnabled() *Error {
	return &Error{Kind: KindConflict, Code: CodeEmail2FANotEnabled, Msg: "E-mail codes are not this account's second factor."}
}

// ErrCannotTargetSelf refuses an administrator's action (such as
// "deactivate") on their own account.
func ErrCannotTargetSelf(action string) *Error {
	return &Error{Kind: KindConflict, Code: CodeCannotTargetSelf, Msg: "You cannot " + action + " your own account."}
}

// ErrOwnTenant refuses a system admin's action (such as "suspend") on the
// tenant they are signed in to.
func ErrOwnTenant(action string) *Error {
	return &Error{Kind: KindConflict, Code: CodeOwnTenant, Msg: "You cannot " + action + " the tenant you are signed in to."}
}

// ErrLastOwner refuses erasing the tenant's last Owner.
func ErrLastOwner() *Error {
	return &Error{Kind: KindConflict, Code: CodeLastOwner,
		Msg: "This account is the organisation's last Owner: make someone else an Owner before erasing it."}
}

// ErrUserInactive reports an action on a deactivated user.
func ErrUserInactive() *Error {
	return &Error{Kind: KindConflict, Code: CodeUserInactive, Msg: "The user is deactivated."}
}

// ErrEmailTaken reports an e-mail address another user of the tenant has.
func ErrEmailTaken() *Error {
	return &Error{Kind: KindConflict, Code: CodeEmailTaken, Msg: "Another user of this tenant has that e-mail address.",
		Fields: map[string]string{"email": "Already in use."}}
}

// ErrNameTaken reports a role or policy name already in use.
func ErrNameTaken() *Error {
	return &Error{Kind: KindConflict, Code: CodeNameTaken, Msg: "A role or policy with that name already exists.",
		Fields: map[string]string{"name": "Already in use."}}
}

// ErrSystemRole refuses to rename or delete a system role; the message
// says which (WithMessage).
func ErrSystemRole() *Error {
	return &Error{Kind: KindConflict, Code: CodeSystemRole, Msg: "System roles cannot be deleted."}
}

// ErrRoleAlreadyAssigned reports assigning a role the principal holds.
func ErrRoleAlreadyAssigned() *Error {
	return &Error{Kind: KindConflict, Code: CodeRoleAlreadyAssigned, Msg: "The user already holds this role."}
}

// ErrPolicyAlreadyAssigned reports assigning a policy the user holds.
func ErrPolicyAlreadyAssigned() *Error {
	return &Error{Kind: KindConflict, Code: CodePolicyAlreadyAssigned, Msg: "The user already holds this policy."}
}

// ErrPublicClient refuses to rotate the secret of a public client.
func ErrPublicClient() *Error {
	return &Error{Kind: KindConflict, Code: CodePublicClient, Msg: "A public client has no secret to rotate."}
}

// ErrAPIKeyInactive refuses to rotate a revoked or expired API key.
func ErrAPIKeyInactive() *Error {
	return &Error{Kind: KindConflict, Code: CodeAPIKeyInactive, Msg: "A revoked or expired key cannot be rotated; create a new one."}
}

// ErrInvitationExpired: the invitation's link is past its expiry.
func ErrInvitationExpired() *Error {
	return &Error{Kind: KindConflict, Code: CodeInvitationExpired, Msg: "This invitation has expired. Ask for a new one."}
}

// ErrInvitationRevoked: the invitation was withdrawn.
func ErrInvitationRevoked() *Error {
	return &Error{Kind: KindConflict, Code: CodeInvitationRevoked, Msg: "This invitation was withdrawn."}
}

// ErrInvitationUsed: the invitation was already accepted.
func ErrInvitationUsed() *Error {
	return &Error{Kind: KindConflict, Code: CodeInvitationUsed, Msg: "This invitation has already been used. Sign in instead."}
}

// ErrSignupDisabled: the deployment does not allow sign-up.
func ErrSignupDisabled() *Error {
	return &Error{Kind: KindForbidden, Code: CodeSignupDisabled, Msg: "Sign-up is turned off here. Ask your organisation for an invitation."}
}

// ErrCompanySignupDisabled: the deployment does not let sign-up create a company.
func ErrCompanySignupDisabled() *Error {
	return &Error{Kind: KindForbidden, Code: CodeCompanySignupDisabled, Msg: "New organisations cannot be created by sign-up here."}
}

// ErrRegistrationClosed: the tenant to join is unknown or closed to
// sign-up; the same answer for both, so tenants cannot be told apart.
func ErrRegistrationClosed() *Error {
	return &Error{Kind: KindForbidden, Code: CodeRegistrationClosed,
		Msg: "This organisation does not accept sign-ups. Check its name, or ask it for an invitation."}
}

// ErrSlugTaken: another tenant has the slug a sign-up asked for.
func ErrSlugTaken() *Error {
	return &Error{Kind: KindConflict, Code: CodeSlugTaken, Msg: "Another organisation already uses this short name: choose another.",
		Fields: map[string]string{"company_slug": "Already taken: choose another."}}
}

// ErrEmailNotVerified refuses a sign-in of a user whose address is not
// verified, in a tenant that requires it.
func ErrEmailNotVerified() *Error {
	return &Error{Kind: KindForbidden, Code: CodeEmailNotVerified,
		Msg: "Confirm your e-mail address before you sign in: open the link we e-mailed you, or ask for a new one."}
}

// ErrEmailVerificationExpired: the verification link is past its expiry.
func ErrEmailVerificationExpired() *Error {
	return &Error{Kind: KindConflict, Code: CodeEmailVerificationExpired, Msg: "This link has expired. Ask for a new one."}
}

// ErrEmailVerificationUsed: the verification link was already used.
func ErrEmailVerificationUsed() *Error {
	return &Error{Kind: KindConflict, Code: CodeEmailVerificationUsed, Msg: "This link has already been used."}
}

// ErrTenantPendingDeletion refuses a sign-in of a member who is not an
// Owner while the tenant's deletion is pending (403).
func ErrTenantPendingDeletion() *Error {
	return &Error{Kind: KindForbidden, Code: CodeTenantPendingDeletion,
		Msg: "This organisation is being deleted. Only its owners can sign in, to cancel the deletion."}
}

// ErrTenantDeletionScheduled refuses to schedule a deletion that is already
// pending (409).
func ErrTenantDeletionScheduled() *Error {
	return &Error{Kind: KindConflict, Code: CodeTenantPendingDeletion, Msg: "The deletion of this organisation is already scheduled."}
}

// ErrTenantNotPendingDeletion refuses to restore a tenant whose deletion is
// not pending (409).
func ErrTenantNotPendingDeletion() *Error {
	return &Error{Kind: KindConflict, Code: CodeTenantNotPendingDeletion, Msg: "This organisation is not scheduled for deletion."}
}

// ErrTwoFactorEnrolmentRequired refuses a sign-in that cannot set up a
// second factor (a PIN) while the tenant requires one for the user (403).
func ErrTwoFactorEnrolmentRequired() *Error {
	return &Error{Kind: KindForbidden, Code: CodeTwoFactorEnrolmentRequired,
		Msg: "Your organisation requires two-step verification: sign in with your password to set it up."}
}

// ErrInvalidRefreshToken refuses a first-party refresh, whatever was wrong.
func ErrInvalidRefreshToken() *Error {
	return &Error{Kind: KindUnauthenticated, Code: CodeInvalidRefreshToken, Msg: "The refresh token is not valid. Sign in again."}
}

// ErrSameOriginRequired refuses a JSON login's browser session asked for
// from another origin, or not as JSON.
func ErrSameOriginRequired() *Error {
	return &Error{Kind: KindForbidden, Code: CodeSameOriginRequired,
		Msg: "A browser session can only be started by a JSON request from this server's own origin."}
}

// ErrLastSignInMethod refuses to remove the last way an account can sign
// in (its only linked identity or passkey, without a password).
func ErrLastSignInMethod() *Error {
	return &Error{Kind: KindConflict, Code: CodeLastSignInMethod,
		Msg: "This is the only way left to sign in to this account: set a password or add another sign-in method first."}
}

// Passkeys (issue 12 §2).
const (
	// CodePasskeysUnavailable: 403, this server cannot use passkeys (its
	// issuer's host is an IP address, which WebAuthn refuses as an RP ID).
	CodePasskeysUnavailable = "passkeys_unavailable"
	// CodePasskeyInvalid: 401, the passkey's answer could not be verified
	// (unknown, another person's, wrong origin or RP ID, bad signature, a
	// spent or expired challenge).
	CodePasskeyInvalid = "passkey_invalid"
	// CodePasskeyCloneDetected: 403, the passkey's sign counter did not
	// advance: it is disabled and signs nobody in.
	CodePasskeyCloneDetected = "passkey_clone_detected"
	// CodePasskeyUserVerificationRequired: 401, a passwordless sign-in
	// needs an authenticator that verified its user (PIN, biometrics).
	CodePasskeyUserVerificationRequired = "passkey_user_verification_required"
)

// ErrPasskeysUnavailable refuses every passkey operation on a server
// whose issuer host cannot be a WebAuthn RP ID (403).
func ErrPasskeysUnavailable() *Error {
	return &Error{Kind: KindForbidden, Code: CodePasskeysUnavailable, Msg: "Passkeys are not available on this server."}
}

// ErrPasskeyInvalid refuses a passkey answer, whatever was wrong (401).
func ErrPasskeyInvalid() *Error {
	return &Error{Kind: KindUnauthenticated, Code: CodePasskeyInvalid, Msg: "The passkey could not be verified. Try again."}
}

// ErrPasskeyCloneDetected refuses a sign-in whose passkey's counter went
// backwards; the passkey is now disabled (403).
func ErrPasskeyCloneDetected() *Error {
	return &Error{Kind: KindForbidden, Code: CodePasskeyCloneDetected,
		Msg: "This passkey looks copied, so it has been turned off. Sign in another way, remove it and add it again."}
}

// ErrPasskeyUserVerificationRequired refuses a passwordless sign-in with a
// passkey that did not verify its user (401).
func ErrPasskeyUserVerificationRequired() *Error {
	return &Error{Kind: KindUnauthenticated, Code: CodePasskeyUserVerificationRequired,
		Msg: "To sign in without a password, your passkey must check it is you (PIN, fingerprint or face). Sign in with your password instead."}
}

// Issue 12 §1, the sign-in through an upstream provider.

// ErrFederationFailed refuses an upstream answer that proves nobody; msg
// is safe to show (never a token or the upstream's own text).
func ErrFederationFailed(msg string) *Error {
	if msg == "" {
		msg = "The sign-in with your organisation's provider did not work. Go back to the sign-in page and try again."
	}
	return &Error{Kind: KindUnauthenticated, Code: CodeFederationFailed, Msg: msg}
}

// ErrFederationEmailUnverified refuses a person whose address the
// provider does not vouch for.
func ErrFederationEmailUnverified() *Error {
	return &Error{Kind: KindForbidden, Code: CodeFederationEmailUnverified,
		Msg: "Your provider did not confirm your e-mail address, so it cannot sign you in here. Confirm the address with your provider, or sign in with your password."}
}

// ErrFederationNotAllowed refuses a person the provider's rules keep out.
func ErrFederationNotAllowed(msg string) *Error {
	return &Error{Kind: KindForbidden, Code: CodeFederationNotAllowed, Msg: msg}
}

// ErrFederationUnsupported refuses a provider set up in a way this server
// cannot use.
func ErrFederationUnsupported(msg string) *Error {
	return &Error{Kind: KindInvalid, Code: CodeFederationUnsupported, Msg: msg}
}
