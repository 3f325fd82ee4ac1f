package identity_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// auditCapture keeps the rows an Auditor writes.
type auditCapture struct{ rows []*models.AuditLog }

func (c *auditCapture) CreateAuditLog(_ context.Context, a *models.AuditLog) error {
	c.rows = append(c.rows, a)
	return nil
}

// TestAuditorRule is the one rule for who acted, over every kind of
// principal: the actor comes from the principal (the impersonating admin
// when there is one), the subject from the event, or while impersonating the user acted as.
func TestAuditorRule(t *testing.T) {
	t.Parallel()
	const (
		tenant, other = "t-1", "t-2"
		user, admin   = "u-user", "u-admin"
		member, robot = "u-member", "sa-robot"
	)
	impersonated := identity.Principal{Kind: models.PrincipalUser, TenantID: tenant, UserID: user, ActorID: admin}
	self := identity.Principal{Kind: models.PrincipalUser, TenantID: tenant, UserID: user}
	tests := []struct {
		name string
		ctx  func(context.Context) context.Context
		p    identity.Principal
		ev   identity.Event
		// want
		actor, userID, tenantID string
		md                      map[string]any
	}{
		{name: "self-service (the event names its user)", p: self, ev: identity.Event{Action: "x", UserID: user},
			actor: user, userID: user, tenantID: tenant, md: map[string]any{}},
		{name: "impersonation: self-service names the admin", p: impersonated, ev: identity.Event{Action: "x"},
			actor: admin, userID: user, tenantID: tenant, md: map[string]any{"impersonated_by": admin, "on_behalf_of": user}},
		{name: "impersonation: an action on another user", p: impersonated, ev: identity.Event{Action: "x", UserID: member},
			actor: admin, userID: member, tenantID: tenant, md: map[string]any{"impersonated_by": admin, "on_behalf_of": user}},
		{name: "impersonation marked on the context only", p: self,
			ctx:   func(ctx context.Context) context.Context { return identity.WithImpersonation(ctx, admin, user) },
			ev:    identity.Event{Action: "x"},
			actor: admin, userID: user, tenantID: tenant, md: map[string]any{"impersonated_by": admin, "on_behalf_of": user}},
		{name: "a user acting on an object that is no user (a role, a client)", p: self, ev: identity.Event{Action: "x"},
			actor: user, userID: "", tenantID: tenant, md: map[string]any{}},
		{name: "service account", p: identity.Principal{Kind: models.PrincipalServiceAccount, TenantID: tenant, UserID: robot},
			ev:    identity.Event{Action: "x"},
			actor: robot, userID: "", tenantID: tenant, md: map[string]any{"actor_kind": models.PrincipalServiceAccount}},
		{name: "system principal (the command line)", p: identity.SystemPrincipal(tenant), ev: identity.Event{Action: "x", UserID: member},
			actor: identity.SystemActorID, userID: member, tenantID: tenant, md: map[string]any{}},
		{name: "system principal without a tenant, event in one", p: identity.SystemPrincipal(""), ev: identity.Event{Action: "x", TenantID: other},
			actor: identity.SystemActorID, userID: "", tenantID: other, md: map[string]any{}},
		{name: "no principal: the subject acted (a failed login)", ev: identity.Event{Action: "x", TenantID: tenant, UserID: user},
			actor: user, userID: user, tenantID: tenant, md: map[string]any{}},
		{name: "no principal and no subject", ev: identity.Event{Action: "x", TenantID: tenant},
			actor: "", userID: "", tenantID: tenant, md: map[string]any{}},
		{name: "cross-tenant operator", p: identity.Principal{Kind: models.PrincipalUser, TenantID: tenant, UserID: admin, SystemAdmin: true},
			ev:    identity.Event{Action: "x", TenantID: other},
			actor: admin, userID: "", tenantID: other, md: map[string]any{"actor_tenant_id": tenant}},
		{name: "cross-tenant operator acting on a user there", p: identity.Principal{Kind: models.PrincipalUser, TenantID: tenant, UserID: admin, SystemAdmin: true},
			ev:    identity.Event{Action: "x", TenantID: other, UserID: member, Metadata: map[string]any{"k": "v"}},
			actor: admin, userID: member, tenantID: other, md: map[string]any{"actor_tenant_id": tenant, "k": "v"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx := t.Context()
			if tt.ctx != nil {
				ctx = tt.ctx(ctx)
			}
			c := &auditCapture{}
			ev := tt.ev
			ev.Meta = identity.Meta{IP: "192.0.2.7", UserAgent: strings.Repeat("a", 600)}
			if err := (identity.Auditor{Store: c}).Record(ctx, tt.p, ev); err != nil {
				t.Fatal(err)
			}
			if len(c.rows) != 1 {
				t.Fatalf("%d rows, want 1", len(c.rows))
			}
			row := c.rows[0]
			if row.ActorID != tt.actor {
				t.Errorf("actor_id %q, want %q", row.ActorID, tt.actor)
			}
			if got := strOrEmpty(row.UserID); got != tt.userID {
				t.Errorf("user_id %q, want %q", got, tt.userID)
			}
			if got := strOrEmpty(row.TenantID); got != tt.tenantID {
				t.Errorf("tenant_id %q, want %q", got, tt.tenantID)
			}
			md := map[string]any{}
			if err := json.Unmarshal([]byte(row.Metadata), &md); err != nil {
				t.Fatalf("metadata %q: %v", row.Metadata, err)
			}
			if len(md) != len(tt.md) {
				t.Errorf("metadata %v, want %v", md, tt.md)
			}
			for k, v := range tt.md {
				if md[k] != v {
					t.Errorf("metadata[%s] = %v, want %v", k, md[k], v)
				}
			}
			if row.Action != "x" || row.IPAddress != "192.0.2.7" || len(row.UserAgent) != 512 {
				t.Errorf("action %q ip %q user agent of %d bytes", row.Action, row.IPAddress, len(row.UserAgent))
			}
			if tt.ev.Metadata != nil && len(tt.ev.Metadata) != 1 {
				t.Errorf("the event's own metadata map was changed: %v", tt.ev.Metadata)
			}
		})
	}
}

// TestAuditorRecordActor: an Actor's Meta is where its rows come from,
// unless the event names its own.
func TestAuditorRecordActor(t *testing.T) {
	t.Parallel()
	c := &auditCapture{}
	a := identity.Actor{Principal: identity.Principal{Kind: models.PrincipalUser, TenantID: "t", UserID: "u"}, Meta: identity.Meta{IP: "192.0.2.1"}}
	au := identity.Auditor{Store: c}
	if err := au.RecordActor(t.Context(), a, identity.Event{Action: "x"}); err != nil {
		t.Fatal(err)
	}
	if err := au.RecordActor(t.Context(), a, identity.Event{Action: "y", Meta: identity.Meta{IP: "198.51.100.1"}}); err != nil {
		t.Fatal(err)
	}
	if c.rows[0].IPAddress != "192.0.2.1" || c.rows[1].IPAddress != "198.51.100.1" || c.rows[0].ActorID != "u" {
		t.Fatalf("rows %+v %+v", c.rows[0], c.rows[1])
	}
}

func strOrEmpty(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}
