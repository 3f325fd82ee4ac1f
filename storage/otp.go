package storage

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

// ReplaceOneTimeCode stores c as the one pending code of its (tenant, user,
// purpose), giving it a fresh id: an earlier code of the triple is replaced
// in the same statement, with its attempts and its use, so it stops working
// at once. One upsert on the unique (tenant_id, user_id, purpose) index, so
// two concurrent generations leave exactly one row.
func (s *Store) ReplaceOneTimeCode(ctx context.Context, c *models.OneTimeCode) error {
	if !models.ValidID(c.TenantID) || !models.ValidID(c.UserID) {
		return models.ErrNotFound("user")
	}
	c.ID = uuid.NewString()
	c.CreatedAt = s.now()
	c.Attempts, c.ConsumedAt = 0, nil
	c.ExpiresAt = c.ExpiresAt.UTC()
	err := s.db(ctx).Exec(`INSERT INTO one_time_codes (id, tenant_id, user_id, purpose, code_hash, attempts, expires_at, consumed_at, created_at)
		VALUES (?, ?, ?, ?, ?, 0, ?, NULL, ?)
		ON CONFLICT (tenant_id, user_id, purpose) DO UPDATE SET
			id = excluded.id, code_hash = excluded.code_hash, attempts = 0,
			expires_at = excluded.expires_at, consumed_at = NULL, created_at = excluded.created_at`,
		c.ID, c.TenantID, c.UserID, c.Purpose, c.CodeHash, c.ExpiresAt, c.CreatedAt).Error
	if err != nil {
		return fmt.Errorf("replace one-time code: %w", repoErr(err, "one_time_code"))
	}
	return nil
}

// ClaimOneTimeCodeAttempt takes one attempt of the pending code of (tenant,
// user, purpose) before the caller compares it, in one statement
// (UPDATE … WHERE attempts < max … RETURNING): however many requests race,
// at most max comparisons of one code ever happen. It returns the code
// (CodeHash, and Attempts counting this one), or NotFound "one_time_code"
// when there is no live code: none, used, expired, or its attempts spent.
func (s *Store) ClaimOneTimeCodeAttempt(ctx context.Context, tenantID, userID, purpose string, max int) (*models.OneTimeCode, error) {
	if !models.ValidID(tenantID) || !models.ValidID(userID) {
		return nil, models.ErrNotFound("one_time_code")
	}
	var rows []struct {
		ID       string
		CodeHash string
		Attempts int
	}
	err := s.db(ctx).Raw(`UPDATE one_time_codes SET attempts = attempts + 1
		WHERE tenant_id = ? AND user_id = ? AND purpose = ? AND attempts < ? AND consumed_at IS NULL AND expires_at > ?
		RETURNING id, code_hash, attempts`, tenantID, userID, purpose, max, s.now()).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("claim one-time code attempt: %w", repoErr(err, "one_time_code"))
	}
	if len(rows) == 0 {
		return nil, models.ErrNotFound("one_time_code")
	}
	r := rows[0]
	return &models.OneTimeCode{ID: r.ID, TenantID: tenantID, UserID: userID, Purpose: purpose, CodeHash: r.CodeHash, Attempts: r.Attempts}, nil
}

// ConsumeOneTimeCode marks the code with that id used, if it is still
// live; false when it already was used, expired or was replaced (a new
// code has a new id), so of any number of racers one consumes it.
func (s *Store) ConsumeOneTimeCode(ctx context.Context, id string) (bool, error) {
	if !models.ValidID(id) {
		return false, nil
	}
	now := s.now()
	res := s.db(ctx).Model(&models.OneTimeCode{}).Where("id = ? AND consumed_at IS NULL AND expires_at > ?", id, now).Update("consumed_at", now)
	if res.Error != nil {
		return false, fmt.Errorf("consume one-time code: %w", repoErr(res.Error, "one_time_code"))
	}
	return res.RowsAffected == 1, nil
}
