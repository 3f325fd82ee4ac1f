package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
)

// Auth is what a route asks of its caller, and so which middleware guards it.
type Auth string

// The guards a route can have. Each route carries its own: an echo.Group
// with middleware would register a catch-all route, so every unknown path
// under it would answer 401 (requireUser, authenticate) or the HTML
// "Request expired" page (CSRF) instead of 404, and a wrong method 404
// instead of 405.
const (
	// AuthNone is a public route: discovery, health, the login API, assets.
	AuthNone Auth = "none"
	// AuthClient is an OAuth endpoint where the client authenticates
	// (fosite checks the credentials; clientAuthGuard throttles failures).
	AuthClient Auth = "client"
	// AuthAccessToken is a route whose handler checks an access token itself
	// and answers in RFC 6750 form (userinfo).
	AuthAccessToken Auth = "access_token"
	// AuthUser is the account API: a first-party user token (requireUser).
	AuthUser Auth = "user"
	// AuthPrincipal is any authenticated principal: a user, an API key or a
	// service account's client-credentials token (authenticate).
	AuthPrincipal Auth = "principal"
	// AuthPermission is a principal holding the route's permission, past the
	// step-up gate for danger actions (authenticate, then require).
	AuthPermission Auth = "permission"
	// AuthPage is an HTML page with CSRF-protected forms; the handler reads
	// the browser's login cookie itself.
	AuthPage Auth = "page"
)

// scope says whether a permission-checked route acts on the principal's
// tenant's objects (the isolation test covers every tenant route).
type scope bool

const (
	anyTenant scope = false
	ownTenant scope = true
)

// route is one row of the route table.
type route struct {
	method     string
	path       string
	auth       Auth
	permission string // AuthPermission only
	scope      scope  // AuthPermission only
	handler    echo.HandlerFunc
}

