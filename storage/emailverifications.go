package storage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

func utcEmailVerification(v *models.EmailVerification) {
	v.ExpiresAt, v.CreatedAt = v.ExpiresAt.UTC(), v.CreatedAt.UTC()
	if v.UsedAt != nil {
		t := v.UsedAt.UTC()
		v.UsedAt = &t
	}
}

// ReplaceEmailVerification stores v as the one pending verification of
// its (tenant, user, purpose), giving it a fresh id: an earlier one of the
// triple is replaced in the same statement (with its attempts and its
// use), so its link and code stop working at once. One upsert on the
// unique (tenant_id, user_id, purpose) index: two concurrent requests
// leave exactly one row.
func (s *Store) ReplaceEmailVerification(ctx context.Context, v *models.EmailVerification) error {
	if !models.ValidID(v.TenantID) || !models.ValidID(v.UserID) {
		return models.ErrNotFound("user")
	}
	v.ID = uuid.NewString()
	v.CreatedAt = s.now()
	v.Attempts, v.UsedAt = 0, nil
	v.ExpiresAt = v.ExpiresAt.UTC()
	v.NewEmail = strings.ToLower(strings.TrimSpace(v.NewEmail))
	err := s.db(ctx).Exec(`INSERT INTO email_verifications (id, tenant_id, user_id, purpose, new_email, token_hash, code_hash, attempts, expires_at, used_at, created_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, 0, ?, NULL, ?)
		ON CONFLICT (tenant_id, user_id, purpose) DO UPDATE SET
			id = excluded.id, new_email = excluded.new_email, token_hash = excluded.token_hash, code_hash = excluded.code_hash,
			attempts = 0, expires_at = excluded.expires_at, used_at = NULL, created_at = excluded.created_at`,
		v.ID, v.TenantID, v.UserID, v.Purpose, v.NewEmail, v.TokenHash, v.CodeHash, v.ExpiresAt, v.CreatedAt).Error
	if err != nil {
		return fmt.Errorf("replace e-mail verification: %w", repoErr(err, "email_verification"))
	}
	return nil
}

// GetEmailVerificationByTokenHash returns the verification whose link
// token hashes to hash, whatever its state (used, expired), or NotFound
// "email_verification".
func (s *Store) GetEmailVerificationByTokenHash(ctx context.Context, hash string) (*models.EmailVerification, error) {
	var v models.EmailVerification
	if err := s.db(ctx).Where("token_hash = ?", hash).Take(&v).Error; err != nil {
		return nil, fmt.Errorf("get e-mail verification: %w", repoErr(err, "email_verification"))
	}
	utcEmailVerification(&v)
	return &v, nil
}

// ClaimEmailVerificationAttempts takes one code attempt, at most max, of
// every verification of the tenant that is live at now for the address
// email, in one statement (UPDATE … WHERE attempts < max … RETURNING),
// before the caller compares the code: however many requests race, at
// most max comparisons of one code ever happen. It returns the claimed
// rows (CodeHash, Attempts counting this one); none when there is no live
// verification for the address, or its attempts are spent.
func (s *Store) ClaimEmailVerificationAttempts(ctx context.Context, tenantID, email string, max int, now time.Time) ([]models.EmailVerification, error) {
	if !models.ValidID(tenantID) {
		return nil, nil
	}
	var rows []models.EmailVerification
	err := s.db(ctx).Raw(`UPDATE email_verifications SET attempts = attempts + 1
		WHERE tenant_id = ? AND new_email = ? AND attempts < ? AND used_at IS NULL AND expires_at > ?
		RETURNING id, tenant_id, user_id, purpose, new_email, code_hash, attempts, expires_at, created_at`,
		tenantID, strings.ToLower(strings.TrimSpace(email)), max, now.UTC()).Scan(&rows).Error
	if err != nil {
		return nil, fmt.Errorf("claim e-mail verification attempt: %w", repoErr(err, "email_verification"))
	}
	for k := range rows {
		utcEmailVerification(&rows[k])
	}
	return rows, nil
}

// ConsumeEmailVerification marks the verification with that id used if it
// is still live at now; false when it was already used, has expired or was
// replaced (a new message has a new id), so of any number of racers one
// consumes it.
func (s *Store) ConsumeEmailVerification(ctx context.Context, id string, now time.Time) (bool, error) {
	if !models.ValidID(id) {
		return false, nil
	}
	now = now.UTC()
	res := s.db(ctx).Model(&models.EmailVerification{}).Where("id = ? AND used_at IS NULL AND expires_at > ?", id, now).Update("used_at", now)
	if res.Error != nil {
		return false, fmt.Errorf("consume e-mail verification: %w", repoErr(res.Error, "email_verification"))
	}
	return res.RowsAffected == 1, nil
}
