package identity

import (
	"context"
	"strings"

	"github.com/identityd/identityd/models"
)

// actOnServiceAccount loads the tenant's service account id for a change of
// it or of its credentials: the actor's grants must cover what the account
// effectively holds (CanActOn), danger actions with a step-up.
func (m *Machines) actOnServiceAccount(ctx context.Context, a Actor, id string) (*models.ServiceAccount, error) {
	sa, err := m.Store.GetServiceAccount(ctx, a.TenantID, id)
	if err != nil {
		return nil, err
	}
	perms, err := m.Store.ResolvePermissions(ctx, a.TenantID, sa.ID)
	if err != nil {
		return nil, err
	}
	if err := CanActOn(ctx, a, perms); err != nil {
		return nil, err
	}
	return sa, nil
}

// ServiceAccountInput is a service account's editable fields.
type ServiceAccountInput struct {
	Name        *string
	Description *string
	IsActive    *bool
}

func checkServiceAccount(sa *models.ServiceAccount) error {
	fields := map[string]string{}
	if sa.Name == "" || len(sa.Name) > 200 || clientHasControl(sa.Name) {
		fields["name"] = "Give a name of 1 to 200 characters, without control characters."
	}
	if len(sa.Description) > 1000 || strings.ContainsRune(sa.Description, 0) {
		fields["description"] = "Use at most 1000 characters."
	}
	if len(fields) > 0 {
		return models.ErrInvalid(fields)
	}
	return nil
}

// ServiceAccounts lists the tenant's service accounts.
func (m *Machines) ServiceAccounts(ctx context.Context, p Principal) ([]models.ServiceAccount, error) {
	return m.Store.ListServiceAccounts(ctx, p.TenantID)
}

// ServiceAccount returns one of the tenant's service accounts with its roles.
func (m *Machines) ServiceAccount(ctx context.Context, p Principal, id string) (*models.ServiceAccount, []models.Role, error) {
	sa, err := m.Store.GetServiceAccount(ctx, p.TenantID, id)
	if err != nil {
		return nil, nil, err
	}
	roles, err := m.Store.ListServiceAccountRoles(ctx, p.TenantID, id)
	if err != nil {
		return nil, nil, err
	}
	return sa, roles, nil
}

// CreateServiceAccount creates an active service account in the tenant.
func (m *Machines) CreateServiceAccount(ctx context.Context, a Actor, in ServiceAccountInput, meta Meta) (*models.ServiceAccount, error) {
	sa := &models.ServiceAccount{TenantID: a.TenantID, IsActive: true}
	applySAInput(sa, in)
	if err := checkServiceAccount(sa); err != nil {
		return nil, err
	}
	err := m.Store.InTx(ctx, func(ctx context.Context) error {
		if err := m.Store.CreateServiceAccount(ctx, sa); err != nil {
			return err
		}
		return m.audit(ctx, a.Principal, AuditServiceAccountCreated, meta, map[string]any{"service_account_id": sa.ID, "name": sa.Name})
	})
	if err != nil {
		return nil, err
	}
	return sa, nil
}

func applySAInput(sa *models.ServiceAccount, in ServiceAccountInput) []string {
	var changed []string
	if in.Name != nil {
		sa.Name = strings.TrimSpace(*in.Name)
		changed = append(changed, "name")
	}
	if in.Description != nil {
		sa.Description = strings.TrimSpace(*in.Description)
		changed = append(changed, "description")
	}
	if in.IsActive != nil {
		sa.IsActive = *in.IsActive
		changed = append(changed, "is_active")
	}
	return changed
}

// UpdateServiceAccount changes a service account's name, description or
// active flag; an inactive account's keys and tokens stop working at once.
func (m *Machines) UpdateServiceAccount(ctx context.Context, a Actor, id string, in ServiceAccountInput, meta Meta) (*models.ServiceAccount, error) {
	var sa *models.ServiceAccount
	err := m.Store.InTx(ctx, func(ctx context.Context) error {
		var changed []string
		if _, err := m.actOnServiceAccount(ctx, a, id); err != nil {
			return err
		}
		var err error
		sa, err = m.Store.UpdateServiceAccount(ctx, a.TenantID, id, func(sa *models.ServiceAccount) error {
			changed = applySAInput(sa, in)
			return checkServiceAccount(sa)
		})
		if err != nil {
			return err
		}
		md := map[string]any{"service_account_id": id, "fields": changed}
		if in.IsActive != nil {
			md["is_active"] = *in.IsActive
		}
		return m.audit(ctx, a.Principal, AuditServiceAccountUpdated, meta, md)
	})
	if err != nil {
		return nil, err
	}
	return sa, nil
}

// DeleteServiceAccount deletes a service account with its roles and keys.
func (m *Machines) DeleteServiceAccount(ctx context.Context, a Actor, id string, meta Meta) error {
	return m.Store.InTx(ctx, func(ctx context.Context) error {
		if _, err := m.actOnServiceAccount(ctx, a, id); err != nil {
			return err
		}
		if err := m.Store.DeleteServiceAccount(ctx, a.TenantID, id); err != nil {
			return err
		}
		return m.audit(ctx, a.Principal, AuditServiceAccountDeleted, meta, map[string]any{"service_account_id": id})
	})
}

// AssignServiceAccountRole gives a service account a role of the tenant:
// the actor must cover the account's permissions and the role's.
func (m *Machines) AssignServiceAccountRole(ctx context.Context, a Actor, id, roleID string, meta Meta) (*models.Role, error) {
	if roleID == "" {
		return nil, models.ErrInvalid(map[string]string{"role_id": "Required."})
	}
	var r *models.Role
	err := m.Store.InTx(ctx, func(ctx context.Context) error {
		if _, err := m.actOnServiceAccount(ctx, a, id); err != nil {
			return err
		}
		role, err := m.Store.GetRole(ctx, a.TenantID, roleID)
		if err != nil {
			return err
		}
		if err := CanGrant(ctx, a, role.Permissions); err != nil {
			return err
		}
		if r, err = m.Store.AssignServiceAccountRole(ctx, a.TenantID, id, roleID); err != nil {
			return err
		}
		return m.audit(ctx, a.Principal, AuditServiceAccountRoleAssigned, meta, map[string]any{"service_account_id": id, "role_id": roleID, "role": r.Name})
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// RemoveServiceAccountRole takes a role from a service account.
func (m *Machines) RemoveServiceAccountRole(ctx context.Context, a Actor, id, roleID string, meta Meta) error {
	return m.Store.InTx(ctx, func(ctx context.Context) error {
		if _, err := m.actOnServiceAccount(ctx, a, id); err != nil {
			return err
		}
		if err := m.Store.RemoveServiceAccountRole(ctx, a.TenantID, id, roleID); err != nil {
			return err
		}
		return m.audit(ctx, a.Principal, AuditServiceAccountRoleRemoved, meta, map[string]any{"service_account_id": id, "role_id": roleID})
	})
}
