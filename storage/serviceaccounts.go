package storage

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

// A tenant's service accounts and the roles they hold. Every method takes
// the tenant; ids that are not UUIDs are NotFound, never a SQL error.

// ListServiceAccounts returns the tenant's service accounts by name.
func (s *Store) ListServiceAccounts(ctx context.Context, tenantID string) ([]models.ServiceAccount, error) {
	var out []models.ServiceAccount
	if err := s.db(ctx).Where("tenant_id = ?", tenantID).Order("name, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list service accounts: %w", repoErr(err, "service_account"))
	}
	return out, nil
}

// CreateServiceAccount inserts a service account; a taken name is a Conflict.
func (s *Store) CreateServiceAccount(ctx context.Context, sa *models.ServiceAccount) error {
	now := s.now()
	sa.ID, sa.CreatedAt, sa.UpdatedAt = uuid.NewString(), now, now
	if err := s.db(ctx).Create(sa).Error; err != nil {
		return fmt.Errorf("create service account: %w", repoErr(err, "service_account"))
	}
	return nil
}

// GetServiceAccount returns the tenant's service account.
func (s *Store) GetServiceAccount(ctx context.Context, tenantID, id string) (*models.ServiceAccount, error) {
	if !models.ValidID(id) {
		return nil, models.ErrNotFound("service_account")
	}
	var sa models.ServiceAccount
	if err := s.db(ctx).Where("tenant_id = ? AND id = ?", tenantID, id).Take(&sa).Error; err != nil {
		return nil, fmt.Errorf("get service account: %w", repoErr(err, "service_account"))
	}
	return &sa, nil
}

// UpdateServiceAccount runs fn on the tenant's service account under a row
// lock and saves its name, description and active flag.
func (s *Store) UpdateServiceAccount(ctx context.Context, tenantID, id string, fn func(sa *models.ServiceAccount) error) (*models.ServiceAccount, error) {
	if !models.ValidID(id) {
		return nil, models.ErrNotFound("service_account")
	}
	var sa models.ServiceAccount
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		if err := db.Scopes(s.forUpdate).Where("tenant_id = ? AND id = ?", tenantID, id).Take(&sa).Error; err != nil {
			return fmt.Errorf("update service account: %w", repoErr(err, "service_account"))
		}
		if err := fn(&sa); err != nil {
			return err
		}
		sa.UpdatedAt = s.now()
		err := db.Model(&models.ServiceAccount{}).Where("tenant_id = ? AND id = ?", tenantID, id).Updates(map[string]any{
			"name": sa.Name, "description": sa.Description, "is_active": sa.IsActive, "updated_at": sa.UpdatedAt,
		}).Error
		if err != nil {
			return fmt.Errorf("update service account: %w", repoErr(err, "service_account"))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &sa, nil
}

// DeleteServiceAccount deletes the tenant's service account with its role
// and policy assignments; its API keys go with it (ON DELETE CASCADE) and
// clients it held stop acting as it (ON DELETE SET NULL).
func (s *Store) DeleteServiceAccount(ctx context.Context, tenantID, id string) error {
	if !models.ValidID(id) {
		return models.ErrNotFound("service_account")
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		res := db.Where("tenant_id = ? AND id = ?", tenantID, id).Delete(&models.ServiceAccount{})
		if res.Error != nil {
			return fmt.Errorf("delete service account: %w", repoErr(res.Error, "service_account"))
		}
		if res.RowsAffected == 0 {
			return models.ErrNotFound("service_account")
		}
		if err := db.Where("tenant_id = ? AND principal_id = ?", tenantID, id).Delete(&models.RoleAssignment{}).Error; err != nil {
			return fmt.Errorf("delete service account roles: %w", repoErr(err, "role_assignment"))
		}
		if err := db.Where("tenant_id = ? AND principal_id = ?", tenantID, id).Delete(&models.PolicyAssignment{}).Error; err != nil {
			return fmt.Errorf("delete service account policies: %w", repoErr(err, "policy_assignment"))
		}
		// The clients it held lost their service_account_id (ON DELETE
		// SET NULL): a cached client would still name it.
		s.invalidateLookups(ctx, AllLookups)
		return nil
	})
}

