package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/identityd/identityd/models"
)

// ListSigningKeys returns the keys still published (PublishUntil unset or in
// the future), newest first.
func (s *Store) ListSigningKeys(ctx context.Context) ([]models.SigningKey, error) {
	var keys []models.SigningKey
	err := s.db(ctx).Where("publish_until IS NULL OR publish_until > ?", s.now()).
		Order("created_at DESC").Find(&keys).Error
	if err != nil {
		return nil, fmt.Errorf("list signing keys: %w", repoErr(err, "signing_key"))
	}
	return keys, nil
}

// AddSigningKey inserts k and retires every key of k's algorithm that was
// signing, keeping those published until publishUntil; one transaction, so
// instances never see two active keys of an algorithm or none. The keys of
// other algorithms go on signing.
func (s *Store) AddSigningKey(ctx context.Context, k *models.SigningKey, publishUntil time.Time) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		now := s.now()
		err := s.db(ctx).Model(&models.SigningKey{}).Where("retired_at IS NULL AND algorithm = ?", k.Algorithm).
			Updates(map[string]any{"retired_at": now, "publish_until": publishUntil.UTC()}).Error
		if err != nil {
			return fmt.Errorf("retire signing keys: %w", repoErr(err, "signing_key"))
		}
		k.CreatedAt = now
		if err := s.db(ctx).Create(k).Error; err != nil {
			return fmt.Errorf("add signing key: %w", repoErr(err, "signing_key"))
		}
		return nil
	})
}
