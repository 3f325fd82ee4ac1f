package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/identityd/identityd/models"
)

// GetConsent returns what the user granted the client, or nil if nothing.
func (s *Store) GetConsent(ctx context.Context, tenantID, userID, clientID string) (*models.Consent, error) {
	var c models.Consent
	err := s.db(ctx).Where("tenant_id = ? AND user_id = ? AND client_id = ?", tenantID, userID, clientID).Take(&c).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("get consent: %w", repoErr(err, "consent"))
	}
	return &c, nil
}

// GrantConsent adds scopes to what the user granted the client.
func (s *Store) GrantConsent(ctx context.Context, tenantID, userID, clientID string, scopes []string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		existing, err := s.GetConsent(ctx, tenantID, userID, clientID)
		if err != nil {
			return err
		}
		now := s.now()
		if existing == nil {
			c := models.Consent{ID: uuid.NewString(), TenantID: tenantID, UserID: userID, ClientID: clientID,
				Scopes: models.StringList(scopes), CreatedAt: now, UpdatedAt: now}
			if err := s.db(ctx).Create(&c).Error; err != nil {
				return fmt.Errorf("grant consent: %w", repoErr(err, "consent"))
			}
			return nil
		}
		merged := existing.Scopes
		for _, sc := range scopes {
			if !merged.Has(sc) {
				merged = append(merged, sc)
			}
		}
		err = s.db(ctx).Model(&models.Consent{}).Where("id = ?", existing.ID).
			Updates(map[string]any{"scopes": merged, "updated_at": now}).Error
		if err != nil {
			return fmt.Errorf("grant consent: %w", repoErr(err, "consent"))
		}
		return nil
	})
}
