package identity

import (
	"context"

	"github.com/identityd/identityd/models"
)

// SignInMethodCounter counts the ways besides the password a user can sign
// in (storage implements it).
type SignInMethodCounter interface {
	// CountSignInMethods returns the user's linked identities and usable
	// (not disabled) passkeys.
	CountSignInMethods(ctx context.Context, tenantID, userID string) (identities, passkeys int, err error)
}

// Sign-in methods a removal takes away (KeepsAWayIn).
const (
	RemovingIdentity = "identity"
	RemovingPasskey  = "passkey"
)

// KeepsAWayIn is the one rule for removing a way to sign in: unlinking an
// upstream identity and deleting a passkey (API and pages alike) are
// refused with ErrLastSignInMethod when the user would be left with no
// password, no linked identity and no passkey. removing is
// RemovingIdentity or RemovingPasskey. Run it in the removal's
// transaction, so two concurrent removals cannot both pass.
func KeepsAWayIn(ctx context.Context, c SignInMethodCounter, u *models.User, removing string) error {
	if u.PasswordHash != "" {
		return nil
	}
	identities, passkeys, err := c.CountSignInMethods(ctx, u.TenantID, u.ID)
	if err != nil {
		return err
	}
	switch removing {
	case RemovingIdentity:
		identities--
	case RemovingPasskey:
		passkeys--
	}
	if identities+passkeys < 1 {
		return models.ErrLastSignInMethod()
	}
	return nil
}
