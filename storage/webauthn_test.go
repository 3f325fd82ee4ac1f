package storage_test

import (
	"testing"

	"github.com/identityd/identityd/storage/storagetest"
)

// TestWebAuthnRepository runs the passkeys' conformance suite (issue 12
// §2) on every backend.
func TestWebAuthnRepository(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storagetest.OpenFunc) {
		storagetest.RunWebAuthnSuite(t, defaults(open))
	})
}

// Passkeys and ceremonies are not cached lookups.
func init() {
	for _, m := range []string{"UpdateWebAuthnCredentialUse", "DeleteWebAuthnCredential"} {
		keepsLookups[m] = "passkeys are not cached"
	}
}
