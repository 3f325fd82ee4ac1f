package storagetest

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/handler/pkce"
	fositestorage "github.com/ory/fosite/storage"

	"github.com/identityd/identityd/oauth"
	"github.com/identityd/identityd/storage"
)

// The fosite tables, named here rather than imported: they are the schema
// the migrations promise, and the suite reads them raw.
const (
	tableCodes   = "oauth_codes"
	tableAccess  = "oauth_access_tokens"
	tableRefresh = "oauth_refresh_tokens"
	tableOIDC    = "oauth_oidc_sessions"
	tablePKCE    = "oauth_pkce_sessions"
	tableJTIs    = "oauth_jtis"
)

// requestKind is one fosite request table, so CRUD cases run once per table.
type requestKind struct {
	name   string
	table  string
	token  fosite.TokenType // whose expiry fills expires_at
	create func(ctx context.Context, s FositeStore, key string, r fosite.Requester) error
	get    func(ctx context.Context, s FositeStore, key string, sess fosite.Session) (fosite.Requester, error)
	del    func(ctx context.Context, s FositeStore, key string) error
}

var requestKinds = []requestKind{
	{
		name: "authorize_code", table: tableCodes, token: fosite.AuthorizeCode,
		create: func(ctx context.Context, s FositeStore, k string, r fosite.Requester) error {
			return s.CreateAuthorizeCodeSession(ctx, k, r)
		},
		get: func(ctx context.Context, s FositeStore, k string, sess fosite.Session) (fosite.Requester, error) {
			return s.GetAuthorizeCodeSession(ctx, k, sess)
		},
		// fosite never deletes codes, it invalidates them; the row stays.
		del: nil,
	},
	{
		name: "access_token", table: tableAccess, token: fosite.AccessToken,
		create: func(ctx context.Context, s FositeStore, k string, r fosite.Requester) error {
			return s.CreateAccessTokenSession(ctx, k, r)
		},
		get: func(ctx context.Context, s FositeStore, k string, sess fosite.Session) (fosite.Requester, error) {
			return s.GetAccessTokenSession(ctx, k, sess)
		},
		del: func(ctx context.Context, s FositeStore, k string) error { return s.DeleteAccessTokenSession(ctx, k) },
	},
	{
		name: "refresh_token", table: tableRefresh, token: fosite.RefreshToken,
		create: func(ctx context.Context, s FositeStore, k string, r fosite.Requester) error {
			return s.CreateRefreshTokenSession(ctx, k, "", r)
		},
		get: func(ctx context.Context, s FositeStore, k string, sess fosite.Session) (fosite.Requester, error) {
			return s.GetRefreshTokenSession(ctx, k, sess)
		},
		del: func(ctx context.Context, s FositeStore, k string) error {
			return s.DeleteRefreshTokenSession(ctx, k)
		},
	},
	{
		// Keyed by the raw authorization code (handler/openid/flow_explicit_auth.go).
		name: "oidc_session", table: tableOIDC, token: fosite.AuthorizeCode,
		create: func(ctx context.Context, s FositeStore, k string, r fosite.Requester) error {
			return s.CreateOpenIDConnectSession(ctx, k, r)
		},
		get: func(ctx context.Context, s FositeStore, k string, sess fosite.Session) (fosite.Requester, error) {
			if sess == nil {
				return s.GetOpenIDConnectSession(ctx, k, nil)
			}
			return s.GetOpenIDConnectSession(ctx, k, &fosite.Request{Session: sess})
		},
		del: func(ctx context.Context, s FositeStore, k string) error {
			return s.DeleteOpenIDConnectSession(ctx, k)
		},
	},
	{
		name: "pkce", table: tablePKCE, token: fosite.AuthorizeCode,
		create: func(ctx context.Context, s FositeStore, k string, r fosite.Requester) error {
			return s.CreatePKCERequestSession(ctx, k, r)
		},
		get: func(ctx context.Context, s FositeStore, k string, sess fosite.Session) (fosite.Requester, error) {
			return s.GetPKCERequestSession(ctx, k, sess)
		},
		del: func(ctx context.Context, s FositeStore, k string) error { return s.DeletePKCERequestSession(ctx, k) },
	},
}

