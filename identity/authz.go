package identity

import (
	"context"
	"strings"
	"time"

	"github.com/identityd/identityd/models"
)

// AuthzStore is what the Authorizer needs from storage.
type AuthzStore interface {
	// ResolvePermissions returns every permission the principal (a user or
	// a service account of the tenant) holds through its roles and
	// policies; none for an unknown principal.
	ResolvePermissions(ctx context.Context, tenantID, principalID string) ([]string, error)
}

// Authorizer answers what a principal may do: one permission resolver with
// dotted globs, and the step-up gate for danger actions (it reads the
// flags StepUp writes).
type Authorizer struct {
	store   AuthzStore
	stepUps StepUpCache
	clock   func() time.Time
}

// AuthorizerDeps are what NewAuthorizer needs; every field is required.
type AuthorizerDeps struct {
	Store AuthzStore
	// StepUps is where StepUp leaves its flags.
	StepUps StepUpCache
	Now     func() time.Time
}

// NewAuthorizer builds the Authorizer.
func NewAuthorizer(d AuthorizerDeps) (*Authorizer, error) {
	if err := checkDeps("Authorizer", dep{"Store", d.Store == nil}, dep{"StepUps", d.StepUps == nil}, dep{"Now", d.Now == nil}); err != nil {
		return nil, err
	}
	return &Authorizer{store: d.Store, stepUps: d.StepUps, clock: d.Now}, nil
}

// Permissions resolves the principal's grants (once per request: callers keep
// the result). A system admin holds "*".
func (z *Authorizer) Permissions(ctx context.Context, p Principal) (PermissionSet, error) {
	if p.SystemAdmin {
		return PermissionSet{"*"}, nil
	}
	perms, err := z.store.ResolvePermissions(ctx, p.TenantID, p.UserID)
	if err != nil {
		return nil, err
	}
	return PermissionSet(perms), nil
}

// Decision is the answer to "may this principal do that?".
type Decision struct {
	Allowed bool   `json:"allowed"`
	Reason  string `json:"reason"`
	// StepUpRequired is set when the permission is held but is a danger
	// action and the principal is not elevated.
	StepUpRequired bool `json:"-"`
}

// Decide applies, in order: system-admin bypass, the permission, the step-up
// gate.
func (z *Authorizer) Decide(ctx context.Context, p Principal, perms PermissionSet, permission string) (Decision, error) {
	if p.SystemAdmin {
		return Decision{Allowed: true, Reason: "system_admin"}, nil
	}
	// admin.* acts across tenants: only system admins hold it, whatever a
	// tenant's roles or policies say (a tenant role with "*" must not reach it).
	if strings.HasPrefix(permission, "admin.") || !perms.Has(permission) {
		return Decision{Allowed: false, Reason: "missing_permission"}, nil
	}
	if IsDangerAction(permission) && p.Kind != models.PrincipalServiceAccount {
		elevated, _, err := stepUpStatus(ctx, z.stepUps, z.clock().UTC(), p)
		if err != nil {
			return Decision{}, err
		}
		if !elevated {
			return Decision{Allowed: false, Reason: "step_up_required", StepUpRequired: true}, nil
		}
		return Decision{Allowed: true, Reason: "granted_elevated"}, nil
	}
	return Decision{Allowed: true, Reason: "granted"}, nil
}
