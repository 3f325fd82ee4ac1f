package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
)

// EmailVerificationStore is the pending e-mail verifications (issue 10
// §2): one per (tenant, user, purpose), replaced by each new message;
// found by the keyed hash of the link's token, or (for the code) by the
// tenant and the address being proved; code attempts are claimed and the
// verification consumed in one statement each, so of racers at most max
// compare and one consumes. Expired rows go with the prune.
type EmailVerificationStore interface {
	TenantCreator
	UserCreator
	RawStore
	ReplaceEmailVerification(ctx context.Context, v *models.EmailVerification) error
	GetEmailVerificationByTokenHash(ctx context.Context, hash string) (*models.EmailVerification, error)
	ClaimEmailVerificationAttempts(ctx context.Context, tenantID, email string, max int, now time.Time) ([]models.EmailVerification, error)
	ConsumeEmailVerification(ctx context.Context, id string, now time.Time) (bool, error)
	PruneExpired(ctx context.Context, opts models.PruneOptions) (map[string]int64, error)
}

var _ = claim[EmailVerificationStore]("RunEmailVerificationsSuite", "ReplaceEmailVerification", "GetEmailVerificationByTokenHash",
	"ClaimEmailVerificationAttempts", "ConsumeEmailVerification")

// RunEmailVerificationsSuite checks e-mail verifications: replacement per
// (tenant, user, purpose), lookups by token hash and by address (the
// tenant's only), expiry at the caller's now, single use, the attempt
// limit alone and raced, and pruning of expired rows.
func RunEmailVerificationsSuite[S EmailVerificationStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) EmailVerificationStore { return newStore(t) }, []subTest[EmailVerificationStore]{
		{"ReplaceAndFind", testEmailVerificationReplace},
		{"ExpireConsume", testEmailVerificationLifecycle},
		{"Attempts", testEmailVerificationAttempts},
		{"ConcurrentClaims", testEmailVerificationConcurrentClaims},
		{"ConcurrentConsume", testEmailVerificationConcurrentConsume},
		{"Prune", testEmailVerificationPrune},
	})
}

func newEmailVerification(t *testing.T, s EmailVerificationStore, u *models.User, purpose, email string, exp time.Time) *models.EmailVerification {
	t.Helper()
	v := &models.EmailVerification{TenantID: u.TenantID, UserID: u.ID, Purpose: purpose, NewEmail: email,
		TokenHash: randomHex(t, 32), CodeHash: randomHex(t, 32), ExpiresAt: exp}
	must(t, s.ReplaceEmailVerification(t.Context(), v), "replace e-mail verification")
	if !models.ValidID(v.ID) {
		t.Fatalf("ReplaceEmailVerification gave id %q", v.ID)
	}
	return v
}

