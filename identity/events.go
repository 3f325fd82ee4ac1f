package identity

import (
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"go.opentelemetry.io/otel/trace"

	"github.com/identityd/identityd/models"
)

// EventWriter appends CloudEvents to the transactional outbox (the events
// table), in the transaction ctx carries.
type EventWriter interface {
	AppendEvent(ctx context.Context, e *models.OutboxEvent) error
}

// Exchanges of the RabbitMQ relay: session and device events go to
// session_manager, every other event to identity_events (seed 001).
const (
	ExchangeIdentityEvents = "identity_events"
	ExchangeSessionManager = "session_manager"
)

// Event types (CloudEvent "type"), documented with their data in
// docs/events.md.
const (
	EventUserCreated     = "identity.user.created"
	EventUserUpdated     = "identity.user.updated"
	EventUserVerified    = "identity.user.verified"
	EventUserDeactivated = "identity.user.deactivated"
	EventUserReactivated = "identity.user.reactivated"
	EventUserDeleted     = "identity.user.deleted"
	EventUserErased      = "identity.user.erased"
	EventLoginSucceeded  = "identity.login.succeeded"
	EventLoginFailed     = "identity.login.failed"
	EventUserLocked      = "identity.user.locked"
	EventUserUnlocked    = "identity.user.unlocked"
	EventPasswordChanged = "identity.password.changed"
	EventPasswordReset   = "identity.password.reset"
	Event2FAEnabled      = "identity.2fa.enabled"
	Event2FADisabled     = "identity.2fa.disabled"
	EventPINSet          = "identity.pin.set"
	EventPINLocked       = "identity.pin.locked"
	EventSessionCreated  = "identity.session.created"
	EventSessionRevoked  = "identity.session.revoked"
	// EventSessionsRevoked: every session of a user ended at once
	// (logout-all, a password change, a deactivation).
	EventSessionsRevoked = "identity.session.revoked_all"
	EventDeviceTrusted   = "identity.device.trusted"
	EventDeviceRevoked   = "identity.device.revoked"
	EventRoleAssigned    = "identity.role.assigned"
	EventRoleRemoved     = "identity.role.removed"
	EventPolicyAssigned  = "identity.policy.assigned"
	EventPolicyRemoved   = "identity.policy.removed"
	EventTenantCreated   = "identity.tenant.created"
	EventTenantUpdated   = "identity.tenant.updated"
	EventTenantSuspended = "identity.tenant.suspended"
	// EventTenantDeleted: a tenant and all its data deleted (an operator's
	// deletion, or the purge at the end of a scheduled deletion's grace).
	EventTenantDeleted         = "identity.tenant.deleted"
	EventInvitationCreated     = "identity.invitation.created"
	EventInvitationAccepted    = "identity.invitation.accepted"
	EventInvitationRevoked     = "identity.invitation.revoked"
	EventClientCreated         = "identity.client.created"
	EventClientSecretRotated   = "identity.client.secret_rotated"
	EventClientDeleted         = "identity.client.deleted"
	EventServiceAccountCreated = "identity.service_account.created"
	EventServiceAccountRevoked = "identity.service_account.revoked"
	// EventServiceAccountRotated: a credential of a service account (an API
	// key) was replaced; published with identity.api_key.rotated.
	EventServiceAccountRotated = "identity.service_account.rotated"
	EventAPIKeyCreated         = "identity.api_key.created"
	EventAPIKeyRotated         = "identity.api_key.rotated"
	EventAPIKeyRevoked         = "identity.api_key.revoked"
	// Sign-in beyond passwords (issue 12).
	EventIdentityProviderCreated = "identity.identity_provider.created"
	EventIdentityProviderUpdated = "identity.identity_provider.updated"
	EventIdentityProviderDeleted = "identity.identity_provider.deleted"
	EventIdentityLinked          = "identity.user.identity_linked"
	EventIdentityUnlinked        = "identity.user.identity_unlinked"
	EventPasskeyAdded            = "identity.passkey.added"
	// EventPasskeyUpdated: renamed, or disabled after a clone was detected.
	EventPasskeyUpdated = "identity.passkey.updated"
	EventPasskeyRemoved = "identity.passkey.removed"
)

// ExchangeOf is the exchange an event type is relayed to.
func ExchangeOf(eventType string) string {
	if strings.HasPrefix(eventType, "identity.session.") || strings.HasPrefix(eventType, "identity.device.") {
		return ExchangeSessionManager
	}
	return ExchangeIdentityEvents
}

