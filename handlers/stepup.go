package handlers

import (
	"context"
	"time"

	"github.com/identityd/identityd/identity"
)

// StepUpService elevates a session after a fresh proof (identity.StepUp).
type StepUpService interface {
	// Elevate checks one of the input's proofs and elevates the
	// principal's session until the time it returns.
	Elevate(ctx context.Context, p identity.Principal, in identity.StepUpInput) (time.Time, error)
	// Status reports whether the session is elevated, and until when.
	Status(ctx context.Context, p identity.Principal) (bool, time.Time, error)
	// End drops the elevation early.
	End(ctx context.Context, p identity.Principal) error
	// TTL is how long a step-up lasts.
	TTL() time.Duration
}
