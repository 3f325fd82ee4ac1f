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

// The webhook methods that change rows cannot make a cached lookup stale
// (only access tokens and clients are cached).
func init() {
	keepsLookups["UpdateWebhook"] = "webhooks are not cached"
	keepsLookups["DeleteWebhook"] = "webhooks are not cached"
	keepsLookups["PruneWebhookDeliveries"] = "webhook deliveries are not cached"
}
