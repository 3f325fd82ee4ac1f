package identity

import (
	"context"
	"strings"

	"github.com/identityd/identityd/models"
)

// ServiceAccountStore is what ServiceAccounts needs from storage. Every
// method takes the tenant; another tenant's account or role, or a malformed
// id, is models.ErrNotFound.
type ServiceAccountStore interface {
	// ListServiceAccounts returns the tenant's service accounts (none: empty).
	ListServiceAccounts(ctx context.Context, tenantID string) ([]models.ServiceAccount, error)
	// CreateServiceAccount assigns the id; a name the tenant already has is
	// a Conflict.
	CreateServiceAccount(ctx context.Context, sa *models.ServiceAccount) error
	// GetServiceAccount returns the tenant's service account, or NotFound.
	GetServiceAccount(ctx context.Context, tenantID, id string) (*models.ServiceAccount, error)
	// UpdateServiceAccount runs fn under a row lock and saves its changes;
	// fn's error is returned unchanged and saves nothing. NotFound when
	// the account is gone, Conflict when the new name is taken.
	UpdateServiceAccount(ctx context.Context, tenantID, id string, fn func(sa *models.ServiceAccount) error) (*models.ServiceAccount, error)
	// DeleteServiceAccount deletes the account with its roles, keys and
	// the tokens of clients it holds, or NotFound.
	DeleteServiceAccount(ctx context.Context, tenantID, id string) error
	// ListServiceAccountRoles returns the account's roles (none: empty).
	ListServiceAccountRoles(ctx context.Context, tenantID, id string) ([]models.Role, error)
	// ResolvePermissions returns what a principal (here: a service account)
	// effectively holds (none: empty, never NotFound).
	ResolvePermissions(ctx context.Context, tenantID, principalID string) ([]string, error)
	// GetRole returns a role of the tenant or a global role, or NotFound.
	GetRole(ctx context.Context, tenantID, id string) (*models.Role, error)
	// AssignServiceAccountRole: a role of another tenant is NotFound, a role
	// already held a Conflict.
	AssignServiceAccountRole(ctx context.Context, tenantID, serviceAccountID, roleID string) (*models.Role, error)
	// RemoveServiceAccountRole: a role not held is NotFound.
	RemoveServiceAccountRole(ctx context.Context, tenantID, serviceAccountID, roleID string) error
}

// List manages a tenant's service accounts and their roles.
//
// A service account is changed, and credentials for it (API keys, clients
// bound to it, their rotation) are made, only by an actor whose grants cover
// the account's effective permissions, and a role is given to it only by
// one whose grants cover the role (CanActOn, CanGrant: the same rules as
// for users).
type ServiceAccounts struct {
	store ServiceAccountStore
	tx    Tx
	audit Auditor
}

// ServiceAccountsDeps are what NewServiceAccounts needs, all required.
type ServiceAccountsDeps struct {
	Store   ServiceAccountStore
	Tx      Tx
	Auditor Auditor
}

// NewServiceAccounts checks d and returns the service.
func NewServiceAccounts(d ServiceAccountsDeps) (*ServiceAccounts, error) {
	if err := checkDeps("ServiceAccounts", dep{"Store", d.Store == nil}, dep{"Tx", d.Tx == nil}, dep{"Auditor", d.Auditor.Store == nil}); err != nil {
		return nil, err
	}
	return &ServiceAccounts{store: d.Store, tx: d.Tx, audit: d.Auditor}, nil
}

// accountHolder is what the grant rules read of a service account: the
// part of ServiceAccountStore that ClientStore and APIKeyStore share.
type accountHolder interface {
	GetServiceAccount(ctx context.Context, tenantID, id string) (*models.ServiceAccount, error)
	ResolvePermissions(ctx context.Context, tenantID, principalID string) ([]string, error)
}