// wantRequest checks that got is the stored want, session included.
func wantRequest(t *testing.T, got fosite.Requester, want *fosite.Request, sess *oauth.Session) {
	t.Helper()
	if got == nil {
		t.Fatal("requester is nil")
	}
	wantEqual(t, got.GetID(), want.GetID(), "request id")
	wantTime(t, got.GetRequestedAt(), want.GetRequestedAt(), "requested_at")
	wantUTC(t, got.GetRequestedAt(), "requested_at")
	if got.GetClient() == nil {
		t.Fatal("request has no client")
	}
	if _, ok := got.GetClient().(*storage.Client); !ok {
		t.Fatalf("request client is %T, want *storage.Client", got.GetClient())
	}
	wantEqual(t, got.GetClient().GetID(), want.GetClient().GetID(), "client id")
	wantArgs(t, got.GetRequestedScopes(), want.GetRequestedScopes(), "requested scopes")
	wantArgs(t, got.GetGrantedScopes(), want.GetGrantedScopes(), "granted scopes")
	wantArgs(t, got.GetRequestedAudience(), want.GetRequestedAudience(), "requested audience")
	wantArgs(t, got.GetGrantedAudience(), want.GetGrantedAudience(), "granted audience")
	wantEqual(t, got.GetRequestForm().Encode(), want.GetRequestForm().Encode(), "form")
	if sess == nil {
		return
	}
	if got.GetSession() != fosite.Session(sess) {
		t.Fatalf("request session is %T %p, want the caller's session %p", got.GetSession(), got.GetSession(), sess)
	}
	ws := want.GetSession().(*oauth.Session)
	wantEqual(t, sess.TenantID, ws.TenantID, "session tenant_id")
	wantEqual(t, sess.Subject, ws.Subject, "session subject")
	wantEqual(t, sess.ClientID, ws.ClientID, "session client_id")
	wantEqual(t, sess.Kind, ws.Kind, "session kind")
	if sess.Claims == nil {
		t.Fatal("session id token claims lost")
	}
	wantEqual(t, sess.Claims.Subject, ws.Claims.Subject, "id token subject")
	wantEqual(t, sess.Claims.Issuer, ws.Claims.Issuer, "id token issuer")
	wantTime(t, sess.Claims.AuthTime, ws.Claims.AuthTime, "id token auth_time")
	for _, tt := range []fosite.TokenType{fosite.AuthorizeCode, fosite.AccessToken, fosite.RefreshToken} {
		wantTime(t, sess.GetExpiresAt(tt), ws.GetExpiresAt(tt), "session expiry of "+string(tt))
		wantUTC(t, sess.GetExpiresAt(tt), "session expiry of "+string(tt))
	}
}

// FositeStore is the fosite v0.49.0 storage the composed handlers use
// (compose.Compose type-asserts these interfaces), with the fixtures and
// raw reads the suite needs.
type FositeStore interface {
	FixtureStore
	RawStore
	fositestorage.Transactional
	fosite.ClientManager
	oauth2.CoreStorage
	oauth2.TokenRevocationStorage
	openid.OpenIDConnectRequestStorage
	pkce.PKCERequestStorage
	// GetRefreshTokenClientID is the first-party refresh's look-up of a
	// refresh token's client (oauth.FirstPartyClients).
	GetRefreshTokenClientID(ctx context.Context, signature string) (string, error)
	// RotateRefreshTokenAndIssue is RotateRefreshToken, then
	// CreateAccessTokenSession and CreateRefreshTokenSession of the new
	// pair, as one atomic step (oauth's refresh handler).
	RotateRefreshTokenAndIssue(ctx context.Context, requestID, signature, accessSignature string, access fosite.Requester, refreshSignature string, refresh fosite.Requester) error
}

var _ = claim[FositeStore]("RunFositeSuite",
	"CreateAuthorizeCodeSession", "GetAuthorizeCodeSession", "InvalidateAuthorizeCodeSession",
	"CreateAccessTokenSession", "GetAccessTokenSession", "DeleteAccessTokenSession",
	"CreateRefreshTokenSession", "GetRefreshTokenSession", "DeleteRefreshTokenSession",
	"RotateRefreshToken", "RevokeRefreshToken", "RevokeAccessToken",
	"CreateOpenIDConnectSession", "GetOpenIDConnectSession", "DeleteOpenIDConnectSession",
	"CreatePKCERequestSession", "GetPKCERequestSession", "DeletePKCERequestSession",
	"ClientAssertionJWTValid", "SetClientAssertionJWT", "GetClient", "GetRefreshTokenClientID",
	"RotateRefreshTokenAndIssue")

