package identity

import (
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
	EventSessionsRevoked       = "identity.session.revoked_all"
	EventDeviceTrusted         = "identity.device.trusted"
	EventDeviceRevoked         = "identity.device.revoked"
	EventRoleAssigned          = "identity.role.assigned"
	EventRoleRemoved           = "identity.role.removed"
	EventPolicyAssigned        = "identity.policy.assigned"
	EventPolicyRemoved         = "identity.policy.removed"
	EventTenantCreated         = "identity.tenant.created"
	EventTenantUpdated         = "identity.tenant.updated"
	EventTenantSuspended       = "identity.tenant.suspended"
	EventInvitationCreated     = "identity.invitation.created"
	EventInvitationAccepted    = "identity.invitation.accepted"
	EventInvitationRevoked     = "identity.invitation.revoked"
	EventClientCreated         = "identity.client.created"
	EventClientSecretRotated   = "identity.client.secret_rotated"
	EventClientDeleted         = "identity.client.deleted"
	EventServiceAccountCreated = "identity.service_account.created"
	EventServiceAccountRevoked = "identity.service_account.revoked"
	EventAPIKeyCreated         = "identity.api_key.created"
	EventAPIKeyRotated         = "identity.api_key.rotated"
	EventAPIKeyRevoked         = "identity.api_key.revoked"
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
// several changes (a user update that deactivates the user).
var eventsOf = map[string][]string{
	AuditUserCreated:     {EventUserCreated},
	AuditUserUpdated:     {EventUserUpdated},
	AuditUserDeactivated: {EventUserDeactivated},
	AuditUserDeleted:     {EventUserDeleted},
	AuditLogin:           {EventLoginSucceeded, EventSessionCreated},
	AuditLoginFailed:     {EventLoginFailed},
	AuditLocked:          {EventUserLocked},
	AuditUserUnlocked:    {EventUserUnlocked},
	AuditPasswordChanged: {EventPasswordChanged},
	Audit2FAEnabled:      {Event2FAEnabled},
	Audit2FADisabled:     {Event2FADisabled},
	AuditPINSet:          {EventPINSet},
	AuditPINLocked:       {EventPINLocked},
	AuditLogout:          {EventSessionRevoked},
	AuditSessionRevoked:  {EventSessionRevoked},
	AuditDeviceTrusted:   {EventDeviceTrusted},
	AuditDeviceRevoked:   {EventDeviceRevoked},
	AuditRoleAssigned:    {EventRoleAssigned},
	AuditRoleUnassigned:  {EventRoleRemoved},
	AuditPolicyAssigned:  {EventPolicyAssigned},
	AuditPolicyUnassigned: {
		EventPolicyRemoved,
	},
	AuditTenantCreated:              {EventTenantCreated},
	AuditTenantUpdated:              {EventTenantUpdated},
	AuditTenantSuspended:            {EventTenantSuspended},
	AuditClientCreated:              {EventClientCreated},
	AuditClientSecretRotated:        {EventClientSecretRotated},
	AuditClientDeleted:              {EventClientDeleted},
	AuditServiceAccountCreated:      {EventServiceAccountCreated},
	AuditServiceAccountDeleted:      {EventServiceAccountRevoked},
	AuditAPIKeyCreated:              {EventAPIKeyCreated},
	AuditAPIKeyRotated:              {EventAPIKeyRotated},
	AuditAPIKeyRevoked:              {EventAPIKeyRevoked},
	AuditServiceAccountRoleAssigned: {EventRoleAssigned},
	AuditServiceAccountRoleRemoved:  {EventRoleRemoved},
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
	if ev.TenantID != "" {
		data["tenant_id"] = ev.TenantID
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
		if ev.TenantID != "" {
			row.TenantID = &ev.TenantID
		}
		if err := a.Events.AppendEvent(ctx, row); err != nil {
			return fmt.Errorf("event %s: %w", t, err)
		}
	}
	return nil
}
