package identity

import (
	"context"
	"fmt"

	"github.com/identityd/identityd/models"
)

// Tx runs a unit of work in one transaction (storage.Store.InTx).
type Tx interface {
	// InTx runs fn in a transaction carried by the context it is given:
	// fn's error rolls everything back and is returned as it is; a nested
	// InTx joins the open transaction. On PostgreSQL a serialization
	// failure or deadlock is returned as an Internal error (nothing is
	// retried).
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

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

// need is one dependency a constructor checks: its field name, and whether
// it is missing.
type need struct {
	name    string
	missing bool
}

// requireDeps names the first missing dependency of constructor ctor.
func requireDeps(ctor string, needs ...need) error {
	for _, n := range needs {
		if n.missing {
			return fmt.Errorf("identity: %s: %s is required", ctor, n.name)
		}
	}
	return nil
}