// RunFositeSuite checks the fosite v0.49.0 storage contract (Hydra's
// oauth2/fosite_store_helpers_test.go): CRUD per kind, nil sessions, session
// round trips, invalidated codes, strict refresh rotation, revocation by
// request ID, client-assertion JTIs, duplicate keys, UTC, hashed keys, and
// concurrent code exchange and rotation, and the refresh handler's one-step
// rotation (RotateRefreshTokenAndIssue). newStore must give strict rotation
// (no grace period); RunGraceSuite covers the grace period.
func RunFositeSuite[S FositeStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	var tests []subTest[FositeStore]
	for _, k := range requestKinds {
		tests = append(tests,
			subTest[FositeStore]{"crud/" + k.name, func(t *testing.T, s FositeStore) { testRequestCRUD(t, s, k) }},
			subTest[FositeStore]{"duplicate/" + k.name, func(t *testing.T, s FositeStore) { testDuplicateKey(t, s, k) }})
	}
	tests = append(tests, []subTest[FositeStore]{
		{"authorize_code/invalidate", testInvalidateCode},
		{"authorize_code/concurrent_exchange", testConcurrentExchange},
		{"refresh/strict_rotation", testStrictRotation},
		{"refresh/concurrent_rotation", testConcurrentRotation},
		{"refresh/pair_hashed", testRefreshPairHashed},
		{"refresh/client_id", testRefreshTokenClientID},
		{"refresh/rotate_and_issue", testRotateAndIssueStrict},
		{"refresh/rotate_and_issue_as_three_calls", testRotateAndIssueMatchesThreeCalls},
		{"refresh/rotate_and_issue_concurrent", testRotateAndIssueConcurrent},
		{"refresh/rotate_and_issue_rollback", testRotateAndIssueRollback},
		{"revoke_by_request_id", testRevokeByRequestID},
		{"jti", testJTI},
		{"utc", testUTC},
		{"client", testGetClient},
	}...)
	runSubTests(t, func(t *testing.T) FositeStore { return newStore(t) }, tests)
}

func testRequestCRUD(t *testing.T, s FositeStore, k requestKind) {
	ctx := t.Context()
	f := newFixture(t, s)
	raw := key(t, "ory_"+k.name+"_")
	req := f.request("req-" + randomHex(t, 4))

	_, err := k.get(ctx, s, raw, f.session())
	wantErrIs(t, err, fosite.ErrNotFound, "get before create")

	must(t, k.create(ctx, s, raw, req), "create")

	sess := oauth.NewSession()
	got, err := k.get(ctx, s, raw, sess)
	must(t, err, "get")
	wantRequest(t, got, req, sess)

	// fosite's revocation handler passes a nil session.
	got, err = k.get(ctx, s, raw, nil)
	must(t, err, "get with nil session")
	wantRequest(t, got, req, nil)

	// What rests in the table: the key's hash only, and the columns
	// filled from the session.
	wantKeyHashed(t, s, k.table, "signature", raw)
	rows := rawRows(t, s, k.table, "signature = ?", sha256Hex(raw))
	wantEqual(t, rows[0]["request_id"], req.ID, k.table+".request_id")
	wantEqual(t, rows[0]["tenant_id"], f.tenant.ID, k.table+".tenant_id")
	wantEqual(t, rows[0]["client_id"], f.client.GetID(), k.table+".client_id")
	wantEqual(t, rows[0]["subject"], f.user.ID, k.table+".subject")
	exp, ok := rawTime(t, s, k.table, "expires_at", "signature = ?", sha256Hex(raw))
	if !ok {
		t.Fatalf("%s.expires_at is NULL, want the session's %s expiry", k.table, k.token)
	}
	wantTime(t, exp, req.Session.GetExpiresAt(k.token), k.table+".expires_at")

	_, err = k.get(ctx, s, key(t, "unknown_"), oauth.NewSession())
	wantErrIs(t, err, fosite.ErrNotFound, "get unknown key")

	if k.del == nil {
		return
	}
	must(t, k.del(ctx, s, raw), "delete")
	_, err = k.get(ctx, s, raw, oauth.NewSession())
	wantErrIs(t, err, fosite.ErrNotFound, "get after delete")
	wantEqual(t, countRows(t, s, k.table, ""), 0, k.table+" rows after delete")
}