// eventsOf maps an audit action to the events it publishes by default. An
// audit Event may name its own (Event.Publish) where one action stands for
// several changes (a user update that deactivates the user). Every audit
// action is either here or in notEvents (events_test.go keeps it so).
var eventsOf = map[string][]string{
	AuditUserCreated:      {EventUserCreated},
	AuditUserRegistered:   {EventUserCreated},
	AuditUserUpdated:      {EventUserUpdated},
	AuditProfileUpdated:   {EventUserUpdated},
	AuditPhoneVerified:    {EventUserUpdated},
	AuditUserEmailChanged: {EventUserUpdated},
	AuditEmailVerified:    {EventUserVerified},
	AuditUserDeactivated:  {EventUserDeactivated, EventSessionsRevoked},
	AuditUserDeleted:      {EventUserDeleted, EventSessionsRevoked},
	AuditUserErased:       {EventUserErased},
	// A system admin's grant changes what the user may do: user.updated.
	AuditSystemAdminGranted: {EventUserUpdated},
	AuditSystemAdminRevoked: {EventUserUpdated},
	AuditLogin:              {EventLoginSucceeded, EventSessionCreated},
	AuditLoginFailed:        {EventLoginFailed},
	AuditLocked:             {EventUserLocked},
	AuditUserUnlocked:       {EventUserUnlocked},
	AuditPINUnlocked:        {EventUserUnlocked},
	AuditPasswordChanged:    {EventPasswordChanged},
	// An administrator forcing a new password ends every session of the user.
	AuditUserForcePasswordChange: {EventSessionsRevoked},
	Audit2FAEnabled:              {Event2FAEnabled},
	Audit2FADisabled:             {Event2FADisabled},
	AuditUser2FAReset:            {Event2FADisabled},
	AuditPINSet:                  {EventPINSet},
	AuditPINChanged:              {EventPINSet},
	AuditPINLocked:               {EventPINLocked},
	AuditLogout:                  {EventSessionRevoked},
	AuditSessionRevoked:          {EventSessionRevoked},
	AuditDeviceTrusted:           {EventDeviceTrusted},
	AuditDeviceRevoked:           {EventDeviceRevoked},
	// A device's 2FA trust taken away: the device stays, its trust is revoked.
	AuditDeviceUntrusted:  {EventDeviceRevoked},
	AuditRoleAssigned:     {EventRoleAssigned},
	AuditRoleUnassigned:   {EventRoleRemoved},
	AuditPolicyAssigned:   {EventPolicyAssigned},
	AuditPolicyUnassigned: {EventPolicyRemoved},
	AuditTenantCreated:    {EventTenantCreated},
	AuditTenantSignedUp:   {EventTenantCreated},
	AuditTenantUpdated:    {EventTenantUpdated},
	AuditTenantSelfUpdated: {
		EventTenantUpdated,
	},
	AuditTenantUnsuspended:          {EventTenantUpdated},
	AuditTenantDeletionScheduled:    {EventTenantUpdated},
	AuditTenantDeletionCancelled:    {EventTenantUpdated},
	AuditTenantSuspended:            {EventTenantSuspended},
	AuditTenantDeleted:              {EventTenantDeleted},
	AuditTenantPurged:               {EventTenantDeleted},
	AuditInvitationCreated:          {EventInvitationCreated},
	AuditInvitationAccepted:         {EventInvitationAccepted},
	AuditInvitationRevoked:          {EventInvitationRevoked},
	AuditClientCreated:              {EventClientCreated},
	AuditClientSecretRotated:        {EventClientSecretRotated},
	AuditClientDeleted:              {EventClientDeleted},
	AuditServiceAccountCreated:      {EventServiceAccountCreated},
	AuditServiceAccountDeleted:      {EventServiceAccountRevoked},
	AuditAPIKeyCreated:              {EventAPIKeyCreated},
	AuditAPIKeyRotated:              {EventAPIKeyRotated, EventServiceAccountRotated},
	AuditAPIKeyRevoked:              {EventAPIKeyRevoked},
	AuditServiceAccountRoleAssigned: {EventRoleAssigned},
	AuditServiceAccountRoleRemoved:  {EventRoleRemoved},
	AuditIdentityProviderCreated:    {EventIdentityProviderCreated},
	AuditIdentityProviderUpdated:    {EventIdentityProviderUpdated},
	AuditIdentityProviderDeleted:    {EventIdentityProviderDeleted},
	AuditIdentityLinked:             {EventIdentityLinked},
	AuditIdentityUnlinked:           {EventIdentityUnlinked},
	AuditUserProvisioned:            {EventUserCreated},
	AuditFederatedLoginFailed:       {EventLoginFailed},
	AuditPasskeyAdded:               {EventPasskeyAdded},
	AuditPasskeyRenamed:             {EventPasskeyUpdated},
	AuditPasskeyRemoved:             {EventPasskeyRemoved},
	AuditPasskeyCloneDetected:       {EventPasskeyUpdated},
}

