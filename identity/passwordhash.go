package identity

import (
	"context"
	"fmt"
	"runtime"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/models"
)

// Every bcrypt computation of a password or PIN (a check or a new hash)
// waits for one of bcryptSlots. bcrypt at cost 12 is a quarter second or
// more of one core, and the Go scheduler shares a core equally between
// runnable goroutines: eight concurrent logins on two cores left a
// client-credentials request (a millisecond of work) queued behind them at
// every step, and the token endpoint fell to a tenth of its rate. With at
// most half the cores hashing, the rest of the server keeps the other half.
// The price is the logins': beyond the slots they wait their turn, so a
// server busy with logins alone signs in about half as many per second, and
// under mixed load logins get the smaller share. A login whose request ends
// while it waits gives up without counting as a failure. The limit is the
// process's, as the cores are: one semaphore for every service. (Client
// secrets have their own bound, oauth.Hasher.MaxUnverified, and a
// verified-secret cache.)
var bcryptSlots = make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))

// BcryptConcurrency is how many password and PIN hashes are computed at
// once in this process: half the cores GOMAXPROCS allows, at least one.
func BcryptConcurrency() int { return cap(bcryptSlots) }

// takeBcryptSlot waits for a bcrypt slot, or for ctx to end (an
// unavailable error: the request gave up, or its deadline passed).
func takeBcryptSlot(ctx context.Context) (release func(), err error) {
	select {
	case bcryptSlots <- struct{}{}:
		return func() { <-bcryptSlots }, nil
	case <-ctx.Done():
		return nil, models.ErrUnavailable("password hashing", fmt.Errorf("wait for a bcrypt slot: %w", context.Cause(ctx)))
	}
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