func testDuplicateKey(t *testing.T, s FositeStore, k requestKind) {
	ctx := t.Context()
	f := newFixture(t, s)
	raw := key(t, "dup_")
	first := f.request("req-first")
	must(t, k.create(ctx, s, raw, first), "first create")
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("duplicate create panicked: %v", p)
			}
		}()
		err = k.create(ctx, s, raw, f.request("req-second"))
	}()
	wantErrIs(t, err, fosite.ErrSerializationFailure, "duplicate create")
	got, err := k.get(ctx, s, raw, oauth.NewSession())
	must(t, err, "get after duplicate")
	wantEqual(t, got.GetID(), "req-first", "request id after duplicate")
}

func testInvalidateCode(t *testing.T, s FositeStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	code := key(t, "ory_ac_")
	req := f.request("req-" + randomHex(t, 4))
	must(t, s.CreateAuthorizeCodeSession(ctx, code, req), "create code")

	must(t, s.InvalidateAuthorizeCodeSession(ctx, code), "invalidate")

	// fosite needs the requester with the error to revoke the grant
	// (flow_authorize_code_token.go); without it the answer is server_error.
	sess := oauth.NewSession()
	got, err := s.GetAuthorizeCodeSession(ctx, code, sess)
	wantErrIs(t, err, fosite.ErrInvalidatedAuthorizeCode, "get invalidated code")
	if got == nil {
		t.Fatal("invalidated code: requester is nil, want it with ErrInvalidatedAuthorizeCode")
	}
	wantRequest(t, got, req, sess)

	got, err = s.GetAuthorizeCodeSession(ctx, code, nil)
	wantErrIs(t, err, fosite.ErrInvalidatedAuthorizeCode, "get invalidated code, nil session")
	if got == nil || got.GetID() != req.ID {
		t.Fatalf("invalidated code with nil session: requester %v, want request %s", got, req.ID)
	}

	err = s.InvalidateAuthorizeCodeSession(ctx, code)
	wantErrIs(t, err, fosite.ErrSerializationFailure, "invalidate twice")
}

func testConcurrentExchange(t *testing.T, s FositeStore) {
	f := newFixture(t, s)
	code := key(t, "ory_ac_")
	must(t, s.CreateAuthorizeCodeSession(t.Context(), code, f.request("req-1")), "create code")
	errs := runRace(t, s, 4, func(ctx context.Context) error {
		if _, err := s.GetAuthorizeCodeSession(ctx, code, oauth.NewSession()); err != nil {
			if errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
				return fosite.ErrSerializationFailure.WithWrap(err)
			}
			return err
		}
		return s.InvalidateAuthorizeCodeSession(ctx, code)
	})
	wantOneWinner(t, errs)
}

func testStrictRotation(t *testing.T, s FositeStore) {
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

	_, err := s.GetRefreshTokenSession(ctx, rt1, oauth.NewSession())
	must(t, err, "get rt1 before rotation")

	must(t, s.RotateRefreshToken(ctx, reqA.ID, rt1), "rotate rt1")

	// Reuse is detected by (req, ErrInactiveToken): fosite then revokes
	// the grant (flow_refresh.go).
	sess := oauth.NewSession()
	got, err := s.GetRefreshTokenSession(ctx, rt1, sess)
	wantErrIs(t, err, fosite.ErrInactiveToken, "get rotated rt1")
	if got == nil {
		t.Fatal("rotated refresh token: requester is nil, want it with ErrInactiveToken")
	}
	wantRequest(t, got, reqA, sess)

	for _, sig := range []string{at1, at2} {
		_, err := s.GetAccessTokenSession(ctx, sig, nil)
		wantErrIs(t, err, fosite.ErrNotFound, "access token of the rotated grant")
	}
	_, err = s.GetAccessTokenSession(ctx, atB, nil)
	must(t, err, "access token of another grant")
	_, err = s.GetRefreshTokenSession(ctx, rtB, nil)
	must(t, err, "refresh token of another grant")

	err = s.RotateRefreshToken(ctx, reqA.ID, rt1)
	wantErrIs(t, err, fosite.ErrSerializationFailure, "rotate twice")
}

