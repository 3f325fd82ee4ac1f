package storagetest

import (
	"context"
	"maps"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/oauth"
)

// RotateRefreshTokenAndIssue (oauth's refresh handler's one storage call)
// must keep the contract of the three calls it replaces: RotateRefreshToken,
// then CreateAccessTokenSession and CreateRefreshTokenSession, in one
// transaction. These cases run in RunFositeSuite (strict) and RunGraceSuite.

// rotateAndIssue rotates rt of req and issues a new access and refresh token
// of req with the combined call, returning their signatures.
func rotateAndIssue(ctx context.Context, t *testing.T, s FositeStore, req *fosite.Request, rt string) (newAT, newRT string, err error) {
	t.Helper()
	newAT, newRT = key(t, "ory_at_"), key(t, "ory_rt_")
	return newAT, newRT, s.RotateRefreshTokenAndIssue(ctx, req.ID, rt, newAT, req, newRT, req)
}

// wantIssued checks the new pair is stored as req's, the refresh token
// remembering its access token.
func wantIssued(t *testing.T, s FositeStore, req *fosite.Request, at, rt string) {
	t.Helper()
	ctx := t.Context()
	sess := oauth.NewSession()
	got, err := s.GetAccessTokenSession(ctx, at, sess)
	must(t, err, "new access token")
	wantRequest(t, got, req, sess)
	sess = oauth.NewSession()
	got, err = s.GetRefreshTokenSession(ctx, rt, sess)
	must(t, err, "new refresh token")
	wantRequest(t, got, req, sess)
	rows := rawRows(t, s, tableRefresh, "signature = ?", sha256Hex(rt))
	if len(rows) != 1 {
		t.Fatalf("%d rows of the new refresh token, want 1", len(rows))
	}
	wantEqual(t, rows[0]["access_token_signature"], sha256Hex(at), "the new refresh token's access token")
	wantEqual(t, rows[0]["active"] != "" && rows[0]["active"] != "false" && rows[0]["active"] != "0", true, "the new refresh token is active")
	wantKeyHashed(t, s, tableAccess, "signature", at)
	wantKeyHashed(t, s, tableRefresh, "signature", rt)
}

// testRotateAndIssueStrict: the presented token is retired (reuse is then
// detected), every access token of the grant is revoked but the new one,
// the new pair is stored, and a second use of the token, an unknown token
// or another grant's id fails with ErrSerializationFailure writing nothing.
func testRotateAndIssueStrict(t *testing.T, s FositeStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	reqA, reqB := f.request("grant-a"), f.request("grant-b")
	at1, at2, rt1 := key(t, "ory_at_"), key(t, "ory_at_"), key(t, "ory_rt_")
	atB, rtB := key(t, "ory_at_"), key(t, "ory_rt_")
	must(t, s.CreateAccessTokenSession(ctx, at1, reqA), "create at1")
	must(t, s.CreateAccessTokenSession(ctx, at2, reqA), "create at2")
	must(t, s.CreateRefreshTokenSession(ctx, rt1, at1, reqA), "create rt1")
	must(t, s.CreateAccessTokenSession(ctx, atB, reqB), "create atB")
	must(t, s.CreateRefreshTokenSession(ctx, rtB, atB, reqB), "create rtB")

	at3, rt2, err := rotateAndIssue(ctx, t, s, reqA, rt1)
	must(t, err, "rotate rt1 and issue")
	sess := oauth.NewSession()
	got, err := s.GetRefreshTokenSession(ctx, rt1, sess)
	wantErrIs(t, err, fosite.ErrInactiveToken, "get rotated rt1")
	wantRequest(t, got, reqA, sess)
	for _, sig := range []string{at1, at2} {
		_, err := s.GetAccessTokenSession(ctx, sig, nil)
		wantErrIs(t, err, fosite.ErrNotFound, "old access token of the rotated grant")
	}
	wantIssued(t, s, reqA, at3, rt2)
	_, err = s.GetAccessTokenSession(ctx, atB, nil)
	must(t, err, "access token of another grant")
	_, err = s.GetRefreshTokenSession(ctx, rtB, nil)
	must(t, err, "refresh token of another grant")

	counts := func() [2]int {
		return [2]int{countRows(t, s, tableAccess, ""), countRows(t, s, tableRefresh, "")}
	}
	before := counts()
	for _, tc := range []struct {
		name, requestID, rt string
	}{
		{"the rotated token again", reqA.ID, rt1},
		{"an unknown token", reqA.ID, key(t, "ory_rt_")},
		{"another grant's token", reqA.ID, rtB},
	} {
		newAT, newRT := key(t, "ory_at_"), key(t, "ory_rt_")
		err := s.RotateRefreshTokenAndIssue(ctx, tc.requestID, tc.rt, newAT, reqA, newRT, reqA)
		wantErrIs(t, err, fosite.ErrSerializationFailure, tc.name)
		if c := counts(); c != before {
			t.Fatalf("%s: rows (access, refresh) = %v, want %v: nothing written", tc.name, c, before)
		}
	}
	_, err = s.GetRefreshTokenSession(ctx, rtB, nil)
	must(t, err, "the other grant's token survived a rotation under the wrong id")
	must(t, s.RotateRefreshToken(ctx, reqA.ID, rt2), "the new refresh token rotates")
}

