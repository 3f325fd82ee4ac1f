package storagetest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
)

// LeaseStore is the job leases: named locks with an expiry that let one
// instance at a time run a periodic job.
type LeaseStore interface {
	// AcquireLease takes the named lease for holder until now+ttl if it is
	// free (never taken or expired); of concurrent callers exactly one wins.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	// GetLease returns the named lease, or NotFound.
	GetLease(ctx context.Context, name string) (*models.JobLease, error)
	// RenewLease extends holder's live lease to now+ttl (false: not held
	// by holder, or expired); ReleaseLease frees holder's lease at once.
	RenewLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	ReleaseLease(ctx context.Context, name, holder string) error
}

var _ = claim[LeaseStore]("RunLeasesSuite", "AcquireLease", "GetLease", "RenewLease", "ReleaseLease")

// RunLeasesSuite checks job leases: taken once while held, free again after
// expiry, and won by exactly one of many concurrent callers. open receives a
// fake clock in opts.
func RunLeasesSuite[S LeaseStore](t *testing.T, open func(t *testing.T, opts storage.Options) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) clocked[LeaseStore] {
		clock := NewFakeClock(base)
		return clocked[LeaseStore]{open(t, storage.Options{Now: clock.Now}), clock}
	}, []subTest[clocked[LeaseStore]]{
		{"AcquireExpire", testLeaseAcquire},
		{"Concurrent", testLeaseConcurrent},
		{"RenewRelease", testLeaseRenewRelease},
	})
}

func testLeaseAcquire(t *testing.T, c clocked[LeaseStore]) {
	ctx := t.Context()
	_, err := c.s.GetLease(ctx, "prune")
	wantNotFound(t, err, "a lease never taken")
	ok, err := c.s.AcquireLease(ctx, "prune", "a", time.Minute)
	must(t, err, "acquire")
	wantEqual(t, ok, true, "acquire a free lease")
	l, err := c.s.GetLease(ctx, "prune")
	must(t, err, "get")
	wantEqual(t, l.Holder, "a", "holder")
	wantTime(t, l.LeasedUntil, base.Add(time.Minute), "leased until")
	wantUTC(t, l.LeasedUntil, "leased until")

	for _, holder := range []string{"b", "a"} {
		ok, err = c.s.AcquireLease(ctx, "prune", holder, time.Minute)
		must(t, err, "acquire a held lease")
		wantEqual(t, ok, false, "acquire a held lease as "+holder)
	}
	ok, err = c.s.AcquireLease(ctx, "mail", "b", time.Minute)
	must(t, err, "acquire another lease")
	wantEqual(t, ok, true, "another lease is independent")

	c.clock.Advance(time.Minute + time.Second)
	ok, err = c.s.AcquireLease(ctx, "prune", "b", time.Minute)
	must(t, err, "acquire an expired lease")
	wantEqual(t, ok, true, "acquire an expired lease")
	l, _ = c.s.GetLease(ctx, "prune")
	wantEqual(t, l.Holder, "b", "holder after expiry")
}

func testLeaseConcurrent(t *testing.T, c clocked[LeaseStore]) {
	ctx := t.Context()
	won := raceBool(t, 10, func(i int) (bool, error) {
		return c.s.AcquireLease(ctx, "job", fmt.Sprintf("holder-%d", i), time.Minute)
	})
	wantEqual(t, won, 1, "racers that took a free lease")
	c.clock.Advance(2 * time.Minute)
	won = raceBool(t, 10, func(i int) (bool, error) {
		return c.s.AcquireLease(ctx, "job", fmt.Sprintf("holder-%d", i), time.Minute)
	})
	wantEqual(t, won, 1, "racers that took an expired lease")
}

// testLeaseRenewRelease: RenewLease extends only its holder's live lease;
// ReleaseLease frees it for another at once and leaves another holder's
// lease alone.
func testLeaseRenewRelease(t *testing.T, c clocked[LeaseStore]) {
	ctx := t.Context()
	acquire := func(holder string) bool {
		ok, err := c.s.AcquireLease(ctx, "relay", holder, time.Minute)
		must(t, err, "acquire")
		return ok
	}
	renew := func(holder string) bool {
		ok, err := c.s.RenewLease(ctx, "relay", holder, time.Minute)
		must(t, err, "renew")
		return ok
	}
	wantEqual(t, renew("a"), false, "renew a lease never taken")
	wantEqual(t, acquire("a"), true, "acquire")
	c.clock.Advance(50 * time.Second)
	wantEqual(t, renew("a"), true, "renew by the holder")
	wantEqual(t, renew("b"), false, "renew by another")
	c.clock.Advance(50 * time.Second) // within the renewed minute
	wantEqual(t, acquire("b"), false, "acquire a renewed lease")
	c.clock.Advance(11 * time.Second) // expired
	wantEqual(t, renew("a"), false, "renew an expired lease")

	wantEqual(t, acquire("b"), true, "acquire the expired lease")
	must(t, c.s.ReleaseLease(ctx, "relay", "a"), "release by a non-holder")
	wantEqual(t, acquire("c"), false, "a's release leaves b's lease")
	must(t, c.s.ReleaseLease(ctx, "relay", "b"), "release by the holder")
	wantEqual(t, acquire("c"), true, "released: free at once")
}
