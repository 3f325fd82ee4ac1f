package identity

import (
	"context"
	"fmt"
	"strings"

	"github.com/identityd/identityd/models"
)

// RoleStore is what Roles needs from storage. Every method takes the
// tenant; another tenant's role, or a malformed id, is models.ErrNotFound,
// and a global role (TenantID nil) belongs to every tenant.
type RoleStore interface {
	// ListRoles returns the tenant's roles and the global roles.
	ListRoles(ctx context.Context, tenantID string) ([]models.Role, error)
	// GetRole returns a role of the tenant or a global role, or NotFound.
	GetRole(ctx context.Context, tenantID, id string) (*models.Role, error)
	// CreateRole assigns the id; a name the tenant (or the global roles)
	// already has is a Conflict.
	CreateRole(ctx context.Context, r *models.Role) error
	// UpdateRole saves name, description and permissions: NotFound when
	// the role is gone, Conflict when the new name is taken.
	UpdateRole(ctx context.Context, tenantID string, r *models.Role) error
	// DeleteRole deletes the role and its assignments, or NotFound.
	DeleteRole(ctx context.Context, tenantID, id string) error
}

// Roles manages a tenant's custom roles (and, for system admins, the
// global roles): nobody puts into a role a permission they do not hold
// (CanGrant), system roles keep their name and cannot be deleted.
type Roles struct {
	store RoleStore
	tx    Tx
	audit Auditor
}

// RolesDeps are what NewRoles needs, all required.
type RolesDeps struct {
	Store   RoleStore
	Tx      Tx
	Auditor Auditor
}

// NewRoles checks d and returns the service.
func NewRoles(d RolesDeps) (*Roles, error) {
	if err := checkDeps("Roles", dep{"Store", d.Store == nil}, dep{"Tx", d.Tx == nil}, dep{"Auditor", d.Auditor.Store == nil}); err != nil {
		return nil, err
	}
	return &Roles{store: d.Store, tx: d.Tx, audit: d.Auditor}, nil
}

// RoleInput is a role to create; Global (a role of every tenant) is for
// system admins only.
type RoleInput struct {
	Name        string
	Description string
	Permissions []string
	Global      bool
}

// RolePatch is what UpdateRole may change.
type RolePatch struct {
	Name        *string
	Description *string
	Permissions *[]string
}

// checkPermissions validates a role's or policy's permissions: well-formed,
// at most 200, none of admin.* (which only system administration carries).
// It returns them de-duplicated.
func checkPermissions(fields map[string]string, perms []string) models.StringList {
	out := models.StringList{}
	if len(perms) > 200 {
		fields["permissions"] = "Give at most 200 permissions."
		return out
	}
	for _, p := range perms {
		p = strings.TrimSpace(p)
		if !ValidPermission(p) {
			fields["permissions"] = fmt.Sprintf("%q is not a permission: use dotted segments of a-z, 0-9, _ or -, or *.", truncate(p, 100))
			continue
		}
		if grantsAdmin(p) {
			fields["permissions"] = fmt.Sprintf("%q would grant admin.* permissions, which come only with system administration.", p)
			continue
		}
		if !out.Has(p) {
			out = append(out, p)
		}
	}
	return out
}

func checkLabel(fields map[string]string, name, description string) (string, string) {
	name, description = strings.TrimSpace(name), strings.TrimSpace(description)
	if name == "" || len(name) > 100 {
		fields["name"] = "Give a name of 1 to 100 characters."
	}
	if len(description) > 500 {
		fields["description"] = "Use at most 500 characters."
	}
	return name, description
}

// List returns the tenant's roles and the global roles.
func (s *Roles) List(ctx context.Context, tenantID string) ([]models.Role, error) {
	return s.store.ListRoles(ctx, tenantID)
}

// Get returns a role of the tenant or a global role.
func (s *Roles) Get(ctx context.Context, tenantID, id string) (*models.Role, error) {
	return s.store.GetRole(ctx, tenantID, id)
}

// Create creates a custom role of the actor's tenant (or, for a system
// admin, a global role).
func (s *Roles) Create(ctx context.Context, a Actor, in RoleInput) (*models.Role, error) {
	fields := map[string]string{}
	name, desc := checkLabel(fields, in.Name, in.Description)
	perms := checkPermissions(fields, in.Permissions)
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	if in.Global && !a.SystemAdmin {
		return nil, errForbidden("Only a system admin can create a global role.", "")
	}
	if err := CanGrant(ctx, a, perms); err != nil {
		return nil, err
	}
	r := &models.Role{Name: name, Description: desc, Permissions: perms}
	if !in.Global {
		tid := a.TenantID
		r.TenantID = &tid
	}
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateRole(ctx, r); err != nil {
			return roleConflict(err)
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditRoleCreated, Metadata: map[string]any{"role_id": r.ID, "name": r.Name, "global": in.Global, "permissions": []string(perms)}})
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

func roleConflict(err error) error {
	if models.IsKind(err, models.KindConflict) {
		return models.ErrNameTaken()
	}
	return err
}

// editableRole loads a role the actor may change: global roles only by
// system admins.
func (s *Roles) editableRole(ctx context.Context, a Actor, id string) (*models.Role, error) {
	r, err := s.store.GetRole(ctx, a.TenantID, id)
	if err != nil {
		return nil, err
	}
	if r.TenantID == nil && !a.SystemAdmin {
		return nil, models.ErrForbidden("").WithMessage("Global roles are managed by system admins.")
	}
	return r, nil
}

// Update changes a role's name, description or permissions. System
// roles keep their name; the actor must hold every permission of the new set.
func (s *Roles) Update(ctx context.Context, a Actor, id string, in RolePatch) (*models.Role, error) {
	var r *models.Role
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		if r, err = s.editableRole(ctx, a, id); err != nil {
			return err
		}
		fields := map[string]string{}
		name, desc := r.Name, r.Description
		if in.Name != nil {
			name = *in.Name
		}
		if in.Description != nil {
			desc = *in.Description
		}
		name, desc = checkLabel(fields, name, desc)
		perms := r.Permissions
		if in.Permissions != nil {
			perms = checkPermissions(fields, *in.Permissions)
		}
		if len(fields) > 0 {
			return models.ErrInvalid(fields)
		}
		if r.System && name != r.Name {
			return models.ErrSystemRole().WithMessage("System roles cannot be renamed.").
				WithFields(map[string]string{"name": "System roles keep their name."})
		}
		if err := CanGrant(ctx, a, perms); err != nil {
			return err
		}
		r.Name, r.Description, r.Permissions = name, desc, perms
		if err := s.store.UpdateRole(ctx, a.TenantID, r); err != nil {
			return roleConflict(err)
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditRoleUpdated, Metadata: map[string]any{"role_id": r.ID, "name": r.Name, "permissions": []string(perms)}})
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// Delete deletes a custom role; system roles stay.
func (s *Roles) Delete(ctx context.Context, a Actor, id string) error {
	return s.tx.InTx(ctx, func(ctx context.Context) error {
		r, err := s.editableRole(ctx, a, id)
		if err != nil {
			return err
		}
		if r.System {
			return models.ErrSystemRole()
		}
		if err := s.store.DeleteRole(ctx, a.TenantID, r.ID); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditRoleDeleted, Metadata: map[string]any{"role_id": r.ID, "name": r.Name}})
	})
}