// routes is every route the server answers, in one table: New registers
// them in one loop, the tests read it through Routes. Handlers are bound to
// s, which may be a zero Server when only the table's shape is wanted.
func (s *Server) routes() []route {
	const (
		get, post, put, patch, del = http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete
		none, client, token, user  = AuthNone, AuthClient, AuthAccessToken, AuthUser
		principal, perm, page      = AuthPrincipal, AuthPermission, AuthPage
	)
	return []route{
		// Discovery, keys, health and the API's own description.
		{get, "/.well-known/openid-configuration", none, "", anyTenant, s.discovery},
		{get, "/.well-known/jwks.json", none, "", anyTenant, s.jwks},
		{get, "/api/health", none, "", anyTenant, s.health},
		{get, "/api/ping", none, "", anyTenant, s.ping},
		{get, "/api/openapi.json", none, "", anyTenant, s.openAPI},
		// Issue 11 §8: the probes; §6: the Prometheus metrics (404 when
		// IDENTITY_METRICS_ADDR serves them elsewhere; the handler checks
		// IDENTITY_METRICS_TOKEN itself).
		{get, "/api/health/live", none, "", anyTenant, s.healthLive},
		{get, "/api/health/ready", none, "", anyTenant, s.healthReady},
		{get, "/metrics", none, "", anyTenant, s.serveMetrics},

		// OAuth 2.0 and OpenID Connect: fosite's endpoints.
		{get, "/api/oauth/authorize", none, "", anyTenant, s.authorize},
		{post, "/api/oauth/authorize", none, "", anyTenant, s.authorize},
		{post, "/api/oauth/token", client, "", anyTenant, s.token},
		{post, "/api/oauth/introspect", client, "", anyTenant, s.introspect},
		{post, "/api/oauth/revoke", client, "", anyTenant, s.revoke},
		{get, "/api/oauth/userinfo", token, "", anyTenant, s.userinfo},
		{post, "/api/oauth/userinfo", token, "", anyTenant, s.userinfo},

		// The login API: public, it is where tokens come from.
		{post, "/api/auth/login", none, "", anyTenant, s.apiLogin},
		{post, "/api/auth/2fa/verify", none, "", anyTenant, s.apiVerify2FA},
		{post, "/api/auth/2fa/resend", none, "", anyTenant, s.apiResend2FA},
		{post, "/api/auth/password/change-required", none, "", anyTenant, s.apiChangeRequiredPassword},
		{post, "/api/auth/password/forgot", none, "", anyTenant, s.apiForgotPassword},
		{post, "/api/auth/password/reset", none, "", anyTenant, s.apiResetPassword},
		{post, "/api/auth/pin/login", none, "", anyTenant, s.apiPINLogin},
		// Issue 12 §2: passkeys. The second factor of a login (by its
		// challenge) and passwordless sign-in are public like the login;
		// registering and managing passkeys and the passkey step-up need
		// the user's token.
		{post, "/api/auth/webauthn/2fa/begin", none, "", anyTenant, s.apiPasskey2FABegin},
		{post, "/api/auth/webauthn/2fa/finish", none, "", anyTenant, s.apiPasskey2FAFinish},
		{post, "/api/auth/webauthn/login/begin", none, "", anyTenant, s.apiPasskeyLoginBegin},
		{post, "/api/auth/webauthn/login/finish", none, "", anyTenant, s.apiPasskeyLoginFinish},
		{post, "/api/auth/webauthn/register/begin", user, "", anyTenant, s.apiPasskeyRegisterBegin},
		{post, "/api/auth/webauthn/register/finish", user, "", anyTenant, s.apiPasskeyRegisterFinish},
		{get, "/api/auth/webauthn/credentials", user, "", anyTenant, s.apiPasskeyList},
		{patch, "/api/auth/webauthn/credentials/:id", user, "", anyTenant, s.apiPasskeyRename},
		{del, "/api/auth/webauthn/credentials/:id", user, "", anyTenant, s.apiPasskeyDelete},
		{post, "/api/auth/step-up/webauthn/begin", user, "", anyTenant, s.apiPasskeyStepUpBegin},
		{post, "/api/auth/step-up/webauthn/finish", user, "", anyTenant, s.apiPasskeyStepUpFinish},
		// Sign-up (issue 10 §1): public, rate-limited per IP.
		{post, "/api/auth/register", none, "", anyTenant, s.apiRegister},
		// E-mail verification (issue 10 §2): the link's token or a code,
		// public; a new message for the signed-in user (bearer) or for
		// {tenant, email}, the same answer whatever the address.
		{post, "/api/auth/email/verify", none, "", anyTenant, s.apiVerifyEmail},
		{post, "/api/auth/email/verify/resend", none, "", anyTenant, s.apiResendEmailVerification},
		// The forced second-factor enrolment step of a login (a tenant's
		// settings.require_2fa_roles), authenticated by its challenge.
		{post, "/api/auth/2fa/enrol/totp/setup", none, "", anyTenant, s.apiEnrolTOTPSetup},
		{post, "/api/auth/2fa/enrol/totp", none, "", anyTenant, s.apiEnrolTOTP},
		{post, "/api/auth/2fa/enrol/email/send", none, "", anyTenant, s.apiEnrolEmailSend},
		{post, "/api/auth/2fa/enrol/email", none, "", anyTenant, s.apiEnrolEmail},
		// A remembered login's refresh token is its credential (issue 10 §10).
		{post, "/api/auth/refresh", none, "", anyTenant, s.apiRefresh},

		// The account API: the signed-in user's own account and sessions.
		{post, "/api/auth/logout", user, "", anyTenant, s.apiLogout},
		{post, "/api/auth/logout-all", user, "", anyTenant, s.apiLogoutAll},
		{get, "/api/auth/me", user, "", anyTenant, s.apiMe},
		{patch, "/api/auth/me", user, "", anyTenant, s.apiUpdateMe},
		// The profile's phone number: verify the code sent to it, or send another.
		{post, "/api/auth/me/phone/verify", user, "", anyTenant, s.apiVerifyPhone},
		{post, "/api/auth/me/phone/resend", user, "", anyTenant, s.apiResendPhoneCode},
		// A new e-mail address, verified before it takes effect (issue 10 §2).
		{post, "/api/auth/me/email", user, "", anyTenant, s.apiChangeEmail},
		{post, "/api/auth/password", user, "", anyTenant, s.apiChangePassword},
		{post, "/api/auth/2fa/setup", user, "", anyTenant, s.api2FASetup},
		{post, "/api/auth/2fa/enable", user, "", anyTenant, s.api2FAEnable},
		{post, "/api/auth/2fa/email/enable", user, "", anyTenant, s.api2FAEmailEnable},
		{post, "/api/auth/2fa/disable", user, "", anyTenant, s.api2FADisable},
		{post, "/api/auth/2fa/recovery-codes", user, "", anyTenant, s.api2FARecoveryCodes},
		{put, "/api/auth/pin", user, "", anyTenant, s.apiSetPIN},
		{post, "/api/auth/pin/verify", user, "", anyTenant, s.apiVerifyPIN},
		{post, "/api/auth/pin/unlock", user, "", anyTenant, s.apiUnlockPIN},
		{get, "/api/devices", user, "", anyTenant, s.apiDevices},
		{del, "/api/devices/:id", user, "", anyTenant, s.apiRevokeDevice},
		{del, "/api/devices/:id/trust", user, "", anyTenant, s.apiUntrustDevice},
		{get, "/api/sessions", user, "", anyTenant, s.apiSessions},
		{del, "/api/sessions/:id", user, "", anyTenant, s.apiRevokeSession},
		{get, "/api/audit/me", user, "", anyTenant, s.apiMyAudit},
		{post, "/api/auth/step-up", user, "", anyTenant, s.apiStepUp},
		{get, "/api/auth/step-up/status", user, "", anyTenant, s.apiStepUpStatus},
		{del, "/api/auth/step-up", user, "", anyTenant, s.apiEndStepUp},

		// Other services ask whether the caller holds a permission.
		{post, "/api/authorizations/check", principal, "", anyTenant, s.apiCheck},

		// One-time codes (issue 10 §6): a user for themself, or a service
		// account for a user of its tenant. The permission
		// (identity.otp.send / identity.otp.verify) is checked by the
		// service, since a user needs none; docs/openapi.json names it in
		// x-service-permission.
		{post, "/api/otp/generate", principal, "", anyTenant, s.apiGenerateOTP},
		{post, "/api/otp/verify", principal, "", anyTenant, s.apiVerifyOTP},

		// The users of a tenant, managed by its administrators: the tenant is
		// the principal's, whatever the request names; another tenant's user
		// is 404.
		{get, "/api/users", perm, identity.PermUsersRead, ownTenant, s.apiListUsers},
		{post, "/api/users", perm, identity.PermUsersCreate, ownTenant, s.apiCreateUser},
		{get, "/api/users/:id", perm, identity.PermUsersRead, ownTenant, s.apiGetUser},
		{patch, "/api/users/:id", perm, identity.PermUsersUpdate, ownTenant, s.apiUpdateUser},
		{del, "/api/users/:id", perm, identity.PermUsersDelete, ownTenant, s.apiDeleteUser},
		{post, "/api/users/:id/deactivate", perm, identity.PermUsersDeactivate, ownTenant, s.apiDeactivateUser},
		{post, "/api/users/:id/force-password-change", perm, identity.PermUsersForcePasswordChange, ownTenant, s.apiForcePasswordChange},
		{post, "/api/users/:id/unlock", perm, identity.PermUsersUnlock, ownTenant, s.apiUnlockUser},
		{post, "/api/users/:id/reset-2fa", perm, identity.PermUsersReset2FA, ownTenant, s.apiResetUser2FA},
		{post, "/api/users/:id/roles", perm, identity.PermMembershipAssignRole, ownTenant, s.apiAssignUserRole},
		{del, "/api/users/:id/roles/:role_id", perm, identity.PermMembershipAssignRole, ownTenant, s.apiUnassignUserRole},
		{post, "/api/users/:id/policies/:policy_id", perm, identity.PermMembershipManage, ownTenant, s.apiAssignUserPolicy},
		{del, "/api/users/:id/policies/:policy_id", perm, identity.PermMembershipManage, ownTenant, s.apiUnassignUserPolicy},
		{put, "/api/admin/users/:id/system-admin", perm, identity.PermAdminUsersSystemAdmin, anyTenant, s.apiSetSystemAdmin},

		// The users export (issue 10, part 8): the listing's filters, the
		// tenant's users streamed as CSV or XLSX; a danger action, like the
		// audit export, because it hands over every e-mail address.
		{get, "/api/users/export", perm, identity.PermUsersExport, ownTenant, s.apiExportUsers},

		// The permission model of a tenant: its roles (and the global roles,
		// which tenant principals may read and assign but not edit) and its
		// policies.
		{get, "/api/roles", perm, identity.PermRolesRead, ownTenant, s.apiListRoles},
		{post, "/api/roles", perm, identity.PermRolesCreate, ownTenant, s.apiCreateRole},
		{get, "/api/roles/:id", perm, identity.PermRolesRead, ownTenant, s.apiGetRole},
		{patch, "/api/roles/:id", perm, identity.PermRolesUpdate, ownTenant, s.apiUpdateRole},
		{del, "/api/roles/:id", perm, identity.PermRolesDelete, ownTenant, s.apiDeleteRole},
		{get, "/api/policies", perm, identity.PermPoliciesRead, ownTenant, s.apiListPolicies},
		{post, "/api/policies", perm, identity.PermPoliciesCreate, ownTenant, s.apiCreatePolicy},
		{get, "/api/policies/:id", perm, identity.PermPoliciesRead, ownTenant, s.apiGetPolicy},
		{patch, "/api/policies/:id", perm, identity.PermPoliciesUpdate, ownTenant, s.apiUpdatePolicy},
		{del, "/api/policies/:id", perm, identity.PermPoliciesDelete, ownTenant, s.apiDeletePolicy},

		// A tenant's OAuth clients. The tenant is always the principal's;
		// first-party clients are neither listed nor changed.
		{get, "/api/clients", perm, identity.PermOAuthClientsRead, ownTenant, s.apiListClients},
		{post, "/api/clients", perm, identity.PermOAuthClientsCreate, ownTenant, s.apiCreateClient},
		{get, "/api/clients/:id", perm, identity.PermOAuthClientsRead, ownTenant, s.apiGetClient},
		{patch, "/api/clients/:id", perm, identity.PermOAuthClientsUpdate, ownTenant, s.apiUpdateClient},
		{del, "/api/clients/:id", perm, identity.PermOAuthClientsDelete, ownTenant, s.apiDeleteClient},
		{post, "/api/clients/:id/rotate-secret", perm, identity.PermOAuthClientRotate, ownTenant, s.apiRotateClientSecret},

		// A tenant's service accounts, their roles and their API keys.
		{get, "/api/service-accounts", perm, identity.PermServiceAccountsRead, ownTenant, s.apiListServiceAccounts},
		{post, "/api/service-accounts", perm, identity.PermServiceAccountsCreate, ownTenant, s.apiCreateServiceAccount},
		{get, "/api/service-accounts/:id", perm, identity.PermServiceAccountsRead, ownTenant, s.apiGetServiceAccount},
		{patch, "/api/service-accounts/:id", perm, identity.PermServiceAccountsUpdate, ownTenant, s.apiUpdateServiceAccount},
		{del, "/api/service-accounts/:id", perm, identity.PermServiceAccountsDelete, ownTenant, s.apiDeleteServiceAccount},
		{post, "/api/service-accounts/:id/roles", perm, identity.PermMembershipAssignRole, ownTenant, s.apiAssignServiceAccountRole},
		{del, "/api/service-accounts/:id/roles/:role_id", perm, identity.PermMembershipAssignRole, ownTenant, s.apiRemoveServiceAccountRole},
		{post, "/api/service-accounts/:id/api-keys", perm, identity.PermAPIKeysCreate, ownTenant, s.apiCreateAPIKey},
		{get, "/api/service-accounts/:id/api-keys", perm, identity.PermServiceAccountAPIKeysList, ownTenant, s.apiListAPIKeys},
		{del, "/api/service-accounts/:id/api-keys/:key_id", perm, identity.PermAPIKeysDelete, ownTenant, s.apiRevokeAPIKey},
		{post, "/api/service-accounts/:id/api-keys/:key_id/rotate", perm, identity.PermAPIKeysRotate, ownTenant, s.apiRotateAPIKey},

		// The caller's own tenant (issue 10 §3): always the principal's.
		{get, "/api/tenant", perm, identity.PermTenantsRead, ownTenant, s.apiOwnTenant},
		{patch, "/api/tenant", perm, identity.PermTenantsUpdate, ownTenant, s.apiUpdateOwnTenant},
		// Its deletion after a grace period, and the cancellation (danger actions).
		{del, "/api/tenant", perm, identity.PermTenantsDelete, ownTenant, s.apiDeleteOwnTenant},
		{post, "/api/tenant/restore", perm, identity.PermTenantsDelete, ownTenant, s.apiRestoreOwnTenant},

		// The system admins' tenant API and impersonation. They name tenants
		// in the path on purpose, so they are not tenant-scoped.
		{get, "/api/admin/tenants", perm, identity.PermAdminTenantsRead, anyTenant, s.adminListTenants},
		{post, "/api/admin/tenants", perm, identity.PermAdminTenantsCreate, anyTenant, s.adminCreateTenant},
		{get, "/api/admin/tenants/:id", perm, identity.PermAdminTenantsRead, anyTenant, s.adminGetTenant},
		{patch, "/api/admin/tenants/:id", perm, identity.PermAdminTenantsUpdate, anyTenant, s.adminUpdateTenant},
		{post, "/api/admin/tenants/:id/suspend", perm, identity.PermAdminTenantsSuspend, anyTenant, s.adminSuspendTenant},
		{post, "/api/admin/tenants/:id/unsuspend", perm, identity.PermAdminTenantsSuspend, anyTenant, s.adminUnsuspendTenant},
		{del, "/api/admin/tenants/:id", perm, identity.PermAdminTenantsDelete, anyTenant, s.adminDeleteTenant},
		{post, "/api/admin/impersonate", perm, identity.PermAdminUsersImpersonate, anyTenant, s.adminImpersonate},

		// The audit log: the tenant's (the tenant taken from the principal,
		// never the request), its streamed export, and the system admins'
		// view across tenants.
		{get, "/api/audit", perm, identity.PermAuditRead, ownTenant, s.apiAudit},
		{get, "/api/audit/export", perm, identity.PermAuditExport, ownTenant, s.apiAuditExport},
		{get, "/api/admin/audit", perm, identity.PermAdminAuditRead, anyTenant, s.adminAudit},

		// Push registrations (issue 10, part 7): the signed-in user's own,
		// and a user's full tokens for a notification service.
		{get, "/api/push-devices", user, "", anyTenant, s.apiListPushDevices},
		{post, "/api/push-devices", user, "", anyTenant, s.apiRegisterPushDevice},
		{del, "/api/push-devices/:id", user, "", anyTenant, s.apiRemovePushDevice},
		{get, "/api/users/:id/push-devices", perm, identity.PermPushDevicesRead, ownTenant, s.apiUserPushDevices},

		// Invitations (issue 10, part 4): the tenant's, by permission, and the
		// public lookup and accept of a link's holder.
		{get, "/api/invitations", perm, identity.PermInvitationsRead, ownTenant, s.apiListInvitations},
		{post, "/api/invitations", perm, identity.PermInvitationsCreate, ownTenant, s.apiCreateInvitation},
		{get, "/api/invitations/lookup", none, "", anyTenant, s.apiLookupInvitation},
		{post, "/api/invitations/accept", none, "", anyTenant, s.apiAcceptInvitation},
		{get, "/api/invitations/:id", perm, identity.PermInvitationsRead, ownTenant, s.apiGetInvitation},
		{del, "/api/invitations/:id", perm, identity.PermInvitationsRevoke, ownTenant, s.apiRevokeInvitation},
		{post, "/api/invitations/:id/resend", perm, identity.PermInvitationsCreate, ownTenant, s.apiResendInvitation},
		// GDPR (issue 10, part 9): the applications the signed-in person
		// allowed, and withdrawing one (its tokens die with it).
		{get, "/api/auth/me/consents", user, "", anyTenant, s.apiListConsents},
		{del, "/api/auth/me/consents/:client_id", user, "", anyTenant, s.apiRevokeConsent},
		// Everything held about the signed-in person, as one JSON download.
		{get, "/api/auth/me/export", user, "", anyTenant, s.apiExportMe},
		// Erasure (GDPR Art. 17): oneself (step-up and password), or a user
		// of the tenant by an administrator (a danger action).
		{del, "/api/auth/me", user, "", anyTenant, s.apiEraseMe},
		{post, "/api/users/:id/erase", perm, identity.PermUsersErase, ownTenant, s.apiEraseUser},
		{get, "/account/apps", page, "", anyTenant, s.appsPage},
		{post, "/account/apps/revoke", page, "", anyTenant, s.appsAction(s.appsRevoke)},

		// Webhooks (issue 11 §3): the tenant's receivers of its events;
		// rotating a secret is a danger action (step-up).
		{get, "/api/webhooks", perm, identity.PermWebhooksRead, ownTenant, s.apiListWebhooks},
		{post, "/api/webhooks", perm, identity.PermWebhooksCreate, ownTenant, s.apiCreateWebhook},
		{get, "/api/webhooks/:id", perm, identity.PermWebhooksRead, ownTenant, s.apiGetWebhook},
		{patch, "/api/webhooks/:id", perm, identity.PermWebhooksUpdate, ownTenant, s.apiUpdateWebhook},
		{del, "/api/webhooks/:id", perm, identity.PermWebhooksDelete, ownTenant, s.apiDeleteWebhook},
		{get, "/api/webhooks/:id/deliveries", perm, identity.PermWebhooksRead, ownTenant, s.apiWebhookDeliveries},
		{post, "/api/webhooks/:id/test", perm, identity.PermWebhooksUpdate, ownTenant, s.apiTestWebhook},
		{post, "/api/webhooks/:id/rotate-secret", perm, identity.PermWebhooksRotate, ownTenant, s.apiRotateWebhookSecret},

		// Upstream identity providers (issue 12 §1): the tenant's SSO and
		// social providers (secrets never returned); the signed-in person's
		// linked identities, and unlinking one (never the last way in).
		{get, "/api/identity-providers", perm, identity.PermIdentityProvidersRead, ownTenant, s.apiListIdentityProviders},
		{post, "/api/identity-providers", perm, identity.PermIdentityProvidersCreate, ownTenant, s.apiCreateIdentityProvider},
		{get, "/api/identity-providers/:id", perm, identity.PermIdentityProvidersRead, ownTenant, s.apiGetIdentityProvider},
		{patch, "/api/identity-providers/:id", perm, identity.PermIdentityProvidersUpdate, ownTenant, s.apiUpdateIdentityProvider},
		{del, "/api/identity-providers/:id", perm, identity.PermIdentityProvidersDelete, ownTenant, s.apiDeleteIdentityProvider},
		{get, "/api/auth/me/identities", user, "", anyTenant, s.apiMyIdentities},
		{del, "/api/auth/me/identities/:id", user, "", anyTenant, s.apiUnlinkMyIdentity},

		// Static files of the pages.
		{get, "/assets/*", none, "", anyTenant, s.assets},

		// The browser pages: login, consent, the account page, logout.
		{get, "/login", page, "", anyTenant, s.loginPage},
		{post, "/login", page, "", anyTenant, s.loginSubmit},
		{post, "/login/2fa", page, "", anyTenant, s.twoFactorSubmit},
		// Issue 12 §2: the passkey answers of the sign-in and two-step pages.
		{post, "/login/passkey", page, "", anyTenant, s.loginPasskeySubmit},
		{post, "/login/2fa/passkey", page, "", anyTenant, s.twoFactorPasskeySubmit},
		{post, "/login/password", page, "", anyTenant, s.passwordChangeSubmit},
		{post, "/login/2fa/enrol", page, "", anyTenant, s.enrolSubmit},
		{post, "/login/2fa/enrol/email", page, "", anyTenant, s.enrolEmailSubmit},
		// Issue 12 §1: sign-in through a tenant's upstream identity
		// provider (the start, the redirect URI registered upstream, and
		// the step that proves an existing account before it is linked).
		{get, "/api/auth/federation/:id/start", none, "", anyTenant, s.federationStart},
		{get, "/api/auth/federation/:id/callback", none, "", anyTenant, s.federationCallback},
		{get, "/login/federation", page, "", anyTenant, s.federationStepPage},
		{post, "/login/federation/link", page, "", anyTenant, s.federationLinkSubmit},
		{get, "/consent", page, "", anyTenant, s.consentPage},
		{post, "/consent", page, "", anyTenant, s.consentSubmit},
		{get, "/invitations/accept", page, "", anyTenant, s.invitationPage},
		{post, "/invitations/accept", page, "", anyTenant, s.invitationSubmit},
		{get, "/account/security", page, "", anyTenant, s.accountPage},
		{post, "/account/security/password", page, "", anyTenant, s.accountAction(s.accountChangePassword)},
		{post, "/account/security/2fa/setup", page, "", anyTenant, s.accountAction(s.accountSetupTOTP)},
		{post, "/account/security/2fa/enable", page, "", anyTenant, s.accountAction(s.accountEnableTOTP)},
		{post, "/account/security/2fa/email", page, "", anyTenant, s.accountAction(s.accountEnableEmail2FA)},
		{post, "/account/security/2fa/recovery", page, "", anyTenant, s.accountAction(s.accountRegenerateRecoveryCodes)},
		{post, "/account/security/2fa/disable", page, "", anyTenant, s.accountAction(s.accountDisable2FA)},
		// Issue 12 §2: passkeys on the security page.
		{post, "/account/security/passkeys/begin", page, "", anyTenant, s.accountAction(s.accountPasskeyBegin)},
		{post, "/account/security/passkeys/finish", page, "", anyTenant, s.accountAction(s.accountPasskeyFinish)},
		{post, "/account/security/passkeys/:id/rename", page, "", anyTenant, s.accountAction(s.accountPasskeyRename)},
		{post, "/account/security/passkeys/:id/remove", page, "", anyTenant, s.accountAction(s.accountPasskeyRemove)},
		{post, "/account/security/pin", page, "", anyTenant, s.accountAction(s.accountSetPIN)},
		{post, "/account/security/pin/unlock", page, "", anyTenant, s.accountAction(s.accountUnlockPIN)},
		{post, "/account/security/sessions/:id/revoke", page, "", anyTenant, s.accountAction(s.accountRevokeSession)},
		{post, "/account/security/sessions/:id/untrust", page, "", anyTenant, s.accountAction(s.accountUntrustSession)},
		{post, "/account/security/logout-all", page, "", anyTenant, s.accountAction(s.accountLogoutAll)},
		{post, "/account/security/identities/:id/unlink", page, "", anyTenant, s.accountAction(s.accountUnlinkIdentity)},
		// The profile page (issue 10 part 5).
		{get, "/account/profile", page, "", anyTenant, s.profilePage},
		{post, "/account/profile", page, "", anyTenant, s.profileAction(s.profileSave)},
		{post, "/account/profile/phone/verify", page, "", anyTenant, s.profileAction(s.profileVerifyPhone)},
		{post, "/account/profile/phone/resend", page, "", anyTenant, s.profileAction(s.profileResendPhone)},
		// The forgotten-password pages (issue 10 part 11).
		{get, "/forgot-password", page, "", anyTenant, s.forgotPasswordPage},
		{post, "/forgot-password", page, "", anyTenant, s.forgotPasswordSubmit},
		{get, "/reset-password", page, "", anyTenant, s.resetPasswordPage},
		{post, "/reset-password", page, "", anyTenant, s.resetPasswordSubmit},
		// The sign-up page (issue 10 §1).
		{get, "/register", page, "", anyTenant, s.registerPage},
		{post, "/register", page, "", anyTenant, s.registerSubmit},
		// The e-mail verification page (issue 10 part 2).
		{get, "/verify-email", page, "", anyTenant, s.verifyEmailPage},
		{post, "/verify-email", page, "", anyTenant, s.verifyEmailSubmit},
		{post, "/verify-email/resend", page, "", anyTenant, s.verifyEmailResend},
		{get, "/logout", page, "", anyTenant, s.logoutPage},
		{post, "/logout", page, "", anyTenant, s.logoutSubmit},
	}
}

