package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

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
	AuditPhoneVerified      = "user.phone_verified"
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

	// Tenants, impersonation, the audit log itself.
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
	// A tenant's users and its permission model.
	AuditUserCreated             = "user.created"
	AuditUserUpdated             = "user.updated"
	AuditUserDeactivated         = "user.deactivated"
	AuditUserDeleted             = "user.deleted"
	AuditUserForcePasswordChange = "user.force_password_change"
	AuditUserUnlocked            = "user.unlocked"
	AuditUser2FAReset            = "user.2fa_reset"
	AuditUserExported            = "user.exported"
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
// names the admin as actor and the user as subject (see Auditor): one
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
	// UserID is the subject: the user the event is about. The actor is
	// never part of the event: Auditor takes it from the principal.
	UserID   string
	Action   string
	Meta     Meta
	Metadata map[string]any

	// The CloudEvents the change publishes (docs/events.md), written to the
	// outbox with the audit row, in the same transaction.
	//
	// Publish names the event types; nil takes the action's defaults
	// (EventTypesOf), an empty non-nil slice publishes none. Subject is the
	// aggregate the events are about (defaults to UserID). Data is the
	// event body over the fields every event carries (user_id, tenant_id,
	// actor); it must never hold a secret, a code, a hash or a token.
	Publish []string
	Subject string
	Data    map[string]any
	// EventTenantID is the events' tenant when it is not the audit row's:
	// a deleted tenant's own tenant.deleted, whose audit row belongs to no
	// tenant or to the operator's ("": TenantID).
	EventTenantID string
}

// writeAudit inserts ev, done by actor.
func writeAudit(ctx context.Context, w AuditWriter, ev Event, actor string) error {
	md := "{}"
	if len(ev.Metadata) > 0 {
		b, err := json.Marshal(ev.Metadata)
		if err != nil {
			return fmt.Errorf("audit %s: %w", ev.Action, err)
		}
		md = string(b)
	}
	row := &models.AuditLog{Action: ev.Action, ActorID: actor, IPAddress: ev.Meta.IP, UserAgent: truncate(ev.Meta.UserAgent, 512), Metadata: md}
	if ev.TenantID != "" {
		row.TenantID = &ev.TenantID
	}
	if ev.UserID != "" {
		row.UserID = &ev.UserID
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

// Auditor is the one writer of audit rows: every service records through it,
// inside the use case's transaction (ctx carries it), so a change and its
// row commit or roll back together.
//
// Who acted comes from the principal by one rule, whatever the service:
//   - actor_id is the impersonating admin (Principal.ActorID, or the
//     WithImpersonation mark on ctx) when there is one, else the principal
//     itself (a user's id, a service account's id, SystemActorID for the
//     command line). With no principal (a failed login, a refresh-token
//     reuse) the actor is the event's subject.
//   - user_id, the subject, is the event's UserID when it names one (every
//     self-service event names its user); else, while impersonating, the
//     user acted as; else none (a role, client or tenant has no user).
//   - tenant_id is the event's TenantID, else the principal's.
//   - metadata gains impersonated_by and on_behalf_of when impersonating,
//     actor_kind for a service account, and actor_tenant_id when the actor
//     belongs to another tenant than the event (a system admin's operation).
type Auditor struct {
	Store AuditWriter
	// Events is the outbox the change's CloudEvents are written to, in
	// the same transaction as the audit row (nil: none are written, for
	// tests of the audit rule alone). Source is the events' CloudEvent
	// source (the issuer); Now their clock (nil: time.Now).
	Events EventWriter
	Source string
	Now    func() time.Time
	// Observe, when set, is told the action of every row written (the
	// metrics count lockouts from it). It runs after the write, inside the
	// caller's transaction when there is one.
	Observe func(action string)
}

// Record writes ev as done by p (see Auditor for the rule). A failure is
// returned: the caller's transaction then rolls back with it.
func (a Auditor) Record(ctx context.Context, p Principal, ev Event) error {
	ev, actor := auditRow(ctx, p, ev)
	if err := writeAudit(ctx, a.Store, ev, actor); err != nil {
		return err
	}
	if err := a.writeEvents(ctx, p, ev, actor); err != nil {
		return err
	}
	if a.Observe != nil {
		a.Observe(ev.Action)
	}
	return nil
}

// publish writes only the CloudEvents of ev (Event.Publish, with the
// actor the rule of Record names), no audit row: for a change whose one
// audit row is about another aggregate (an accepted invitation creating
// its user). Inside the use case's transaction, like Record.
func (a Auditor) publish(ctx context.Context, p Principal, ev Event) error {
	if ev.Publish == nil {
		return fmt.Errorf("publish %s: no event types", ev.Action)
	}
	ev, actor := auditRow(ctx, p, ev)
	return a.writeEvents(ctx, p, ev, actor)
}

// auditRow applies Auditor's rule: the event as written, and its actor.
func auditRow(ctx context.Context, p Principal, ev Event) (Event, string) {
	md := make(map[string]any, len(ev.Metadata)+3)
	for k, v := range ev.Metadata {
		md[k] = v
	}
	actor, onBehalfOf := p.ActorID, p.UserID
	if actor == "" {
		if imp, ok := ctx.Value(impersonationKey{}).(impersonation); ok && imp.actorID != "" {
			actor, onBehalfOf = imp.actorID, imp.userID
		}
	}
	if ev.TenantID == "" {
		ev.TenantID = p.TenantID
	}
	if ev.UserID == "" && actor != "" {
		ev.UserID = onBehalfOf
	}
	switch {
	case actor != "":
		md["impersonated_by"], md["on_behalf_of"] = actor, onBehalfOf
	case p.UserID != "":
		actor = p.UserID
	default:
		actor = ev.UserID
	}
	if p.Kind == models.PrincipalServiceAccount {
		md["actor_kind"] = models.PrincipalServiceAccount
	}
	if p.TenantID != "" && ev.TenantID != "" && p.TenantID != ev.TenantID {
		md["actor_tenant_id"] = p.TenantID
	}
	ev.Metadata = md
	return ev, actor
}

// RecordActor is Record for an Actor: its principal, and its Meta (where
// the request came from) when ev names none.
func (a Auditor) RecordActor(ctx context.Context, act Actor, ev Event) error {
	if ev.Meta == (Meta{}) {
		ev.Meta = act.Meta
	}
	return a.Record(ctx, act.Principal, ev)
}
