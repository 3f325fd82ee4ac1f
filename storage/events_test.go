package storage_test

import (
	"testing"

	"github.com/identityd/identityd/storage/storagetest"
)

// TestEventsSuite runs the outbox's conformance suite on every backend.
func TestEventsSuite(t *testing.T) {
	forEachBackend(t, func(t *testing.T, open storagetest.OpenFunc) { storagetest.RunEventsSuite(t, open) })
}
