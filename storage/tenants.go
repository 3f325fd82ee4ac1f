package storage

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

// CreateTenant inserts a tenant, giving it an id.
func (s *Store) CreateTenant(ctx context.Context, t *models.Tenant) error {
	if t.ID == "" {
		t.ID = uuid.NewString()
	}
	now := s.now()
	t.CreatedAt, t.UpdatedAt = now, now
	if err := s.db(ctx).Create(t).Error; err != nil {
		return fmt.Errorf("create tenant: %w", repoErr(err, "tenant"))
	}
	return nil
}

// GetTenantBySlug returns the tenant with that slug.
func (s *Store) GetTenantBySlug(ctx context.Context, slug string) (*models.Tenant, error) {
	var t models.Tenant
	if err := s.db(ctx).Where("slug = ?", slug).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("get tenant: %w", repoErr(err, "tenant"))
	}
	return &t, nil
}

// GetTenant returns the tenant with that id.
func (s *Store) GetTenant(ctx context.Context, id string) (*models.Tenant, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, models.ErrNotFound("tenant")
	}
	var t models.Tenant
	if err := s.db(ctx).Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("get tenant: %w", repoErr(err, "tenant"))
	}
	return &t, nil
}
