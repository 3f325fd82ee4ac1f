package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
)

// ChallengeStore is the short-lived proofs of a login in progress: pending
// login challenges and e-mailed codes. Attempts are taken, and codes
// consumed, in one atomic statement each, so at most max comparisons ever
// happen and a code works once however many requests race.
type ChallengeStore interface {
	TenantCreator
	UserCreator
	// CreateEmailCode stores c (giving it an id) and retires the user's
	// earlier unused codes of the same purpose.
	CreateEmailCode(ctx context.Context, c *models.EmailCode) error
	// LatestEmailCode returns the live code for purpose, or NotFound.
	LatestEmailCode(ctx context.Context, tenantID, userID, purpose string) (*models.EmailCode, error)
	// ClaimEmailCodeAttempt takes one attempt of a live code; false once
	// max are taken or the code is consumed or expired.
	ClaimEmailCodeAttempt(ctx context.Context, id string, max int) (bool, error)
	// ConsumeEmailCode marks the code used; false if it already was.
	ConsumeEmailCode(ctx context.Context, id string) (bool, error)
	// CreateChallenge stores c, giving it an id.
	CreateChallenge(ctx context.Context, c *models.AuthChallenge) error
	// GetChallenge returns the live challenge of the token hash, or NotFound.
	GetChallenge(ctx context.Context, tokenHash string) (*models.AuthChallenge, error)
	// ClaimChallengeAttempt takes one attempt, at most max, of a live challenge.
	ClaimChallengeAttempt(ctx context.Context, id string, max int) (bool, error)
	// ConsumeChallenge marks the challenge used; false if it already was.
	ConsumeChallenge(ctx context.Context, id string) (bool, error)
}

var _ = claim[ChallengeStore]("RunChallengesSuite", "CreateEmailCode", "LatestEmailCode", "ClaimEmailCodeAttempt",
	"ConsumeEmailCode", "CreateChallenge", "GetChallenge", "ClaimChallengeAttempt", "ConsumeChallenge")

// RunChallengesSuite checks e-mail codes and login challenges: creation,
// retirement of earlier codes, expiry, consumption once, and the attempt
// limits, alone and raced.
func RunChallengesSuite[S ChallengeStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) ChallengeStore { return newStore(t) }, []subTest[ChallengeStore]{
		{"EmailCodes", testEmailCodes},
		{"EmailCodeAttempts", testEmailCodeAttempts},
		{"EmailCodeConcurrent", testEmailCodeConcurrent},
		{"Challenges", testChallenges},
		{"ChallengeAttempts", testChallengeAttempts},
		{"ChallengeConcurrent", testChallengeConcurrent},
	})
}

func newEmailCode(t *testing.T, s ChallengeStore, u *models.User, purpose string, ttl time.Duration) *models.EmailCode {
	t.Helper()
	c := &models.EmailCode{TenantID: u.TenantID, UserID: u.ID, Purpose: purpose, CodeHash: "hash-" + randomHex(t, 4),
		ExpiresAt: time.Now().Add(ttl).UTC()}
	must(t, s.CreateEmailCode(t.Context(), c), "create email code")
	if c.ID == "" {
		t.Fatal("CreateEmailCode gave no id")
	}
	return c
}

func testEmailCodes(t *testing.T, s ChallengeStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	u, other := newUser(t, s, tn.ID), newUser(t, s, tn.ID)
	first := newEmailCode(t, s, u, "login", time.Hour)
	reset := newEmailCode(t, s, u, "reset", time.Hour)
	second := newEmailCode(t, s, u, "login", time.Hour)
	otherCode := newEmailCode(t, s, other, "login", time.Hour)

	got, err := s.LatestEmailCode(ctx, tn.ID, u.ID, "login")
	must(t, err, "latest login code")
	wantEqual(t, got.ID, second.ID, "latest login code")
	wantEqual(t, got.CodeHash, second.CodeHash, "code hash")
	ok, err := s.ConsumeEmailCode(ctx, first.ID)
	must(t, err, "consume a retired code")
	wantEqual(t, ok, false, "a code retired by a newer one")
	got, err = s.LatestEmailCode(ctx, tn.ID, u.ID, "reset")
	must(t, err, "latest reset code")
	wantEqual(t, got.ID, reset.ID, "another purpose keeps its code")
	got, err = s.LatestEmailCode(ctx, tn.ID, other.ID, "login")
	must(t, err, "another user's code")
	wantEqual(t, got.ID, otherCode.ID, "another user keeps its code")

	ok, err = s.ConsumeEmailCode(ctx, second.ID)
	must(t, err, "consume")
	wantEqual(t, ok, true, "consume")
	ok, err = s.ConsumeEmailCode(ctx, second.ID)
	must(t, err, "consume twice")
	wantEqual(t, ok, false, "consume twice")
	_, err = s.LatestEmailCode(ctx, tn.ID, u.ID, "login")
	wantNotFound(t, err, "latest after consuming")

	newEmailCode(t, s, u, "verify", -time.Second)
	_, err = s.LatestEmailCode(ctx, tn.ID, u.ID, "verify")
	wantNotFound(t, err, "an expired code")
	_, err = s.LatestEmailCode(ctx, tn.ID, u.ID, "unknown")
	wantNotFound(t, err, "no code of that purpose")
}

