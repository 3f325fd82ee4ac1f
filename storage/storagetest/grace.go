package storagetest

import (
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/oauth"
	"github.com/identityd/identityd/storage"
)

var _ = claim[FositeStore]("RunGraceSuite", "RotateRefreshToken", "GetRefreshTokenSession",
	"ClientAssertionJWTValid", "SetClientAssertionJWT", "RotateRefreshTokenAndIssue")

// RunGraceSuite checks graceful refresh rotation (Hydra
// testHelperRotateRefreshToken): a rotated token stays usable until the
// grace period after its first use ends, a second rotation does not move
// first_used_at, and only the access token paired with the rotated refresh
// token is revoked (all of the grant's when the pair is unknown), by
// RotateRefreshToken and by the refresh handler's RotateRefreshTokenAndIssue. open
// receives the grace period and a fake clock in opts. It also checks
// client-assertion JTIs expire on that clock.
func RunGraceSuite[S FositeStore](t *testing.T, open func(t *testing.T, opts storage.Options) S) {
	t.Helper()
	const grace = time.Minute
	newStore := func(t *testing.T) (FositeStore, *FakeClock) {
		t.Helper()
		clock := NewFakeClock(base)
		return open(t, storage.Options{RefreshGracePeriod: grace, Now: clock.Now}), clock
	}

	t.Run("valid_until_grace_ends", func(t *testing.T) {
		s, clock := newStore(t)
		ctx := t.Context()
		f := newFixture(t, s)
		req, other := f.request("grant-a"), f.request("grant-b")
		at1, at2, rt1 := key(t, "ory_at_"), key(t, "ory_at_"), key(t, "ory_rt_")
		atB := key(t, "ory_at_")
		must(t, s.CreateAccessTokenSession(ctx, at1, req), "create at1")
		must(t, s.CreateAccessTokenSession(ctx, at2, req), "create at2")
		must(t, s.CreateRefreshTokenSession(ctx, rt1, at1, req), "create rt1")
		must(t, s.CreateAccessTokenSession(ctx, atB, other), "create atB")

		must(t, s.RotateRefreshToken(ctx, req.ID, rt1), "rotate")
		first, ok := rawTime(t, s, tableRefresh, "first_used_at", "signature = ?", sha256Hex(rt1))
		if !ok {
			t.Fatal("first_used_at not set by rotation")
		}
		wantTime(t, first, base, "first_used_at")

		sess := oauth.NewSession()
		got, err := s.GetRefreshTokenSession(ctx, rt1, sess)
		must(t, err, "rotated token inside the grace period")
		wantRequest(t, got, req, sess)

		// Only the access token issued beside rt1 is revoked.
		_, err = s.GetAccessTokenSession(ctx, at1, nil)
		wantErrIs(t, err, fosite.ErrNotFound, "paired access token")
		_, err = s.GetAccessTokenSession(ctx, at2, nil)
		must(t, err, "unpaired access token of the grant")
		_, err = s.GetAccessTokenSession(ctx, atB, nil)
		must(t, err, "access token of another grant")

		// A second rotation inside the window must not extend it.
		clock.Advance(grace / 2)
		must(t, s.RotateRefreshToken(ctx, req.ID, rt1), "rotate again inside the grace period")
		again, _ := rawTime(t, s, tableRefresh, "first_used_at", "signature = ?", sha256Hex(rt1))
		wantTime(t, again, base, "first_used_at after a second rotation")
		_, err = s.GetRefreshTokenSession(ctx, rt1, nil)
		must(t, err, "rotated token still inside the grace period")

		clock.Advance(grace/2 + time.Second)
		sess = oauth.NewSession()
		got, err = s.GetRefreshTokenSession(ctx, rt1, sess)
		wantErrIs(t, err, fosite.ErrInactiveToken, "rotated token after the grace period")
		if got == nil {
			t.Fatal("requester is nil, want it with ErrInactiveToken")
		}
		wantRequest(t, got, req, sess)
	})

	t.Run("unknown_pair_revokes_all_access_tokens", func(t *testing.T) {
		s, _ := newStore(t)
		ctx := t.Context()
		f := newFixture(t, s)
		req, other := f.request("grant-a"), f.request("grant-b")
		at1, at2, rt := key(t, "ory_at_"), key(t, "ory_at_"), key(t, "ory_rt_")
		atB := key(t, "ory_at_")
		must(t, s.CreateAccessTokenSession(ctx, at1, req), "create at1")
		must(t, s.CreateAccessTokenSession(ctx, at2, req), "create at2")
		must(t, s.CreateRefreshTokenSession(ctx, rt, "", req), "create rt without pair")
		must(t, s.CreateAccessTokenSession(ctx, atB, other), "create atB")

		must(t, s.RotateRefreshToken(ctx, req.ID, rt), "rotate")
		for _, at := range []string{at1, at2} {
			_, err := s.GetAccessTokenSession(ctx, at, nil)
			wantErrIs(t, err, fosite.ErrNotFound, "access token of the grant")
		}
		_, err := s.GetAccessTokenSession(ctx, atB, nil)
		must(t, err, "access token of another grant")
		_, err = s.GetRefreshTokenSession(ctx, rt, nil)
		must(t, err, "rotated token inside the grace period")
	})

	t.Run("revoked_token_not_revived_by_grace", func(t *testing.T) {
		s, _ := newStore(t)
		ctx := t.Context()
		f := newFixture(t, s)
		req := f.request("grant-a")
		rt := key(t, "ory_rt_")
		must(t, s.CreateRefreshTokenSession(ctx, rt, "", req), "create rt")
		must(t, s.RotateRefreshToken(ctx, req.ID, rt), "rotate")
		must(t, s.RevokeRefreshToken(ctx, req.ID), "revoke grant")
		_, err := s.GetRefreshTokenSession(ctx, rt, nil)
		wantErrIs(t, err, fosite.ErrNotFound, "revoked token inside the grace period")
	})

	t.Run("rotate_and_issue", func(t *testing.T) {
		s, clock := newStore(t)
		testRotateAndIssueGraceful(t, s, clock.Advance, grace)
	})

	t.Run("jti_expires_on_clock", func(t *testing.T) {
		s, clock := newStore(t)
		ctx := t.Context()
		jti := key(t, "jti-")
		must(t, s.SetClientAssertionJWT(ctx, jti, base.Add(time.Hour)), "record jti")
		clock.Advance(59 * time.Minute)
		wantErrIs(t, s.ClientAssertionJWTValid(ctx, jti), fosite.ErrJTIKnown, "jti before expiry")
		clock.Advance(2 * time.Minute)
		must(t, s.ClientAssertionJWTValid(ctx, jti), "jti after expiry")
		must(t, s.SetClientAssertionJWT(ctx, jti, clock.Now().Add(time.Hour)), "record jti after expiry")
		wantErrIs(t, s.ClientAssertionJWTValid(ctx, jti), fosite.ErrJTIKnown, "re-recorded jti")
	})
}
