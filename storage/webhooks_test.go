package storage_test

import (
	"testing"

	"github.com/identityd/identityd/storage/storagetest"
)

// TestWebhooksRepository runs the webhooks conformance suite (issue 11
// §3) on every backend.
func TestWebhooksRepository(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storagetest.OpenFunc) {
		storagetest.RunWebhooksSuite(t, defaults(open))
	})
}
