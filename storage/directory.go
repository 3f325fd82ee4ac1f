package storage

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

// The directory: a tenant's users and its permission model (roles,
// policies and who holds them). Every method takes the tenant and never
// reads or writes another tenant's rows; a malformed id is NotFound.

func validID(id string) bool {
	_, err := uuid.Parse(id)
	return err == nil
}

// likePattern escapes LIKE wildcards in a search term and wraps it in %…%
// (the query uses ESCAPE '\').
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(q)) + "%"
}

// ListUsers returns one page of the tenant's users ordered by e-mail, and
// how many match in all. query searches e-mail and name (case-insensitive);
// nil filters are off; role is a role id or a role name (tenant or global).
func (s *Store) ListUsers(ctx context.Context, f models.UserFilter) ([]models.User, int, error) {
	tenantID, query, active, locked, twoFactor, role, offset, limit := f.TenantID, f.Query, f.Active, f.Locked, f.TwoFactor, f.Role, f.Offset, f.Limit
	now := s.now()
	q := s.db(ctx).Model(&models.User{}).Where("users.tenant_id = ?", tenantID)
	if query != "" {
		p := likePattern(query)
		q = q.Where(`(LOWER(users.email) LIKE ? ESCAPE '\' OR LOWER(users.name) LIKE ? ESCAPE '\')`, p, p)
	}
	if active != nil {
		q = q.Where("users.is_active = ?", *active)
	}
	if locked != nil {
		if *locked {
			q = q.Where("users.locked_until IS NOT NULL AND users.locked_until > ?", now)
		} else {
			q = q.Where("(users.locked_until IS NULL OR users.locked_until <= ?)", now)
		}
	}
	if twoFactor != nil {
		if *twoFactor {
			q = q.Where("(users.totp_enabled OR users.email_2fa_enabled)")
		} else {
			q = q.Where("NOT (users.totp_enabled OR users.email_2fa_enabled)")
		}
	}
	if role != "" {
		sub := `EXISTS (SELECT 1 FROM role_assignments a JOIN roles r ON r.id = a.role_id
			WHERE a.principal_id = users.id AND a.tenant_id = ? AND (r.tenant_id = ? OR r.tenant_id IS NULL) AND `
		if validID(role) {
			q = q.Where(sub+"r.id = ?)", tenantID, tenantID, role)
		} else {
			q = q.Where(sub+"r.name = ?)", tenantID, tenantID, role)
		}
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count users: %w", repoErr(err, "user"))
	}
	var out []models.User
	if err := q.Order("users.email, users.id").Offset(offset).Limit(limit).Find(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("list users: %w", repoErr(err, "user"))
	}
	return out, int(total), nil
}

// DeleteUser deletes a tenant's user with its role and policy assignments
// (sessions, devices and codes go with it by cascade). The caller revokes
// tokens first, in the same transaction.
func (s *Store) DeleteUser(ctx context.Context, tenantID, id string) error {
	if !validID(id) {
		return models.ErrNotFound("user")
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		if err := db.Where("tenant_id = ? AND principal_id = ?", tenantID, id).Delete(&models.RoleAssignment{}).Error; err != nil {
			return fmt.Errorf("delete user roles: %w", repoErr(err, "role_assignment"))
		}
		if err := db.Where("tenant_id = ? AND principal_id = ?", tenantID, id).Delete(&models.PolicyAssignment{}).Error; err != nil {
			return fmt.Errorf("delete user policies: %w", repoErr(err, "policy_assignment"))
		}
		res := db.Where("tenant_id = ? AND id = ?", tenantID, id).Delete(&models.User{})
		if res.Error != nil {
			return fmt.Errorf("delete user: %w", repoErr(res.Error, "user"))
		}
		if res.RowsAffected == 0 {
			return models.ErrNotFound("user")
		}
		return nil
	})
}

// UntrustUserDevices drops the trust of every device of a user, so the
// next login from any of them asks for the second factor.
func (s *Store) UntrustUserDevices(ctx context.Context, tenantID, userID string) error {
	err := s.db(ctx).Model(&models.Device{}).Where("tenant_id = ? AND user_id = ? AND trusted_until IS NOT NULL", tenantID, userID).
		Update("trusted_until", nil).Error
	if err != nil {
		return fmt.Errorf("untrust devices: %w", repoErr(err, "device"))
	}
	return nil
}

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
	if !validID(id) {
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
	if !validID(r.ID) {
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
	if !validID(id) {
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
	if !validID(principalID) || !validID(roleID) {
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
	if !validID(id) {
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
	if !validID(p.ID) {
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
	if !validID(id) {
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
	if !validID(principalID) || !validID(policyID) {
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
