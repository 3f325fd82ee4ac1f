package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/models"
)

// SessionStore is the device sessions repository: a user's signed-in
// sessions, and their revocation with every token and browser cookie
// issued under them.
type SessionStore interface {
	FixtureStore
	RawStore
	// CreateSession inserts sess, giving it an id when it has none.
	CreateSession(ctx context.Context, sess *models.Session) error
	// GetSession returns the user's live session; another user's or
	// tenant's, revoked, expired, unknown or malformed is NotFound.
	GetSession(ctx context.Context, tenantID, userID, id string) (*models.Session, error)
	// ListSessions returns the user's live sessions, most recent first.
	ListSessions(ctx context.Context, tenantID, userID string) ([]models.Session, error)
	// TouchSession records activity at most once per interval.
	TouchSession(ctx context.Context, id string, interval time.Duration) error
	// RevokeSession ends one session with its tokens and cookie; NotFound
	// as GetSession.
	RevokeSession(ctx context.Context, tenantID, userID, id string) error
	// RevokeUserSessions ends every session of the user but keepID and
	// returns how many; with oauthGrants, every OAuth token and cookie of
	// the user too.
	RevokeUserSessions(ctx context.Context, tenantID, userID, keepID string, oauthGrants bool) (int, error)
	CreateLoginSession(ctx context.Context, ls *models.LoginSession) error
	GetLoginSession(ctx context.Context, tokenHash string) (*models.LoginSession, error)
	CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error
	GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error)
	CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, req fosite.Requester) error
	GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error)
}

var _ = claim[SessionStore]("RunSessionsSuite", "CreateSession", "GetSession", "ListSessions", "TouchSession",
	"RevokeSession", "RevokeUserSessions")

// RunSessionsSuite checks device sessions: create, get and list only what
// is live and the user's, throttled touches, and revocation of one session
// or all of a user's, with exactly the tokens and cookies under them.
func RunSessionsSuite[S SessionStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) SessionStore { return newStore(t) }, []subTest[SessionStore]{
		{"CreateGetList", testSessionCreateGet},
		{"Touch", testSessionTouch},
		{"Revoke", testSessionRevoke},
		{"RevokeUserSessions", testRevokeUserSessions},
	})
}

func newSession(t *testing.T, s SessionStore, u *models.User, ttl time.Duration) *models.Session {
	t.Helper()
	sess := &models.Session{TenantID: u.TenantID, UserID: u.ID, Kind: "browser", DeviceName: "laptop",
		AuthMethods: models.StringList{"pwd"}, ExpiresAt: time.Now().Add(ttl).UTC()}
	must(t, s.CreateSession(t.Context(), sess), "create session")
	if sess.ID == "" {
		t.Fatal("CreateSession gave no id")
	}
	return sess
}

// sessionGrant issues an access and a refresh token and a browser cookie
// under the session (sessionID "" for a grant bound to none), and returns
// the token signatures and the cookie's hash.
func sessionGrant(t *testing.T, s SessionStore, f *fixture, u *models.User, sessionID string) (at, rt, cookie string) {
	t.Helper()
	ctx := t.Context()
	req := f.request("grant-" + randomHex(t, 4))
	sess := f.session()
	sess.Subject, sess.SessionID = u.ID, sessionID
	req.Session = sess
	at, rt = key(t, "ory_at_"), key(t, "ory_rt_")
	must(t, s.CreateAccessTokenSession(ctx, at, req), "create access token")
	must(t, s.CreateRefreshTokenSession(ctx, rt, at, req), "create refresh token")
	cookie = sha256Hex("cookie-" + randomHex(t, 8))
	ls := &models.LoginSession{TokenHash: cookie, TenantID: u.TenantID, UserID: u.ID, AuthTime: time.Now(), ExpiresAt: time.Now().Add(time.Hour)}
	if sessionID != "" {
		ls.SessionID = &sessionID
	}
	must(t, s.CreateLoginSession(ctx, ls), "create login session")
	return at, rt, cookie
}

// wantGrant checks whether a grant's tokens and cookie still work.
func wantGrant(t *testing.T, s SessionStore, at, rt, cookie string, live bool, what string) {
	t.Helper()
	ctx := t.Context()
	_, errAT := s.GetAccessTokenSession(ctx, at, nil)
	_, errRT := s.GetRefreshTokenSession(ctx, rt, nil)
	_, errLS := s.GetLoginSession(ctx, cookie)
	if live {
		must(t, errAT, what+": access token")
		must(t, errRT, what+": refresh token")
		must(t, errLS, what+": login session")
		return
	}
	wantErrIs(t, errAT, fosite.ErrNotFound, what+": access token")
	wantErrIs(t, errRT, fosite.ErrNotFound, what+": refresh token")
	wantNotFound(t, errLS, what+": login session")
}

