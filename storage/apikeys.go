package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/identityd/identityd/models"
)

// CreateAPIKey inserts an API key; KeyHash must already be the keyed hash.
func (s *Store) CreateAPIKey(ctx context.Context, k *models.APIKey) error {
	k.ID, k.CreatedAt = uuid.NewString(), s.now()
	if err := s.db(ctx).Create(k).Error; err != nil {
		return fmt.Errorf("create api key: %w", repoErr(err, "api_key"))
	}
	return nil
}

// ListAPIKeys returns the live (unrevoked) keys of a service account, newest first.
func (s *Store) ListAPIKeys(ctx context.Context, tenantID, serviceAccountID string) ([]models.APIKey, error) {
	if !models.ValidID(serviceAccountID) {
		return nil, models.ErrNotFound("service_account")
	}
	var out []models.APIKey
	err := s.db(ctx).Where("tenant_id = ? AND service_account_id = ? AND revoked_at IS NULL", tenantID, serviceAccountID).
		Order("created_at DESC, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", repoErr(err, "api_key"))
	}
	return out, nil
}

// GetAPIKeyForUpdate returns a key of the tenant's service account, locked
// for the rest of the caller's transaction.
func (s *Store) GetAPIKeyForUpdate(ctx context.Context, tenantID, serviceAccountID, id string) (*models.APIKey, error) {
	if !models.ValidID(serviceAccountID) || !models.ValidID(id) {
		return nil, models.ErrNotFound("api_key")
	}
	var k models.APIKey
	err := s.db(ctx).Scopes(s.forUpdate).Where("tenant_id = ? AND service_account_id = ? AND id = ?", tenantID, serviceAccountID, id).Take(&k).Error
	if err != nil {
		return nil, fmt.Errorf("get api key: %w", repoErr(err, "api_key"))
	}
	return &k, nil
}

// RevokeAPIKey stamps revoked_at on a key of the tenant's service account
// (idempotent: a revoked key keeps its first stamp). An unknown key is NotFound.
func (s *Store) RevokeAPIKey(ctx context.Context, tenantID, serviceAccountID, id string) error {
	if !models.ValidID(serviceAccountID) || !models.ValidID(id) {
		return models.ErrNotFound("api_key")
	}
	res := s.db(ctx).Model(&models.APIKey{}).Where("tenant_id = ? AND service_account_id = ? AND id = ?", tenantID, serviceAccountID, id).
		Update("revoked_at", gorm.Expr("COALESCE(revoked_at, ?)", s.now()))
	if res.Error != nil {
		return fmt.Errorf("revoke api key: %w", repoErr(res.Error, "api_key"))
	}
	if res.RowsAffected == 0 {
		return models.ErrNotFound("api_key")
	}
	return nil
}

// apiKeyLookupSQL is the whole API-key lookup: one read through the unique
// key_hash index, joined by primary key to the service account (active) and
// the tenant (neither suspended nor pending deletion), the key neither
// revoked nor expired at ?.
const apiKeyLookupSQL = `SELECT k.id AS key_id, k.tenant_id, k.service_account_id, k.last_used_at
FROM api_keys k
JOIN service_accounts sa ON sa.id = k.service_account_id AND sa.tenant_id = k.tenant_id
JOIN tenants t ON t.id = k.tenant_id
WHERE k.key_hash = ? AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?)
AND sa.is_active AND t.suspended_at IS NULL AND t.deletes_at IS NULL`

// LookupAPIKey finds the live key whose keyed hash is keyHash, in one
// indexed read. Unknown, revoked, expired, of an inactive service account or
// of a suspended tenant or one pending deletion: NotFound.
func (s *Store) LookupAPIKey(ctx context.Context, keyHash string, now time.Time) (keyID, tenantID, serviceAccountID string, lastUsedAt *time.Time, err error) {
	var rows []struct {
		KeyID            string
		TenantID         string
		ServiceAccountID string
		LastUsedAt       *time.Time
	}
	if err := s.db(ctx).Raw(apiKeyLookupSQL, keyHash, now.UTC()).Scan(&rows).Error; err != nil {
		return "", "", "", nil, fmt.Errorf("lookup api key: %w", repoErr(err, "api_key"))
	}
	if len(rows) == 0 {
		return "", "", "", nil, models.ErrNotFound("api_key")
	}
	r := rows[0]
	return r.KeyID, r.TenantID, r.ServiceAccountID, r.LastUsedAt, nil
}

// TouchAPIKey records a use of the key at now unless one was recorded within
// every, so busy keys cost one write a minute, whichever instance serves them.
func (s *Store) TouchAPIKey(ctx context.Context, id string, now time.Time, every time.Duration) error {
	err := s.db(ctx).Model(&models.APIKey{}).
		Where("id = ? AND (last_used_at IS NULL OR last_used_at <= ?)", id, now.UTC().Add(-every)).
		Update("last_used_at", now.UTC()).Error
	if err != nil {
		return fmt.Errorf("touch api key: %w", repoErr(err, "api_key"))
	}
	return nil
}
