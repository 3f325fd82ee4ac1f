package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/identityd/identityd/models"
)

// The relay's side of the outbox (issue 11 §2): the RabbitMQ relay reads
// unpublished rows in seq order and stamps them once the broker confirmed
// them.

// ListUnpublishedEvents returns up to limit events whose published_at is
// unset, in seq order (the partial index events_unpublished_idx).
func (s *Store) ListUnpublishedEvents(ctx context.Context, limit int) ([]models.OutboxEvent, error) {
	var out []models.OutboxEvent
	if err := s.db(ctx).Where("published_at IS NULL").Order("seq").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list unpublished events: %w", repoErr(err, "event"))
	}
	for i := range out {
		out[i].Time = out[i].Time.UTC()
		out[i].CreatedAt = out[i].CreatedAt.UTC()
	}
	return out, nil
}

// MarkEventsPublished stamps published_at (now) on the events with these
// seqs that are still unpublished.
func (s *Store) MarkEventsPublished(ctx context.Context, seqs []int64) error {
	if len(seqs) == 0 {
		return nil
	}
	err := s.db(ctx).Model(&models.OutboxEvent{}).Where("seq IN ? AND published_at IS NULL", seqs).
		Update("published_at", s.now()).Error
	if err != nil {
		return fmt.Errorf("mark events published: %w", repoErr(err, "event"))
	}
	return nil
}

// UnpublishedEvents counts the events not yet published and returns the
// creation time of the oldest (zero when there is none): the relay's
// backlog and its age, for metrics and health.
func (s *Store) UnpublishedEvents(ctx context.Context) (int64, time.Time, error) {
	var n int64
	db := s.db(ctx)
	if err := db.Model(&models.OutboxEvent{}).Where("published_at IS NULL").Count(&n).Error; err != nil {
		return 0, time.Time{}, fmt.Errorf("count unpublished events: %w", repoErr(err, "event"))
	}
	if n == 0 {
		return 0, time.Time{}, nil
	}
	var oldest models.OutboxEvent
	if err := db.Where("published_at IS NULL").Order("seq").Limit(1).Take(&oldest).Error; err != nil {
		return 0, time.Time{}, fmt.Errorf("oldest unpublished event: %w", repoErr(err, "event"))
	}
	return n, oldest.CreatedAt.UTC(), nil
}

// RenewLease extends holder's live lease on name to now+ttl: false when
// the lease expired or another holder took it (the caller stops working
// and asks for it again with AcquireLease).
func (s *Store) RenewLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	now := s.now()
	res := s.db(ctx).Model(&models.JobLease{}).Where("name = ? AND holder = ? AND leased_until >= ?", name, holder, now).
		Update("leased_until", now.Add(ttl))
	if res.Error != nil {
		if isConflict(res.Error) {
			return false, nil
		}
		return false, fmt.Errorf("renew lease %s: %w", name, repoErr(res.Error, "job_lease"))
	}
	return res.RowsAffected == 1, nil
}

// ReleaseLease frees holder's lease on name at once, so that a waiting
// instance takes over without waiting for it to expire; another holder's
// lease is left alone.
func (s *Store) ReleaseLease(ctx context.Context, name, holder string) error {
	err := s.db(ctx).Model(&models.JobLease{}).Where("name = ? AND holder = ?", name, holder).
		Updates(map[string]any{"holder": "", "leased_until": time.Unix(0, 0).UTC()}).Error
	if err != nil {
		return fmt.Errorf("release lease %s: %w", name, repoErr(err, "job_lease"))
	}
	return nil
}