func testSessionCreateGet(t *testing.T, s SessionStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	other := newUser(t, s, f.tenant.ID)
	older := newSession(t, s, f.user, time.Hour)
	newer := newSession(t, s, f.user, time.Hour)
	expired := newSession(t, s, f.user, -time.Minute)
	newSession(t, s, other, time.Hour)

	got, err := s.GetSession(ctx, f.tenant.ID, f.user.ID, older.ID)
	must(t, err, "get")
	wantEqual(t, got.DeviceName, "laptop", "device name")
	wantArgs(t, []string(got.AuthMethods), []string{"pwd"}, "auth methods")
	for _, tt := range []struct{ name, tenant, user, id string }{
		{"another user's", f.tenant.ID, other.ID, older.ID},
		{"another tenant's", newTenant(t, s).ID, f.user.ID, older.ID},
		{"expired", f.tenant.ID, f.user.ID, expired.ID},
		{"unknown", f.tenant.ID, f.user.ID, unknownID},
		{"malformed", f.tenant.ID, f.user.ID, "x"},
	} {
		_, err := s.GetSession(ctx, tt.tenant, tt.user, tt.id)
		wantNotFound(t, err, "get "+tt.name)
	}
	// The newer session was active last.
	must(t, s.TouchSession(ctx, newer.ID, 0), "touch the newer session")
	list, err := s.ListSessions(ctx, f.tenant.ID, f.user.ID)
	must(t, err, "list")
	if len(list) != 2 || list[0].ID != newer.ID || list[1].ID != older.ID {
		t.Fatalf("sessions = %+v, want newer then older (live ones, most recently active first)", list)
	}
}

func testSessionTouch(t *testing.T, s SessionStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	sess := newSession(t, s, f.user, time.Hour)
	at := func() time.Time {
		t.Helper()
		got, err := s.GetSession(ctx, f.tenant.ID, f.user.ID, sess.ID)
		must(t, err, "get")
		return got.LastActiveAt
	}
	created := at()
	must(t, s.TouchSession(ctx, sess.ID, time.Hour), "touch within the interval")
	wantTime(t, at(), created, "last active after a touch within the interval")
	must(t, s.TouchSession(ctx, sess.ID, 0), "touch")
	if !at().After(created) {
		t.Fatalf("last active = %v after a touch, want after %v", at(), created)
	}
}

func testSessionRevoke(t *testing.T, s SessionStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	sess, keep := newSession(t, s, f.user, time.Hour), newSession(t, s, f.user, time.Hour)
	at, rt, cookie := sessionGrant(t, s, f, f.user, sess.ID)
	keepAT, keepRT, keepCookie := sessionGrant(t, s, f, f.user, keep.ID)
	other := newUser(t, s, f.tenant.ID)

	wantNotFound(t, s.RevokeSession(ctx, f.tenant.ID, other.ID, sess.ID), "revoke another user's session")
	wantGrant(t, s, at, rt, cookie, true, "after a refused revocation")
	must(t, s.RevokeSession(ctx, f.tenant.ID, f.user.ID, sess.ID), "revoke")
	_, err := s.GetSession(ctx, f.tenant.ID, f.user.ID, sess.ID)
	wantNotFound(t, err, "revoked session")
	wantGrant(t, s, at, rt, cookie, false, "the revoked session's grant")
	wantGrant(t, s, keepAT, keepRT, keepCookie, true, "another session's grant")
	wantNotFound(t, s.RevokeSession(ctx, f.tenant.ID, f.user.ID, sess.ID), "revoke twice")
	wantNotFound(t, s.RevokeSession(ctx, f.tenant.ID, f.user.ID, "x"), "revoke a malformed id")
}

func testRevokeUserSessions(t *testing.T, s SessionStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	a, b, keep := newSession(t, s, f.user, time.Hour), newSession(t, s, f.user, time.Hour), newSession(t, s, f.user, time.Hour)
	aAT, aRT, aCookie := sessionGrant(t, s, f, f.user, a.ID)
	keepAT, keepRT, keepCookie := sessionGrant(t, s, f, f.user, keep.ID)
	// A grant bound to no session (a plain authorization-code grant).
	freeAT, freeRT, freeCookie := sessionGrant(t, s, f, f.user, "")
	other := newUser(t, s, f.tenant.ID)
	otherSess := newSession(t, s, other, time.Hour)
	oAT, oRT, oCookie := sessionGrant(t, s, f, other, otherSess.ID)

	n, err := s.RevokeUserSessions(ctx, f.tenant.ID, f.user.ID, keep.ID, false)
	must(t, err, "revoke all but one")
	wantEqual(t, n, 2, "sessions revoked")
	for _, id := range []string{a.ID, b.ID} {
		_, err := s.GetSession(ctx, f.tenant.ID, f.user.ID, id)
		wantNotFound(t, err, "a revoked session")
	}
	_, err = s.GetSession(ctx, f.tenant.ID, f.user.ID, keep.ID)
	must(t, err, "the kept session")
	wantGrant(t, s, aAT, aRT, aCookie, false, "a revoked session's grant")
	wantGrant(t, s, keepAT, keepRT, keepCookie, true, "the kept session's grant")
	wantGrant(t, s, freeAT, freeRT, freeCookie, true, "a grant of no session, without oauthGrants")

	n, err = s.RevokeUserSessions(ctx, f.tenant.ID, f.user.ID, keep.ID, true)
	must(t, err, "revoke the OAuth grants too")
	wantEqual(t, n, 0, "sessions left to revoke")
	wantGrant(t, s, freeAT, freeRT, freeCookie, false, "a grant of no session, with oauthGrants")
	wantGrant(t, s, keepAT, keepRT, keepCookie, true, "the kept session's grant, with oauthGrants")

	n, err = s.RevokeUserSessions(ctx, f.tenant.ID, f.user.ID, "", true)
	must(t, err, "revoke everything")
	wantEqual(t, n, 1, "sessions revoked")
	wantGrant(t, s, keepAT, keepRT, keepCookie, false, "the formerly kept grant")
	wantGrant(t, s, oAT, oRT, oCookie, true, "another user's grant")
	_, err = s.GetSession(ctx, f.tenant.ID, other.ID, otherSess.ID)
	must(t, err, "another user's session")
}
