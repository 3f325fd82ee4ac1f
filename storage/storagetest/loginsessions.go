package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
)

// LoginSessionStore is the browser login sessions, found by the hash of
// their cookie token.
type LoginSessionStore interface {
	FixtureStore
	// CreateLoginSession inserts ls, giving it an id when it has none.
	CreateLoginSession(ctx context.Context, ls *models.LoginSession) error
	// GetLoginSession returns the unexpired session of the token hash, or
	// NotFound.
	GetLoginSession(ctx context.Context, tokenHash string) (*models.LoginSession, error)
	// DeleteLoginSession removes it (none is not an error).
	DeleteLoginSession(ctx context.Context, tokenHash string) error
}

var _ = claim[LoginSessionStore]("RunLoginSessionsSuite", "CreateLoginSession", "GetLoginSession", "DeleteLoginSession")

// RunLoginSessionsSuite checks login sessions: found while unexpired,
// gone once deleted.
func RunLoginSessionsSuite[S LoginSessionStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) LoginSessionStore { return newStore(t) }, []subTest[LoginSessionStore]{
		{"CRUD", testLoginSessionCRUD},
	})
}

func testLoginSessionCRUD(t *testing.T, s LoginSessionStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	now := time.Now().Truncate(time.Second)
	live := &models.LoginSession{TokenHash: sha256Hex("live"), TenantID: f.tenant.ID, UserID: f.user.ID,
		AuthTime: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)}
	expired := &models.LoginSession{TokenHash: sha256Hex("expired"), TenantID: f.tenant.ID, UserID: f.user.ID,
		AuthTime: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Minute)}
	must(t, s.CreateLoginSession(ctx, live), "create live session")
	must(t, s.CreateLoginSession(ctx, expired), "create expired session")

	got, err := s.GetLoginSession(ctx, live.TokenHash)
	must(t, err, "get live session")
	wantEqual(t, got.UserID, f.user.ID, "session user")
	wantTime(t, got.AuthTime, live.AuthTime, "auth_time")

	_, err = s.GetLoginSession(ctx, expired.TokenHash)
	wantKind(t, err, models.KindNotFound, "expired session")
	_, err = s.GetLoginSession(ctx, sha256Hex("unknown"))
	wantKind(t, err, models.KindNotFound, "unknown session")

	must(t, s.DeleteLoginSession(ctx, live.TokenHash), "delete session")
	_, err = s.GetLoginSession(ctx, live.TokenHash)
	wantKind(t, err, models.KindNotFound, "deleted session")
	must(t, s.DeleteLoginSession(ctx, live.TokenHash), "delete a deleted session")
}
