package storage

import (
	"context"
	"encoding/json"
	"fmt"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

// ListRoles returns the tenant's roles and the global roles, by name.
func (s *Store) ListRoles(ctx context.Context, tenantID string) ([]models.Role, error) {
	var out []models.Role
	err := s.db(ctx).Where("tenant_id = ? OR tenant_id IS NULL", tenantID).Order("name, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list roles: %w", repoErr(err, "role"))
	}
	return out, nil
}

// GetRole returns a role of the tenant or a global role; another tenant's
// role is NotFound.
func (s *Store) GetRole(ctx context.Context, tenantID, id string) (*models.Role, error) {
	if !models.ValidID(id) {
		return nil, models.ErrNotFound("role")
	}
	var r models.Role
	if err := s.db(ctx).Where("id = ? AND (tenant_id = ? OR tenant_id IS NULL)", id, tenantID).Take(&r).Error; err != nil {
		return nil, fmt.Errorf("get role: %w", repoErr(err, "role"))
	}
	return &r, nil
}

// CreateRole inserts a role (TenantID nil: a global role). A duplicate name
// in the same scope is a Conflict.
func (s *Store) CreateRole(ctx context.Context, r *models.Role) error {
	r.ID = uuid.NewString()
	now := s.now()
	r.CreatedAt, r.UpdatedAt = now, now
	if r.Permissions == nil {
		r.Permissions = models.StringList{}
	}
	if err := s.db(ctx).Create(r).Error; err != nil {
		return fmt.Errorf("create role: %w", repoErr(err, "role"))
	}
	return nil
}

// UpdateRole sets name, description and permissions of a tenant's role or
// a global role (the caller decides who may edit which).
func (s *Store) UpdateRole(ctx context.Context, tenantID string, r *models.Role) error {
	if !models.ValidID(r.ID) {
		return models.ErrNotFound("role")
	}
	r.UpdatedAt = s.now()
	res := s.db(ctx).Model(&models.Role{}).Where("id = ? AND (tenant_id = ? OR tenant_id IS NULL)", r.ID, tenantID).
		Updates(map[string]any{"name": r.Name, "description": r.Description, "permissions": r.Permissions, "updated_at": r.UpdatedAt})
	if res.Error != nil {
		return fmt.Errorf("update role: %w", repoErr(res.Error, "role"))
	}
	if res.RowsAffected == 0 {
		return models.ErrNotFound("role")
	}
	return nil
}

// DeleteRole deletes a tenant's role or a global role; its assignments go
// with it.
func (s *Store) DeleteRole(ctx context.Context, tenantID, id string) error {
	if !models.ValidID(id) {
		return models.ErrNotFound("role")
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		if err := db.Where("role_id = ?", id).Delete(&models.RoleAssignment{}).Error; err != nil {
			return fmt.Errorf("delete role assignments: %w", repoErr(err, "role_assignment"))
		}
		res := db.Where("id = ? AND (tenant_id = ? OR tenant_id IS NULL)", id, tenantID).Delete(&models.Role{})
		if res.Error != nil {
			return fmt.Errorf("delete role: %w", repoErr(res.Error, "role"))
		}
		if res.RowsAffected == 0 {
			return models.ErrNotFound("role")
		}
		return nil
	})
}

// UnassignRole takes a role away from a principal of the tenant; NotFound
// when the principal does not hold it.
func (s *Store) UnassignRole(ctx context.Context, tenantID, principalID, roleID string) error {
	if !models.ValidID(principalID) || !models.ValidID(roleID) {
		return models.ErrNotFound("role_assignment")
	}
	res := s.db(ctx).Where("tenant_id = ? AND principal_id = ? AND role_id = ?", tenantID, principalID, roleID).Delete(&models.RoleAssignment{})
	if res.Error != nil {
		return fmt.Errorf("unassign role: %w", repoErr(res.Error, "role_assignment"))
	}
	if res.RowsAffected == 0 {
		return models.ErrNotFound("role_assignment")
	}
	return nil
}

// PrincipalRoles returns the roles each of the principals holds in the
// tenant (tenant and global roles), keyed by principal id. One query.
func (s *Store) PrincipalRoles(ctx context.Context, tenantID string, principalIDs []string) (map[string][]models.Role, error) {
	out := map[string][]models.Role{}
	if len(principalIDs) == 0 {
		return out, nil
	}
	var rows []struct {
		PrincipalID string
		models.Role `gorm:"embedded"`
	}
	err := s.db(ctx).Table("role_assignments a").
		Select("a.principal_id, r.id, r.tenant_id, r.name, r.description, r.permissions, r.system, r.created_at, r.updated_at").
		Joins("JOIN roles r ON r.id = a.role_id").
		Where("a.tenant_id = ? AND a.principal_id IN ? AND (r.tenant_id = ? OR r.tenant_id IS NULL)", tenantID, principalIDs, tenantID).
		Order("r.name").Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("principal roles: %w", repoErr(err, "role"))
	}
	for _, r := range rows {
		out[r.PrincipalID] = append(out[r.PrincipalID], r.Role)
	}
	return out, nil
}

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
