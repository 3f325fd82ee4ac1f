package storage

import (
	"context"
	"fmt"
	"strings"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

// CreateUser inserts a user; the e-mail is stored lower-cased.
func (s *Store) CreateUser(ctx context.Context, u *models.User) error {
	if u.ID == "" {
		u.ID = uuid.NewString()
	}
	u.Email = strings.ToLower(strings.TrimSpace(u.Email))
	u.IsActive = true
	now := s.now()
	u.CreatedAt, u.UpdatedAt = now, now
	if u.PasswordChangedAt == nil {
		u.PasswordChangedAt = &now
	}
	if err := s.db(ctx).Create(u).Error; err != nil {
		return fmt.Errorf("create user: %w", repoErr(err, "user"))
	}
	return nil
}

// GetUserByEmail returns the tenant's user with that e-mail (any case).
func (s *Store) GetUserByEmail(ctx context.Context, tenantID, email string) (*models.User, error) {
	var u models.User
	err := s.db(ctx).Where("tenant_id = ? AND email = ?", tenantID, strings.ToLower(strings.TrimSpace(email))).Take(&u).Error
	if err != nil {
		return nil, fmt.Errorf("get user: %w", repoErr(err, "user"))
	}
	return &u, nil
}

// GetUser returns the tenant's user with that id; another tenant's is NotFound.
func (s *Store) GetUser(ctx context.Context, tenantID, id string) (*models.User, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, models.ErrNotFound("user")
	}
	var u models.User
	if err := s.db(ctx).Where("tenant_id = ? AND id = ?", tenantID, id).Take(&u).Error; err != nil {
		return nil, fmt.Errorf("get user: %w", repoErr(err, "user"))
	}
	return &u, nil
}

// GetUserAndTenantState returns the tenant's user and whether its tenant is
// suspended, in one query.
func (s *Store) GetUserAndTenantState(ctx context.Context, tenantID, id string) (*models.User, bool, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, false, models.ErrNotFound("user")
	}
	var row struct {
		models.User
		TenantSuspended bool
	}
	err := s.db(ctx).Table("users").Select("users.*, tenants.suspended_at IS NOT NULL AS tenant_suspended").
		Joins("JOIN tenants ON tenants.id = users.tenant_id").
		Where("users.tenant_id = ? AND users.id = ?", tenantID, id).Take(&row).Error
	if err != nil {
		return nil, false, fmt.Errorf("get user: %w", repoErr(err, "user"))
	}
	return &row.User, row.TenantSuspended, nil
}

// UpdateUser runs fn on the tenant's user inside a transaction with the row
// locked (SELECT … FOR UPDATE on PostgreSQL; SQLite's one writer serialises
// it), then writes back what fn left in the row, and returns the row as
// written. The contract, as Dex's updaters:
//   - an unknown user, or one of another tenant, is NotFound "user" and fn
//     is not called;
//   - fn's error is returned as it is and nothing is written;
//   - fn may change any field but ID, TenantID and CreatedAt (those are
//     kept); Email is stored lower-cased, and one already taken in the
//     tenant is a Conflict;
//   - the atomic counters are written from the locked row, so no concurrent
//     increment is lost: their single-statement methods wait for the lock.
//
// Inside InTx the update joins the caller's transaction.
func (s *Store) UpdateUser(ctx context.Context, tenantID, userID string, fn func(u *models.User) error) (*models.User, error) {
	if !validID(userID) {
		return nil, models.ErrNotFound("user")
	}
	var u models.User
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		if err := db.Scopes(s.forUpdate).Where("tenant_id = ? AND id = ?", tenantID, userID).Take(&u).Error; err != nil {
			return fmt.Errorf("update user: %w", repoErr(err, "user"))
		}
		id, tenant, created := u.ID, u.TenantID, u.CreatedAt
		if err := fn(&u); err != nil {
			return err
		}
		u.ID, u.TenantID, u.CreatedAt = id, tenant, created
		u.Email = strings.ToLower(strings.TrimSpace(u.Email))
		u.UpdatedAt = s.now()
		res := db.Model(&models.User{}).Where("tenant_id = ? AND id = ?", tenantID, userID).Updates(userColumns(&u))
		if res.Error != nil {
			return fmt.Errorf("update user: %w", repoErr(res.Error, "user"))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// userColumns is every column UpdateUser writes. Empty factor session ids
// are stored as NULL, as they were inserted.
func userColumns(u *models.User) map[string]any {
	return map[string]any{
		"email": u.Email, "password_hash": u.PasswordHash, "name": u.Name,
		"email_verified": u.EmailVerified, "is_active": u.IsActive, "is_system_admin": u.IsSystemAdmin,
		"failed_logins": u.FailedLogins, "locked_until": u.LockedUntil,
		"password_changed_at": u.PasswordChangedAt, "force_password_change": u.ForcePasswordChange,
		"totp_enabled": u.TOTPEnabled, "totp_secret_sealed": u.TOTPSecretSealed,
		"totp_pending_sealed": u.TOTPPendingSealed, "totp_last_step": u.TOTPLastStep,
		"email_2fa_enabled": u.Email2FAEnabled, "pin_hash": u.PINHash, "pin_failed": u.PINFailed,
		"pin_locked_until": u.PINLockedUntil, "totp_session_id": nullString(u.TOTPSessionID),
		"email_2fa_session_id": nullString(u.Email2FASessionID), "pin_session_id": nullString(u.PINSessionID),
		"updated_at": u.UpdatedAt,
	}
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}
