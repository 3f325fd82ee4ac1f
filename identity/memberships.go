package identity

import (
	"context"
	"strings"

	"github.com/identityd/identityd/models"
)

// findRole resolves a role id or name of the tenant (or a global role).
func (d *Directory) findRole(ctx context.Context, tenantID, ref string) (*models.Role, error) {
	ref = strings.TrimSpace(ref)
	if uuidRE.MatchString(ref) {
		return d.Store.GetRole(ctx, tenantID, ref)
	}
	if ref == "" || len(ref) > 100 {
		return nil, models.ErrNotFound("role")
	}
	return d.Store.GetRoleByName(ctx, tenantID, ref)
}

// AssignUserRole gives a user a role of the tenant or a global role. The
// actor must hold every permission the role carries.
func (d *Directory) AssignUserRole(ctx context.Context, a Actor, userID, roleRef string) (*UserDetail, error) {
	err := d.Store.InTx(ctx, func(ctx context.Context) error {
		u, err := d.target(ctx, a, userID)
		if err != nil {
			return err
		}
		r, err := d.findRole(ctx, a.TenantID, roleRef)
		if err != nil {
			if models.IsKind(err, models.KindNotFound) {
				return models.ErrInvalid(map[string]string{"role_id": "No such role in this tenant."})
			}
			return err
		}
		if err := CanGrant(ctx, a, r.Permissions); err != nil {
			return err
		}
		if err := d.Store.AssignRole(ctx, a.TenantID, u.ID, models.PrincipalUser, r.ID); err != nil {
			if models.IsKind(err, models.KindConflict) {
				return models.NewError(models.KindConflict, "role_already_assigned", "The user already holds this role.", nil)
			}
			return err
		}
		return d.audit(ctx, a, Event{UserID: u.ID, Action: AuditRoleAssigned, Metadata: map[string]any{"role_id": r.ID, "role": r.Name}})
	})
	if err != nil {
		return nil, err
	}
	return d.GetUser(ctx, a.TenantID, userID)
}

// UnassignUserRole takes a role away from a user.
func (d *Directory) UnassignUserRole(ctx context.Context, a Actor, userID, roleID string) (*UserDetail, error) {
	err := d.Store.InTx(ctx, func(ctx context.Context) error {
		u, err := d.target(ctx, a, userID)
		if err != nil {
			return err
		}
		r, err := d.Store.GetRole(ctx, a.TenantID, roleID)
		if err != nil {
			return err
		}
		if err := d.Store.UnassignRole(ctx, a.TenantID, u.ID, r.ID); err != nil {
			return err
		}
		return d.audit(ctx, a, Event{UserID: u.ID, Action: AuditRoleUnassigned, Metadata: map[string]any{"role_id": r.ID, "role": r.Name}})
	})
	if err != nil {
		return nil, err
	}
	return d.GetUser(ctx, a.TenantID, userID)
}

// AssignUserPolicy gives a user a policy of the tenant; the actor must hold
// every permission the policy carries.
func (d *Directory) AssignUserPolicy(ctx context.Context, a Actor, userID, policyID string) (*UserDetail, error) {
	err := d.Store.InTx(ctx, func(ctx context.Context) error {
		u, err := d.target(ctx, a, userID)
		if err != nil {
			return err
		}
		p, err := d.Store.GetPolicy(ctx, a.TenantID, policyID)
		if err != nil {
			return err
		}
		if err := CanGrant(ctx, a, p.Permissions); err != nil {
			return err
		}
		if err := d.Store.AssignPolicy(ctx, a.TenantID, u.ID, models.PrincipalUser, p.ID); err != nil {
			if models.IsKind(err, models.KindConflict) {
				return models.NewError(models.KindConflict, "policy_already_assigned", "The user already holds this policy.", nil)
			}
			return err
		}
		return d.audit(ctx, a, Event{UserID: u.ID, Action: AuditPolicyAssigned, Metadata: map[string]any{"policy_id": p.ID, "policy": p.Name}})
	})
	if err != nil {
		return nil, err
	}
	return d.GetUser(ctx, a.TenantID, userID)
}

// UnassignUserPolicy takes a policy away from a user.
func (d *Directory) UnassignUserPolicy(ctx context.Context, a Actor, userID, policyID string) (*UserDetail, error) {
	err := d.Store.InTx(ctx, func(ctx context.Context) error {
		u, err := d.target(ctx, a, userID)
		if err != nil {
			return err
		}
		p, err := d.Store.GetPolicy(ctx, a.TenantID, policyID)
		if err != nil {
			return err
		}
		if err := d.Store.UnassignPolicy(ctx, a.TenantID, u.ID, p.ID); err != nil {
			return err
		}
		return d.audit(ctx, a, Event{UserID: u.ID, Action: AuditPolicyUnassigned, Metadata: map[string]any{"policy_id": p.ID, "policy": p.Name}})
	})
	if err != nil {
		return nil, err
	}
	return d.GetUser(ctx, a.TenantID, userID)
}
