package storagetest

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
)

// CredentialStore is a user's credentials beyond the password: the PIN
// failure counter, the last TOTP step, and recovery codes. Every claim and
// counter is one atomic statement, so concurrent requests cannot slip past
// it.
type CredentialStore interface {
	TenantCreator
	UserCreator
	GetUser(ctx context.Context, tenantID, id string) (*models.User, error)
	// RecordPINFailure counts a wrong PIN, locking the PIN for lockFor at
	// max; NotFound for an unknown user.
	RecordPINFailure(ctx context.Context, tenantID, userID string, max int, lockFor time.Duration) (models.FailureResult, error)
	// ClearPINFailures resets the count unless the PIN is locked (false).
	ClearPINFailures(ctx context.Context, tenantID, userID string) (bool, error)
	// UnlockPIN lifts the PIN lock; NotFound for an unknown user.
	UnlockPIN(ctx context.Context, tenantID, userID string) error
	// ClaimTOTPStep records step if it is newer than the last; false is a
	// replay (or an unknown user).
	ClaimTOTPStep(ctx context.Context, tenantID, userID string, step int64) (bool, error)
	// ReplaceRecoveryCodes drops the user's codes and stores hashes.
	ReplaceRecoveryCodes(ctx context.Context, tenantID, userID string, hashes []string) error
	// ClaimRecoveryCode marks the unused code with that hash used; false if
	// there is none (wrong, used, or claimed concurrently).
	ClaimRecoveryCode(ctx context.Context, tenantID, userID, hash string) (bool, error)
	// CountRecoveryCodes counts the unused codes.
	CountRecoveryCodes(ctx context.Context, tenantID, userID string) (int, error)
}

var _ = claim[CredentialStore]("RunCredentialsSuite", "RecordPINFailure", "ClearPINFailures", "UnlockPIN",
	"ClaimTOTPStep", "ReplaceRecoveryCodes", "ClaimRecoveryCode", "CountRecoveryCodes")

// RunCredentialsSuite checks the PIN counter, the TOTP replay guard and
// recovery codes, each alone, across tenants, and raced by concurrent
// requests (exactly one claim wins, no failure is lost).
func RunCredentialsSuite[S CredentialStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) CredentialStore { return newStore(t) }, []subTest[CredentialStore]{
		{"PINFailures", testPINFailures},
		{"PINFailuresConcurrent", testPINFailuresConcurrent},
		{"TOTPStep", testTOTPStep},
		{"TOTPStepConcurrent", testTOTPStepConcurrent},
		{"RecoveryCodes", testRecoveryCodes},
		{"RecoveryCodeConcurrent", testRecoveryCodeConcurrent},
	})
}

func testPINFailures(t *testing.T, s CredentialStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	u := newUser(t, s, tn.ID)
	r, err := s.RecordPINFailure(ctx, tn.ID, u.ID, 2, time.Hour)
	must(t, err, "first failure")
	wantEqual(t, r.Failures, 1, "failures")
	wantEqual(t, r.JustLocked, false, "locked after one of two")
	r, err = s.RecordPINFailure(ctx, tn.ID, u.ID, 2, time.Hour)
	must(t, err, "second failure")
	if !r.JustLocked || r.LockedUntil == nil {
		t.Fatalf("second failure of two: %+v, want just locked", r)
	}
	back, err := s.GetUser(ctx, tn.ID, u.ID)
	must(t, err, "get")
	wantEqual(t, back.PINFailed, 2, "pin_failed")
	if back.PINLockedUntil == nil {
		t.Fatal("pin_locked_until not stored")
	}
	wantEqual(t, back.FailedLogins, 0, "the login counter is another counter")

	ok, err := s.ClearPINFailures(ctx, tn.ID, u.ID)
	must(t, err, "clear while locked")
	wantEqual(t, ok, false, "clear a locked PIN")
	must(t, s.UnlockPIN(ctx, tn.ID, u.ID), "unlock")
	back, _ = s.GetUser(ctx, tn.ID, u.ID)
	wantEqual(t, back.PINFailed, 0, "pin_failed after unlock")
	if back.PINLockedUntil != nil {
		t.Fatalf("pin_locked_until after unlock = %v", back.PINLockedUntil)
	}
	_, err = s.RecordPINFailure(ctx, tn.ID, u.ID, 5, time.Hour)
	must(t, err, "failure")
	ok, err = s.ClearPINFailures(ctx, tn.ID, u.ID)
	must(t, err, "clear")
	wantEqual(t, ok, true, "clear an unlocked PIN")
	back, _ = s.GetUser(ctx, tn.ID, u.ID)
	wantEqual(t, back.PINFailed, 0, "pin_failed after clear")

	_, err = s.RecordPINFailure(ctx, other.ID, u.ID, 5, time.Hour)
	wantNotFound(t, err, "another tenant's user")
	wantNotFound(t, s.UnlockPIN(ctx, other.ID, u.ID), "unlock another tenant's user")
	_, err = s.RecordPINFailure(ctx, tn.ID, unknownID, 5, time.Hour)
	wantNotFound(t, err, "unknown user")
}