// testRotateAndIssueMatchesThreeCalls: the combined call stores exactly the
// rows the three calls store.
func testRotateAndIssueMatchesThreeCalls(t *testing.T, s FositeStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	reqA, reqB := f.request("grant-a"), f.request("grant-b")
	rtA0, rtB0 := key(t, "ory_rt_"), key(t, "ory_rt_")
	must(t, s.CreateRefreshTokenSession(ctx, rtA0, key(t, "ory_at_"), reqA), "create rtA0")
	must(t, s.CreateRefreshTokenSession(ctx, rtB0, key(t, "ory_at_"), reqB), "create rtB0")

	atA, rtA := key(t, "ory_at_"), key(t, "ory_rt_")
	txCtx, err := s.BeginTX(ctx)
	must(t, err, "begin")
	must(t, s.RotateRefreshToken(txCtx, reqA.ID, rtA0), "rotate")
	must(t, s.CreateAccessTokenSession(txCtx, atA, reqA), "create access")
	must(t, s.CreateRefreshTokenSession(txCtx, rtA, atA, reqA), "create refresh")
	must(t, s.Commit(txCtx), "commit")
	atB, rtB, err := rotateAndIssue(ctx, t, s, reqB, rtB0)
	must(t, err, "rotate and issue")

	row := func(table, sig string, drop ...string) map[string]string {
		t.Helper()
		rows := rawRows(t, s, table, "signature = ?", sha256Hex(sig))
		if len(rows) != 1 {
			t.Fatalf("%s: %d rows, want 1", table, len(rows))
		}
		r := maps.Clone(rows[0])
		for _, c := range append(drop, "signature", "request_id") {
			delete(r, c)
		}
		return r
	}
	for _, tc := range []struct {
		what, table, a, b string
		drop              []string
	}{
		{"the new access token", tableAccess, atA, atB, nil},
		{"the new refresh token", tableRefresh, rtA, rtB, []string{"access_token_signature"}},
		{"the rotated refresh token", tableRefresh, rtA0, rtB0, []string{"access_token_signature"}},
	} {
		a, b := row(tc.table, tc.a, tc.drop...), row(tc.table, tc.b, tc.drop...)
		if !maps.Equal(a, b) {
			t.Fatalf("%s: the combined call stored\n%v\nthe three calls\n%v", tc.what, b, a)
		}
	}
}

// testRotateAndIssueConcurrent: of four concurrent refreshes with the same
// token, outside a transaction (as the token endpoint runs it) and inside
// one, exactly one wins.
func testRotateAndIssueConcurrent(t *testing.T, s FositeStore) {
	f := newFixture(t, s)
	for _, inTx := range []bool{false, true} {
		req := f.request("grant-" + randomHex(t, 4))
		rt := key(t, "ory_rt_")
		must(t, s.CreateRefreshTokenSession(t.Context(), rt, "", req), "create rt")
		do := func(ctx context.Context) error {
			_, _, err := rotateAndIssue(ctx, t, s, req, rt)
			return err
		}
		var errs []error
		if inTx {
			errs = runRace(t, s, 4, do)
		} else {
			errs = race(4, func(int) error { return do(t.Context()) })
		}
		wantOneWinner(t, errs)
		wantEqual(t, countRows(t, s, tableRefresh, "request_id = ?", req.ID), 2, "refresh tokens after the race")
		wantEqual(t, countRows(t, s, tableAccess, "request_id = ?", req.ID), 1, "access tokens after the race")
	}
}

