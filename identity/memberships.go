package identity

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/identityd/identityd/models"
)

// MembershipStore is what Memberships needs from storage: who holds which
// role and policy in a tenant, and what that resolves to. Every method
// takes the tenant; another tenant's role or policy, or a malformed id, is
// models.ErrNotFound (a global role is every tenant's).
type MembershipStore interface {
	// GetRole and GetRoleByName find a role of the tenant or a global
	// role, or NotFound.
	GetRole(ctx context.Context, tenantID, id string) (*models.Role, error)
	GetRoleByName(ctx context.Context, tenantID, name string) (*models.Role, error)
	// GetPolicy finds a policy of the tenant, or NotFound.
	GetPolicy(ctx context.Context, tenantID, id string) (*models.Policy, error)
	// AssignRole gives the principal the role: a role already held is a
	// Conflict (of two concurrent assignments one wins, one Conflicts).
	AssignRole(ctx context.Context, tenantID, principalID, principalType, roleID string) error
	// UnassignRole takes it away: a role not held is NotFound.
	UnassignRole(ctx context.Context, tenantID, principalID, roleID string) error
	// AssignPolicy and UnassignPolicy do the same for policies.
	AssignPolicy(ctx context.Context, tenantID, principalID, principalType, policyID string) error
	UnassignPolicy(ctx context.Context, tenantID, principalID, policyID string) error
	// PrincipalRoles returns the roles of each principal (one query for a
	// page); a principal with none is absent from the map.
	PrincipalRoles(ctx context.Context, tenantID string, principalIDs []string) (map[string][]models.Role, error)
	// PrincipalPolicies returns the policies of one principal (none: empty).
	PrincipalPolicies(ctx context.Context, tenantID, principalID string) ([]models.Policy, error)
	// ResolvePermissions returns every permission pattern the principal
	// holds through its roles and policies (none: empty, never NotFound).
	ResolvePermissions(ctx context.Context, tenantID, principalID string) ([]string, error)
}

// Memberships gives a tenant's users roles and policies and takes them
// away, under the grant rules (grants.go): the actor must cover the user's
// permissions (CanActOn) and what it hands out (CanGrant).
type Memberships struct {
	users UserStore
	store MembershipStore
	tx    Tx
	audit Auditor
}

// MembershipsDeps are what NewMemberships needs, all required.
type MembershipsDeps struct {
	// Users loads the user a membership changes.
	Users   UserStore
	Store   MembershipStore
	Tx      Tx
	Auditor Auditor
}

// NewMemberships checks d and returns the service.
func NewMemberships(d MembershipsDeps) (*Memberships, error) {
	if err := checkDeps("Memberships", dep{"Users", d.Users == nil}, dep{"Store", d.Store == nil},
		dep{"Tx", d.Tx == nil}, dep{"Auditor", d.Auditor.Store == nil}); err != nil {
		return nil, err
	}
	return &Memberships{users: d.Users, store: d.Store, tx: d.Tx, audit: d.Auditor}, nil
}

// findRole resolves a role id or name of the tenant (or a global role).
func findRole(ctx context.Context, st MembershipStore, tenantID, ref string) (*models.Role, error) {
	ref = strings.TrimSpace(ref)
	if uuidRE.MatchString(ref) {
		return st.GetRole(ctx, tenantID, ref)
	}
	if ref == "" || len(ref) > 100 {
		return nil, models.ErrNotFound("role")
	}
	return st.GetRoleByName(ctx, tenantID, ref)
}

// grantableRoles resolves refs (role ids or names) to the tenant's roles,
// each once and in order, refusing one the actor could not grant
// (CanGrant) and naming an unknown one in a 422 on "roles": the rule of
// every use case that hands out roles at once (a new user, an invitation).
func grantableRoles(ctx context.Context, st MembershipStore, a Actor, refs []string) ([]*models.Role, error) {
	roles := make([]*models.Role, 0, len(refs))
	for _, ref := range refs {
		r, err := findRole(ctx, st, a.TenantID, ref)
		if err != nil {
			if models.IsKind(err, models.KindNotFound) {
				return nil, models.ErrInvalid(map[string]string{"roles": fmt.Sprintf("No role %q in this tenant.", truncate(ref, 100))})
			}
			return nil, err
		}
		if err := CanGrant(ctx, a, r.Permissions); err != nil {
			return nil, err
		}
		if !slices.ContainsFunc(roles, func(x *models.Role) bool { return x.ID == r.ID }) {
			roles = append(roles, r)
		}
	}
	return roles, nil
}

