package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
)

// OneTimeCodeStore is the one-time codes other services ask for (issue 10
// §6): one pending code per (tenant, user, purpose), replaced by each new
// one; attempts are claimed and the code consumed in one statement each, so
// at most max comparisons ever happen and a code works once however many
// requests race.
type OneTimeCodeStore interface {
	TenantCreator
	UserCreator
	// ReplaceOneTimeCode stores c (giving it a fresh id) as the pending
	// code of its triple, replacing an earlier one with its attempts.
	ReplaceOneTimeCode(ctx context.Context, c *models.OneTimeCode) error
	// ClaimOneTimeCodeAttempt takes one attempt, at most max, of the live
	// pending code and returns it; NotFound when there is none.
	ClaimOneTimeCodeAttempt(ctx context.Context, tenantID, userID, purpose string, max int) (*models.OneTimeCode, error)
	// ConsumeOneTimeCode marks the live code used; false if it was used,
	// expired or replaced.
	ConsumeOneTimeCode(ctx context.Context, id string) (bool, error)
}

var _ = claim[OneTimeCodeStore]("RunOneTimeCodesSuite", "ReplaceOneTimeCode", "ClaimOneTimeCodeAttempt", "ConsumeOneTimeCode")

// RunOneTimeCodesSuite checks one-time codes: binding to (tenant, user,
// purpose), replacement, expiry on the store's clock, single use, and the
// attempt limit, alone and raced. open receives a fake clock in opts.
func RunOneTimeCodesSuite[S OneTimeCodeStore](t *testing.T, open func(t *testing.T, opts storage.Options) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) clocked[OneTimeCodeStore] {
		clock := NewFakeClock(base)
		return clocked[OneTimeCodeStore]{open(t, storage.Options{Now: clock.Now}), clock}
	}, []subTest[clocked[OneTimeCodeStore]]{
		{"Binding", testOTPBinding},
		{"ReplaceExpireConsume", testOTPLifecycle},
		{"Attempts", testOTPAttempts},
		{"ConcurrentClaims", testOTPConcurrentClaims},
		{"ConcurrentConsume", testOTPConcurrentConsume},
	})
}

func newOTP(t *testing.T, c clocked[OneTimeCodeStore], u *models.User, purpose, hash string, ttl time.Duration) *models.OneTimeCode {
	t.Helper()
	code := &models.OneTimeCode{TenantID: u.TenantID, UserID: u.ID, Purpose: purpose, CodeHash: hash, ExpiresAt: c.clock.Now().Add(ttl)}
	must(t, c.s.ReplaceOneTimeCode(t.Context(), code), "replace one-time code")
	if !models.ValidID(code.ID) {
		t.Fatalf("ReplaceOneTimeCode gave id %q", code.ID)
	}
	return code
}

func testOTPBinding(t *testing.T, c clocked[OneTimeCodeStore]) {
	ctx := t.Context()
	tn, other := newTenant(t, c.s), newTenant(t, c.s)
	u, colleague := newUser(t, c.s, tn.ID), newUser(t, c.s, tn.ID)
	code := newOTP(t, c, u, "payment", "h1", 5*time.Minute)

	_, err := c.s.ClaimOneTimeCodeAttempt(ctx, tn.ID, u.ID, "login", 5)
	wantNotFound(t, err, "another purpose")
	_, err = c.s.ClaimOneTimeCodeAttempt(ctx, tn.ID, colleague.ID, "payment", 5)
	wantNotFound(t, err, "another user")
	_, err = c.s.ClaimOneTimeCodeAttempt(ctx, other.ID, u.ID, "payment", 5)
	wantNotFound(t, err, "another tenant")
	_, err = c.s.ClaimOneTimeCodeAttempt(ctx, tn.ID, "not-an-id", "payment", 5)
	wantNotFound(t, err, "a malformed user id")
	err = c.s.ReplaceOneTimeCode(ctx, &models.OneTimeCode{TenantID: tn.ID, UserID: "nope", Purpose: "x", CodeHash: "h", ExpiresAt: base})
	wantNotFound(t, err, "replace for a malformed user id")

	got, err := c.s.ClaimOneTimeCodeAttempt(ctx, tn.ID, u.ID, "payment", 5)
	must(t, err, "claim")
	wantEqual(t, got.ID, code.ID, "claimed code")
	wantEqual(t, got.CodeHash, "h1", "code hash")
	wantEqual(t, got.Attempts, 1, "attempts after one claim")
}