// eventMetadataKeys are the audit metadata keys an event body carries by
// default: identifiers and plain facts, never an address, a secret or a
// code (an Event's Data adds to or overrides them).
var eventMetadataKeys = []string{
	"session_id", "device_id", "client_id", "service_account_id", "api_key_id", "invitation_id",
	"role_id", "role", "policy_id", "policy", "holder_type", "kind", "method", "amr", "reason", "failures",
	"sessions_revoked", "fields", "until", "forced", "lock", "name", "slug", "status", "expires_at",
	"old_api_key_id", "provider_id", "identity_id", "credential_id",
}

// userHolder marks a role or policy event's holder as a user (the subject).
var userHolder = map[string]any{"holder_type": models.PrincipalUser}

// untrusted is the body of a device.revoked that took the device's 2FA
// trust away and left the device.
var untrusted = map[string]any{"removed": false}

// sessionEvents is types when the change ended a session, else none (a
// bearer token without a device session, a browser login without one).
func sessionEvents(ended bool, types ...string) []string {
	if !ended {
		return []string{}
	}
	return types
}

// userData is the body of a user event: the user's state after the
// change, for consumers keeping a local copy.
func userData(u *models.User) map[string]any {
	status := "active"
	if !u.IsActive {
		status = "inactive"
	}
	return map[string]any{"user_id": u.ID, "tenant_id": u.TenantID, "email": u.Email, "name": u.Name,
		"status": status, "email_verified": u.EmailVerified}
}

// tenantData is the body of a tenant event: the tenant after the change.
func tenantData(t *models.Tenant) map[string]any {
	status := "active"
	if t.SuspendedAt != nil {
		status = "suspended"
	}
	data := map[string]any{"tenant_id": t.ID, "slug": t.Slug, "name": t.Name, "status": status}
	if t.DeletesAt != nil {
		data["deletes_at"] = t.DeletesAt.UTC()
	}
	return data
}

// EventTypesOf returns the event types an audit action publishes by
// default (nil: none).
func EventTypesOf(action string) []string { return eventsOf[action] }

// cloudEventData is the body of one event: the audit event's Data when the
// service gave one, over the fields every event carries.
func cloudEventData(ev Event, actor string, p Principal) map[string]any {
	data := make(map[string]any, len(ev.Data)+4)
	if ev.UserID != "" {
		data["user_id"] = ev.UserID
	}
	if tenant := cmp.Or(ev.EventTenantID, ev.TenantID); tenant != "" {
		data["tenant_id"] = tenant
	}
	if actor != "" {
		kind := models.PrincipalUser
		switch {
		case p.Kind == models.PrincipalServiceAccount:
			kind = models.PrincipalServiceAccount
		case actor == SystemActorID:
			kind = "system"
		}
		data["actor"] = map[string]any{"id": actor, "type": kind}
	}
	for _, k := range eventMetadataKeys {
		if v, ok := ev.Metadata[k]; ok {
			data[k] = v
		}
	}
	for k, v := range ev.Data {
		data[k] = v
	}
	return data
}

// traceParent is the W3C traceparent of the span in ctx ("" without one).
func traceParent(ctx context.Context) string {
	sc := trace.SpanContextFromContext(ctx)
	if !sc.IsValid() {
		return ""
	}
	return fmt.Sprintf("00-%s-%s-%s", sc.TraceID(), sc.SpanID(), sc.TraceFlags())
}

// writeEvents appends the CloudEvents ev publishes (Event.Publish, else the
// action's defaults) to the outbox, in the transaction of ctx.
func (a Auditor) writeEvents(ctx context.Context, p Principal, ev Event, actor string) error {
	types := ev.Publish
	if types == nil {
		types = eventsOf[ev.Action]
	}
	if len(types) == 0 || a.Events == nil {
		return nil
	}
	body, err := json.Marshal(cloudEventData(ev, actor, p))
	if err != nil {
		return fmt.Errorf("event %s: %w", ev.Action, err)
	}
	subject := ev.Subject
	if subject == "" {
		subject = ev.UserID
	}
	now := time.Now().UTC()
	if a.Now != nil {
		now = a.Now().UTC()
	}
	tp := traceParent(ctx)
	for _, t := range types {
		row := &models.OutboxEvent{ID: uuid.NewString(), Type: t, Source: a.Source, Subject: subject,
			Time: now, Data: string(body), TraceParent: tp}
		if tenant := cmp.Or(ev.EventTenantID, ev.TenantID); tenant != "" {
			row.TenantID = &tenant
		}
		if err := a.Events.AppendEvent(ctx, row); err != nil {
			return fmt.Errorf("event %s: %w", t, err)
		}
	}
	return nil
}

// mergeData returns base with extra's keys set over it.
func mergeData(base, extra map[string]any) map[string]any {
	for k, v := range extra {
		base[k] = v
	}
	return base
}