// testRotateAndIssueRollback: inside the caller's transaction it joins it,
// so a rollback undoes the rotation and the new pair.
func testRotateAndIssueRollback(t *testing.T, s FositeStore) {
	f := newFixture(t, s)
	req := f.request("grant-a")
	at, rt := key(t, "ory_at_"), key(t, "ory_rt_")
	must(t, s.CreateAccessTokenSession(t.Context(), at, req), "create at")
	must(t, s.CreateRefreshTokenSession(t.Context(), rt, at, req), "create rt")
	ctx, err := s.BeginTX(t.Context())
	must(t, err, "begin")
	newAT, newRT, err := rotateAndIssue(ctx, t, s, req, rt)
	must(t, err, "rotate and issue in the transaction")
	must(t, s.Rollback(ctx), "rollback")
	_, err = s.GetRefreshTokenSession(t.Context(), rt, nil)
	must(t, err, "the token is active again after the rollback")
	_, err = s.GetAccessTokenSession(t.Context(), at, nil)
	must(t, err, "its access token is back")
	for _, sig := range []string{newAT, newRT} {
		if n := countRows(t, s, tableAccess, "signature = ?", sha256Hex(sig)) + countRows(t, s, tableRefresh, "signature = ?", sha256Hex(sig)); n != 0 {
			t.Fatalf("a token of the rolled-back rotation is stored (%d rows)", n)
		}
	}
}

// testRotateAndIssueGraceful (RunGraceSuite, grace one minute, clock at
// base): only the paired access token goes (every one of the grant's when
// the pair is unknown, but never the new one), first_used_at is stamped
// once, the rotated token rotates again inside the window, and an unknown
// token is ErrNotFound.
func testRotateAndIssueGraceful(t *testing.T, s FositeStore, advance func(time.Duration), grace time.Duration) {
	ctx := t.Context()
	f := newFixture(t, s)
	req, other := f.request("grant-a"), f.request("grant-b")
	at1, at2, rt1, atB := key(t, "ory_at_"), key(t, "ory_at_"), key(t, "ory_rt_"), key(t, "ory_at_")
	must(t, s.CreateAccessTokenSession(ctx, at1, req), "create at1")
	must(t, s.CreateAccessTokenSession(ctx, at2, req), "create at2")
	must(t, s.CreateRefreshTokenSession(ctx, rt1, at1, req), "create rt1")
	must(t, s.CreateAccessTokenSession(ctx, atB, other), "create atB")

	at3, rt2, err := rotateAndIssue(ctx, t, s, req, rt1)
	must(t, err, "rotate and issue")
	first, ok := rawTime(t, s, tableRefresh, "first_used_at", "signature = ?", sha256Hex(rt1))
	if !ok {
		t.Fatal("first_used_at not set by the rotation")
	}
	wantTime(t, first, base, "first_used_at")
	_, err = s.GetAccessTokenSession(ctx, at1, nil)
	wantErrIs(t, err, fosite.ErrNotFound, "the paired access token")
	for _, sig := range []string{at2, atB} {
		_, err = s.GetAccessTokenSession(ctx, sig, nil)
		must(t, err, "an access token not paired with rt1")
	}
	wantIssued(t, s, req, at3, rt2)
	_, err = s.GetRefreshTokenSession(ctx, rt1, nil)
	must(t, err, "rt1 inside the grace period")

	advance(grace / 2)
	at4, rt3, err := rotateAndIssue(ctx, t, s, req, rt1)
	must(t, err, "rotate rt1 again inside the grace period")
	again, _ := rawTime(t, s, tableRefresh, "first_used_at", "signature = ?", sha256Hex(rt1))
	wantTime(t, again, base, "first_used_at after a second rotation")
	wantIssued(t, s, req, at4, rt3)
	_, err = s.GetAccessTokenSession(ctx, at3, nil)
	must(t, err, "the first rotation's access token (not paired with rt1)")

	advance(grace/2 + time.Second)
	_, err = s.GetRefreshTokenSession(ctx, rt1, nil)
	wantErrIs(t, err, fosite.ErrInactiveToken, "rt1 after the grace period")

	_, _, err = rotateAndIssue(ctx, t, s, req, key(t, "ory_rt_"))
	wantErrIs(t, err, fosite.ErrNotFound, "an unknown token")

	// No pair: every access token of the grant goes, but the new one.
	reqC := f.request("grant-c")
	atC1, atC2, rtC := key(t, "ory_at_"), key(t, "ory_at_"), key(t, "ory_rt_")
	must(t, s.CreateAccessTokenSession(ctx, atC1, reqC), "create atC1")
	must(t, s.CreateAccessTokenSession(ctx, atC2, reqC), "create atC2")
	must(t, s.CreateRefreshTokenSession(ctx, rtC, "", reqC), "create rtC without pair")
	atC3, rtC2, err := rotateAndIssue(ctx, t, s, reqC, rtC)
	must(t, err, "rotate the unpaired token")
	for _, sig := range []string{atC1, atC2} {
		_, err = s.GetAccessTokenSession(ctx, sig, nil)
		wantErrIs(t, err, fosite.ErrNotFound, "access token of the unpaired grant")
	}
	wantIssued(t, s, reqC, atC3, rtC2)
	_, err = s.GetAccessTokenSession(ctx, atB, nil)
	must(t, err, "access token of another grant")
}
