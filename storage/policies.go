package storage

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

// ListPolicies returns the tenant's policies, by name.
func (s *Store) ListPolicies(ctx context.Context, tenantID string) ([]models.Policy, error) {
	var out []models.Policy
	if err := s.db(ctx).Where("tenant_id = ?", tenantID).Order("name, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list policies: %w", repoErr(err, "policy"))
	}
	return out, nil
}

// GetPolicy returns a tenant's policy; another tenant's is NotFound.
func (s *Store) GetPolicy(ctx context.Context, tenantID, id string) (*models.Policy, error) {
	if !models.ValidID(id) {
		return nil, models.ErrNotFound("policy")
	}
	var p models.Policy
	if err := s.db(ctx).Where("tenant_id = ? AND id = ?", tenantID, id).Take(&p).Error; err != nil {
		return nil, fmt.Errorf("get policy: %w", repoErr(err, "policy"))
	}
	return &p, nil
}

// CreatePolicy inserts a policy; a duplicate name in the tenant is a Conflict.
func (s *Store) CreatePolicy(ctx context.Context, p *models.Policy) error {
	p.ID = uuid.NewString()
	now := s.now()
	p.CreatedAt, p.UpdatedAt = now, now
	if p.Permissions == nil {
		p.Permissions = models.StringList{}
	}
	if err := s.db(ctx).Create(p).Error; err != nil {
		return fmt.Errorf("create policy: %w", repoErr(err, "policy"))
	}
	return nil
}

// UpdatePolicy sets name, description and permissions of a tenant's policy.
func (s *Store) UpdatePolicy(ctx context.Context, tenantID string, p *models.Policy) error {
	if !models.ValidID(p.ID) {
		return models.ErrNotFound("policy")
	}
	p.UpdatedAt = s.now()
	res := s.db(ctx).Model(&models.Policy{}).Where("tenant_id = ? AND id = ?", tenantID, p.ID).
		Updates(map[string]any{"name": p.Name, "description": p.Description, "permissions": p.Permissions, "updated_at": p.UpdatedAt})
	if res.Error != nil {
		return fmt.Errorf("update policy: %w", repoErr(res.Error, "policy"))
	}
	if res.RowsAffected == 0 {
		return models.ErrNotFound("policy")
	}
	return nil
}

// DeletePolicy deletes a tenant's policy and its assignments.
func (s *Store) DeletePolicy(ctx context.Context, tenantID, id string) error {
	if !models.ValidID(id) {
		return models.ErrNotFound("policy")
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		if err := db.Where("tenant_id = ? AND policy_id = ?", tenantID, id).Delete(&models.PolicyAssignment{}).Error; err != nil {
			return fmt.Errorf("delete policy assignments: %w", repoErr(err, "policy_assignment"))
		}
		res := db.Where("tenant_id = ? AND id = ?", tenantID, id).Delete(&models.Policy{})
		if res.Error != nil {
			return fmt.Errorf("delete policy: %w", repoErr(res.Error, "policy"))
		}
		if res.RowsAffected == 0 {
			return models.ErrNotFound("policy")
		}
		return nil
	})
}

// AssignPolicy gives a principal of the tenant a policy of the tenant; a
// policy already held is a Conflict.
func (s *Store) AssignPolicy(ctx context.Context, tenantID, principalID, principalType, policyID string) error {
	a := models.PolicyAssignment{TenantID: tenantID, PrincipalID: principalID, PrincipalType: principalType, PolicyID: policyID, CreatedAt: s.now()}
	if err := s.db(ctx).Create(&a).Error; err != nil {
		return fmt.Errorf("assign policy: %w", repoErr(err, "policy_assignment"))
	}
	return nil
}

// UnassignPolicy takes a policy away from a principal; NotFound when the
// principal does not hold it.
func (s *Store) UnassignPolicy(ctx context.Context, tenantID, principalID, policyID string) error {
	if !models.ValidID(principalID) || !models.ValidID(policyID) {
		return models.ErrNotFound("policy_assignment")
	}
	res := s.db(ctx).Where("tenant_id = ? AND principal_id = ? AND policy_id = ?", tenantID, principalID, policyID).Delete(&models.PolicyAssignment{})
	if res.Error != nil {
		return fmt.Errorf("unassign policy: %w", repoErr(res.Error, "policy_assignment"))
	}
	if res.RowsAffected == 0 {
		return models.ErrNotFound("policy_assignment")
	}
	return nil
}

// PrincipalPolicies returns the policies a principal holds in the tenant.
func (s *Store) PrincipalPolicies(ctx context.Context, tenantID, principalID string) ([]models.Policy, error) {
	var out []models.Policy
	err := s.db(ctx).Model(&models.Policy{}).Joins("JOIN policy_assignments a ON a.policy_id = policies.id").
		Where("a.tenant_id = ? AND a.principal_id = ? AND policies.tenant_id = ?", tenantID, principalID, tenantID).
		Order("policies.name").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("principal policies: %w", repoErr(err, "policy"))
	}
	return out, nil
}