func testEmailVerificationReplace(t *testing.T, s EmailVerificationStore) {
	ctx := t.Context()
	now := time.Now().UTC()
	tn, other := newTenant(t, s), newTenant(t, s)
	u := newUser(t, s, tn.ID)
	first := newEmailVerification(t, s, u, models.EmailVerificationSignup, u.Email, now.Add(time.Hour))
	got, err := s.GetEmailVerificationByTokenHash(ctx, first.TokenHash)
	must(t, err, "get by token hash")
	wantEqual(t, got.ID, first.ID, "id")
	wantEqual(t, got.NewEmail, u.Email, "address")
	wantEqual(t, got.Purpose, models.EmailVerificationSignup, "purpose")
	wantUTC(t, got.ExpiresAt, "expires_at")
	_, err = s.GetEmailVerificationByTokenHash(ctx, randomHex(t, 32))
	wantNotFound(t, err, "an unknown token hash")

	// A change is its own row beside the sign-up one; a second change
	// replaces the first, whose token stops matching.
	change := newEmailVerification(t, s, u, models.EmailVerificationChange, "  New@Example.COM ", now.Add(time.Hour))
	wantEqual(t, change.NewEmail, "new@example.com", "the address is stored lower-cased")
	again := newEmailVerification(t, s, u, models.EmailVerificationChange, "newer@example.com", now.Add(time.Hour))
	if again.ID == change.ID {
		t.Fatal("a replacement kept the old id")
	}
	_, err = s.GetEmailVerificationByTokenHash(ctx, change.TokenHash)
	wantNotFound(t, err, "a replaced verification's token")
	wantEqual(t, countRows(t, s, "email_verifications", "user_id = ?", u.ID), 2, "rows of the user (sign-up and change)")

	// Claims find the address in the tenant only.
	rows, err := s.ClaimEmailVerificationAttempts(ctx, other.ID, "newer@example.com", 5, now)
	must(t, err, "claim in another tenant")
	wantEqual(t, len(rows), 0, "another tenant's verifications")
	rows, err = s.ClaimEmailVerificationAttempts(ctx, tn.ID, "new@example.com", 5, now)
	must(t, err, "claim for the replaced address")
	wantEqual(t, len(rows), 0, "a replaced address")
	rows, err = s.ClaimEmailVerificationAttempts(ctx, "not-an-id", "newer@example.com", 5, now)
	must(t, err, "claim with a malformed tenant")
	wantEqual(t, len(rows), 0, "a malformed tenant")
	rows, err = s.ClaimEmailVerificationAttempts(ctx, tn.ID, " NEWER@example.com", 5, now)
	must(t, err, "claim")
	wantEqual(t, len(rows), 1, "the live change")
	wantEqual(t, rows[0].ID, again.ID, "claimed id")
	wantEqual(t, rows[0].CodeHash, again.CodeHash, "code hash")
	wantEqual(t, rows[0].UserID, u.ID, "user")
	wantEqual(t, rows[0].Purpose, models.EmailVerificationChange, "purpose")
	wantEqual(t, rows[0].Attempts, 1, "attempts after one claim")

	err = s.ReplaceEmailVerification(ctx, &models.EmailVerification{TenantID: tn.ID, UserID: "nope", Purpose: "signup", NewEmail: "x@example.com",
		TokenHash: randomHex(t, 32), CodeHash: "h", ExpiresAt: now})
	wantNotFound(t, err, "replace for a malformed user id")
}

func testEmailVerificationLifecycle(t *testing.T, s EmailVerificationStore) {
	ctx := t.Context()
	now := time.Now().UTC()
	tn := newTenant(t, s)
	u := newUser(t, s, tn.ID)
	v := newEmailVerification(t, s, u, models.EmailVerificationSignup, u.Email, now.Add(time.Hour))

	// Expiry is judged at the caller's now.
	ok, err := s.ConsumeEmailVerification(ctx, v.ID, now.Add(time.Hour))
	must(t, err, "consume at expiry")
	wantEqual(t, ok, false, "consume at expiry")
	rows, err := s.ClaimEmailVerificationAttempts(ctx, tn.ID, u.Email, 5, now.Add(time.Hour))
	must(t, err, "claim at expiry")
	wantEqual(t, len(rows), 0, "claims at expiry")

	// Single use; the used row is still found by its token (to say so).
	ok, err = s.ConsumeEmailVerification(ctx, v.ID, now)
	must(t, err, "consume")
	wantEqual(t, ok, true, "consume")
	ok, err = s.ConsumeEmailVerification(ctx, v.ID, now)
	must(t, err, "consume twice")
	wantEqual(t, ok, false, "consume twice")
	got, err := s.GetEmailVerificationByTokenHash(ctx, v.TokenHash)
	must(t, err, "get a used verification")
	if got.UsedAt == nil {
		t.Fatal("a used verification has no used_at")
	}
	rows, err = s.ClaimEmailVerificationAttempts(ctx, tn.ID, u.Email, 5, now)
	must(t, err, "claim a used verification")
	wantEqual(t, len(rows), 0, "claims of a used verification")
	ok, err = s.ConsumeEmailVerification(ctx, "not-an-id", now)
	must(t, err, "consume a malformed id")
	wantEqual(t, ok, false, "a malformed id")

	// A new message replaces a used one and works again.
	fresh := newEmailVerification(t, s, u, models.EmailVerificationSignup, u.Email, now.Add(time.Hour))
	ok, err = s.ConsumeEmailVerification(ctx, v.ID, now)
	must(t, err, "consume the replaced id")
	wantEqual(t, ok, false, "the replaced id")
	ok, err = s.ConsumeEmailVerification(ctx, fresh.ID, now)
	must(t, err, "consume the new one")
	wantEqual(t, ok, true, "the new one")
}