// guards returns the middleware of a route: its Auth, and for a permission
// route the permission check (with the step-up gate) after authentication.
func (s *Server) guards(r route, csrf echo.MiddlewareFunc) []echo.MiddlewareFunc {
	switch r.auth {
	case AuthClient:
		return []echo.MiddlewareFunc{s.clientAuthGuard}
	case AuthUser:
		return []echo.MiddlewareFunc{s.requireUser}
	case AuthPrincipal:
		return []echo.MiddlewareFunc{s.authenticate}
	case AuthPermission:
		return []echo.MiddlewareFunc{s.authenticate, s.require(r.permission)}
	case AuthPage:
		return []echo.MiddlewareFunc{csrf}
	default:
		return nil
	}
}

// register adds every route of the table to e. What a route requires is
// read from the table (Routes), never from echo's route names.
func (s *Server) register(e *echo.Echo, csrf echo.MiddlewareFunc) {
	for _, r := range s.routes() {
		e.Add(r.method, r.path, r.handler, s.guards(r, csrf)...)
	}
}

// RouteInfo is one route as the route table declares it.
type RouteInfo struct {
	Method string
	// Path is echo's form: /api/users/:id.
	Path string
	Auth Auth
	// Permission is what an AuthPermission route requires ("" otherwise).
	Permission string
	// TenantScoped marks permission routes that act on the principal's
	// tenant's objects, whatever tenant the request names.
	TenantScoped bool
}

// Routes returns the route table, a fresh copy on every call: every route
// New registers, with how it is guarded.
func Routes() []RouteInfo {
	table := (&Server{}).routes()
	out := make([]RouteInfo, 0, len(table))
	for _, r := range table {
		out = append(out, RouteInfo{Method: r.method, Path: r.path, Auth: r.auth, Permission: r.permission, TenantScoped: bool(r.scope)})
	}
	return out
}
