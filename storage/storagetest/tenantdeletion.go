package storagetest

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/models"
)

// TenantDeletionStore is a tenant's own deletion (issue 10 §3): scheduled
// with a grace period, cancelled, listed, and purged by the pruner when
// due, with what the suite needs to see it reach the tenant's clients,
// tokens and audit rows.
type TenantDeletionStore interface {
	FixtureStore
	RawStore
	// ScheduleTenantDeletion stamps both dates and ends the tenant's tokens;
	// a second schedule is Conflict tenant_pending_deletion; unknown NotFound.
	ScheduleTenantDeletion(ctx context.Context, id string, now, deletesAt time.Time) (*models.Tenant, error)
	// CancelTenantDeletion clears them; none pending is Conflict
	// tenant_not_pending_deletion; unknown NotFound.
	CancelTenantDeletion(ctx context.Context, id string) (*models.Tenant, error)
	// ListTenantDeletions returns the pending ones, soonest first.
	ListTenantDeletions(ctx context.Context) ([]models.Tenant, error)
	// TenantsDueForDeletion returns up to limit tenants due by now.
	TenantsDueForDeletion(ctx context.Context, now time.Time, limit int) ([]models.Tenant, error)
	// PurgeTenant deletes a tenant still due by now with everything it
	// owns and its audit rows; false when it is not due (restored) or gone.
	PurgeTenant(ctx context.Context, id string, now time.Time) (bool, error)
	GetTenant(ctx context.Context, id string) (*models.Tenant, error)
	CreateAuditLog(ctx context.Context, a *models.AuditLog) error
	CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error
	GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error)
}

var _ = claim[TenantDeletionStore]("RunTenantDeletionSuite", "ScheduleTenantDeletion", "CancelTenantDeletion",
	"ListTenantDeletions", "TenantsDueForDeletion", "PurgeTenant")

// RunTenantDeletionSuite checks a tenant's own deletion: scheduling ends
// its tokens and hides its clients (not its first-party one), once; a
// cancel clears it; the listing and the due query; the purge deletes the
// tenant, what cascades from it, its tokens and its audit rows, and leaves
// a restored or not yet due tenant (and every other tenant) alone;
// concurrent schedules: one wins.
func RunTenantDeletionSuite[S TenantDeletionStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) TenantDeletionStore { return newStore(t) }, []subTest[TenantDeletionStore]{
		{"ScheduleCancel", testTenantDeletionSchedule},
		{"ListDue", testTenantDeletionListDue},
		{"Purge", testTenantDeletionPurge},
		{"ConcurrentSchedule", testTenantDeletionConcurrent},
	})
}

func testTenantDeletionSchedule(t *testing.T, s TenantDeletionStore) {
	ctx := t.Context()
	f, other := newFixture(t, s), newFixture(t, s)
	fp := createClient(t, s, f.tenant.ID, models.FirstPartyClientPrefix+f.tenant.ID)
	at, otherAT := key(t, "ory_at_"), key(t, "ory_at_")
	must(t, s.CreateAccessTokenSession(ctx, at, f.request("grant-a")), "create token")
	must(t, s.CreateAccessTokenSession(ctx, otherAT, other.request("grant-b")), "create other tenant's token")

	now := time.Now().UTC().Truncate(time.Second)
	got, err := s.ScheduleTenantDeletion(ctx, f.tenant.ID, now, now.Add(30*24*time.Hour))
	must(t, err, "schedule")
	if got.DeletionScheduledAt == nil || got.DeletesAt == nil {
		t.Fatalf("scheduled tenant: deletion_scheduled_at %v, deletes_at %v", got.DeletionScheduledAt, got.DeletesAt)
	}
	wantTime(t, *got.DeletesAt, now.Add(30*24*time.Hour), "deletes_at")
	wantEqual(t, countRows(t, s, tableAccess, "tenant_id = ?", f.tenant.ID), 0, "tokens of the tenant")
	_, err = s.GetAccessTokenSession(ctx, otherAT, nil)
	must(t, err, "another tenant's token")
	_, err = s.GetClient(ctx, f.client.GetID())
	wantErrIs(t, err, fosite.ErrNotFound, "client of a tenant pending deletion")
	if !errors.Is(err, models.ErrTenantPendingDeletion()) {
		t.Fatalf("client of a tenant pending deletion: %v, want it to name tenant_pending_deletion", err)
	}
	_, err = s.GetClient(ctx, fp.ID)
	must(t, err, "the first-party client of a tenant pending deletion")
	_, err = s.GetClient(ctx, other.client.GetID())
	must(t, err, "another tenant's client")

	_, err = s.ScheduleTenantDeletion(ctx, f.tenant.ID, now, now.Add(time.Hour))
	wantKind(t, err, models.KindConflict, "schedule twice")
	back, err := s.GetTenant(ctx, f.tenant.ID)
	must(t, err, "get")
	wantTime(t, *back.DeletesAt, now.Add(30*24*time.Hour), "deletes_at after a second schedule")

	got, err = s.CancelTenantDeletion(ctx, f.tenant.ID)
	must(t, err, "cancel")
	if got.DeletesAt != nil || got.DeletionScheduledAt != nil {
		t.Fatalf("cancelled tenant keeps %v / %v", got.DeletionScheduledAt, got.DeletesAt)
	}
	_, err = s.GetClient(ctx, f.client.GetID())
	must(t, err, "client after cancel")
	_, err = s.CancelTenantDeletion(ctx, f.tenant.ID)
	wantKind(t, err, models.KindConflict, "cancel with none pending")
	for _, id := range []string{unknownID, "not-a-uuid"} {
		_, err := s.ScheduleTenantDeletion(ctx, id, now, now)
		wantNotFound(t, err, "schedule "+id)
		_, err = s.CancelTenantDeletion(ctx, id)
		wantNotFound(t, err, "cancel "+id)
	}
}