func testEmailCodeAttempts(t *testing.T, s ChallengeStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	u := newUser(t, s, tn.ID)
	c := newEmailCode(t, s, u, "login", time.Hour)
	for i := 1; i <= 4; i++ {
		ok, err := s.ClaimEmailCodeAttempt(ctx, c.ID, 3)
		must(t, err, "claim attempt")
		wantEqual(t, ok, i <= 3, "attempt within three")
	}
	fresh := newEmailCode(t, s, u, "reset", time.Hour)
	ok, err := s.ConsumeEmailCode(ctx, fresh.ID)
	must(t, err, "consume")
	wantEqual(t, ok, true, "consume")
	ok, err = s.ClaimEmailCodeAttempt(ctx, fresh.ID, 3)
	must(t, err, "claim on a consumed code")
	wantEqual(t, ok, false, "attempt on a consumed code")
	expired := newEmailCode(t, s, u, "verify", -time.Second)
	ok, err = s.ClaimEmailCodeAttempt(ctx, expired.ID, 3)
	must(t, err, "claim on an expired code")
	wantEqual(t, ok, false, "attempt on an expired code")
	ok, err = s.ClaimEmailCodeAttempt(ctx, unknownID, 3)
	must(t, err, "claim on an unknown code")
	wantEqual(t, ok, false, "attempt on an unknown code")
}

func testEmailCodeConcurrent(t *testing.T, s ChallengeStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	u := newUser(t, s, tn.ID)
	c := newEmailCode(t, s, u, "login", time.Hour)
	won := raceBool(t, 10, func(int) (bool, error) { return s.ClaimEmailCodeAttempt(ctx, c.ID, 3) })
	wantEqual(t, won, 3, "attempts taken of three by ten racers")
	won = raceBool(t, 10, func(int) (bool, error) { return s.ConsumeEmailCode(ctx, c.ID) })
	wantEqual(t, won, 1, "racers that consumed one code")
}

func newChallenge(t *testing.T, s ChallengeStore, u *models.User, ttl time.Duration) *models.AuthChallenge {
	t.Helper()
	c := &models.AuthChallenge{TokenHash: sha256Hex("challenge-" + randomHex(t, 8)), TenantID: u.TenantID, UserID: u.ID,
		Kind: "totp", Data: `{"remember":true}`, ExpiresAt: time.Now().Add(ttl).UTC()}
	must(t, s.CreateChallenge(t.Context(), c), "create challenge")
	if c.ID == "" {
		t.Fatal("CreateChallenge gave no id")
	}
	return c
}

func testChallenges(t *testing.T, s ChallengeStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	u := newUser(t, s, tn.ID)
	c := newChallenge(t, s, u, time.Hour)
	got, err := s.GetChallenge(ctx, c.TokenHash)
	must(t, err, "get")
	wantEqual(t, got.ID, c.ID, "id")
	wantEqual(t, got.UserID, u.ID, "user")
	wantEqual(t, got.Kind, "totp", "kind")
	wantEqual(t, got.Data, c.Data, "data")

	expired := newChallenge(t, s, u, -time.Second)
	_, err = s.GetChallenge(ctx, expired.TokenHash)
	wantNotFound(t, err, "an expired challenge")
	_, err = s.GetChallenge(ctx, sha256Hex("unknown"))
	wantNotFound(t, err, "an unknown challenge")

	ok, err := s.ConsumeChallenge(ctx, c.ID)
	must(t, err, "consume")
	wantEqual(t, ok, true, "consume")
	ok, err = s.ConsumeChallenge(ctx, c.ID)
	must(t, err, "consume twice")
	wantEqual(t, ok, false, "consume twice")
	_, err = s.GetChallenge(ctx, c.TokenHash)
	wantNotFound(t, err, "a consumed challenge")
}

func testChallengeAttempts(t *testing.T, s ChallengeStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	u := newUser(t, s, tn.ID)
	c := newChallenge(t, s, u, time.Hour)
	for i := 1; i <= 3; i++ {
		ok, err := s.ClaimChallengeAttempt(ctx, c.ID, 2)
		must(t, err, "claim attempt")
		wantEqual(t, ok, i <= 2, "attempt within two")
	}
	expired := newChallenge(t, s, u, -time.Second)
	ok, err := s.ClaimChallengeAttempt(ctx, expired.ID, 2)
	must(t, err, "claim on an expired challenge")
	wantEqual(t, ok, false, "attempt on an expired challenge")
	used := newChallenge(t, s, u, time.Hour)
	_, err = s.ConsumeChallenge(ctx, used.ID)
	must(t, err, "consume")
	ok, err = s.ClaimChallengeAttempt(ctx, used.ID, 2)
	must(t, err, "claim on a consumed challenge")
	wantEqual(t, ok, false, "attempt on a consumed challenge")
}

func testChallengeConcurrent(t *testing.T, s ChallengeStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	u := newUser(t, s, tn.ID)
	c := newChallenge(t, s, u, time.Hour)
	won := raceBool(t, 10, func(int) (bool, error) { return s.ClaimChallengeAttempt(ctx, c.ID, 4) })
	wantEqual(t, won, 4, "attempts taken of four by ten racers")
	won = raceBool(t, 10, func(int) (bool, error) { return s.ConsumeChallenge(ctx, c.ID) })
	wantEqual(t, won, 1, "racers that consumed one challenge")
}
