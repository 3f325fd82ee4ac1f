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

// ListConsents returns what the user granted each client, with the
// client's name, most recently updated first. A malformed user id is
// NotFound "user".
func (s *Store) ListConsents(ctx context.Context, tenantID, userID string) ([]models.ConsentListing, error) {
	var out []models.ConsentListing
	err := s.db(ctx).Table("consents").
		Select("consents.*, COALESCE(oauth_clients.name, '') AS client_name").
		Joins("LEFT JOIN oauth_clients ON oauth_clients.id = consents.client_id AND oauth_clients.tenant_id = consents.tenant_id").
		Where("consents.tenant_id = ? AND consents.user_id = ?", tenantID, userID).
		Order("consents.updated_at DESC, consents.id").Scan(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list consents: %w", repoErr(err, "user"))
	}
	for i := range out {
		out[i].CreatedAt = out[i].CreatedAt.UTC()
		out[i].UpdatedAt = out[i].UpdatedAt.UTC()
	}
	return out, nil
}

// RevokeConsent removes what the user granted the client and every grant
// the client holds for the user (codes, access and refresh tokens, OIDC and
// PKCE sessions), and returns the consent, or NotFound "consent".
func (s *Store) RevokeConsent(ctx context.Context, tenantID, userID, clientID string) (*models.Consent, error) {
	var c *models.Consent
	err := s.InTx(ctx, func(ctx context.Context) error {
		var err error
		if c, err = s.GetConsent(ctx, tenantID, userID, clientID); err != nil {
			return err
		}
		if c == nil {
			return models.ErrNotFound("consent")
		}
		db := s.db(ctx)
		if err := db.Where("id = ?", c.ID).Delete(&models.Consent{}).Error; err != nil {
			return fmt.Errorf("revoke consent: %w", repoErr(err, "consent"))
		}
		for _, t := range []string{tableCodes, tableAccess, tableRefresh, tableOIDC, tablePKCE} {
			if err := db.Table(t).Where("tenant_id = ? AND subject = ? AND client_id = ?", tenantID, userID, clientID).
				Delete(&requestRow{}).Error; err != nil {
				return fmt.Errorf("revoke consent grants: %w", mapErr(err))
			}
		}
		s.invalidateLookups(ctx, TokenLookups)
		return nil
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}
