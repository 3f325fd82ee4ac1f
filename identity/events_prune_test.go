package identity_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// outboxRow is one row of the events table as these tests read it.
type outboxRow struct {
	Type, Subject, TenantID string
}

func outboxRows(t *testing.T, st *storage.Store) []outboxRow {
	t.Helper()
	db, err := st.SQLDB()
	if err != nil {
		t.Fatal(err)
	}
	rows, err := db.QueryContext(t.Context(), `SELECT type, subject, COALESCE(CAST(tenant_id AS text), '') FROM events ORDER BY seq`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		if err := rows.Scan(&r.Type, &r.Subject, &r.TenantID); err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// TestPrunerEvents: the Pruner deletes delivered outbox rows past
// IDENTITY_EVENT_RETENTION (published too when a relay runs), and a purged
// tenant's rows with it, keeping the identity.tenant.deleted it writes.
func TestPrunerEvents(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			now := time.Date(2030, 1, 10, 12, 0, 0, 0, time.UTC)
			clock := func() time.Time { return now }
			st := storagetest.OpenStore(t, b, storage.Options{Now: clock})
			ctx := t.Context()
			audit := identity.Auditor{Store: st, Events: st, Source: "https://id.test", Now: clock}
			pruner := func(relay bool) *identity.Pruner {
				p, err := identity.NewPruner(identity.PrunerDeps{Store: st, Holder: "test", Tx: st, Auditor: audit, Now: clock,
					EventRetention: 48 * time.Hour, RelayConfigured: relay})
				if err != nil {
					t.Fatal(err)
				}
				return p
			}
			keep := &models.Tenant{Slug: "keep", Name: "Keep"}
			gone := &models.Tenant{Slug: "gone", Name: "Gone"}
			for _, tn := range []*models.Tenant{keep, gone} {
				if err := st.CreateTenant(ctx, tn); err != nil {
					t.Fatal(err)
				}
			}
			add := func(tenant string, dispatched, published bool) {
				t.Helper()
				e := &models.OutboxEvent{ID: uuid.NewString(), Type: identity.EventUserUpdated, Source: "x", Subject: "s", Data: "{}", TenantID: &tenant}
				if err := st.AppendEvent(ctx, e); err != nil {
					t.Fatal(err)
				}
				db, _ := st.SQLDB()
				if dispatched {
					if _, err := db.ExecContext(ctx, `UPDATE events SET dispatched_at = created_at WHERE id = $1`, e.ID); err != nil {
						t.Fatal(err)
					}
				}
				if published {
					if _, err := db.ExecContext(ctx, `UPDATE events SET published_at = created_at WHERE id = $1`, e.ID); err != nil {
						t.Fatal(err)
					}
				}
			}
			add(keep.ID, true, true)  // old, delivered: pruned
			add(keep.ID, true, false) // old, dispatched, unpublished: pruned only without a relay
			add(keep.ID, false, false)
			add(gone.ID, false, false) // the purged tenant's: deleted with it
			now = now.Add(72 * time.Hour)
			add(keep.ID, true, true) // fresh: kept

			res, err := pruner(true).PruneEvents(ctx, 0)
			if err != nil || res.Deleted != 1 {
				t.Fatalf("prune with a relay: %+v %v, want 1 deleted", res, err)
			}
			res, err = pruner(false).PruneEvents(ctx, 0)
			if err != nil || res.Deleted != 1 {
				t.Fatalf("prune without a relay: %+v %v, want 1 deleted", res, err)
			}
			if n := len(outboxRows(t, st)); n != 3 {
				t.Fatalf("%d rows left, want 3", n)
			}

			// The purge: the tenant's rows go, its tenant.deleted stays.
			if _, err := st.ScheduleTenantDeletion(ctx, gone.ID, now.Add(-time.Hour), now.Add(-time.Minute)); err != nil {
				t.Fatal(err)
			}
			if r, err := pruner(false).PruneTenants(context.WithoutCancel(ctx)); err != nil || r.Deleted != 1 {
				t.Fatalf("purge: %+v %v", r, err)
			}
			var goneRows []outboxRow
			for _, r := range outboxRows(t, st) {
				if r.TenantID == gone.ID {
					goneRows = append(goneRows, r)
				}
			}
			if len(goneRows) != 1 || goneRows[0].Type != identity.EventTenantDeleted || goneRows[0].Subject != gone.ID {
				t.Fatalf("the purged tenant's rows: %+v, want its tenant.deleted only", goneRows)
			}
			if n := len(outboxRows(t, st)); n != 3 {
				t.Fatalf("%d rows after the purge, want 3 (keep's two, gone's tenant.deleted)", n)
			}
		})
	}
}