// ListServiceAccountRoles returns the roles a service account holds.
func (s *Store) ListServiceAccountRoles(ctx context.Context, tenantID, id string) ([]models.Role, error) {
	if !models.ValidID(id) {
		return nil, models.ErrNotFound("service_account")
	}
	var out []models.Role
	err := s.db(ctx).Model(&models.Role{}).
		Joins("JOIN role_assignments a ON a.role_id = roles.id").
		Where("a.tenant_id = ? AND a.principal_id = ? AND a.principal_type = ?", tenantID, id, models.PrincipalServiceAccount).
		Order("roles.name").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list service account roles: %w", repoErr(err, "role"))
	}
	return out, nil
}

// AssignServiceAccountRole gives the tenant's service account a role of the
// tenant (or a global role). Another tenant's role is NotFound; holding it
// already is a Conflict.
func (s *Store) AssignServiceAccountRole(ctx context.Context, tenantID, serviceAccountID, roleID string) (*models.Role, error) {
	if !models.ValidID(roleID) {
		return nil, models.ErrNotFound("role")
	}
	var r models.Role
	err := s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.GetServiceAccount(ctx, tenantID, serviceAccountID); err != nil {
			return err
		}
		if err := s.db(ctx).Where("id = ? AND (tenant_id = ? OR tenant_id IS NULL)", roleID, tenantID).Take(&r).Error; err != nil {
			return fmt.Errorf("assign role: %w", repoErr(err, "role"))
		}
		return s.AssignRole(ctx, tenantID, serviceAccountID, models.PrincipalServiceAccount, roleID)
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// RemoveServiceAccountRole takes a role from the tenant's service account;
// a role it does not hold is NotFound.
func (s *Store) RemoveServiceAccountRole(ctx context.Context, tenantID, serviceAccountID, roleID string) error {
	if !models.ValidID(serviceAccountID) || !models.ValidID(roleID) {
		return models.ErrNotFound("role_assignment")
	}
	res := s.db(ctx).Where("tenant_id = ? AND principal_id = ? AND principal_type = ? AND role_id = ?",
		tenantID, serviceAccountID, models.PrincipalServiceAccount, roleID).Delete(&models.RoleAssignment{})
	if res.Error != nil {
		return fmt.Errorf("remove role: %w", repoErr(res.Error, "role_assignment"))
	}
	if res.RowsAffected == 0 {
		return models.ErrNotFound("role_assignment")
	}
	return nil
}

// ServiceAccountOfClient returns the service account holding the tenant's
// client and whether it may act: the account active and the tenant not
// suspended. A client held by no service account is NotFound.
func (s *Store) ServiceAccountOfClient(ctx context.Context, tenantID, clientID string) (string, bool, error) {
	var rows []struct {
		ID        string
		IsActive  bool
		Suspended bool
	}
	if !models.ValidID(tenantID) {
		return "", false, models.ErrNotFound("service_account")
	}
	err := s.db(ctx).Raw(`SELECT sa.id, sa.is_active, t.suspended_at IS NOT NULL AS suspended
		FROM oauth_clients c
		JOIN service_accounts sa ON sa.id = c.service_account_id AND sa.tenant_id = c.tenant_id
		JOIN tenants t ON t.id = c.tenant_id
		WHERE c.id = ? AND c.tenant_id = ?`, clientID, tenantID).Scan(&rows).Error
	if err != nil {
		return "", false, fmt.Errorf("service account of client: %w", repoErr(err, "client"))
	}
	if len(rows) == 0 {
		return "", false, models.ErrNotFound("service_account")
	}
	return rows[0].ID, rows[0].IsActive && !rows[0].Suspended, nil
}
