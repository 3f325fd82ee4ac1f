package storage

import (
	"context"
	"fmt"

	"github.com/identityd/identityd/models"
)

// AppendEvent writes e to the outbox, in the caller's transaction when ctx
// carries one: the event commits or rolls back with the change it reports.
// The caller sets ID (the CloudEvent id) and Time; Seq is assigned here.
func (s *Store) AppendEvent(ctx context.Context, e *models.OutboxEvent) error {
	e.Seq = 0
	e.CreatedAt = s.now()
	if e.Time.IsZero() {
		e.Time = e.CreatedAt
	}
	if err := s.db(ctx).Create(e).Error; err != nil {
		return fmt.Errorf("append event %s: %w", e.Type, repoErr(err, "event"))
	}
	return nil
}