// AssignRole gives a user a role of the tenant or a global role. The
// actor must hold every permission the role carries.
func (s *Memberships) AssignRole(ctx context.Context, a Actor, userID, roleRef string) (*UserDetail, error) {
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		u, err := target(ctx, s.users, s.store, a, userID)
		if err != nil {
			return err
		}
		r, err := findRole(ctx, s.store, a.TenantID, roleRef)
		if err != nil {
			if models.IsKind(err, models.KindNotFound) {
				return models.ErrInvalid(map[string]string{"role_id": "No such role in this tenant."})
			}
			return err
		}
		if err := CanGrant(ctx, a, r.Permissions); err != nil {
			return err
		}
		if err := s.store.AssignRole(ctx, a.TenantID, u.ID, models.PrincipalUser, r.ID); err != nil {
			if models.IsKind(err, models.KindConflict) {
				return models.ErrRoleAlreadyAssigned()
			}
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{UserID: u.ID, Action: AuditRoleAssigned, Metadata: map[string]any{"role_id": r.ID, "role": r.Name}, Data: userHolder})
	})
	if err != nil {
		return nil, err
	}
	return s.detail(ctx, a.TenantID, userID)
}

// UnassignRole takes a role away from a user.
func (s *Memberships) UnassignRole(ctx context.Context, a Actor, userID, roleID string) (*UserDetail, error) {
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		u, err := target(ctx, s.users, s.store, a, userID)
		if err != nil {
			return err
		}
		r, err := s.store.GetRole(ctx, a.TenantID, roleID)
		if err != nil {
			return err
		}
		if err := s.store.UnassignRole(ctx, a.TenantID, u.ID, r.ID); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{UserID: u.ID, Action: AuditRoleUnassigned, Metadata: map[string]any{"role_id": r.ID, "role": r.Name}, Data: userHolder})
	})
	if err != nil {
		return nil, err
	}
	return s.detail(ctx, a.TenantID, userID)
}

// AssignPolicy gives a user a policy of the tenant; the actor must hold
// every permission the policy carries.
func (s *Memberships) AssignPolicy(ctx context.Context, a Actor, userID, policyID string) (*UserDetail, error) {
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		u, err := target(ctx, s.users, s.store, a, userID)
		if err != nil {
			return err
		}
		p, err := s.store.GetPolicy(ctx, a.TenantID, policyID)
		if err != nil {
			return err
		}
		if err := CanGrant(ctx, a, p.Permissions); err != nil {
			return err
		}
		if err := s.store.AssignPolicy(ctx, a.TenantID, u.ID, models.PrincipalUser, p.ID); err != nil {
			if models.IsKind(err, models.KindConflict) {
				return models.ErrPolicyAlreadyAssigned()
			}
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{UserID: u.ID, Action: AuditPolicyAssigned, Metadata: map[string]any{"policy_id": p.ID, "policy": p.Name}, Data: userHolder})
	})
	if err != nil {
		return nil, err
	}
	return s.detail(ctx, a.TenantID, userID)
}

// UnassignPolicy takes a policy away from a user.
func (s *Memberships) UnassignPolicy(ctx context.Context, a Actor, userID, policyID string) (*UserDetail, error) {
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		u, err := target(ctx, s.users, s.store, a, userID)
		if err != nil {
			return err
		}
		p, err := s.store.GetPolicy(ctx, a.TenantID, policyID)
		if err != nil {
			return err
		}
		if err := s.store.UnassignPolicy(ctx, a.TenantID, u.ID, p.ID); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{UserID: u.ID, Action: AuditPolicyUnassigned, Metadata: map[string]any{"policy_id": p.ID, "policy": p.Name}, Data: userHolder})
	})
	if err != nil {
		return nil, err
	}
	return s.detail(ctx, a.TenantID, userID)
}

// detail is the user after the change, as Users.Get shows it.
func (s *Memberships) detail(ctx context.Context, tenantID, id string) (*UserDetail, error) {
	u, err := s.users.GetUser(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	return userDetail(ctx, s.store, u)
}
