package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/identityd/identityd/models"
)

// Counters that guard brute force change in one SQL statement each, so
// concurrent requests cannot slip past a limit (DESIGN.md, security model).

// failureSQL counts one failure and locks at the limit, in one statement. An
// expired lock restarts the count; an active lock is never extended.
const failureSQL = `UPDATE users SET
  %[1]s = CASE WHEN %[2]s IS NOT NULL AND %[2]s <= @now THEN 1 ELSE %[1]s + 1 END,
  %[2]s = CASE
    WHEN %[2]s IS NOT NULL AND %[2]s > @now THEN %[2]s
    WHEN (CASE WHEN %[2]s IS NOT NULL AND %[2]s <= @now THEN 1 ELSE %[1]s + 1 END) >= @max THEN @until
    ELSE NULL END,
  updated_at = @now
WHERE id = @id AND tenant_id = @tenant
RETURNING %[1]s, %[2]s`

func (s *Store) countFailure(ctx context.Context, counter, lockCol, tenantID, userID string, max int, lockFor time.Duration) (models.FailureResult, error) {
	now := s.now()
	var row struct {
		Count int
		Until *time.Time
	}
	q := fmt.Sprintf(failureSQL, counter, lockCol)
	res := s.db(ctx).Raw(q, map[string]any{"now": now, "max": max, "until": now.Add(lockFor), "id": userID, "tenant": tenantID}).Row()
	if err := res.Scan(&row.Count, &row.Until); err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) || err.Error() == "sql: no rows in result set" {
			return models.FailureResult{}, models.ErrNotFound("user")
		}
		return models.FailureResult{}, fmt.Errorf("count %s: %w", counter, repoErr(err, "user"))
	}
	return models.FailureResult{Failures: row.Count, JustLocked: row.Count == max && row.Until != nil, LockedUntil: row.Until}, nil
}

// RecordLoginFailure counts a failed password and locks the account for
// lockFor when the count reaches max.
func (s *Store) RecordLoginFailure(ctx context.Context, tenantID, userID string, max int, lockFor time.Duration) (models.FailureResult, error) {
	return s.countFailure(ctx, "failed_logins", "locked_until", tenantID, userID, max, lockFor)
}

// ClearLoginFailures resets the counter after a correct password, unless the
// account is locked: it reports false then, and the login must be refused.
func (s *Store) ClearLoginFailures(ctx context.Context, tenantID, userID string) (bool, error) {
	now := s.now()
	res := s.db(ctx).Exec(`UPDATE users SET failed_logins = 0, locked_until = NULL
		WHERE id = ? AND tenant_id = ? AND (locked_until IS NULL OR locked_until <= ?)`, userID, tenantID, now)
	if res.Error != nil {
		return false, fmt.Errorf("clear login failures: %w", repoErr(res.Error, "user"))
	}
	return res.RowsAffected == 1, nil
}

// UnlockUser lifts a login lock.
func (s *Store) UnlockUser(ctx context.Context, tenantID, userID string) error {
	return s.updateUser(ctx, tenantID, userID, map[string]any{"failed_logins": 0, "locked_until": nil})
}

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

// UpdateUserFields sets columns of a tenant's user (the caller names them;
// services never pass request input here unfiltered).
func (s *Store) UpdateUserFields(ctx context.Context, tenantID, userID string, fields map[string]any) error {
	return s.updateUser(ctx, tenantID, userID, fields)
}

func (s *Store) updateUser(ctx context.Context, tenantID, userID string, fields map[string]any) error {
	fields["updated_at"] = s.now()
	res := s.db(ctx).Model(&models.User{}).Where("id = ? AND tenant_id = ?", userID, tenantID).Updates(fields)
	if res.Error != nil {
		return fmt.Errorf("update user: %w", repoErr(res.Error, "user"))
	}
	if res.RowsAffected == 0 {
		return models.ErrNotFound("user")
	}
	return nil
}

// AddPasswordHistory records a password hash and keeps the newest keep.
func (s *Store) AddPasswordHistory(ctx context.Context, tenantID, userID, hash string, keep int) error {
	db := s.db(ctx)
	h := models.PasswordHistory{ID: uuid.NewString(), TenantID: tenantID, UserID: userID, Hash: hash, CreatedAt: s.now()}
	if err := db.Create(&h).Error; err != nil {
		return fmt.Errorf("add password history: %w", repoErr(err, "password_history"))
	}
	var ids []string
	if err := db.Model(&models.PasswordHistory{}).Where("user_id = ?", userID).
		Order("created_at DESC").Offset(keep).Pluck("id", &ids).Error; err != nil {
		return fmt.Errorf("trim password history: %w", repoErr(err, "password_history"))
	}
	if len(ids) > 0 {
		if err := db.Where("id IN ?", ids).Delete(&models.PasswordHistory{}).Error; err != nil {
			return fmt.Errorf("trim password history: %w", repoErr(err, "password_history"))
		}
	}
	return nil
}

// ListPasswordHistory returns the newest n hashes of a user.
func (s *Store) ListPasswordHistory(ctx context.Context, tenantID, userID string, n int) ([]string, error) {
	var hashes []string
	err := s.db(ctx).Model(&models.PasswordHistory{}).Where("tenant_id = ? AND user_id = ?", tenantID, userID).
		Order("created_at DESC").Limit(n).Pluck("hash", &hashes).Error
	if err != nil {
		return nil, fmt.Errorf("list password history: %w", repoErr(err, "password_history"))
	}
	return hashes, nil
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
