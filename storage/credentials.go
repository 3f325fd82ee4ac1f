package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

// RecordPINFailure counts a wrong PIN and locks the PIN at max.
func (s *Store) RecordPINFailure(ctx context.Context, tenantID, userID string, max int, lockFor time.Duration) (models.FailureResult, error) {
	return s.countFailure(ctx, "pin_failed", "pin_locked_until", tenantID, userID, max, lockFor)
}

// ClearPINFailures resets the PIN counter after a correct PIN unless the PIN
// is locked (false then).
func (s *Store) ClearPINFailures(ctx context.Context, tenantID, userID string) (bool, error) {
	res := s.db(ctx).Exec(`UPDATE users SET pin_failed = 0, pin_locked_until = NULL
		WHERE id = ? AND tenant_id = ? AND (pin_locked_until IS NULL OR pin_locked_until <= ?)`, userID, tenantID, s.now())
	if res.Error != nil {
		return false, fmt.Errorf("clear pin failures: %w", repoErr(res.Error, "user"))
	}
	return res.RowsAffected == 1, nil
}

// UnlockPIN lifts a PIN lock.
func (s *Store) UnlockPIN(ctx context.Context, tenantID, userID string) error {
	return s.updateUser(ctx, tenantID, userID, map[string]any{"pin_failed": 0, "pin_locked_until": nil})
}

// ClaimTOTPStep records step as the last used TOTP step if it is newer than
// the one recorded; false means the code was already used (a replay).
func (s *Store) ClaimTOTPStep(ctx context.Context, tenantID, userID string, step int64) (bool, error) {
	res := s.db(ctx).Exec(`UPDATE users SET totp_last_step = ? WHERE id = ? AND tenant_id = ? AND totp_last_step < ?`,
		step, userID, tenantID, step)
	if res.Error != nil {
		return false, fmt.Errorf("claim totp step: %w", repoErr(res.Error, "user"))
	}
	return res.RowsAffected == 1, nil
}

// ReplaceRecoveryCodes drops a user's codes and stores the new hashes.
func (s *Store) ReplaceRecoveryCodes(ctx context.Context, tenantID, userID string, hashes []string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		if err := db.Where("tenant_id = ? AND user_id = ?", tenantID, userID).Delete(&models.RecoveryCode{}).Error; err != nil {
			return fmt.Errorf("replace recovery codes: %w", repoErr(err, "recovery_code"))
		}
		now := s.now()
		rows := make([]models.RecoveryCode, len(hashes))
		for i, h := range hashes {
			rows[i] = models.RecoveryCode{ID: uuid.NewString(), TenantID: tenantID, UserID: userID, CodeHash: h, CreatedAt: now}
		}
		if len(rows) > 0 {
			if err := db.Create(&rows).Error; err != nil {
				return fmt.Errorf("replace recovery codes: %w", repoErr(err, "recovery_code"))
			}
		}
		return nil
	})
}

// ClaimRecoveryCode marks the unused code with that hash used; false if no
// such unused code exists (wrong, or already claimed by a concurrent request).
func (s *Store) ClaimRecoveryCode(ctx context.Context, tenantID, userID, hash string) (bool, error) {
	res := s.db(ctx).Model(&models.RecoveryCode{}).
		Where("tenant_id = ? AND user_id = ? AND code_hash = ? AND used_at IS NULL", tenantID, userID, hash).
		Update("used_at", s.now())
	if res.Error != nil {
		return false, fmt.Errorf("claim recovery code: %w", repoErr(res.Error, "recovery_code"))
	}
	return res.RowsAffected == 1, nil
}

// CountRecoveryCodes returns how many unused codes a user has.
func (s *Store) CountRecoveryCodes(ctx context.Context, tenantID, userID string) (int, error) {
	var n int64
	err := s.db(ctx).Model(&models.RecoveryCode{}).Where("tenant_id = ? AND user_id = ? AND used_at IS NULL", tenantID, userID).Count(&n).Error
	if err != nil {
		return 0, fmt.Errorf("count recovery codes: %w", repoErr(err, "recovery_code"))
	}
	return int(n), nil
}
