package storage

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

// ResolvePermissions returns every permission a principal holds in a tenant:
// the union of its directly assigned policies, its global roles and its
// roles in the tenant. Two indexed queries.
func (s *Store) ResolvePermissions(ctx context.Context, tenantID, principalID string) ([]string, error) {
	db := s.db(ctx)
	var lists []string
	err := db.Raw(`SELECT r.permissions FROM role_assignments a JOIN roles r ON r.id = a.role_id
		WHERE a.principal_id = ? AND a.tenant_id = ? AND (r.tenant_id = ? OR r.tenant_id IS NULL)`,
		principalID, tenantID, tenantID).Scan(&lists).Error
	if err != nil {
		return nil, fmt.Errorf("resolve role permissions: %w", repoErr(err, "role"))
	}
	var plists []string
	err = db.Raw(`SELECT p.permissions FROM policy_assignments a JOIN policies p ON p.id = a.policy_id
		WHERE a.principal_id = ? AND a.tenant_id = ? AND p.tenant_id = ?`, principalID, tenantID, tenantID).Scan(&plists).Error
	if err != nil {
		return nil, fmt.Errorf("resolve policy permissions: %w", repoErr(err, "policy"))
	}
	seen := map[string]bool{}
	var out []string
	for _, raw := range append(lists, plists...) {
		var perms []string
		if err := json.Unmarshal([]byte(raw), &perms); err != nil {
			return nil, fmt.Errorf("resolve permissions: %w", err)
		}
		for _, p := range perms {
			if !seen[p] {
				seen[p] = true
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// SeedTenantRoles creates the system roles and the danger-zone policy of a
// tenant when missing (idempotent), with the permissions given.
func (s *Store) SeedTenantRoles(ctx context.Context, tenantID string, roles map[string][]string, dangerPolicy string, danger []string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		now := s.now()
		for name, perms := range roles {
			var n int64
			if err := db.Model(&models.Role{}).Where("tenant_id = ? AND name = ?", tenantID, name).Count(&n).Error; err != nil {
				return fmt.Errorf("seed roles: %w", repoErr(err, "role"))
			}
			if n > 0 {
				continue
			}
			tid := tenantID
			r := models.Role{ID: uuid.NewString(), TenantID: &tid, Name: name, Permissions: perms, System: true, CreatedAt: now, UpdatedAt: now}
			if err := db.Create(&r).Error; err != nil {
				return fmt.Errorf("seed roles: %w", repoErr(err, "role"))
			}
		}
		var n int64
		if err := db.Model(&models.Policy{}).Where("tenant_id = ? AND name = ?", tenantID, dangerPolicy).Count(&n).Error; err != nil {
			return fmt.Errorf("seed policies: %w", repoErr(err, "policy"))
		}
		if n == 0 {
			p := models.Policy{ID: uuid.NewString(), TenantID: tenantID, Name: dangerPolicy,
				Description: "Destructive actions; each also needs a recent step-up.", Permissions: danger, CreatedAt: now, UpdatedAt: now}
			if err := db.Create(&p).Error; err != nil {
				return fmt.Errorf("seed policies: %w", repoErr(err, "policy"))
			}
		}
		return nil
	})
}

// TenantsWithoutRoles lists tenants that have no system roles yet (created
// before roles existed), for the start-up backfill.
func (s *Store) TenantsWithoutRoles(ctx context.Context) ([]string, error) {
	var ids []string
	err := s.db(ctx).Raw(`SELECT t.id FROM tenants t WHERE NOT EXISTS (SELECT 1 FROM roles r WHERE r.tenant_id = t.id AND r.system)`).Scan(&ids).Error
	if err != nil {
		return nil, fmt.Errorf("tenants without roles: %w", repoErr(err, "tenant"))
	}
	return ids, nil
}

// GetRoleByName returns the tenant's (or a global) role with that name.
func (s *Store) GetRoleByName(ctx context.Context, tenantID, name string) (*models.Role, error) {
	var r models.Role
	err := s.db(ctx).Where("(tenant_id = ? OR tenant_id IS NULL) AND name = ?", tenantID, name).Order("tenant_id NULLS LAST").Take(&r).Error
	if err != nil {
		return nil, fmt.Errorf("get role: %w", repoErr(err, "role"))
	}
	return &r, nil
}

// AssignRole gives a principal a role of its tenant (or a global role).
func (s *Store) AssignRole(ctx context.Context, tenantID, principalID, principalType, roleID string) error {
	a := models.RoleAssignment{TenantID: tenantID, PrincipalID: principalID, PrincipalType: principalType, RoleID: roleID, CreatedAt: s.now()}
	if err := s.db(ctx).Create(&a).Error; err != nil {
		return fmt.Errorf("assign role: %w", repoErr(err, "role_assignment"))
	}
	return nil
}