// testRefreshTokenClientID: the client of a refresh token, active or
// rotated, and ErrNotFound for an unknown or revoked one; reading it is no
// reuse (the token still rotates once).
func testRefreshTokenClientID(t *testing.T, s FositeStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	req := f.request("grant-" + randomHex(t, 4))
	rt := key(t, "ory_rt_")
	must(t, s.CreateRefreshTokenSession(ctx, rt, "", req), "create rt")
	id, err := s.GetRefreshTokenClientID(ctx, rt)
	must(t, err, "client of an active token")
	wantEqual(t, id, f.client.GetID(), "client id")
	must(t, s.RotateRefreshToken(ctx, req.ID, rt), "rotate after the look-up")
	id, err = s.GetRefreshTokenClientID(ctx, rt)
	must(t, err, "client of a rotated token")
	wantEqual(t, id, f.client.GetID(), "client id of a rotated token")
	_, err = s.GetRefreshTokenClientID(ctx, key(t, "unknown_"))
	wantErrIs(t, err, fosite.ErrNotFound, "unknown token")
	must(t, s.RevokeRefreshToken(ctx, req.ID), "revoke")
	_, err = s.GetRefreshTokenClientID(ctx, rt)
	wantErrIs(t, err, fosite.ErrNotFound, "revoked token")
}

func testConcurrentRotation(t *testing.T, s FositeStore) {
	f := newFixture(t, s)
	req := f.request("grant-a")
	rt := key(t, "ory_rt_")
	must(t, s.CreateRefreshTokenSession(t.Context(), rt, "", req), "create rt")
	// Each racer does what PopulateTokenEndpointResponse does in one
	// transaction: rotate, then issue the new pair.
	errs := runRace(t, s, 4, func(ctx context.Context) error {
		if err := s.RotateRefreshToken(ctx, req.ID, rt); err != nil {
			return err
		}
		newAT := key(t, "ory_at_")
		if err := s.CreateAccessTokenSession(ctx, newAT, req); err != nil {
			return err
		}
		return s.CreateRefreshTokenSession(ctx, key(t, "ory_rt_"), newAT, req)
	})
	wantOneWinner(t, errs)
	wantEqual(t, countRows(t, s, tableRefresh, "request_id = ?", req.ID), 2, "refresh tokens after the race")
	wantEqual(t, countRows(t, s, tableAccess, "request_id = ?", req.ID), 1, "access tokens after the race")
}

func testRefreshPairHashed(t *testing.T, s FositeStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	at, rt := key(t, "ory_at_"), key(t, "ory_rt_")
	must(t, s.CreateRefreshTokenSession(ctx, rt, at, f.request("grant-a")), "create rt")
	rows := rawRows(t, s, tableRefresh, "signature = ?", sha256Hex(rt))
	if len(rows) != 1 {
		t.Fatalf("%d refresh rows, want 1", len(rows))
	}
	wantEqual(t, rows[0]["access_token_signature"], sha256Hex(at), "access_token_signature")
	wantKeyHashed(t, s, tableRefresh, "signature", rt)
	for c, v := range rows[0] {
		if strings.Contains(v, at) {
			t.Fatalf("%s.%s holds the raw access token signature", tableRefresh, c)
		}
	}
}

func testRevokeByRequestID(t *testing.T, s FositeStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	reqA, reqB := f.request("grant-a"), f.request("grant-b")
	// Grant A was refreshed once: the request ID stays across refreshes.
	atA := []string{key(t, "ory_at_"), key(t, "ory_at_")}
	rtA := []string{key(t, "ory_rt_"), key(t, "ory_rt_")}
	atB, rtB := key(t, "ory_at_"), key(t, "ory_rt_")
	for i := range atA {
		must(t, s.CreateAccessTokenSession(ctx, atA[i], reqA), "create at of A")
		must(t, s.CreateRefreshTokenSession(ctx, rtA[i], atA[i], reqA), "create rt of A")
	}
	must(t, s.CreateAccessTokenSession(ctx, atB, reqB), "create at of B")
	must(t, s.CreateRefreshTokenSession(ctx, rtB, atB, reqB), "create rt of B")

	must(t, s.RevokeRefreshToken(ctx, reqA.ID), "revoke refresh tokens of A")
	for _, rt := range rtA {
		_, err := s.GetRefreshTokenSession(ctx, rt, nil)
		wantErrIs(t, err, fosite.ErrNotFound, "refresh token of revoked grant")
	}
	for _, at := range atA {
		_, err := s.GetAccessTokenSession(ctx, at, nil)
		must(t, err, "RevokeRefreshToken must leave access tokens")
	}

	must(t, s.RevokeAccessToken(ctx, reqA.ID), "revoke access tokens of A")
	for _, at := range atA {
		_, err := s.GetAccessTokenSession(ctx, at, nil)
		wantErrIs(t, err, fosite.ErrNotFound, "access token of revoked grant")
	}

	_, err := s.GetAccessTokenSession(ctx, atB, nil)
	must(t, err, "access token of another grant")
	_, err = s.GetRefreshTokenSession(ctx, rtB, nil)
	must(t, err, "refresh token of another grant")

	// Revoking a grant with nothing left is not an error.
	must(t, s.RevokeRefreshToken(ctx, reqA.ID), "revoke again")
	must(t, s.RevokeAccessToken(ctx, "unknown-grant"), "revoke unknown grant")
}

