package storage_test

import (
	"testing"

	"github.com/identityd/identityd/storage/storagetest"
)

// TestFederationRepository runs the providers' and linked identities'
// conformance suite (issue 12 §1) on every backend.
func TestFederationRepository(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storagetest.OpenFunc) {
		storagetest.RunFederationSuite(t, defaults(open))
	})
}

// Providers and linked identities are not cached lookups.
func init() {
	for _, m := range []string{"UpdateIdentityProvider", "DeleteIdentityProvider", "DeleteUserIdentity", "TouchUserIdentity"} {
		keepsLookups[m] = "identity providers and linked identities are not cached"
	}
}
