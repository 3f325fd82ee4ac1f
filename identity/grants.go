package identity

import (
	"context"
	"strings"

	"github.com/identityd/identityd/models"
)

// Who may grant (issue 8). One rule, checked by checkCovers on every path
// that hands out power or acts on a principal that holds some:
//
//   - granting a set of patterns (creating or editing a role or policy,
//     assigning one to a user or service account, creating a user with
//     roles) needs the actor's grants to Cover every pattern;
//   - changing, resetting, deactivating, deleting or impersonating a user,
//     and changing a service account or minting, rotating or binding its
//     credentials (API keys, OAuth clients), needs the actor's grants to
//     Cover every permission the target effectively holds;
//   - when any of those patterns can match a danger action (ReachesDanger),
//     the covering counts only from an elevated (stepped-up) user: the
//     danger part of a grant is granted with the danger action's own gate.
//     A service account never steps up, like Authorizer.Decide, so for it
//     coverage alone decides;
//   - admin.* comes only with system administration; a system admin passes.

// Actor is who changes a tenant's users, roles, clients, service accounts
// or keys (or, for a system admin, the tenants themselves): the
// principal, its resolved permissions (from the request's one resolution)
// and where it came from.
type Actor struct {
	Principal
	Perms PermissionSet
	Meta  Meta
	// Elevated reports whether the principal has stepped up; nil means it
	// has not. Asked only when a danger action is at stake.
	Elevated func(ctx context.Context) (bool, error)
}

func (a Actor) elevated(ctx context.Context) (bool, error) {
	if a.Elevated == nil {
		return false, nil
	}
	return a.Elevated(ctx)
}

// errStepUpForGrant is the answer when the covering needs an elevation the
// actor has not made.
func errStepUpForGrant(pattern string) *models.Error {
	return models.ErrStepUpRequired(pattern).WithMessage("This grants or touches a danger action: step up first.")
}

// checkCovers enforces the rule above for patterns (what is granted, or what
// the target holds); msg is the refusal's sentence. The first pattern not
// covered is named in required_permission.
func checkCovers(ctx context.Context, a Actor, patterns []string, msg string) error {
	if a.SystemAdmin {
		return nil
	}
	danger := ""
	for _, p := range patterns {
		if grantsAdmin(p) || !Covers(a.Perms, p) {
			return errForbidden(msg, p)
		}
		if danger == "" && ReachesDanger(p) {
			danger = p
		}
	}
	if danger == "" || a.Kind == models.PrincipalServiceAccount {
		return nil
	}
	ok, err := a.elevated(ctx)
	if err != nil {
		return err
	}
	if !ok {
		return errStepUpForGrant(danger)
	}
	return nil
}

// CanGrant enforces "nobody grants what they do not hold" for patterns.
func CanGrant(ctx context.Context, a Actor, patterns []string) error {
	return checkCovers(ctx, a, patterns, "You cannot grant a permission you do not hold.")
}

// CanActOn enforces "nobody changes a more powerful principal": the actor
// must cover every permission the target holds (targetPerms, resolved).
func CanActOn(ctx context.Context, a Actor, targetPerms []string) error {
	return checkCovers(ctx, a, targetPerms, "This account holds a permission you do not; you cannot change it.")
}

func errForbidden(msg, permission string) *models.Error {
	return models.ErrForbidden(permission).WithMessage(msg)
}

// grantsAdmin reports whether p covers any admin.* permission.
func grantsAdmin(p string) bool {
	first, _, _ := strings.Cut(p, ".")
	if first == "admin" || first == "*" {
		return true
	}
	for _, c := range Catalogue {
		if strings.HasPrefix(c, "admin.") && Grants(p, c) {
			return true
		}
	}
	return false
}
