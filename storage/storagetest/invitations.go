package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
)

// InvitationStore is the invitations repository: found by id within the
// tenant or by the keyed hash of the link's token; revoke, reissue and
// claim are conditional single statements on the pending state.
type InvitationStore interface {
	TenantCreator
	UserCreator
	CreateInvitation(ctx context.Context, i *models.Invitation) error
	GetInvitation(ctx context.Context, tenantID, id string) (*models.Invitation, error)
	GetInvitationByTokenHash(ctx context.Context, hash string) (*models.Invitation, error)
	ListInvitations(ctx context.Context, f models.InvitationFilter) ([]models.Invitation, int, error)
	RevokeInvitation(ctx context.Context, tenantID, id string, now time.Time) (bool, error)
	ReissueInvitation(ctx context.Context, tenantID, id, tokenHash string, expiresAt time.Time) (bool, error)
	ClaimInvitation(ctx context.Context, id, tokenHash string, now time.Time) (bool, error)
	SetInvitationUser(ctx context.Context, id, userID string) error
}

var _ = claim[InvitationStore]("RunInvitationsSuite", "CreateInvitation", "GetInvitation", "GetInvitationByTokenHash",
	"ListInvitations", "RevokeInvitation", "ReissueInvitation", "ClaimInvitation", "SetInvitationUser")

// RunInvitationsSuite checks invitations: create and find (tenant-scoped,
// by token hash), the status filters, revoke and reissue only while
// pending, and 20 concurrent claims of one invitation of which one wins.
func RunInvitationsSuite[S InvitationStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) InvitationStore { return newStore(t) }, []subTest[InvitationStore]{
		{"CreateGetList", testInvitationCreateGetList},
		{"ListPages", testInvitationListPages},
		{"RevokeReissue", testInvitationRevokeReissue},
		{"ClaimConcurrent", testInvitationClaimConcurrent},
	})
}

func newInvitation(t *testing.T, s InvitationStore, tenantID string, ttl time.Duration) *models.Invitation {
	t.Helper()
	i := &models.Invitation{TenantID: tenantID, Email: "inv-" + randomHex(t, 4) + "@example.com", Roles: models.StringList{},
		TokenHash: randomHex(t, 32), ExpiresAt: time.Now().UTC().Add(ttl)}
	must(t, s.CreateInvitation(t.Context(), i), "create invitation")
	return i
}

func testInvitationCreateGetList(t *testing.T, s InvitationStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	live := newInvitation(t, s, tn.ID, time.Hour)
	old := newInvitation(t, s, tn.ID, -time.Hour)
	if live.ID == "" || live.CreatedAt.IsZero() {
		t.Fatalf("create did not fill id and created_at: %+v", live)
	}
	got, err := s.GetInvitation(ctx, tn.ID, live.ID)
	must(t, err, "get")
	wantEqual(t, got.Email, live.Email, "email")
	_, err = s.GetInvitation(ctx, other.ID, live.ID)
	wantNotFound(t, err, "another tenant's invitation")
	_, err = s.GetInvitation(ctx, tn.ID, "not-an-id")
	wantNotFound(t, err, "malformed id")
	byHash, err := s.GetInvitationByTokenHash(ctx, live.TokenHash)
	must(t, err, "by token hash")
	wantEqual(t, byHash.ID, live.ID, "id by token hash")
	_, err = s.GetInvitationByTokenHash(ctx, randomHex(t, 32))
	wantNotFound(t, err, "unknown token hash")
	now := time.Now().UTC()
	for status, want := range map[string]int{"": 2, models.InvitationPending: 1, models.InvitationExpired: 1, models.InvitationAccepted: 0, models.InvitationRevoked: 0} {
		list, total, err := s.ListInvitations(ctx, models.InvitationFilter{TenantID: tn.ID, Status: status, Now: now, Limit: 10})
		must(t, err, "list "+status)
		wantEqual(t, len(list), want, "invitations with status "+status)
		wantEqual(t, total, want, "total of status "+status)
	}
	list, _, err := s.ListInvitations(ctx, models.InvitationFilter{TenantID: other.ID, Now: now, Limit: 10})
	must(t, err, "list other")
	wantEqual(t, len(list), 0, "another tenant's list")
	_, _, err = s.ListInvitations(ctx, models.InvitationFilter{TenantID: tn.ID, Status: "bogus", Now: now, Limit: 10})
	if !models.IsKind(err, models.KindInvalid) {
		t.Fatalf("bad status: %v, want invalid", err)
	}
	_ = old
}

