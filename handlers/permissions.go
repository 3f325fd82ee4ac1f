package handlers

import (
	"context"

	"github.com/identityd/identityd/identity"
)

// PermissionService answers what a principal may do (identity.Authorizer).
type PermissionService interface {
	// Permissions resolves the principal's grants, once per request.
	Permissions(ctx context.Context, p identity.Principal) (identity.PermissionSet, error)
	// Decide applies the system-admin bypass, the permission and the
	// step-up gate of danger actions.
	Decide(ctx context.Context, p identity.Principal, perms identity.PermissionSet, permission string) (identity.Decision, error)
}
