package storagetest

import (
	"context"
	"errors"
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
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	// The relay's side: unpublished events in seq order (at most limit),
	// marking by seq, and the backlog (count, oldest created_at).
	ListUnpublishedEvents(ctx context.Context, limit int) ([]models.OutboxEvent, error)
	MarkEventsPublished(ctx context.Context, seqs []int64) error
	UnpublishedEvents(ctx context.Context) (int64, time.Time, error)
}

var _ = claim[EventStore]("RunEventsSuite", "AppendEvent", "PruneEvents", "DeleteTenantEvents", "DeleteSubjectEvents",
	"ListUnpublishedEvents", "MarkEventsPublished", "UnpublishedEvents")

// RunEventsSuite checks the outbox's storage: appends in seq order, the
// row as written, a rolled-back append leaving nothing, the relay's
// listing, marking and backlog, pruning, and the tenant and subject
// deletions. open receives a fake clock.
func RunEventsSuite[S EventStore](t *testing.T, open func(t *testing.T, opts storage.Options) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) clocked[EventStore] {
		clock := NewFakeClock(base)
		return clocked[EventStore]{open(t, storage.Options{Now: clock.Now}), clock}
	}, []subTest[clocked[EventStore]]{
		{"AppendInOrder", testAppendEvents},
		{"AppendKeepsRow", plainEvents(testOutboxAppend)},
		{"RollbackLeavesNothing", plainEvents(testOutboxRollback)},
		{"RelayBacklog", testOutboxRelay},
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

// plainEvents adapts a case that needs no clock.
func plainEvents(f func(*testing.T, EventStore)) func(*testing.T, clocked[EventStore]) {
	return func(t *testing.T, c clocked[EventStore]) { f(t, c.s) }
}

func outboxEvent(typ string) *models.OutboxEvent {
	tenant := uuid.NewString()
	return &models.OutboxEvent{ID: uuid.NewString(), TenantID: &tenant, Type: typ, Source: "http://issuer.test",
		Subject: uuid.NewString(), Data: `{"k":"v"}`, TraceParent: "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01"}
}

func testOutboxAppend(t *testing.T, s EventStore) {
	ctx := t.Context()
	a, b := outboxEvent("identity.user.created"), outboxEvent("identity.user.updated")
	must(t, s.AppendEvent(ctx, a), "append a")
	must(t, s.AppendEvent(ctx, b), "append b")
	if a.Seq <= 0 || b.Seq <= a.Seq {
		t.Fatalf("seq: a=%d b=%d, want 0 < a < b", a.Seq, b.Seq)
	}
	rows := rawRows(t, s, "events", "id = ?", a.ID)
	wantEqual(t, len(rows), 1, "rows of a")
	r := rows[0]
	wantEqual(t, r["type"], a.Type, "type")
	wantEqual(t, r["source"], a.Source, "source")
	wantEqual(t, r["subject"], a.Subject, "subject")
	wantEqual(t, r["tenant_id"], *a.TenantID, "tenant_id")
	wantEqual(t, r["data"], a.Data, "data")
	wantEqual(t, r["trace_parent"], a.TraceParent, "trace_parent")
	wantEqual(t, r["published_at"], "", "published_at of a new event")
	wantEqual(t, r["dispatched_at"], "", "dispatched_at of a new event")
	if a.Time.IsZero() || a.CreatedAt.IsZero() {
		t.Fatalf("time %v, created_at %v: want both set", a.Time, a.CreatedAt)
	}
	dup := outboxEvent("identity.user.created")
	dup.ID = a.ID
	if err := s.AppendEvent(ctx, dup); err == nil {
		t.Fatal("a second event with the same id was accepted")
	}
}

func testOutboxRollback(t *testing.T, s EventStore) {
	ctx := t.Context()
	e := outboxEvent("identity.user.created")
	boom := errors.New("boom")
	err := s.InTx(ctx, func(ctx context.Context) error {
		must(t, s.AppendEvent(ctx, e), "append in tx")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("InTx: %v, want the function's error", err)
	}
	wantEqual(t, len(rawRows(t, s, "events", "id = ?", e.ID)), 0, "rows of a rolled-back event")
	kept := outboxEvent("identity.user.created")
	must(t, s.InTx(ctx, func(ctx context.Context) error { return s.AppendEvent(ctx, kept) }), "append committed")
	wantEqual(t, len(rawRows(t, s, "events", "id = ?", kept.ID)), 1, "rows of a committed event")
}

// testOutboxRelay: unpublished rows in seq order, a limit, marking by seq
// (only what is listed; an empty list is a no-op), the backlog and its age.
func testOutboxRelay(t *testing.T, c clocked[EventStore]) {
	ctx := t.Context()
	n, oldest, err := c.s.UnpublishedEvents(ctx)
	must(t, err, "backlog of an empty outbox")
	wantEqual(t, n, int64(0), "backlog of an empty outbox")
	wantEqual(t, oldest.IsZero(), true, "oldest of an empty outbox is zero")
	var seqs []int64
	for i := range 5 {
		e := outboxEvent("identity.user.updated")
		must(t, c.s.AppendEvent(ctx, e), "append")
		seqs = append(seqs, e.Seq)
		if i == 0 {
			c.clock.Advance(time.Minute)
		}
	}
	list := func(limit int) []int64 {
		rows, err := c.s.ListUnpublishedEvents(ctx, limit)
		must(t, err, "list unpublished")
		var out []int64
		for _, r := range rows {
			out = append(out, r.Seq)
		}
		return out
	}
	wantSeqs := func(got, want []int64, what string) {
		t.Helper()
		if len(got) != len(want) {
			t.Fatalf("%s: %v, want %v", what, got, want)
		}
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: %v, want %v", what, got, want)
			}
		}
	}
	wantSeqs(list(3), seqs[:3], "first three unpublished")
	n, oldest, err = c.s.UnpublishedEvents(ctx)
	must(t, err, "backlog")
	wantEqual(t, n, int64(5), "backlog")
	wantTime(t, oldest, base, "oldest unpublished")

	must(t, c.s.MarkEventsPublished(ctx, []int64{seqs[0], seqs[2]}), "mark two")
	must(t, c.s.MarkEventsPublished(ctx, nil), "mark none")
	wantSeqs(list(10), []int64{seqs[1], seqs[3], seqs[4]}, "unpublished after marking")
	n, oldest, err = c.s.UnpublishedEvents(ctx)
	must(t, err, "backlog after marking")
	wantEqual(t, n, int64(3), "backlog after marking")
	wantTime(t, oldest, base.Add(time.Minute), "oldest after marking")
}
