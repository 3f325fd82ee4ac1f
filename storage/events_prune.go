package storage

import (
	"context"
	"fmt"
	"time"
)

// PruneEvents deletes outbox rows created before before whose webhook
// fan-out is done (dispatched_at set) and, when published is true (a
// broker relay runs), that the broker confirmed (published_at set): a row
// still owed to a consumer is never pruned. batch rows per statement; it
// returns how many rows it deleted.
func (s *Store) PruneEvents(ctx context.Context, before time.Time, published bool, batch int) (int64, error) {
	cond := "created_at < ? AND dispatched_at IS NOT NULL"
	if published {
		cond += " AND published_at IS NOT NULL"
	}
	n, err := s.deleteBatched(ctx, "events", "seq", batch, cond, before.UTC())
	if err != nil {
		return n, fmt.Errorf("prune events: %w", err)
	}
	return n, nil
}

// DeleteTenantEvents deletes every outbox row of the tenant (a purged
// tenant's events go with its data), in the caller's transaction, and
// returns how many.
func (s *Store) DeleteTenantEvents(ctx context.Context, tenantID string) (int64, error) {
	res := s.db(ctx).Exec(`DELETE FROM events WHERE tenant_id = ?`, tenantID)
	if res.Error != nil {
		return 0, fmt.Errorf("delete tenant events: %w", repoErr(res.Error, "event"))
	}
	return res.RowsAffected, nil
}

// DeleteSubjectEvents deletes the tenant's outbox rows about subject (an
// erased user's: their bodies name the person), in the caller's
// transaction, and returns how many.
func (s *Store) DeleteSubjectEvents(ctx context.Context, tenantID, subject string) (int64, error) {
	res := s.db(ctx).Exec(`DELETE FROM events WHERE tenant_id = ? AND subject = ?`, tenantID, subject)
	if res.Error != nil {
		return 0, fmt.Errorf("delete subject events: %w", repoErr(res.Error, "event"))
	}
	return res.RowsAffected, nil
}
