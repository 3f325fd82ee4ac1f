package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
)

// PruneStore is the retention of what has expired: fosite rows past their
// expiry, ended device sessions, and audit rows past their tenant's
// retention.
type PruneStore interface {
	FixtureStore
	RawStore
	// PruneExpired deletes expired tokens, codes, sessions and challenges in
	// batches and returns the count per table.
	PruneExpired(ctx context.Context, opts models.PruneOptions) (map[string]int64, error)
	// PruneAuditLogs deletes audit rows older than their tenant's retention
	// (defaultDays where it has none, and for rows of no tenant); a
	// defaultDays below one is an error.
	PruneAuditLogs(ctx context.Context, opts models.AuditPruneOptions) (int64, error)
	CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error
	CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, req fosite.Requester) error
	CreateAuthorizeCodeSession(ctx context.Context, code string, req fosite.Requester) error
	CreateSession(ctx context.Context, sess *models.Session) error
	RevokeSession(ctx context.Context, tenantID, userID, id string) error
	CreateAuditLog(ctx context.Context, a *models.AuditLog) error
	UpdateTenant(ctx context.Context, id string, fields map[string]any) (*models.Tenant, error)
	CreateInvitation(ctx context.Context, i *models.Invitation) error
	GetInvitation(ctx context.Context, tenantID, id string) (*models.Invitation, error)
	RevokeInvitation(ctx context.Context, tenantID, id string, now time.Time) (bool, error)
}

var _ = claim[PruneStore]("RunPruneSuite", "PruneExpired", "PruneAuditLogs")

// RunPruneSuite checks pruning: only what has expired goes, in batches,
// counted per table, and audit rows follow their tenant's retention. open
// receives a fake clock in opts.
func RunPruneSuite[S PruneStore](t *testing.T, open func(t *testing.T, opts storage.Options) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) clocked[PruneStore] {
		clock := NewFakeClock(base)
		return clocked[PruneStore]{open(t, storage.Options{Now: clock.Now}), clock}
	}, []subTest[clocked[PruneStore]]{
		{"Expired", testPruneExpired},
		{"AuditRetention", testPruneAuditLogs},
		{"Invitations", testPruneInvitations},
	})
}

func testPruneExpired(t *testing.T, c clocked[PruneStore]) {
	ctx := t.Context()
	s := c.s
	f := newFixture(t, s)
	// f.session(): codes expire at base+10m, access tokens at base+1h,
	// refresh tokens at base+30d.
	for range 3 {
		req := f.request("grant-" + randomHex(t, 4))
		must(t, s.CreateAccessTokenSession(ctx, key(t, "ory_at_"), req), "create access token")
		must(t, s.CreateRefreshTokenSession(ctx, key(t, "ory_rt_"), "", req), "create refresh token")
		must(t, s.CreateAuthorizeCodeSession(ctx, key(t, "ory_ac_"), req), "create code")
	}
	live := &models.Session{TenantID: f.tenant.ID, UserID: f.user.ID, Kind: "browser", ExpiresAt: base.Add(90 * 24 * time.Hour)}
	ended := &models.Session{TenantID: f.tenant.ID, UserID: f.user.ID, Kind: "browser", ExpiresAt: base.Add(90 * 24 * time.Hour)}
	must(t, s.CreateSession(ctx, live), "create session")
	must(t, s.CreateSession(ctx, ended), "create session")
	must(t, s.RevokeSession(ctx, f.tenant.ID, f.user.ID, ended.ID), "revoke session")

	got, err := s.PruneExpired(ctx, models.PruneOptions{Batch: 2, SessionRetention: time.Hour})
	must(t, err, "prune before anything expired")
	for table, n := range got {
		if n != 0 {
			t.Fatalf("pruned %d rows of %s before anything expired", n, table)
		}
	}

	c.clock.Advance(2 * time.Hour)
	got, err = s.PruneExpired(ctx, models.PruneOptions{Batch: 2, SessionRetention: time.Hour})
	must(t, err, "prune")
	wantEqual(t, got[tableAccess], int64(3), "access tokens pruned (in batches of two)")
	wantEqual(t, got[tableCodes], int64(3), "codes pruned")
	wantEqual(t, got[tableRefresh], int64(0), "live refresh tokens pruned")
	wantEqual(t, got["sessions"], int64(1), "sessions revoked longer ago than the retention")
	wantEqual(t, countRows(t, s, tableAccess, ""), 0, "access tokens left")
	wantEqual(t, countRows(t, s, tableRefresh, ""), 3, "refresh tokens left")
	wantEqual(t, countRows(t, s, "sessions", "id = ?", live.ID), 1, "the live session")
}

