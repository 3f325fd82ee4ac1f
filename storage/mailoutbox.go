package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

// EnqueueMail stores a message for the mail worker, in the caller's
// transaction when there is one (so the message exists exactly when the
// action that sends it committed).
func (s *Store) EnqueueMail(ctx context.Context, m *models.OutboxMail) error {
	m.ID = uuid.NewString()
	now := s.now()
	m.CreatedAt = now
	if m.NextAttemptAt.IsZero() {
		m.NextAttemptAt = now
	}
	if err := s.db(ctx).Create(m).Error; err != nil {
		return fmt.Errorf("enqueue mail: %w", repoErr(err, "mail"))
	}
	return nil
}

// ClaimDueMail leases up to limit messages that are due and not leased by
// another worker, for lease. Each row is claimed with its own conditional
// UPDATE, so of several instances draining at once exactly one wins a row
// (PostgreSQL re-checks the condition after the row lock; SQLite has one
// writer); a worker that dies mid-send loses its lease when it expires and
// the message is tried again.
func (s *Store) ClaimDueMail(ctx context.Context, limit int, lease time.Duration) ([]models.OutboxMail, error) {
	now := s.now()
	var due []models.OutboxMail
	err := s.db(ctx).Where("next_attempt_at <= ? AND (leased_until IS NULL OR leased_until < ?)", now, now).
		Order("next_attempt_at").Limit(limit).Find(&due).Error
	if err != nil {
		return nil, fmt.Errorf("list due mail: %w", repoErr(err, "mail"))
	}
	out := due[:0]
	for _, m := range due {
		until := now.Add(lease)
		res := s.db(ctx).Model(&models.OutboxMail{}).
			Where("id = ? AND (leased_until IS NULL OR leased_until < ?)", m.ID, now).
			Updates(map[string]any{"leased_until": until, "attempts": m.Attempts + 1})
		if res.Error != nil {
			if isConflict(res.Error) {
				continue
			}
			return nil, fmt.Errorf("claim mail: %w", repoErr(res.Error, "mail"))
		}
		if res.RowsAffected == 1 {
			m.Attempts++
			m.LeasedUntil = &until
			out = append(out, m)
		}
	}
	return out, nil
}

// DeleteMail removes a delivered message.
func (s *Store) DeleteMail(ctx context.Context, id string) error {
	if err := s.db(ctx).Where("id = ?", id).Delete(&models.OutboxMail{}).Error; err != nil {
		return fmt.Errorf("delete mail: %w", repoErr(err, "mail"))
	}
	return nil
}

// RetryMail releases a message whose delivery failed, to be tried again at
// next; lastError is the cause (never the message).
func (s *Store) RetryMail(ctx context.Context, id string, next time.Time, lastError string) error {
	err := s.db(ctx).Model(&models.OutboxMail{}).Where("id = ?", id).
		Updates(map[string]any{"leased_until": nil, "next_attempt_at": next, "last_error": lastError}).Error
	if err != nil {
		return fmt.Errorf("retry mail: %w", repoErr(err, "mail"))
	}
	return nil
}

// CountMail counts the messages still waiting (for health and tests).
func (s *Store) CountMail(ctx context.Context) (int, error) {
	var n int64
	if err := s.db(ctx).Model(&models.OutboxMail{}).Count(&n).Error; err != nil {
		return 0, fmt.Errorf("count mail: %w", repoErr(err, "mail"))
	}
	return int(n), nil
}

// MailDeliverable reports whether the message id is still queued and,
// when it names a user, that the user still exists: the mail worker asks
// right before it sends a message it claimed, so a message withdrawn by an
// erasure (or of a user deleted since) is not sent.
func (s *Store) MailDeliverable(ctx context.Context, id string) (bool, error) {
	var n int64
	err := s.db(ctx).Model(&models.OutboxMail{}).
		Where("id = ? AND (user_id IS NULL OR EXISTS (SELECT 1 FROM users WHERE users.id = mail_outbox.user_id))", id).Count(&n).Error
	if err != nil {
		return false, fmt.Errorf("check mail: %w", repoErr(err, "mail"))
	}
	return n == 1, nil
}

// DeletePersonMail deletes the tenant's queued messages for a person: those
// naming userID and those to an address whose keyed hash is in
// recipientHashes. Erasure calls it in its transaction; it returns how many
// it deleted (a message being sent at that moment is past recall).
func (s *Store) DeletePersonMail(ctx context.Context, tenantID, userID string, recipientHashes []string) (int, error) {
	hashes := make([]string, 0, len(recipientHashes))
	for _, h := range recipientHashes {
		if h != "" {
			hashes = append(hashes, h)
		}
	}
	q := s.db(ctx).Where("tenant_id = ? AND user_id = ?", tenantID, userID)
	if len(hashes) > 0 {
		q = s.db(ctx).Where("tenant_id = ? AND (user_id = ? OR recipient_hash IN ?)", tenantID, userID, hashes)
	}
	res := q.Delete(&models.OutboxMail{})
	if res.Error != nil {
		return 0, fmt.Errorf("delete person mail: %w", repoErr(res.Error, "mail"))
	}
	return int(res.RowsAffected), nil
}