func testOTPLifecycle(t *testing.T, c clocked[OneTimeCodeStore]) {
	ctx := t.Context()
	tn := newTenant(t, c.s)
	u := newUser(t, c.s, tn.ID)

	// A new code replaces the pending one, with its attempts: the old id
	// can no longer be consumed.
	first := newOTP(t, c, u, "payment", "h1", 5*time.Minute)
	for range 3 {
		_, err := c.s.ClaimOneTimeCodeAttempt(ctx, tn.ID, u.ID, "payment", 5)
		must(t, err, "claim the first code")
	}
	second := newOTP(t, c, u, "payment", "h2", 5*time.Minute)
	if second.ID == first.ID {
		t.Fatal("a replacement kept the old id")
	}
	ok, err := c.s.ConsumeOneTimeCode(ctx, first.ID)
	must(t, err, "consume a replaced code")
	wantEqual(t, ok, false, "a replaced code")
	got, err := c.s.ClaimOneTimeCodeAttempt(ctx, tn.ID, u.ID, "payment", 5)
	must(t, err, "claim the replacement")
	wantEqual(t, got.ID, second.ID, "the replacement")
	wantEqual(t, got.CodeHash, "h2", "the replacement's hash")
	wantEqual(t, got.Attempts, 1, "a replacement starts with no attempts")

	// Single use.
	ok, err = c.s.ConsumeOneTimeCode(ctx, second.ID)
	must(t, err, "consume")
	wantEqual(t, ok, true, "consume")
	ok, err = c.s.ConsumeOneTimeCode(ctx, second.ID)
	must(t, err, "consume twice")
	wantEqual(t, ok, false, "consume twice")
	_, err = c.s.ClaimOneTimeCodeAttempt(ctx, tn.ID, u.ID, "payment", 5)
	wantNotFound(t, err, "claim a used code")
	ok, err = c.s.ConsumeOneTimeCode(ctx, "not-an-id")
	must(t, err, "consume a malformed id")
	wantEqual(t, ok, false, "a malformed id")

	// Expiry on the store's clock: live until expires_at, then gone for
	// claims and consumption alike.
	third := newOTP(t, c, u, "payment", "h3", 5*time.Minute)
	c.clock.Advance(5*time.Minute - time.Second)
	_, err = c.s.ClaimOneTimeCodeAttempt(ctx, tn.ID, u.ID, "payment", 5)
	must(t, err, "claim just before expiry")
	c.clock.Advance(time.Second)
	_, err = c.s.ClaimOneTimeCodeAttempt(ctx, tn.ID, u.ID, "payment", 5)
	wantNotFound(t, err, "claim at expiry")
	ok, err = c.s.ConsumeOneTimeCode(ctx, third.ID)
	must(t, err, "consume an expired code")
	wantEqual(t, ok, false, "an expired code")
	// A used or expired code is replaced like a pending one.
	fourth := newOTP(t, c, u, "payment", "h4", 5*time.Minute)
	got, err = c.s.ClaimOneTimeCodeAttempt(ctx, tn.ID, u.ID, "payment", 5)
	must(t, err, "claim after replacing an expired code")
	wantEqual(t, got.ID, fourth.ID, "the new code")
}

func testOTPAttempts(t *testing.T, c clocked[OneTimeCodeStore]) {
	ctx := t.Context()
	tn := newTenant(t, c.s)
	u := newUser(t, c.s, tn.ID)
	newOTP(t, c, u, "payment", "h1", 5*time.Minute)
	for i := 1; i <= 5; i++ {
		got, err := c.s.ClaimOneTimeCodeAttempt(ctx, tn.ID, u.ID, "payment", 5)
		must(t, err, "claim within five")
		wantEqual(t, got.Attempts, i, "attempt count")
	}
	_, err := c.s.ClaimOneTimeCodeAttempt(ctx, tn.ID, u.ID, "payment", 5)
	wantNotFound(t, err, "the sixth attempt")
}

func testOTPConcurrentClaims(t *testing.T, c clocked[OneTimeCodeStore]) {
	ctx := t.Context()
	tn := newTenant(t, c.s)
	u := newUser(t, c.s, tn.ID)
	newOTP(t, c, u, "payment", "h1", 5*time.Minute)
	won := raceBool(t, 20, func(int) (bool, error) {
		_, err := c.s.ClaimOneTimeCodeAttempt(ctx, tn.ID, u.ID, "payment", 5)
		if models.IsKind(err, models.KindNotFound) {
			return false, nil
		}
		return err == nil, err
	})
	wantEqual(t, won, 5, "racers that took an attempt of five")
}

func testOTPConcurrentConsume(t *testing.T, c clocked[OneTimeCodeStore]) {
	ctx := t.Context()
	tn := newTenant(t, c.s)
	u := newUser(t, c.s, tn.ID)
	code := newOTP(t, c, u, "payment", "h1", 5*time.Minute)
	won := raceBool(t, 20, func(int) (bool, error) { return c.s.ConsumeOneTimeCode(ctx, code.ID) })
	wantEqual(t, won, 1, "racers that consumed one code")
}
