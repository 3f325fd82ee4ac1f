package identity

import (
	"context"
	"runtime"
	"sync/atomic"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/models"
)

// TestBcryptSlots: while other requests are in flight at most
// BcryptConcurrency hashes run at once (half the cores, at least one), and
// with only password work in flight every core may hash; with every slot
// taken, a check whose request has ended gives up with an unavailable error
// instead of an answer about the password; a released slot is taken again.
func TestBcryptSlots(t *testing.T) {
	// Not parallel: it holds every slot of the package for a moment.
	n := BcryptConcurrency()
	if want := max(1, runtime.GOMAXPROCS(0)/2); n != want {
		t.Fatalf("BcryptConcurrency() = %d, want %d (GOMAXPROCS %d)", n, want, runtime.GOMAXPROCS(0))
	}
	var others atomic.Int64 // in-flight requests that are not password work
	SetInFlight(func() int64 { return others.Load() + bcryptWanting.Load() })
	t.Cleanup(func() { inFlight.Store(nil) })

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
	ended, cancel := context.WithCancel(t.Context())
	cancel()
	takeAll := func(limit int) []func() {
		t.Helper()
		releases := make([]func(), 0, limit)
		for range limit {
			release, err := takeBcryptSlot(t.Context())
			if err != nil {
				t.Fatalf("take a free slot: %v", err)
			}
			releases = append(releases, release)
		}
		ok, err := passwordMatches(ended, hash, "Correct-Horse-9")
		if ok || !models.IsKind(err, models.KindUnavailable) {
			t.Fatalf("%d slots taken, request ended: %v, %v; want false and an unavailable error", limit, ok, err)
		}
		return releases
	}

	// Other requests in flight: half the cores.
	others.Store(3)
	releases := takeAll(n)
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

	// Only password work in flight: every core.
	others.Store(0)
	for _, release := range takeAll(runtime.GOMAXPROCS(0)) {
		release()
	}

	// A waiter takes the core that frees up once the other requests end.
	others.Store(3)
	releases = takeAll(n)
	got := make(chan error, 1)
	go func() {
		release, err := takeBcryptSlot(t.Context())
		if err == nil {
			release()
		}
		got <- err
	}()
	if runtime.GOMAXPROCS(0) > n {
		others.Store(0)
		if err := <-got; err != nil {
			t.Fatalf("waiter after the other requests ended: %v", err)
		}
		for _, release := range releases {
			release()
		}
	} else {
		for _, release := range releases {
			release()
		}
		if err := <-got; err != nil {
			t.Fatalf("waiter after a release: %v", err)
		}
	}
}