func testEmailVerificationAttempts(t *testing.T, s EmailVerificationStore) {
	ctx := t.Context()
	now := time.Now().UTC()
	tn := newTenant(t, s)
	u := newUser(t, s, tn.ID)
	v := newEmailVerification(t, s, u, models.EmailVerificationSignup, u.Email, now.Add(time.Hour))
	for i := 1; i <= 5; i++ {
		rows, err := s.ClaimEmailVerificationAttempts(ctx, tn.ID, u.Email, 5, now)
		must(t, err, "claim within five")
		wantEqual(t, len(rows), 1, "claimed rows")
		wantEqual(t, rows[0].Attempts, i, "attempt count")
	}
	rows, err := s.ClaimEmailVerificationAttempts(ctx, tn.ID, u.Email, 5, now)
	must(t, err, "a sixth claim")
	wantEqual(t, len(rows), 0, "a sixth claim")
	// Spent attempts do not stop the link: it has no attempts.
	ok, err := s.ConsumeEmailVerification(ctx, v.ID, now)
	must(t, err, "consume after the attempts are spent")
	wantEqual(t, ok, true, "the link still works")
}

func testEmailVerificationConcurrentClaims(t *testing.T, s EmailVerificationStore) {
	now := time.Now().UTC()
	tn := newTenant(t, s)
	u := newUser(t, s, tn.ID)
	newEmailVerification(t, s, u, models.EmailVerificationSignup, u.Email, now.Add(time.Hour))
	won := raceBool(t, 20, func(int) (bool, error) {
		rows, err := s.ClaimEmailVerificationAttempts(context.Background(), tn.ID, u.Email, 5, now)
		return len(rows) == 1, err
	})
	wantEqual(t, won, 5, "claims won by 20 racers with 5 attempts")
}

func testEmailVerificationConcurrentConsume(t *testing.T, s EmailVerificationStore) {
	now := time.Now().UTC()
	tn := newTenant(t, s)
	u := newUser(t, s, tn.ID)
	v := newEmailVerification(t, s, u, models.EmailVerificationSignup, u.Email, now.Add(time.Hour))
	won := raceBool(t, 20, func(int) (bool, error) { return s.ConsumeEmailVerification(context.Background(), v.ID, now) })
	wantEqual(t, won, 1, "consumes won by 20 racers")
}

func testEmailVerificationPrune(t *testing.T, s EmailVerificationStore) {
	now := time.Now().UTC()
	tn := newTenant(t, s)
	u, w := newUser(t, s, tn.ID), newUser(t, s, tn.ID)
	newEmailVerification(t, s, u, models.EmailVerificationSignup, u.Email, now.Add(-time.Minute))
	live := newEmailVerification(t, s, w, models.EmailVerificationSignup, w.Email, now.Add(time.Hour))
	got, err := s.PruneExpired(t.Context(), models.PruneOptions{Batch: 10})
	must(t, err, "prune")
	if got["email_verifications"] < 1 {
		t.Fatalf("prune deleted %d expired e-mail verifications, want at least 1", got["email_verifications"])
	}
	wantEqual(t, countRows(t, s, "email_verifications", "user_id = ?", u.ID), 0, "expired rows left")
	wantEqual(t, countRows(t, s, "email_verifications", "id = ?", live.ID), 1, "live rows left")
}
