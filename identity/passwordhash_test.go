package identity

import (
	"context"
	"runtime"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/models"
)

// TestBcryptSlots: at most BcryptConcurrency hashes run at once (half the
// cores, at least one); with every slot taken, a check whose request has
// ended gives up with an unavailable error instead of an answer about the
// password; a released slot is taken again.
func TestBcryptSlots(t *testing.T) {
	// Not parallel: it holds every slot of the package for a moment.
	n := BcryptConcurrency()
	if want := max(1, runtime.GOMAXPROCS(0)/2); n != want {
		t.Fatalf("BcryptConcurrency() = %d, want %d (GOMAXPROCS %d)", n, want, runtime.GOMAXPROCS(0))
	}
	hash, err := hashPassword(t.Context(), "Correct-Horse-9", bcrypt.MinCost)
	if err != nil {
		t.Fatalf("hash: %v", err)
	}
	if ok, err := passwordMatches(t.Context(), hash, "Correct-Horse-9"); err != nil || !ok {
		t.Fatalf("right password: %v, %v; want true", ok, err)
	}
	if ok, err := passwordMatches(t.Context(), hash, "Wrong-Horse-9"); err != nil || ok {
		t.Fatalf("wrong password: %v, %v; want false", ok, err)
	}

	releases := make([]func(), 0, n)
	for range n {
		release, err := takeBcryptSlot(t.Context())
		if err != nil {
			t.Fatalf("take a free slot: %v", err)
		}
		releases = append(releases, release)
	}
	ended, cancel := context.WithCancel(t.Context())
	cancel()
	ok, err := passwordMatches(ended, hash, "Correct-Horse-9")
	if ok || !models.IsKind(err, models.KindUnavailable) {
		t.Fatalf("every slot taken, request ended: %v, %v; want false and an unavailable error", ok, err)
	}
	if _, err := hashPassword(ended, "Correct-Horse-9", bcrypt.MinCost); !models.IsKind(err, models.KindUnavailable) {
		t.Fatalf("hash with every slot taken, request ended: %v; want an unavailable error", err)
	}
	releases[0]()
	if ok, err := passwordMatches(t.Context(), hash, "Correct-Horse-9"); err != nil || !ok {
		t.Fatalf("after a release: %v, %v; want true", ok, err)
	}
	for _, release := range releases[1:] {
		release()
	}
}