func testPruneAuditLogs(t *testing.T, c clocked[PruneStore]) {
	ctx := t.Context()
	s := c.s
	short, deflt := newTenant(t, s), newTenant(t, s)
	_, err := s.UpdateTenant(ctx, short.ID, map[string]any{"audit_retention_days": 1})
	must(t, err, "set retention")
	write := func(tenantID *string, n int) {
		t.Helper()
		for range n {
			must(t, s.CreateAuditLog(ctx, &models.AuditLog{TenantID: tenantID, Action: "x", Metadata: "{}"}), "audit")
		}
	}
	write(&short.ID, 3)
	write(&deflt.ID, 2)
	write(nil, 1)

	_, err = s.PruneAuditLogs(ctx, models.AuditPruneOptions{DefaultDays: 0, Batch: 100})
	if err == nil {
		t.Fatal("PruneAuditLogs accepted a default retention of 0 days")
	}
	n, err := s.PruneAuditLogs(ctx, models.AuditPruneOptions{DefaultDays: 7, Batch: 100})
	must(t, err, "prune fresh rows")
	wantEqual(t, n, int64(0), "fresh rows pruned")

	c.clock.Advance(2 * 24 * time.Hour)
	n, err = s.PruneAuditLogs(ctx, models.AuditPruneOptions{DefaultDays: 7, Batch: 2})
	must(t, err, "prune after two days")
	wantEqual(t, n, int64(3), "rows pruned after two days (the one-day tenant's)")
	wantEqual(t, countRows(t, s, "audit_logs", "tenant_id = ?", deflt.ID), 2, "the default tenant's rows after two days")

	c.clock.Advance(6 * 24 * time.Hour)
	n, err = s.PruneAuditLogs(ctx, models.AuditPruneOptions{DefaultDays: 7, Batch: 2})
	must(t, err, "prune after eight days")
	wantEqual(t, n, int64(3), "rows pruned after eight days (the default tenant's and the tenantless one)")
	wantEqual(t, countRows(t, s, "audit_logs", ""), 0, "audit rows left")
}

// testPruneInvitations: an invitation that ended (here: expired, revoked)
// stays, with its status, until InvitationRetention has passed since; a
// pending one always stays.
func testPruneInvitations(t *testing.T, c clocked[PruneStore]) {
	ctx := t.Context()
	s := c.s
	tn := newTenant(t, s)
	inv := func(ttl time.Duration) *models.Invitation {
		t.Helper()
		i := &models.Invitation{TenantID: tn.ID, Email: "p-" + randomHex(t, 4) + "@example.com", TokenHash: randomHex(t, 32), ExpiresAt: c.clock.Now().Add(ttl)}
		must(t, s.CreateInvitation(ctx, i), "create invitation")
		return i
	}
	expiring, revoked, pending := inv(time.Hour), inv(time.Hour), inv(30*24*time.Hour)
	ok, err := s.RevokeInvitation(ctx, tn.ID, revoked.ID, c.clock.Now())
	must(t, err, "revoke")
	wantEqual(t, ok, true, "revoked")
	opts := models.PruneOptions{Batch: 1, InvitationRetention: 24 * time.Hour}

	c.clock.Advance(2 * time.Hour)
	got, err := s.PruneExpired(ctx, opts)
	must(t, err, "prune within the retention")
	wantEqual(t, got["invitations"], int64(0), "invitations pruned within the retention")
	i, err := s.GetInvitation(ctx, tn.ID, expiring.ID)
	must(t, err, "get the expired invitation")
	wantEqual(t, i.Status(c.clock.Now()), models.InvitationExpired, "status of an expired, unpruned invitation")

	c.clock.Advance(24 * time.Hour)
	got, err = s.PruneExpired(ctx, opts)
	must(t, err, "prune after the retention")
	wantEqual(t, got["invitations"], int64(2), "ended invitations pruned after the retention")
	_, err = s.GetInvitation(ctx, tn.ID, pending.ID)
	must(t, err, "the pending invitation stays")
	wantEqual(t, countRows(t, s, "invitations", "tenant_id = ?", tn.ID), 1, "invitations left")
}
