package identity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// APIKeyStore is what APIKeys needs from storage. Every method takes the
// tenant and the service account; another tenant's or account's key, or a
// malformed id, is models.ErrNotFound.
type APIKeyStore interface {
	// GetServiceAccount and ResolvePermissions load the account a key is
	// for, for the grant rules (see ServiceAccountStore).
	GetServiceAccount(ctx context.Context, tenantID, id string) (*models.ServiceAccount, error)
	ResolvePermissions(ctx context.Context, tenantID, principalID string) ([]string, error)
	// CreateAPIKey assigns the id; a key hash already stored is a Conflict.
	CreateAPIKey(ctx context.Context, k *models.APIKey) error
	// ListAPIKeys returns the account's live keys (none: empty).
	ListAPIKeys(ctx context.Context, tenantID, serviceAccountID string) ([]models.APIKey, error)
	// GetAPIKeyForUpdate returns the key under a row lock (revoked and
	// expired keys too), or NotFound; of two concurrent rotations the
	// second waits and then sees the key revoked.
	GetAPIKeyForUpdate(ctx context.Context, tenantID, serviceAccountID, id string) (*models.APIKey, error)
	// RevokeAPIKey revokes a live key; an unknown or already revoked key is
	// NotFound.
	RevokeAPIKey(ctx context.Context, tenantID, serviceAccountID, id string) error
}

// List mints, lists, revokes and rotates the API keys of a tenant's
// service accounts, under the rule of ServiceAccounts: the actor covers
// what the account holds (actOnServiceAccount). Authenticator checks them.
type APIKeys struct {
	store APIKeyStore
	tx    Tx
	audit Auditor
	keys  KeyedHasher
	now   func() time.Time
}

// APIKeysDeps are what NewAPIKeys needs; Now is optional.
type APIKeysDeps struct {
	Store   APIKeyStore
	Tx      Tx
	Auditor Auditor
	// Keys makes the keyed hash a key is stored and found by (keyring.Keyring).
	Keys KeyedHasher
	Now  func() time.Time
}

// NewAPIKeys checks d and returns the service.
func NewAPIKeys(d APIKeysDeps) (*APIKeys, error) {
	if err := checkDeps("APIKeys", dep{"Store", d.Store == nil}, dep{"Tx", d.Tx == nil},
		dep{"Auditor", d.Auditor.Store == nil}, dep{"Keys", d.Keys == nil}); err != nil {
		return nil, err
	}
	return &APIKeys{store: d.Store, tx: d.Tx, audit: d.Auditor, keys: d.Keys, now: clockOr(d.Now)}, nil
}

// KeyedHasher makes keyed hashes (keyring.Keyring implements it).
type KeyedHasher interface {
	MAC(purpose string, parts ...[]byte) string
}

// apiKeyPrefix starts every API key (Authenticator.Resolve routes bearer
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
func mintAPIKey(keys KeyedHasher, p Principal, serviceAccountID, name string, expiresAt *time.Time) (string, *models.APIKey, error) {
	raw, err := keyring.RandomToken(32)
	if err != nil {
		return "", nil, models.ErrInternal(err)
	}
	key := apiKeyPrefix + raw
	return key, &models.APIKey{
		TenantID: p.TenantID, ServiceAccountID: serviceAccountID, Name: name,
		Prefix: key[:apiKeyDisplayLen], KeyHash: hashAPIKey(keys, key), ExpiresAt: expiresAt,
	}, nil
}

// hashAPIKey is the keyed hash a key is stored and looked up by.
func hashAPIKey(keys KeyedHasher, key string) string {
	return keys.MAC(keyring.PurposeLookup, []byte(key))
}

// Create makes a key for the tenant's service account, expiring after
// expiresInDays (nil: never). The key is returned once.
func (s *APIKeys) Create(ctx context.Context, a Actor, serviceAccountID, name string, expiresInDays *int) (*NewAPIKey, error) {
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
			t := s.now().Add(time.Duration(*expiresInDays) * 24 * time.Hour)
			expires = &t
		}
	}
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	key, row, err := mintAPIKey(s.keys, a.Principal, serviceAccountID, name, expires)
	if err != nil {
		return nil, err
	}
	err = s.tx.InTx(ctx, func(ctx context.Context) error {
		if _, err := actOnServiceAccount(ctx, s.store, a, serviceAccountID); err != nil {
			return err
		}
		if err := s.store.CreateAPIKey(ctx, row); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditAPIKeyCreated, Metadata: map[string]any{
			"service_account_id": serviceAccountID, "api_key_id": row.ID, "prefix": row.Prefix, "expires_at": row.ExpiresAt}, Subject: serviceAccountID})
	})
	if err != nil {
		return nil, err
	}
	return &NewAPIKey{Key: key, APIKey: row}, nil
}

// List lists a service account's live keys (never a key or its hash).
func (s *APIKeys) List(ctx context.Context, p Principal, serviceAccountID string) ([]models.APIKey, error) {
	if _, err := s.store.GetServiceAccount(ctx, p.TenantID, serviceAccountID); err != nil {
		return nil, err
	}
	return s.store.ListAPIKeys(ctx, p.TenantID, serviceAccountID)
}

// Revoke revokes a key; it stops authenticating at once.
func (s *APIKeys) Revoke(ctx context.Context, a Actor, serviceAccountID, keyID string) error {
	return s.tx.InTx(ctx, func(ctx context.Context) error {
		if _, err := actOnServiceAccount(ctx, s.store, a, serviceAccountID); err != nil {
			return err
		}
		if err := s.store.RevokeAPIKey(ctx, a.TenantID, serviceAccountID, keyID); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditAPIKeyRevoked, Metadata: map[string]any{"service_account_id": serviceAccountID, "api_key_id": keyID}, Subject: serviceAccountID})
	})
}

// Rotate replaces a live key with a new one of the same name and
// lifetime, revoking the old one in the same transaction.
func (s *APIKeys) Rotate(ctx context.Context, a Actor, serviceAccountID, keyID string) (*NewAPIKey, error) {
	var out *NewAPIKey
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		if _, err := actOnServiceAccount(ctx, s.store, a, serviceAccountID); err != nil {
			return err
		}
		old, err := s.store.GetAPIKeyForUpdate(ctx, a.TenantID, serviceAccountID, keyID)
		if err != nil {
			return err
		}
		now := s.now()
		if old.RevokedAt != nil || old.ExpiresAt != nil && !old.ExpiresAt.After(now) {
			return models.ErrAPIKeyInactive()
		}
		var expires *time.Time
		if old.ExpiresAt != nil {
			t := now.Add(old.ExpiresAt.Sub(old.CreatedAt))
			expires = &t
		}
		key, row, err := mintAPIKey(s.keys, a.Principal, serviceAccountID, old.Name, expires)
		if err != nil {
			return err
		}
		if err := s.store.RevokeAPIKey(ctx, a.TenantID, serviceAccountID, keyID); err != nil {
			return err
		}
		if err := s.store.CreateAPIKey(ctx, row); err != nil {
			return err
		}
		out = &NewAPIKey{Key: key, APIKey: row}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditAPIKeyRotated, Metadata: map[string]any{
			"service_account_id": serviceAccountID, "old_api_key_id": keyID, "api_key_id": row.ID, "prefix": row.Prefix}, Subject: serviceAccountID})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
