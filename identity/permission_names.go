package identity

// The permission names this service checks, typed once: the catalogue,
// the danger list and the route table (handlers/routes.go) use these
// constants, so a misspelt permission is a compile error, not a route
// that nobody can call.
const (
	// PermUsersRead lists and reads the tenant's users.
	PermUsersRead = "identity.users.read"
	// PermUsersCreate creates users.
	PermUsersCreate = "identity.users.create"
	// PermUsersUpdate changes a user's profile fields.
	PermUsersUpdate = "identity.users.update"
	// PermUsersDelete deletes users (a danger action).
	PermUsersDelete = "identity.users.delete"
	// PermUsersDeactivate deactivates and reactivates users.
	PermUsersDeactivate = "identity.users.deactivate"
	// PermUsersForcePasswordChange makes a user change their password at the next login.
	PermUsersForcePasswordChange = "identity.users.force_password_change"
	// PermUsersUnlock lifts a user's lockout.
	PermUsersUnlock = "identity.users.unlock"
	// PermUsersReset2FA removes a user's second factor (a danger action).
	PermUsersReset2FA = "identity.users.reset_2fa"
	// PermUsersExport exports the tenant's users with their e-mail
	// addresses (a danger action, like the audit export).
	PermUsersExport = "identity.users.export"
	// PermUsersErase erases a user for good under the GDPR: their data is
	// deleted and their audit trail pseudonymised (a danger action).
	PermUsersErase = "identity.users.erase"

	// PermTenantsRead reads the principal's own tenant.
	PermTenantsRead = "identity.tenants.read"
	// PermTenantsUpdate changes the principal's own tenant (a danger action).
	PermTenantsUpdate = "identity.tenants.update"
	// PermTenantsDelete deletes the principal's own tenant after a grace
	// period, and cancels that deletion (a danger action).
	PermTenantsDelete = "identity.tenants.delete"

	// PermRolesRead lists and reads roles.
	PermRolesRead = "identity.roles.read"
	// PermRolesCreate creates roles.
	PermRolesCreate = "identity.roles.create"
	// PermRolesUpdate changes a role's permissions (a danger action: it can grant one).
	PermRolesUpdate = "identity.roles.update"
	// PermRolesDelete deletes roles (a danger action).
	PermRolesDelete = "identity.roles.delete"

	// PermPoliciesRead lists and reads policies.
	PermPoliciesRead = "identity.policies.read"
	// PermPoliciesCreate creates policies.
	PermPoliciesCreate = "identity.policies.create"
	// PermPoliciesUpdate changes a policy's permissions (a danger action: it can grant one).
	PermPoliciesUpdate = "identity.policies.update"
	// PermPoliciesDelete deletes policies (a danger action).
	PermPoliciesDelete = "identity.policies.delete"

	// PermAuditRead reads the tenant's audit log.
	PermAuditRead = "identity.audit.read"
	// PermAuditExport exports the tenant's audit log (a danger action).
	PermAuditExport = "identity.audit.export"

	// PermDevicesRead reads devices.
	PermDevicesRead = "identity.devices.read"
	// PermDevicesDelete revokes devices.
	PermDevicesDelete = "identity.devices.delete"

	// PermProfileRead reads the principal's own profile.
	PermProfileRead = "identity.profile.read"
	// PermProfileUpdate changes the principal's own profile.
	PermProfileUpdate = "identity.profile.update"

	// PermAuthorizationsCheck asks whether the caller holds a permission.
	PermAuthorizationsCheck = "identity.authorizations.check"

	// PermServiceAccountsRead lists and reads service accounts.
	PermServiceAccountsRead = "identity.service_accounts.read"
	// PermServiceAccountsCreate creates service accounts.
	PermServiceAccountsCreate = "identity.service_accounts.create"
	// PermServiceAccountsUpdate changes service accounts.
	PermServiceAccountsUpdate = "identity.service_accounts.update"
	// PermServiceAccountsDelete deletes service accounts (a danger action).
	PermServiceAccountsDelete = "identity.service_accounts.delete"

	// PermAPIKeysCreate issues API keys for a service account.
	PermAPIKeysCreate = "identity.api_keys.create"
	// PermAPIKeysDelete revokes API keys (a danger action).
	PermAPIKeysDelete = "identity.api_keys.delete"
	// PermAPIKeysRotate rotates API keys (a danger action).
	PermAPIKeysRotate = "identity.api_keys.rotate"

	// PermServiceAccountAPIKeysList lists a service account's API keys.
	PermServiceAccountAPIKeysList = "identity.service_account.api_keys.list"

	// PermOAuthClientsRead lists and reads OAuth clients.
	PermOAuthClientsRead = "identity.oauth_clients.read"
	// PermOAuthClientsCreate registers OAuth clients.
	PermOAuthClientsCreate = "identity.oauth_clients.create"
	// PermOAuthClientsUpdate changes OAuth clients.
	PermOAuthClientsUpdate = "identity.oauth_clients.update"
	// PermOAuthClientsDelete deletes OAuth clients (a danger action).
	PermOAuthClientsDelete = "identity.oauth_clients.delete"

	// PermOAuthClientRotate rotates an OAuth client's secret (a danger action).
	PermOAuthClientRotate = "identity.oauth_client.rotate"

	// PermOAuthClientsBind binds an OAuth client to a service account (a danger action).
	PermOAuthClientsBind = "identity.oauth_clients.bind"

	// PermMembershipManage assigns and removes policies (a danger action).
	PermMembershipManage = "identity.membership.manage"
	// PermMembershipAssignRole assigns and removes roles (a danger action).
	PermMembershipAssignRole = "identity.membership.assign_role"

	// PermOTPSend has Identity generate a one-time code for a user of the
	// tenant and send it to them (POST /api/otp/generate). It acts only
	// for service accounts: a user asks for codes only for themself, with
	// or without it; the Owner and Admin roles hold it to grant it.
	PermOTPSend = "identity.otp.send"
	// PermOTPVerify checks a user's one-time code (POST /api/otp/verify);
	// like PermOTPSend, it acts only for service accounts.
	PermOTPVerify = "identity.otp.verify"
	// PermPushDevicesRead reads a user's push registrations with their full
	// tokens (a notification service; a danger action, held by no system role).
	PermPushDevicesRead = "identity.push_devices.read"

	// PermInvitationsRead lists and reads the tenant's invitations.
	PermInvitationsRead = "identity.invitations.read"
	// PermInvitationsCreate invites people (with roles the inviter could
	// assign) and resends invitations.
	PermInvitationsCreate = "identity.invitations.create"
	// PermInvitationsRevoke withdraws a pending invitation.
	PermInvitationsRevoke = "identity.invitations.revoke"

	// Webhooks (issue 11 §3): a tenant's HTTP receivers of its events.
	// PermWebhooksRead lists and reads webhooks and their delivery log.
	PermWebhooksRead = "identity.webhooks.read"
	// PermWebhooksCreate creates webhooks.
	PermWebhooksCreate = "identity.webhooks.create"
	// PermWebhooksUpdate changes a webhook (URL, events, enabled) and sends
	// it a test event.
	PermWebhooksUpdate = "identity.webhooks.update"
	// PermWebhooksDelete deletes webhooks.
	PermWebhooksDelete = "identity.webhooks.delete"
	// PermWebhooksRotate rotates a webhook's signing secret (a danger action).
	PermWebhooksRotate = "identity.webhooks.rotate"

	// PermAdminTenantsRead lists and reads every tenant (system administrators).
	PermAdminTenantsRead = "admin.tenants.read"
	// PermAdminTenantsCreate creates tenants.
	PermAdminTenantsCreate = "admin.tenants.create"
	// PermAdminTenantsUpdate changes any tenant.
	PermAdminTenantsUpdate = "admin.tenants.update"
	// PermAdminTenantsDelete deletes tenants.
	PermAdminTenantsDelete = "admin.tenants.delete"
	// PermAdminTenantsSuspend suspends and unsuspends tenants.
	PermAdminTenantsSuspend = "admin.tenants.suspend"

	// PermAdminUsersRead reads users across tenants.
	PermAdminUsersRead = "admin.users.read"
	// PermAdminUsersSystemAdmin grants and revokes system administration.
	PermAdminUsersSystemAdmin = "admin.users.system_admin"
	// PermAdminUsersImpersonate impersonates a user.
	PermAdminUsersImpersonate = "admin.users.impersonate"

	// PermAdminAuditRead reads the audit log across tenants.
	PermAdminAuditRead = "admin.audit.read"
)
