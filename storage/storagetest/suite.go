package storagetest

import (
	"context"
	"errors"
	"reflect"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/ory/fosite"
	fositestorage "github.com/ory/fosite/storage"
)

// subTest is one case of a suite, Dex's storage/conformance shape: a name
// and a function that gets a fresh, empty store of its own.
type subTest[S any] struct {
	name string
	run  func(t *testing.T, s S)
}

// runSubTests runs every case on its own store (a fresh database each: the
// harness makes one per test).
func runSubTests[S any](t *testing.T, newStore func(t *testing.T) S, tests []subTest[S]) {
	t.Helper()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStore(t)) })
	}
}

// suiteClaim records what a suite proves: the Store methods whose contract
// its cases check, and the interface the suite takes (every claimed method
// must be one of its methods, so the suite can call it).
type suiteClaim struct {
	suite   string
	store   reflect.Type
	methods []string
}

// claims is filled by each suite file's var _ = claim[…](…); the coverage
// test fails for any exported *storage.Store method no suite claims.
var claims []suiteClaim

// claim registers that suite, which takes an S, proves methods.
func claim[S any](suite string, methods ...string) bool {
	claims = append(claims, suiteClaim{suite: suite, store: reflect.TypeFor[S](), methods: methods})
	return true
}

// race starts n goroutines together, each calling fn with its index, and
// returns their errors once all are done.
func race(n int, fn func(i int) error) []error {
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			errs[i] = fn(i)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// raceBool is race for a method that reports whether it won (a claim), and
// returns how many won; any error fails the test.
func raceBool(t *testing.T, n int, fn func(i int) (bool, error)) int {
	t.Helper()
	var won atomic.Int64
	for _, err := range race(n, func(i int) error {
		ok, err := fn(i)
		if ok {
			won.Add(1)
		}
		return err
	}) {
		must(t, err, "racer")
	}
	return int(won.Load())
}

// runRace starts n goroutines that each run fn in their own transaction
// (BeginTX … Commit, Rollback on error) and returns their errors.
func runRace(t *testing.T, s fositestorage.Transactional, n int, fn func(ctx context.Context) error) []error {
	t.Helper()
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, err := s.BeginTX(t.Context())
			if err != nil {
				errs[i] = err
				return
			}
			if err := fn(ctx); err != nil {
				_ = s.Rollback(ctx)
				errs[i] = err
				return
			}
			errs[i] = s.Commit(ctx)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// wantOneWinner checks that exactly one racer succeeded and every other
// failed with ErrSerializationFailure.
func wantOneWinner(t *testing.T, errs []error) {
	t.Helper()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, fosite.ErrSerializationFailure):
		default:
			t.Fatalf("racer failed with %v, want nil or ErrSerializationFailure", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d racers succeeded, want exactly 1 (errors: %v)", ok, errs)
	}
}
