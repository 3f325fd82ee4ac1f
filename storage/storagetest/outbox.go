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

// OutboxStore is the transactional outbox's write side: an event is
// appended in the transaction of the change it reports.
type OutboxStore interface {
	RawStore
	// AppendEvent writes an event in the transaction of ctx, assigning
	// its seq (increasing) and created_at.
	AppendEvent(ctx context.Context, e *models.OutboxEvent) error
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	// The relay's side: unpublished events in seq order (at most limit),
	// marking by seq, and the backlog (count, oldest created_at).
	ListUnpublishedEvents(ctx context.Context, limit int) ([]models.OutboxEvent, error)
	MarkEventsPublished(ctx context.Context, seqs []int64) error
	UnpublishedEvents(ctx context.Context) (int64, time.Time, error)
}

var _ = claim[OutboxStore]("RunOutboxSuite", "AppendEvent", "ListUnpublishedEvents", "MarkEventsPublished", "UnpublishedEvents")

// RunOutboxSuite checks the outbox: seq grows with each append, the row
// keeps what was written, and an append in a transaction that rolls back
// leaves nothing.
func RunOutboxSuite[S OutboxStore](t *testing.T, open func(t *testing.T, opts storage.Options) S) {
	t.Helper()
	plain := func(f func(*testing.T, OutboxStore)) func(*testing.T, clocked[OutboxStore]) {
		return func(t *testing.T, c clocked[OutboxStore]) { f(t, c.s) }
	}
	runSubTests(t, func(t *testing.T) clocked[OutboxStore] {
		clock := NewFakeClock(base)
		return clocked[OutboxStore]{open(t, storage.Options{Now: clock.Now}), clock}
	}, []subTest[clocked[OutboxStore]]{
		{"AppendOrder", plain(testOutboxAppend)},
		{"RollbackLeavesNothing", plain(testOutboxRollback)},
		{"RelayBacklog", testOutboxRelay},
	})
}

func outboxEvent(typ string) *models.OutboxEvent {
	tenant := uuid.NewString()
	return &models.OutboxEvent{ID: uuid.NewString(), TenantID: &tenant, Type: typ, Source: "http://issuer.test",
		Subject: uuid.NewString(), Data: `{"k":"v"}`, TraceParent: "00-0123456789abcdef0123456789abcdef-0123456789abcdef-01"}
}

func testOutboxAppend(t *testing.T, s OutboxStore) {
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

func testOutboxRollback(t *testing.T, s OutboxStore) {
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
func testOutboxRelay(t *testing.T, c clocked[OutboxStore]) {
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
