package storage_test

import (
	"testing"

	"github.com/identityd/identityd/storage/storagetest"
)

// TestFederationStatesRepository runs the upstream sign-in flow's
// conformance suite (issue 12 §1) on every backend.
func TestFederationStatesRepository(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storagetest.OpenFunc) {
		storagetest.RunFederationStatesSuite(t, defaults(open))
	})
}

// The flow's rows are not cached lookups.
func init() {
	for _, m := range []string{"ConsumeFederationState", "DeleteFederationRoleGrant"} {
		keepsLookups[m] = "upstream sign-in state is not cached"
	}
}