func testJTI(t *testing.T, s FositeStore) {
	ctx := t.Context()
	jti := key(t, "jti-")
	must(t, s.ClientAssertionJWTValid(ctx, jti), "unknown jti is valid")
	must(t, s.SetClientAssertionJWT(ctx, jti, time.Now().Add(time.Hour)), "record jti")
	wantErrIs(t, s.ClientAssertionJWTValid(ctx, jti), fosite.ErrJTIKnown, "replayed jti")
	wantErrIs(t, s.SetClientAssertionJWT(ctx, jti, time.Now().Add(time.Hour)), fosite.ErrJTIKnown, "record replayed jti")
	wantKeyHashed(t, s, tableJTIs, "jti_hash", jti)

	// A JTI whose assertion has expired may be used again.
	old := key(t, "jti-")
	must(t, s.SetClientAssertionJWT(ctx, old, time.Now().Add(-time.Minute)), "record expired jti")
	must(t, s.ClientAssertionJWTValid(ctx, old), "expired jti is valid again")
	must(t, s.SetClientAssertionJWT(ctx, old, time.Now().Add(time.Hour)), "record expired jti again")
	wantErrIs(t, s.ClientAssertionJWTValid(ctx, old), fosite.ErrJTIKnown, "re-recorded jti")
	// The live one is untouched by the pruning.
	wantErrIs(t, s.ClientAssertionJWTValid(ctx, jti), fosite.ErrJTIKnown, "live jti after pruning")
}

func testUTC(t *testing.T, s FositeStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	req := f.request("grant-utc")
	req.RequestedAt = base.In(zone)
	sess := req.Session.(*oauth.Session)
	sess.SetExpiresAt(fosite.AccessToken, base.Add(time.Hour).In(zone))
	at := key(t, "ory_at_")
	must(t, s.CreateAccessTokenSession(ctx, at, req), "create")
	got, err := s.GetAccessTokenSession(ctx, at, oauth.NewSession())
	must(t, err, "get")
	wantTime(t, got.GetRequestedAt(), base, "requested_at")
	wantUTC(t, got.GetRequestedAt(), "requested_at")
	exp, ok := rawTime(t, s, tableAccess, "expires_at", "signature = ?", sha256Hex(at))
	if !ok {
		t.Fatal("expires_at is NULL")
	}
	wantTime(t, exp, base.Add(time.Hour), "expires_at")
}

func testGetClient(t *testing.T, s FositeStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	_, err := s.GetClient(ctx, "no-such-client")
	wantErrIs(t, err, fosite.ErrNotFound, "unknown client")
	c, err := s.GetClient(ctx, f.client.GetID())
	must(t, err, "get client")
	sc, ok := c.(*storage.Client)
	if !ok {
		t.Fatalf("GetClient returned %T, want *storage.Client", c)
	}
	wantEqual(t, sc.GetTenantID(), f.tenant.ID, "tenant id")
	wantEqual(t, string(sc.GetHashedSecret()), "bcrypt$old-hash", "hashed secret")
	wantArgs(t, fosite.Arguments(sc.GetRedirectURIs()), []string{"https://app.example/cb"}, "redirect uris")
	wantArgs(t, sc.GetGrantTypes(), []string{"authorization_code", "refresh_token"}, "grant types")
	wantArgs(t, sc.GetResponseTypes(), []string{"code"}, "response types")
	wantArgs(t, sc.GetScopes(), []string{"openid", "offline_access", "profile"}, "scopes")
	wantArgs(t, sc.GetAudience(), []string{"https://api.example"}, "audience")
	wantEqual(t, sc.IsPublic(), false, "public")
	wantEqual(t, sc.GetTokenEndpointAuthMethod(), "client_secret_basic", "auth method")
	if sc.GetRotatedHashes() != nil {
		t.Fatalf("rotated hashes = %q, want none", sc.GetRotatedHashes())
	}
}