// actOnServiceAccount loads the tenant's service account id for a change of
// it or of its credentials: the actor's grants must cover what the account
// effectively holds (CanActOn), danger actions with a step-up.
func actOnServiceAccount(ctx context.Context, st accountHolder, a Actor, id string) (*models.ServiceAccount, error) {
	sa, err := st.GetServiceAccount(ctx, a.TenantID, id)
	if err != nil {
		return nil, err
	}
	perms, err := st.ResolvePermissions(ctx, a.TenantID, sa.ID)
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

// List lists the tenant's service accounts.
func (s *ServiceAccounts) List(ctx context.Context, p Principal) ([]models.ServiceAccount, error) {
	return s.store.ListServiceAccounts(ctx, p.TenantID)
}

// Get returns one of the tenant's service accounts with its roles.
func (s *ServiceAccounts) Get(ctx context.Context, p Principal, id string) (*models.ServiceAccount, []models.Role, error) {
	sa, err := s.store.GetServiceAccount(ctx, p.TenantID, id)
	if err != nil {
		return nil, nil, err
	}
	roles, err := s.store.ListServiceAccountRoles(ctx, p.TenantID, id)
	if err != nil {
		return nil, nil, err
	}
	return sa, roles, nil
}

// Create creates an active service account in the tenant.
func (s *ServiceAccounts) Create(ctx context.Context, a Actor, in ServiceAccountInput) (*models.ServiceAccount, error) {
	sa := &models.ServiceAccount{TenantID: a.TenantID, IsActive: true}
	applySAInput(sa, in)
	if err := checkServiceAccount(sa); err != nil {
		return nil, err
	}
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateServiceAccount(ctx, sa); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditServiceAccountCreated, Metadata: map[string]any{"service_account_id": sa.ID, "name": sa.Name}, Subject: sa.ID})
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

// Update changes a service account's name, description or
// active flag; an inactive account's keys and tokens stop working at once.
func (s *ServiceAccounts) Update(ctx context.Context, a Actor, id string, in ServiceAccountInput) (*models.ServiceAccount, error) {
	var sa *models.ServiceAccount
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		var changed []string
		if _, err := actOnServiceAccount(ctx, s.store, a, id); err != nil {
			return err
		}
		var err error
		sa, err = s.store.UpdateServiceAccount(ctx, a.TenantID, id, func(sa *models.ServiceAccount) error {
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
		return s.audit.RecordActor(ctx, a, Event{Action: AuditServiceAccountUpdated, Metadata: md, Subject: id})
	})
	if err != nil {
		return nil, err
	}
	return sa, nil
}

// Delete deletes a service account with its roles and keys.
func (s *ServiceAccounts) Delete(ctx context.Context, a Actor, id string) error {
	return s.tx.InTx(ctx, func(ctx context.Context) error {
		if _, err := actOnServiceAccount(ctx, s.store, a, id); err != nil {
			return err
		}
		if err := s.store.DeleteServiceAccount(ctx, a.TenantID, id); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditServiceAccountDeleted, Metadata: map[string]any{"service_account_id": id}, Subject: id})
	})
}

// AssignRole gives a service account a role of the tenant:
// the actor must cover the account's permissions and the role's.
func (s *ServiceAccounts) AssignRole(ctx context.Context, a Actor, id, roleID string) (*models.Role, error) {
	if roleID == "" {
		return nil, models.ErrInvalid(map[string]string{"role_id": "Required."})
	}
	var r *models.Role
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		if _, err := actOnServiceAccount(ctx, s.store, a, id); err != nil {
			return err
		}
		role, err := s.store.GetRole(ctx, a.TenantID, roleID)
		if err != nil {
			return err
		}
		if err := CanGrant(ctx, a, role.Permissions); err != nil {
			return err
		}
		if r, err = s.store.AssignServiceAccountRole(ctx, a.TenantID, id, roleID); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditServiceAccountRoleAssigned, Metadata: map[string]any{"service_account_id": id, "role_id": roleID, "role": r.Name},
			Subject: id, Data: map[string]any{"holder_type": models.PrincipalServiceAccount}})
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// RemoveRole takes a role from a service account.
func (s *ServiceAccounts) RemoveRole(ctx context.Context, a Actor, id, roleID string) error {
	return s.tx.InTx(ctx, func(ctx context.Context) error {
		if _, err := actOnServiceAccount(ctx, s.store, a, id); err != nil {
			return err
		}
		if err := s.store.RemoveServiceAccountRole(ctx, a.TenantID, id, roleID); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditServiceAccountRoleRemoved, Metadata: map[string]any{"service_account_id": id, "role_id": roleID},
			Subject: id, Data: map[string]any{"holder_type": models.PrincipalServiceAccount}})
	})
}
