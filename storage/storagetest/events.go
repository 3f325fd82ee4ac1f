package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
)

// EventStore is the transactional outbox: appending a change's events,
// pruning delivered rows, and deleting a purged tenant's or an erased
// person's rows.
type EventStore interface {
	TenantCreator
	RawStore
	// AppendEvent writes e (the caller sets ID and Time; Seq and CreatedAt
	// are assigned), in the ctx transaction.
	AppendEvent(ctx context.Context, e *models.OutboxEvent) error
	// PruneEvents deletes rows created before before that are dispatched
	// (and published, when published is true), batch rows per statement.
	PruneEvents(ctx context.Context, before time.Time, published bool, batch int) (int64, error)
	// DeleteTenantEvents deletes every row of the tenant.
	DeleteTenantEvents(ctx context.Context, tenantID string) (int64, error)
	// DeleteSubjectEvents deletes the tenant's rows about subject.
	DeleteSubjectEvents(ctx context.Context, tenantID, subject string) (int64, error)
}

var _ = claim[EventStore]("RunEventsSuite", "AppendEvent", "PruneEvents", "DeleteTenantEvents", "DeleteSubjectEvents")

// RunEventsSuite checks the outbox's storage. open receives a fake clock.
func RunEventsSuite[S EventStore](t *testing.T, open func(t *testing.T, opts storage.Options) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) clocked[EventStore] {
		clock := NewFakeClock(base)
		return clocked[EventStore]{open(t, storage.Options{Now: clock.Now}), clock}
	}, []subTest[clocked[EventStore]]{
		{"AppendInOrder", testAppendEvents},
		{"Prune", testPruneEvents},
		{"DeleteTenantAndSubject", testDeleteEvents},
	})
}

// appendEvent writes a row of tenant ("" none) about subject at the
// clock's now, dispatched and published as told, and returns its id.
func appendEvent(t *testing.T, s EventStore, tenant, subject string, dispatched, published bool) string {
	t.Helper()
	ctx := t.Context()
	e := &models.OutboxEvent{ID: uuid.NewString(), Type: "identity.user.updated", Source: "https://id.test", Subject: subject, Data: `{"user_id":"x"}`}
	if tenant != "" {
		e.TenantID = &tenant
	}
	must(t, s.AppendEvent(ctx, e), "append event")
	db, err := s.SQLDB()
	must(t, err, "sql db")
	if dispatched {
		_, err = db.ExecContext(ctx, rebind(s, `UPDATE events SET dispatched_at = created_at WHERE id = ?`), e.ID)
		must(t, err, "mark dispatched")
	}
	if published {
		_, err = db.ExecContext(ctx, rebind(s, `UPDATE events SET published_at = created_at WHERE id = ?`), e.ID)
		must(t, err, "mark published")
	}
	return e.ID
}

// eventIDs returns the outbox's ids in seq order.
func eventIDs(t *testing.T, s EventStore) []string {
	t.Helper()
	db, err := s.SQLDB()
	must(t, err, "sql db")
	rows, err := db.QueryContext(t.Context(), `SELECT id FROM events ORDER BY seq`)
	must(t, err, "query events")
	defer rows.Close()
	var out []string
	for rows.Next() {
		var id string
		must(t, rows.Scan(&id), "scan")
		out = append(out, id)
	}
	must(t, rows.Err(), "rows")
	return out
}

func has(ids []string, id string) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func testAppendEvents(t *testing.T, c clocked[EventStore]) {
	tenant := createTenant(t, c.s, "ev-"+randomHex(t, 4))
	var want []string
	for range 5 {
		want = append(want, appendEvent(t, c.s, tenant.ID, "s", false, false))
		c.clock.Advance(time.Second)
	}
	got := eventIDs(t, c.s)
	if len(got) != len(want) {
		t.Fatalf("%d rows, want %d", len(got), len(want))
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("seq order %v, want %v", got, want)
		}
	}
}

// testPruneEvents: only rows past the retention that are delivered go
// (dispatched, and published when a broker relays); a row still owed to
// someone stays however old. Batches smaller than the work loop.
func testPruneEvents(t *testing.T, c clocked[EventStore]) {
	ctx := t.Context()
	tenant := createTenant(t, c.s, "ev-"+randomHex(t, 4))
	var done, unpublished, undispatched []string
	for range 3 {
		done = append(done, appendEvent(t, c.s, tenant.ID, "s", true, true))
		unpublished = append(unpublished, appendEvent(t, c.s, tenant.ID, "s", true, false))
		undispatched = append(undispatched, appendEvent(t, c.s, "", "s", false, true))
	}
	c.clock.Advance(200 * time.Hour)
	fresh := appendEvent(t, c.s, tenant.ID, "s", true, true)
	cutoff := c.clock.Now().Add(-168 * time.Hour)

	n, err := c.s.PruneEvents(ctx, cutoff, true, 2)
	must(t, err, "prune (broker)")
	if n != 3 {
		t.Errorf("pruned %d with a broker, want 3", n)
	}
	left := eventIDs(t, c.s)
	for _, id := range done {
		if has(left, id) {
			t.Error("a delivered old row stayed")
		}
	}
	for _, id := range append(append(append([]string{}, unpublished...), undispatched...), fresh) {
		if !has(left, id) {
			t.Error("an undelivered or fresh row went")
		}
	}
	n, err = c.s.PruneEvents(ctx, cutoff, false, 2)
	must(t, err, "prune (no broker)")
	if n != 3 {
		t.Errorf("pruned %d without a broker, want 3", n)
	}
	left = eventIDs(t, c.s)
	for _, id := range unpublished {
		if has(left, id) {
			t.Error("a dispatched old row stayed without a broker")
		}
	}
	for _, id := range append(append([]string{}, undispatched...), fresh) {
		if !has(left, id) {
			t.Error("an undispatched or fresh row went")
		}
	}
}

// testDeleteEvents: a tenant's rows, and a subject's rows of one tenant,
// go; nobody else's.
func testDeleteEvents(t *testing.T, c clocked[EventStore]) {
	ctx := t.Context()
	acme := createTenant(t, c.s, "ev-"+randomHex(t, 4))
	globex := createTenant(t, c.s, "ev-"+randomHex(t, 4))
	aboutA := appendEvent(t, c.s, acme.ID, "user-a", false, false)
	otherA := appendEvent(t, c.s, acme.ID, "another", false, false)
	sameSubjectOtherTenant := appendEvent(t, c.s, globex.ID, "user-a", false, false)
	aboutG := appendEvent(t, c.s, globex.ID, "user-g", false, false)
	none := appendEvent(t, c.s, "", "user-a", false, false)

	n, err := c.s.DeleteSubjectEvents(ctx, acme.ID, "user-a")
	must(t, err, "delete subject events")
	left := eventIDs(t, c.s)
	if n != 1 || has(left, aboutA) || !has(left, otherA) || !has(left, sameSubjectOtherTenant) || !has(left, aboutG) || !has(left, none) {
		t.Errorf("subject delete: %d deleted, left %v", n, left)
	}
	n, err = c.s.DeleteTenantEvents(ctx, globex.ID)
	must(t, err, "delete tenant events")
	left = eventIDs(t, c.s)
	if n != 2 || len(left) != 2 || !has(left, otherA) || !has(left, none) {
		t.Errorf("tenant delete: %d deleted, left %v", n, left)
	}
}