func testTenantDeletionListDue(t *testing.T, s TenantDeletionStore) {
	ctx := t.Context()
	now := time.Now().UTC().Truncate(time.Second)
	late, soon, none := newTenant(t, s), newTenant(t, s), newTenant(t, s)
	_, err := s.ScheduleTenantDeletion(ctx, late.ID, now, now.Add(48*time.Hour))
	must(t, err, "schedule late")
	_, err = s.ScheduleTenantDeletion(ctx, soon.ID, now, now.Add(time.Hour))
	must(t, err, "schedule soon")
	list, err := s.ListTenantDeletions(ctx)
	must(t, err, "list")
	var ids []string
	for _, tn := range list {
		ids = append(ids, tn.ID)
	}
	wantEqual(t, strings.Join(ids, ","), soon.ID+","+late.ID, "pending deletions, soonest first")
	_ = none

	due, err := s.TenantsDueForDeletion(ctx, now.Add(30*time.Minute), 10)
	must(t, err, "due before any")
	wantEqual(t, len(due), 0, "due before the first")
	due, err = s.TenantsDueForDeletion(ctx, now.Add(time.Hour), 10)
	must(t, err, "due at the first")
	wantEqual(t, len(due), 1, "due at the first's time")
	wantEqual(t, due[0].ID, soon.ID, "the due tenant")
	due, err = s.TenantsDueForDeletion(ctx, now.Add(72*time.Hour), 1)
	must(t, err, "due, limited")
	wantEqual(t, len(due), 1, "limit")
	due, err = s.TenantsDueForDeletion(ctx, now.Add(72*time.Hour), 10)
	must(t, err, "due later")
	wantEqual(t, len(due), 2, "both due later")
}

func testTenantDeletionPurge(t *testing.T, s TenantDeletionStore) {
	ctx := t.Context()
	f, other := newFixture(t, s), newFixture(t, s)
	now := time.Now().UTC().Truncate(time.Second)
	otherAT := key(t, "ory_at_")
	must(t, s.CreateAccessTokenSession(ctx, otherAT, other.request("grant-b")), "create other tenant's token")
	for _, tn := range []string{f.tenant.ID, other.tenant.ID} {
		id := tn
		must(t, s.CreateAuditLog(ctx, &models.AuditLog{TenantID: &id, Action: "user.login", Metadata: "{}"}), "audit row")
	}
	_, err := s.ScheduleTenantDeletion(ctx, f.tenant.ID, now, now.Add(time.Hour))
	must(t, err, "schedule")
	at := key(t, "ory_at_") // issued under the first-party client, say, during the grace period
	must(t, s.CreateAccessTokenSession(ctx, at, f.request("grant-a")), "create token")

	ok, err := s.PurgeTenant(ctx, f.tenant.ID, now.Add(time.Minute))
	must(t, err, "purge before due")
	wantEqual(t, ok, false, "purge before due")
	ok, err = s.PurgeTenant(ctx, other.tenant.ID, now.Add(2*time.Hour))
	must(t, err, "purge a tenant not pending")
	wantEqual(t, ok, false, "purge a tenant not pending")
	ok, err = s.PurgeTenant(ctx, f.tenant.ID, now.Add(2*time.Hour))
	must(t, err, "purge")
	wantEqual(t, ok, true, "purge when due")

	_, err = s.GetTenant(ctx, f.tenant.ID)
	wantNotFound(t, err, "purged tenant")
	for _, c := range []struct{ table, where string }{
		{"users", "tenant_id = ?"}, {"oauth_clients", "tenant_id = ?"}, {tableAccess, "tenant_id = ?"}, {"audit_logs", "tenant_id = ?"},
	} {
		wantEqual(t, countRows(t, s, c.table, c.where, f.tenant.ID), 0, c.table+" rows of the purged tenant")
		if countRows(t, s, c.table, c.where, other.tenant.ID) == 0 {
			t.Fatalf("the other tenant lost its %s rows", c.table)
		}
	}
	_, err = s.GetAccessTokenSession(ctx, otherAT, nil)
	must(t, err, "another tenant's token")
	ok, err = s.PurgeTenant(ctx, f.tenant.ID, now.Add(2*time.Hour))
	must(t, err, "purge again")
	wantEqual(t, ok, false, "purge a gone tenant")
	_, err = s.CancelTenantDeletion(ctx, f.tenant.ID)
	wantNotFound(t, err, "restore after the purge")
	ok, err = s.PurgeTenant(ctx, "not-a-uuid", now)
	must(t, err, "purge a malformed id")
	wantEqual(t, ok, false, "purge a malformed id")
}

func testTenantDeletionConcurrent(t *testing.T, s TenantDeletionStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	now := time.Now().UTC()
	var won, conflicts atomic.Int32
	errs := race(8, func(int) error {
		_, err := s.ScheduleTenantDeletion(ctx, tn.ID, now, now.Add(time.Hour))
		switch {
		case err == nil:
			won.Add(1)
		case models.IsKind(err, models.KindConflict):
			conflicts.Add(1)
		default:
			return err
		}
		return nil
	})
	for _, err := range errs {
		must(t, err, "concurrent schedule")
	}
	wantEqual(t, won.Load(), int32(1), "schedules that won")
	wantEqual(t, conflicts.Load(), int32(7), "schedules refused as already scheduled")
}
