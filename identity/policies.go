package identity

import (
	"context"

	"github.com/identityd/identityd/models"
)

// PolicyStore is what Policies needs from storage. Every method takes the
// tenant; another tenant's policy, or a malformed id, is models.ErrNotFound.
type PolicyStore interface {
	// ListPolicies returns the tenant's policies.
	ListPolicies(ctx context.Context, tenantID string) ([]models.Policy, error)
	// GetPolicy returns a policy of the tenant, or NotFound.
	GetPolicy(ctx context.Context, tenantID, id string) (*models.Policy, error)
	// CreatePolicy assigns the id; a name the tenant already has (for a
	// role or a policy) is a Conflict.
	CreatePolicy(ctx context.Context, p *models.Policy) error
	// UpdatePolicy saves name, description and permissions: NotFound when
	// the policy is gone, Conflict when the new name is taken.
	UpdatePolicy(ctx context.Context, tenantID string, p *models.Policy) error
	// DeletePolicy deletes the policy and its assignments, or NotFound.
	DeletePolicy(ctx context.Context, tenantID, id string) error
}

// Policies manages a tenant's policies: named permission sets given to
// users beside their roles, under the same grant rule as roles.
type Policies struct {
	store PolicyStore
	tx    Tx
	audit Auditor
}

// PoliciesDeps are what NewPolicies needs, all required.
type PoliciesDeps struct {
	Store   PolicyStore
	Tx      Tx
	Auditor Auditor
}

// NewPolicies checks d and returns the service.
func NewPolicies(d PoliciesDeps) (*Policies, error) {
	if err := checkDeps("Policies", dep{"Store", d.Store == nil}, dep{"Tx", d.Tx == nil}, dep{"Auditor", d.Auditor.Store == nil}); err != nil {
		return nil, err
	}
	return &Policies{store: d.Store, tx: d.Tx, audit: d.Auditor}, nil
}

// PolicyInput is a policy to create.
type PolicyInput struct {
	Name        string
	Description string
	Permissions []string
}

// List returns the tenant's policies.
func (s *Policies) List(ctx context.Context, tenantID string) ([]models.Policy, error) {
	return s.store.ListPolicies(ctx, tenantID)
}

// Get returns a policy of the tenant.
func (s *Policies) Get(ctx context.Context, tenantID, id string) (*models.Policy, error) {
	return s.store.GetPolicy(ctx, tenantID, id)
}

// Create creates a policy of the actor's tenant.
func (s *Policies) Create(ctx context.Context, a Actor, in PolicyInput) (*models.Policy, error) {
	fields := map[string]string{}
	name, desc := checkLabel(fields, in.Name, in.Description)
	perms := checkPermissions(fields, in.Permissions)
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	if err := CanGrant(ctx, a, perms); err != nil {
		return nil, err
	}
	p := &models.Policy{TenantID: a.TenantID, Name: name, Description: desc, Permissions: perms}
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreatePolicy(ctx, p); err != nil {
			return roleConflict(err)
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditPolicyCreated, Metadata: map[string]any{"policy_id": p.ID, "name": p.Name, "permissions": []string(perms)}})
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Update changes a policy's name, description or permissions.
func (s *Policies) Update(ctx context.Context, a Actor, id string, in RolePatch) (*models.Policy, error) {
	var p *models.Policy
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		if p, err = s.store.GetPolicy(ctx, a.TenantID, id); err != nil {
			return err
		}
		fields := map[string]string{}
		name, desc := p.Name, p.Description
		if in.Name != nil {
			name = *in.Name
		}
		if in.Description != nil {
			desc = *in.Description
		}
		name, desc = checkLabel(fields, name, desc)
		perms := p.Permissions
		if in.Permissions != nil {
			perms = checkPermissions(fields, *in.Permissions)
		}
		if len(fields) > 0 {
			return models.ErrInvalid(fields)
		}
		if err := CanGrant(ctx, a, perms); err != nil {
			return err
		}
		p.Name, p.Description, p.Permissions = name, desc, perms
		if err := s.store.UpdatePolicy(ctx, a.TenantID, p); err != nil {
			return roleConflict(err)
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditPolicyUpdated, Metadata: map[string]any{"policy_id": p.ID, "name": p.Name, "permissions": []string(perms)}})
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Delete deletes a policy and its assignments.
func (s *Policies) Delete(ctx context.Context, a Actor, id string) error {
	return s.tx.InTx(ctx, func(ctx context.Context) error {
		p, err := s.store.GetPolicy(ctx, a.TenantID, id)
		if err != nil {
			return err
		}
		if err := s.store.DeletePolicy(ctx, a.TenantID, p.ID); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditPolicyDeleted, Metadata: map[string]any{"policy_id": p.ID, "name": p.Name}})
	})
}
