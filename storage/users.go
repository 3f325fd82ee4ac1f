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
