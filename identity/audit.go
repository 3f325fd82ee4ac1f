package identity

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/identityd/identityd/models"
)

// Audit actions.
const (
	AuditLogin              = "user.login"
	AuditLoginFailed        = "user.login_failed"
	AuditLogout             = "user.logout"
	AuditLocked             = "user.locked"
	AuditPasswordChanged    = "user.password_changed"
	AuditProfileUpdated     = "user.profile_updated"
	Audit2FAEnabled         = "2fa.enabled"
	Audit2FADisabled        = "2fa.disabled"
	Audit2FAVerified        = "2fa.verified"
	Audit2FAFailed          = "2fa.failed"
	Audit2FARecoveryUsed    = "2fa.recovery_used"
	Audit2FARecoveryRegen   = "2fa.recovery_regenerated"
	AuditPINSet             = "pin.set"
	AuditPINChanged         = "pin.changed"
	AuditPINVerified        = "pin.verified"
	AuditPINFailed          = "pin.failed"
	AuditPINLocked          = "pin.locked"
	AuditPINUnlocked        = "pin.unlocked"
	AuditDeviceAdded        = "device.added"
	AuditDeviceTrusted      = "device.trusted"
	AuditDeviceUntrusted    = "device.untrusted"
	AuditDeviceRevoked      = "device.revoked"
	AuditSessionRevoked     = "session.revoked"
	AuditRefreshReuse       = "oauth.refresh_reuse_detected"
	AuditStepUp             = "user.step_up"
	AuditSystemAdminGranted = "admin.system_admin_granted"
	AuditSystemAdminRevoked = "admin.system_admin_revoked"

	// Operators: tenants, impersonation, the audit log itself.
	AuditTenantCreated        = "admin.tenant_created"
	AuditTenantUpdated        = "admin.tenant_updated"
	AuditTenantSuspended      = "admin.tenant_suspended"
	AuditTenantUnsuspended    = "admin.tenant_unsuspended"
	AuditTenantDeleted        = "admin.tenant_deleted"
	AuditImpersonationStarted = "admin.impersonation_started"
	AuditImpersonated         = "user.impersonated"
	AuditExported             = "audit.exported"

	AuditClientCreated              = "oauth_client.created"
	AuditClientUpdated              = "oauth_client.updated"
	AuditClientDeleted              = "oauth_client.deleted"
	AuditClientSecretRotated        = "oauth_client.secret_rotated"
	AuditServiceAccountCreated      = "service_account.created"
	AuditServiceAccountUpdated      = "service_account.updated"
	AuditServiceAccountDeleted      = "service_account.deleted"
	AuditServiceAccountRoleAssigned = "service_account.role_assigned"
	AuditServiceAccountRoleRemoved  = "service_account.role_removed"
	AuditAPIKeyCreated              = "api_key.created"
	AuditAPIKeyRevoked              = "api_key.revoked"
	AuditAPIKeyRotated              = "api_key.rotated"
	// The directory: a tenant's users and permission model.
	AuditUserCreated             = "user.created"
	AuditUserUpdated             = "user.updated"
	AuditUserDeactivated         = "user.deactivated"
	AuditUserDeleted             = "user.deleted"
	AuditUserForcePasswordChange = "user.force_password_change"
	AuditUserUnlocked            = "user.unlocked"
	AuditUser2FAReset            = "user.2fa_reset"
	AuditRoleAssigned            = "role.assigned"
	AuditRoleUnassigned          = "role.unassigned"
	AuditPolicyAssigned          = "policy.assigned"
	AuditPolicyUnassigned        = "policy.unassigned"
	AuditRoleCreated             = "role.created"
	AuditRoleUpdated             = "role.updated"
	AuditRoleDeleted             = "role.deleted"
	AuditPolicyCreated           = "policy.created"
	AuditPolicyUpdated           = "policy.updated"
	AuditPolicyDeleted           = "policy.deleted"
)

// AuditUserEmailChanged: an administrator changed a user's e-mail address;
// the old address was told (issue 8).
const AuditUserEmailChanged = "user.email_changed"

type metaKey struct{}

// WithMeta returns ctx carrying where the request came from, for events
// recorded deep inside a flow that has no Meta of its own (fosite's storage
// reporting a refresh-token reuse).
func WithMeta(ctx context.Context, m Meta) context.Context {
	return context.WithValue(ctx, metaKey{}, m)
}

// MetaFrom returns the Meta WithMeta put in ctx, or a zero Meta.
func MetaFrom(ctx context.Context) Meta {
	m, _ := ctx.Value(metaKey{}).(Meta)
	return m
}

type impersonationKey struct{}

type impersonation struct{ actorID, userID string }

// WithImpersonation marks ctx as a request made with an impersonation token:
// actorID (the admin) acts as userID. Every audit row written under it
// names the admin as actor and the user as subject (see WriteAudit): one
// rule for every service, whatever its own event says.
func WithImpersonation(ctx context.Context, actorID, userID string) context.Context {
	return context.WithValue(ctx, impersonationKey{}, impersonation{actorID: actorID, userID: userID})
}

// AuditWriter writes audit rows through storage (in the caller's
// transaction when ctx carries one).
type AuditWriter interface {
	CreateAuditLog(ctx context.Context, a *models.AuditLog) error
}

// Event is one audit event. Metadata must never hold a secret.
type Event struct {
	TenantID string
	UserID   string
	ActorID  string
	Action   string
	Meta     Meta
	Metadata map[string]any
}

// WriteAudit records ev.
func WriteAudit(ctx context.Context, w AuditWriter, ev Event) error {
	if imp, ok := ctx.Value(impersonationKey{}).(impersonation); ok && imp.actorID != "" {
		ev.ActorID = imp.actorID
		if ev.UserID == "" {
			ev.UserID = imp.userID
		}
		md := make(map[string]any, len(ev.Metadata)+2)
		for k, v := range ev.Metadata {
			md[k] = v
		}
		md["impersonated_by"], md["on_behalf_of"] = imp.actorID, imp.userID
		ev.Metadata = md
	}
	md := "{}"
	if len(ev.Metadata) > 0 {
		b, err := json.Marshal(ev.Metadata)
		if err != nil {
			return fmt.Errorf("audit %s: %w", ev.Action, err)
		}
		md = string(b)
	}
	row := &models.AuditLog{Action: ev.Action, ActorID: ev.ActorID, IPAddress: ev.Meta.IP, UserAgent: truncate(ev.Meta.UserAgent, 512), Metadata: md}
	if ev.TenantID != "" {
		row.TenantID = &ev.TenantID
	}
	if ev.UserID != "" {
		row.UserID = &ev.UserID
	}
	if ev.ActorID == "" && ev.UserID != "" {
		row.ActorID = ev.UserID
	}
	if err := w.CreateAuditLog(ctx, row); err != nil {
		return fmt.Errorf("audit %s: %w", ev.Action, err)
	}
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
