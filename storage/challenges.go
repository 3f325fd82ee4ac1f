package storage

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

// CreateEmailCode stores a new code and retires the user's earlier unused
// codes of the same purpose.
func (s *Store) CreateEmailCode(ctx context.Context, c *models.EmailCode) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		now := s.now()
		db := s.db(ctx)
		if err := db.Model(&models.EmailCode{}).Where("tenant_id = ? AND user_id = ? AND purpose = ? AND consumed_at IS NULL", c.TenantID, c.UserID, c.Purpose).
			Update("consumed_at", now).Error; err != nil {
			return fmt.Errorf("create email code: %w", repoErr(err, "email_code"))
		}
		c.ID = uuid.NewString()
		c.CreatedAt = now
		if err := db.Create(c).Error; err != nil {
			return fmt.Errorf("create email code: %w", repoErr(err, "email_code"))
		}
		return nil
	})
}

// LatestEmailCode returns the user's live code for purpose.
func (s *Store) LatestEmailCode(ctx context.Context, tenantID, userID, purpose string) (*models.EmailCode, error) {
	var c models.EmailCode
	err := s.db(ctx).Where("tenant_id = ? AND user_id = ? AND purpose = ? AND consumed_at IS NULL AND expires_at > ?", tenantID, userID, purpose, s.now()).
		Order("created_at DESC").Take(&c).Error
	if err != nil {
		return nil, fmt.Errorf("get email code: %w", repoErr(err, "email_code"))
	}
	return &c, nil
}

// ClaimEmailCodeAttempt takes one of the code's attempts before the caller
// compares: UPDATE … WHERE attempts < max, so no more than max comparisons
// ever happen, however many requests race.
func (s *Store) ClaimEmailCodeAttempt(ctx context.Context, id string, max int) (bool, error) {
	res := s.db(ctx).Exec(`UPDATE email_codes SET attempts = attempts + 1
		WHERE id = ? AND attempts < ? AND consumed_at IS NULL AND expires_at > ?`, id, max, s.now())
	if res.Error != nil {
		return false, fmt.Errorf("claim email code attempt: %w", repoErr(res.Error, "email_code"))
	}
	return res.RowsAffected == 1, nil
}

// ConsumeEmailCode marks a code used; false if it already was.
func (s *Store) ConsumeEmailCode(ctx context.Context, id string) (bool, error) {
	res := s.db(ctx).Model(&models.EmailCode{}).Where("id = ? AND consumed_at IS NULL", id).Update("consumed_at", s.now())
	if res.Error != nil {
		return false, fmt.Errorf("consume email code: %w", repoErr(res.Error, "email_code"))
	}
	return res.RowsAffected == 1, nil
}

// CreateChallenge stores a pending login step.
func (s *Store) CreateChallenge(ctx context.Context, c *models.AuthChallenge) error {
	c.ID = uuid.NewString()
	c.CreatedAt = s.now()
	if err := s.db(ctx).Create(c).Error; err != nil {
		return fmt.Errorf("create challenge: %w", repoErr(err, "challenge"))
	}
	return nil
}

// GetChallenge returns the live challenge whose token hashes to tokenHash.
func (s *Store) GetChallenge(ctx context.Context, tokenHash string) (*models.AuthChallenge, error) {
	var c models.AuthChallenge
	err := s.db(ctx).Where("token_hash = ? AND consumed_at IS NULL AND expires_at > ?", tokenHash, s.now()).Take(&c).Error
	if err != nil {
		return nil, fmt.Errorf("get challenge: %w", repoErr(err, "challenge"))
	}
	return &c, nil
}

// ClaimChallengeAttempt takes one attempt of a challenge (at most max).
func (s *Store) ClaimChallengeAttempt(ctx context.Context, id string, max int) (bool, error) {
	res := s.db(ctx).Exec(`UPDATE auth_challenges SET attempts = attempts + 1
		WHERE id = ? AND attempts < ? AND consumed_at IS NULL AND expires_at > ?`, id, max, s.now())
	if res.Error != nil {
		return false, fmt.Errorf("claim challenge attempt: %w", repoErr(res.Error, "challenge"))
	}
	return res.RowsAffected == 1, nil
}

// ConsumeChallenge marks a challenge used; false if it already was.
func (s *Store) ConsumeChallenge(ctx context.Context, id string) (bool, error) {
	res := s.db(ctx).Model(&models.AuthChallenge{}).Where("id = ? AND consumed_at IS NULL", id).Update("consumed_at", s.now())
	if res.Error != nil {
		return false, fmt.Errorf("consume challenge: %w", repoErr(res.Error, "challenge"))
	}
	return res.RowsAffected == 1, nil
}
