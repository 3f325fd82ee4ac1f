package identity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// KeyedHasher makes keyed hashes (keyring.Keyring implements it).
type KeyedHasher interface {
	MAC(purpose string, parts ...[]byte) string
}

// apiKeyPrefix starts every API key (handlers.apiKeyPrefix routes bearer
// credentials by it).
const apiKeyPrefix = "idk_"

// apiKeyTouchEvery is how often a key's last use is written at most.
const apiKeyTouchEvery = time.Minute

// NewAPIKey is a created key: Key is shown once and never stored.
type NewAPIKey struct {
	Key    string
	APIKey *models.APIKey
}

// MaxAPIKeyDays bounds expires_in_days.
const MaxAPIKeyDays = 3650

// apiKeyDisplayLen is how much of a key is kept to recognise it by: the
// "idk_" prefix and 8 of its 43 random characters.
const apiKeyDisplayLen = len(apiKeyPrefix) + 8

// mintAPIKey makes a key ("idk_" + 32 random bytes, base64url) and its row.
func (m *Machines) mintAPIKey(p Principal, serviceAccountID, name string, expiresAt *time.Time) (string, *models.APIKey, error) {
	raw, err := keyring.RandomToken(32)
	if err != nil {
		return "", nil, models.ErrInternal(err)
	}
	key := apiKeyPrefix + raw
	return key, &models.APIKey{
		TenantID: p.TenantID, ServiceAccountID: serviceAccountID, Name: name,
		Prefix: key[:apiKeyDisplayLen], KeyHash: m.hashKey(key), ExpiresAt: expiresAt,
	}, nil
}

func (m *Machines) hashKey(key string) string {
	return m.Keys.MAC(keyring.PurposeLookup, []byte(key))
}

// CreateAPIKey makes a key for the tenant's service account, expiring after
// expiresInDays (nil: never). The key is returned once.
func (m *Machines) CreateAPIKey(ctx context.Context, a Actor, serviceAccountID, name string, expiresInDays *int, meta Meta) (*NewAPIKey, error) {
	name = strings.TrimSpace(name)
	fields := map[string]string{}
	if len(name) > 200 || clientHasControl(name) {
		fields["name"] = "Use at most 200 characters, without control characters."
	}
	var expires *time.Time
	if expiresInDays != nil {
		if *expiresInDays < 1 || *expiresInDays > MaxAPIKeyDays {
			fields["expires_in_days"] = fmt.Sprintf("Use a whole number of days from 1 to %d.", MaxAPIKeyDays)
		} else {
			t := m.now().Add(time.Duration(*expiresInDays) * 24 * time.Hour)
			expires = &t
		}
	}
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	key, row, err := m.mintAPIKey(a.Principal, serviceAccountID, name, expires)
	if err != nil {
		return nil, err
	}
	err = m.Store.InTx(ctx, func(ctx context.Context) error {
		if _, err := m.actOnServiceAccount(ctx, a, serviceAccountID); err != nil {
			return err
		}
		if err := m.Store.CreateAPIKey(ctx, row); err != nil {
			return err
		}
		return m.audit(ctx, a.Principal, AuditAPIKeyCreated, meta, map[string]any{
			"service_account_id": serviceAccountID, "api_key_id": row.ID, "prefix": row.Prefix, "expires_at": row.ExpiresAt})
	})
	if err != nil {
		return nil, err
	}
	return &NewAPIKey{Key: key, APIKey: row}, nil
}

// APIKeys lists a service account's live keys (never a key or its hash).
func (m *Machines) APIKeys(ctx context.Context, p Principal, serviceAccountID string) ([]models.APIKey, error) {
	if _, err := m.Store.GetServiceAccount(ctx, p.TenantID, serviceAccountID); err != nil {
		return nil, err
	}
	return m.Store.ListAPIKeys(ctx, p.TenantID, serviceAccountID)
}

// RevokeAPIKey revokes a key; it stops authenticating at once.
func (m *Machines) RevokeAPIKey(ctx context.Context, a Actor, serviceAccountID, keyID string, meta Meta) error {
	return m.Store.InTx(ctx, func(ctx context.Context) error {
		if _, err := m.actOnServiceAccount(ctx, a, serviceAccountID); err != nil {
			return err
		}
		if err := m.Store.RevokeAPIKey(ctx, a.TenantID, serviceAccountID, keyID); err != nil {
			return err
		}
		return m.audit(ctx, a.Principal, AuditAPIKeyRevoked, meta, map[string]any{"service_account_id": serviceAccountID, "api_key_id": keyID})
	})
}

// RotateAPIKey replaces a live key with a new one of the same name and
// lifetime, revoking the old one in the same transaction.
func (m *Machines) RotateAPIKey(ctx context.Context, a Actor, serviceAccountID, keyID string, meta Meta) (*NewAPIKey, error) {
	var out *NewAPIKey
	err := m.Store.InTx(ctx, func(ctx context.Context) error {
		if _, err := m.actOnServiceAccount(ctx, a, serviceAccountID); err != nil {
			return err
		}
		old, err := m.Store.GetAPIKeyForUpdate(ctx, a.TenantID, serviceAccountID, keyID)
		if err != nil {
			return err
		}
		now := m.now()
		if old.RevokedAt != nil || old.ExpiresAt != nil && !old.ExpiresAt.After(now) {
			return models.NewError(models.KindConflict, "api_key_inactive", "A revoked or expired key cannot be rotated; create a new one.", nil)
		}
		var expires *time.Time
		if old.ExpiresAt != nil {
			t := now.Add(old.ExpiresAt.Sub(old.CreatedAt))
			expires = &t
		}
		key, row, err := m.mintAPIKey(a.Principal, serviceAccountID, old.Name, expires)
		if err != nil {
			return err
		}
		if err := m.Store.RevokeAPIKey(ctx, a.TenantID, serviceAccountID, keyID); err != nil {
			return err
		}
		if err := m.Store.CreateAPIKey(ctx, row); err != nil {
			return err
		}
		out = &NewAPIKey{Key: key, APIKey: row}
		return m.audit(ctx, a.Principal, AuditAPIKeyRotated, meta, map[string]any{
			"service_account_id": serviceAccountID, "old_api_key_id": keyID, "api_key_id": row.ID, "prefix": row.Prefix})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
