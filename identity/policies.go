package identity

import (
	"context"

	"github.com/identityd/identityd/models"
)

// PolicyInput is a policy to create.
type PolicyInput struct {
	Name        string
	Description string
	Permissions []string
}

// ListPolicies returns the tenant's policies.
func (d *Directory) ListPolicies(ctx context.Context, tenantID string) ([]models.Policy, error) {
	return d.Store.ListPolicies(ctx, tenantID)
}

// GetPolicy returns a policy of the tenant.
func (d *Directory) GetPolicy(ctx context.Context, tenantID, id string) (*models.Policy, error) {
	return d.Store.GetPolicy(ctx, tenantID, id)
}

// CreatePolicy creates a policy of the actor's tenant.
func (d *Directory) CreatePolicy(ctx context.Context, a Actor, in PolicyInput) (*models.Policy, error) {
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
	err := d.Store.InTx(ctx, func(ctx context.Context) error {
		if err := d.Store.CreatePolicy(ctx, p); err != nil {
			return roleConflict(err)
		}
		return d.audit(ctx, a, Event{Action: AuditPolicyCreated, Metadata: map[string]any{"policy_id": p.ID, "name": p.Name, "permissions": []string(perms)}})
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// UpdatePolicy changes a policy's name, description or permissions.
func (d *Directory) UpdatePolicy(ctx context.Context, a Actor, id string, in RolePatch) (*models.Policy, error) {
	var p *models.Policy
	err := d.Store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if p, err = d.Store.GetPolicy(ctx, a.TenantID, id); err != nil {
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
		if err := d.Store.UpdatePolicy(ctx, a.TenantID, p); err != nil {
			return roleConflict(err)
		}
		return d.audit(ctx, a, Event{Action: AuditPolicyUpdated, Metadata: map[string]any{"policy_id": p.ID, "name": p.Name, "permissions": []string(perms)}})
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// DeletePolicy deletes a policy and its assignments.
func (d *Directory) DeletePolicy(ctx context.Context, a Actor, id string) error {
	return d.Store.InTx(ctx, func(ctx context.Context) error {
		p, err := d.Store.GetPolicy(ctx, a.TenantID, id)
		if err != nil {
			return err
		}
		if err := d.Store.DeletePolicy(ctx, a.TenantID, p.ID); err != nil {
			return err
		}
		return d.audit(ctx, a, Event{Action: AuditPolicyDeleted, Metadata: map[string]any{"policy_id": p.ID, "name": p.Name}})
	})
}