func testPINFailuresConcurrent(t *testing.T, s CredentialStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	u := newUser(t, s, tn.ID)
	const n, max = 10, 3
	var locked atomic.Int64
	for _, err := range race(n, func(int) error {
		r, err := s.RecordPINFailure(ctx, tn.ID, u.ID, max, time.Hour)
		if r.JustLocked {
			locked.Add(1)
		}
		return err
	}) {
		must(t, err, "racer")
	}
	back, err := s.GetUser(ctx, tn.ID, u.ID)
	must(t, err, "get")
	wantEqual(t, back.PINFailed, n, "pin failures")
	wantEqual(t, locked.Load(), int64(1), "requests that saw the PIN just locked")
}

func testTOTPStep(t *testing.T, s CredentialStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	u := newUser(t, s, tn.ID)
	tests := []struct {
		name   string
		tenant string
		step   int64
		want   bool
	}{
		{"first step", tn.ID, 5, true},
		{"replay", tn.ID, 5, false},
		{"older step", tn.ID, 4, false},
		{"newer step", tn.ID, 6, true},
		{"another tenant", other.ID, 9, false},
	}
	for _, tt := range tests {
		ok, err := s.ClaimTOTPStep(ctx, tt.tenant, u.ID, tt.step)
		must(t, err, tt.name)
		wantEqual(t, ok, tt.want, tt.name)
	}
	back, err := s.GetUser(ctx, tn.ID, u.ID)
	must(t, err, "get")
	wantEqual(t, back.TOTPLastStep, int64(6), "totp_last_step")
	ok, err := s.ClaimTOTPStep(ctx, tn.ID, unknownID, 99)
	must(t, err, "unknown user")
	wantEqual(t, ok, false, "unknown user")
}

func testTOTPStepConcurrent(t *testing.T, s CredentialStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	u := newUser(t, s, tn.ID)
	won := raceBool(t, 10, func(int) (bool, error) { return s.ClaimTOTPStep(ctx, tn.ID, u.ID, 42) })
	wantEqual(t, won, 1, "requests that claimed one TOTP step")
}

func testRecoveryCodes(t *testing.T, s CredentialStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	u := newUser(t, s, tn.ID)
	count := func() int {
		t.Helper()
		n, err := s.CountRecoveryCodes(ctx, tn.ID, u.ID)
		must(t, err, "count")
		return n
	}
	wantEqual(t, count(), 0, "codes before any")
	must(t, s.ReplaceRecoveryCodes(ctx, tn.ID, u.ID, []string{"a", "b", "c"}), "replace")
	wantEqual(t, count(), 3, "codes")
	claimTests := []struct {
		name   string
		tenant string
		hash   string
		want   bool
	}{
		{"a code", tn.ID, "b", true},
		{"the same code again", tn.ID, "b", false},
		{"a wrong code", tn.ID, "z", false},
		{"another tenant", other.ID, "a", false},
	}
	for _, tt := range claimTests {
		ok, err := s.ClaimRecoveryCode(ctx, tt.tenant, u.ID, tt.hash)
		must(t, err, tt.name)
		wantEqual(t, ok, tt.want, tt.name)
	}
	wantEqual(t, count(), 2, "codes after one claim")
	must(t, s.ReplaceRecoveryCodes(ctx, tn.ID, u.ID, []string{"d"}), "replace again")
	wantEqual(t, count(), 1, "codes after replacing")
	ok, err := s.ClaimRecoveryCode(ctx, tn.ID, u.ID, "a")
	must(t, err, "claim a replaced code")
	wantEqual(t, ok, false, "a replaced code")
	must(t, s.ReplaceRecoveryCodes(ctx, tn.ID, u.ID, nil), "replace with none")
	wantEqual(t, count(), 0, "codes after replacing with none")
}

func testRecoveryCodeConcurrent(t *testing.T, s CredentialStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	u := newUser(t, s, tn.ID)
	must(t, s.ReplaceRecoveryCodes(ctx, tn.ID, u.ID, []string{"one", "two"}), "replace")
	won := raceBool(t, 10, func(int) (bool, error) { return s.ClaimRecoveryCode(ctx, tn.ID, u.ID, "one") })
	wantEqual(t, won, 1, "requests that claimed one recovery code")
	n, err := s.CountRecoveryCodes(ctx, tn.ID, u.ID)
	must(t, err, "count")
	wantEqual(t, n, 1, "codes left")
}
