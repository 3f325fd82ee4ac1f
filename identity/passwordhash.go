package identity

import (
	"context"
	"fmt"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/models"
)

// Every bcrypt computation of a password or PIN (a check or a new hash)
// waits for a slot. bcrypt at cost 12 is a quarter second or more of one
// core, and the Go scheduler shares a core equally between runnable
// goroutines: eight concurrent logins on two cores left a
// client-credentials request (a millisecond of work) queued behind them at
// every step, and the token endpoint fell to a tenth of its rate. So:
//
//   - while other requests are in flight, at most half the cores hash
//     (bcryptShared), and the rest of the server keeps the other half;
//   - while only password work is in flight, every core may hash
//     (bcryptCores), so a server busy with logins alone signs in as fast as
//     bcrypt allows (issue 14: login at ≥ 95 % of the bcrypt bound).
//
// "Other requests" is the server's in-flight count (SetInFlight) above the
// requests waiting for or holding a slot here. A login whose request ends
// while it waits gives up without counting as a failure. The limit is the
// process's, as the cores are: one for every service. (Client secrets have
// their own bound, oauth.Hasher.MaxUnverified, and a verified-secret cache.)
var (
	bcryptCores  = max(1, runtime.GOMAXPROCS(0))
	bcryptShared = max(1, bcryptCores/2)

	bcryptMu      sync.Mutex
	bcryptRunning int
	bcryptFreed   = make(chan struct{}) // closed, and replaced, when a hash ends
	bcryptWanting atomic.Int64          // requests waiting for or holding a slot

	inFlight atomic.Pointer[func() int64]
)

// SetInFlight tells the password hashing how many requests the server has
// in flight (handlers' load gate counts them). Without it every core may
// hash.
func SetInFlight(f func() int64) { inFlight.Store(&f) }

// BcryptConcurrency is how many password and PIN hashes are computed at
// once while other requests run: half the cores GOMAXPROCS allows, at
// least one. With nothing else in flight it is every core.
func BcryptConcurrency() int { return bcryptShared }

// othersInFlight reports whether requests other than password work are in
// flight.
func othersInFlight() bool {
	f := inFlight.Load()
	return f != nil && (*f)() > bcryptWanting.Load()
}

// takeBcryptSlot waits for a bcrypt slot, or for ctx to end (an
// unavailable error: the request gave up, or its deadline passed).
func takeBcryptSlot(ctx context.Context) (release func(), err error) {
	bcryptWanting.Add(1)
	for {
		bcryptMu.Lock()
		limit := bcryptCores
		if othersInFlight() {
			limit = bcryptShared
		}
		if bcryptRunning < limit {
			bcryptRunning++
			bcryptMu.Unlock()
			return releaseBcryptSlot, nil
		}
		freed := bcryptFreed
		bcryptMu.Unlock()
		// Woken when a hash ends, or after a while: the other requests may
		// have finished, and then a core is free for this one.
		t := time.NewTimer(20 * time.Millisecond)
		select {
		case <-freed:
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
			bcryptWanting.Add(-1)
			return nil, models.ErrUnavailable("password hashing", fmt.Errorf("wait for a bcrypt slot: %w", context.Cause(ctx)))
		}
		t.Stop()
	}
}

func releaseBcryptSlot() {
	bcryptMu.Lock()
	bcryptRunning--
	close(bcryptFreed)
	bcryptFreed = make(chan struct{})
	bcryptMu.Unlock()
	bcryptWanting.Add(-1)
}

// passwordMatches reports whether secret is the one hash was made from. The
// error is only ever that ctx ended before a slot was free: it is not an
// answer about the secret, and must not count as a failed attempt.
func passwordMatches(ctx context.Context, hash []byte, secret string) (bool, error) {
	release, err := takeBcryptSlot(ctx)
	if err != nil {
		return false, err
	}
	defer release()
	return bcrypt.CompareHashAndPassword(hash, []byte(secret)) == nil, nil
}

// hashPassword is bcrypt.GenerateFromPassword in a bcrypt slot. Call it
// outside any transaction: on SQLite a transaction holds the one writer
// connection for as long as it is open.
func hashPassword(ctx context.Context, secret string, cost int) ([]byte, error) {
	release, err := takeBcryptSlot(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	h, err := bcrypt.GenerateFromPassword([]byte(secret), cost)
	if err != nil {
		return nil, models.ErrInternal(fmt.Errorf("hash password: %w", err))
	}
	return h, nil
}
