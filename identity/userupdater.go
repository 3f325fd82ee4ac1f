package identity

import (
	"context"

	"github.com/identityd/identityd/models"
)

// UserUpdater changes a user under its row lock (storage.Store.UpdateUser).
type UserUpdater interface {
	// UpdateUser runs fn on the tenant's user in a transaction with the row
	// locked and writes back every mutable field fn left, returning the row
	// as written. An unknown user, or one of another tenant, is NotFound
	// "user" and fn is not called; fn's error is returned as it is and
	// nothing is written; an e-mail address already taken in the tenant is a
	// Conflict. Concurrent updaters and the atomic counters wait for the
	// lock, so none of their changes is lost. Inside InTx it joins the
	// caller's transaction.
	UpdateUser(ctx context.Context, tenantID, userID string, fn func(u *models.User) error) (*models.User, error)
}