func testInvitationRevokeReissue(t *testing.T, s InvitationStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	i := newInvitation(t, s, tn.ID, time.Hour)
	now := time.Now().UTC()
	_, err := s.RevokeInvitation(ctx, other.ID, i.ID, now)
	wantNotFound(t, err, "revoke from another tenant")
	newHash := randomHex(t, 32)
	ok, err := s.ReissueInvitation(ctx, tn.ID, i.ID, newHash, now.Add(2*time.Hour))
	must(t, err, "reissue")
	wantEqual(t, ok, true, "reissue of a pending invitation")
	_, err = s.GetInvitationByTokenHash(ctx, i.TokenHash)
	wantNotFound(t, err, "old token hash after reissue")
	ok, err = s.RevokeInvitation(ctx, tn.ID, i.ID, now)
	must(t, err, "revoke")
	wantEqual(t, ok, true, "first revoke")
	ok, err = s.RevokeInvitation(ctx, tn.ID, i.ID, now)
	must(t, err, "revoke again")
	wantEqual(t, ok, false, "second revoke")
	ok, err = s.ReissueInvitation(ctx, tn.ID, i.ID, randomHex(t, 32), now.Add(time.Hour))
	must(t, err, "reissue revoked")
	wantEqual(t, ok, false, "reissue of a revoked invitation")
	ok, err = s.ClaimInvitation(ctx, i.ID, newHash, now)
	must(t, err, "claim revoked")
	wantEqual(t, ok, false, "claim of a revoked invitation")
	got, err := s.GetInvitation(ctx, tn.ID, i.ID)
	must(t, err, "get")
	wantEqual(t, got.Status(now), models.InvitationRevoked, "status")
}

func testInvitationClaimConcurrent(t *testing.T, s InvitationStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	u := newUser(t, s, tn.ID)
	i := newInvitation(t, s, tn.ID, time.Hour)
	expired := newInvitation(t, s, tn.ID, -time.Minute)
	now := time.Now().UTC()
	ok, err := s.ClaimInvitation(ctx, expired.ID, expired.TokenHash, now)
	must(t, err, "claim expired")
	wantEqual(t, ok, false, "claim of an expired invitation")
	ok, err = s.ClaimInvitation(ctx, i.ID, randomHex(t, 32), now)
	must(t, err, "claim with another hash")
	wantEqual(t, ok, false, "claim with the wrong token hash")
	wins := make([]bool, 20)
	for _, err := range race(20, func(k int) error {
		var err error
		wins[k], err = s.ClaimInvitation(ctx, i.ID, i.TokenHash, now)
		return err
	}) {
		must(t, err, "concurrent claim")
	}
	n := 0
	for _, w := range wins {
		if w {
			n++
		}
	}
	wantEqual(t, n, 1, "winners of 20 concurrent claims")
	must(t, s.SetInvitationUser(ctx, i.ID, u.ID), "set user")
	got, err := s.GetInvitation(ctx, tn.ID, i.ID)
	must(t, err, "get")
	wantEqual(t, got.Status(now), models.InvitationAccepted, "status after claim")
	if got.AcceptedUserID == nil || *got.AcceptedUserID != u.ID {
		t.Fatalf("accepted user %v, want %s", got.AcceptedUserID, u.ID)
	}
	list, _, err := s.ListInvitations(ctx, models.InvitationFilter{TenantID: tn.ID, Status: models.InvitationAccepted, Now: now, Limit: 10})
	must(t, err, "list accepted")
	wantEqual(t, len(list), 1, "accepted invitations")
}

// testInvitationListPages: pages are newest first, disjoint and complete,
// and the total counts every match whatever the page.
func testInvitationListPages(t *testing.T, s InvitationStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	for range 5 {
		newInvitation(t, s, tn.ID, time.Hour)
	}
	newInvitation(t, s, tn.ID, -time.Hour)
	now := time.Now().UTC()
	seen := map[string]bool{}
	var last time.Time
	for page := range 3 {
		list, total, err := s.ListInvitations(ctx, models.InvitationFilter{TenantID: tn.ID, Now: now, Offset: page * 2, Limit: 2})
		must(t, err, "list page")
		wantEqual(t, total, 6, "total")
		wantEqual(t, len(list), 2, "rows on a page")
		for _, i := range list {
			if seen[i.ID] {
				t.Fatalf("invitation %s on two pages", i.ID)
			}
			if !last.IsZero() && i.CreatedAt.After(last) {
				t.Fatalf("page not newest first: %v after %v", i.CreatedAt, last)
			}
			seen[i.ID], last = true, i.CreatedAt
		}
	}
	list, total, err := s.ListInvitations(ctx, models.InvitationFilter{TenantID: tn.ID, Now: now, Offset: 6, Limit: 2})
	must(t, err, "list past the end")
	wantEqual(t, len(list), 0, "rows past the end")
	wantEqual(t, total, 6, "total past the end")
	list, total, err = s.ListInvitations(ctx, models.InvitationFilter{TenantID: tn.ID, Status: models.InvitationPending, Now: now, Offset: 4, Limit: 2})
	must(t, err, "list pending")
	wantEqual(t, len(list), 1, "pending rows on the last page")
	wantEqual(t, total, 5, "pending total")
}
