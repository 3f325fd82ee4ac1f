package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

// Passkeys (issue 12 §2): WebAuthn credentials and the pending ceremonies
// between a begin and a finish step. Every credential read takes the
// tenant; another tenant's row, an unknown or a malformed id is
// models.ErrNotFound "webauthn_credential".

func utcCredential(c *models.WebAuthnCredential) {
	c.CreatedAt = c.CreatedAt.UTC()
	if c.LastUsedAt != nil {
		t := c.LastUsedAt.UTC()
		c.LastUsedAt = &t
	}
}

// CreateWebAuthnCredential stores a registered passkey and gives it its
// id. A credential id already registered (by anyone, in any tenant: they
// are globally unique) is Conflict "webauthn_credential".
func (s *Store) CreateWebAuthnCredential(ctx context.Context, c *models.WebAuthnCredential) error {
	c.ID, c.CreatedAt = uuid.NewString(), s.now()
	if c.Transports == nil {
		c.Transports = models.StringList{}
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		if err := s.lockPasskeyOwner(ctx, c.TenantID, c.UserID); err != nil {
			return err
		}
		if err := s.db(ctx).Create(c).Error; err != nil {
			return fmt.Errorf("create webauthn credential: %w", repoErr(err, "webauthn_credential"))
		}
		return s.countPasskeys(ctx, c.TenantID, c.UserID)
	})
}

// lockPasskeyOwner locks the user's row before a change of their passkeys,
// so that concurrent changes count one after the other: on PostgreSQL a
// count taken while another change is uncommitted would be stale.
func (s *Store) lockPasskeyOwner(ctx context.Context, tenantID, userID string) error {
	var ids []string
	if err := s.forUpdate(s.db(ctx).Model(&models.User{}).Where("tenant_id = ? AND id = ?", tenantID, userID)).Pluck("id", &ids).Error; err != nil {
		return fmt.Errorf("lock passkey owner: %w", repoErr(err, "user"))
	}
	return nil
}

// countPasskeys sets users.passkeys, the count of the user's usable
// passkeys, in the transaction of the change that moved it, after
// lockPasskeyOwner (models.User.HasSecondFactor reads it).
func (s *Store) countPasskeys(ctx context.Context, tenantID, userID string) error {
	q := "UPDATE users SET passkeys = (SELECT COUNT(*) FROM webauthn_credentials w " +
		"WHERE w.tenant_id = users.tenant_id AND w.user_id = users.id AND NOT w.disabled) WHERE tenant_id = ? AND id = ?"
	if err := s.db(ctx).Exec(q, tenantID, userID).Error; err != nil {
		return fmt.Errorf("count passkeys: %w", repoErr(err, "user"))
	}
	return nil
}

// ListWebAuthnCredentials returns the tenant's user's passkeys, disabled
// ones included, oldest first (a person has a handful: no paging).
func (s *Store) ListWebAuthnCredentials(ctx context.Context, tenantID, userID string) ([]models.WebAuthnCredential, error) {
	if !models.ValidID(userID) || !models.ValidID(tenantID) {
		return []models.WebAuthnCredential{}, nil
	}
	var out []models.WebAuthnCredential
	if err := s.db(ctx).Where("tenant_id = ? AND user_id = ?", tenantID, userID).Order("created_at, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list webauthn credentials: %w", repoErr(err, "webauthn_credential"))
	}
	for i := range out {
		utcCredential(&out[i])
	}
	return out, nil
}

// GetWebAuthnCredential returns the tenant's user's passkey id (our row id).
func (s *Store) GetWebAuthnCredential(ctx context.Context, tenantID, userID, id string) (*models.WebAuthnCredential, error) {
	if !models.ValidID(id) || !models.ValidID(userID) || !models.ValidID(tenantID) {
		return nil, models.ErrNotFound("webauthn_credential")
	}
	var c models.WebAuthnCredential
	if err := s.db(ctx).Where("tenant_id = ? AND user_id = ? AND id = ?", tenantID, userID, id).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("get webauthn credential: %w", repoErr(err, "webauthn_credential"))
	}
	utcCredential(&c)
	return &c, nil
}

// GetWebAuthnCredentialByCredentialID returns the tenant's passkey whose
// authenticator credential id is credentialID (a discoverable sign-in
// learns the user from it); another tenant's is NotFound.
func (s *Store) GetWebAuthnCredentialByCredentialID(ctx context.Context, tenantID string, credentialID []byte) (*models.WebAuthnCredential, error) {
	if !models.ValidID(tenantID) || len(credentialID) == 0 || len(credentialID) > 1023 {
		return nil, models.ErrNotFound("webauthn_credential")
	}
	var c models.WebAuthnCredential
	if err := s.db(ctx).Where("tenant_id = ? AND credential_id = ?", tenantID, credentialID).Take(&c).Error; err != nil {
		return nil, fmt.Errorf("get webauthn credential: %w", repoErr(err, "webauthn_credential"))
	}
	utcCredential(&c)
	return &c, nil
}

// UpdateWebAuthnCredentialUse records a sign-in with the passkey: the new
// sign count, the backup state the authenticator reported and when. It is
// a compare-and-set on the count the caller verified against (prevCount):
// false when the passkey is disabled, gone, or another sign-in moved the
// count first, so that of two assertions racing with one counter value
// only one is accepted.
func (s *Store) UpdateWebAuthnCredentialUse(ctx context.Context, tenantID, id string, prevCount, newCount uint32, backupState bool, at time.Time) (bool, error) {
	if !models.ValidID(id) || !models.ValidID(tenantID) {
		return false, nil
	}
	res := s.db(ctx).Model(&models.WebAuthnCredential{}).
		Where("tenant_id = ? AND id = ? AND sign_count = ? AND NOT disabled", tenantID, id, int64(prevCount)).
		Updates(map[string]any{"sign_count": int64(newCount), "backup_state": backupState, "last_used_at": at.UTC()})
	if res.Error != nil {
		return false, fmt.Errorf("update webauthn credential use: %w", repoErr(res.Error, "webauthn_credential"))
	}
	return res.RowsAffected == 1, nil
}

// RenameWebAuthnCredential names the tenant's user's passkey id.
func (s *Store) RenameWebAuthnCredential(ctx context.Context, tenantID, userID, id, name string) error {
	if !models.ValidID(id) || !models.ValidID(userID) || !models.ValidID(tenantID) {
		return models.ErrNotFound("webauthn_credential")
	}
	res := s.db(ctx).Model(&models.WebAuthnCredential{}).Where("tenant_id = ? AND user_id = ? AND id = ?", tenantID, userID, id).Update("name", name)
	if res.Error != nil {
		return fmt.Errorf("rename webauthn credential: %w", repoErr(res.Error, "webauthn_credential"))
	}
	if res.RowsAffected == 0 {
		return models.ErrNotFound("webauthn_credential")
	}
	return nil
}

// DisableWebAuthnCredential disables the tenant's passkey id (a cloned
// authenticator was detected); false when it already was or is gone, so
// one caller reports it.
func (s *Store) DisableWebAuthnCredential(ctx context.Context, tenantID, id string) (bool, error) {
	if !models.ValidID(id) || !models.ValidID(tenantID) {
		return false, nil
	}
	changed := false
	err := s.InTx(ctx, func(ctx context.Context) error {
		var owners []string
		if err := s.db(ctx).Model(&models.WebAuthnCredential{}).Where("tenant_id = ? AND id = ?", tenantID, id).Pluck("user_id", &owners).Error; err != nil {
			return fmt.Errorf("disable webauthn credential: %w", repoErr(err, "webauthn_credential"))
		}
		if len(owners) == 0 {
			return nil
		}
		if err := s.lockPasskeyOwner(ctx, tenantID, owners[0]); err != nil {
			return err
		}
		res := s.db(ctx).Model(&models.WebAuthnCredential{}).Where("tenant_id = ? AND id = ? AND NOT disabled", tenantID, id).Update("disabled", true)
		if res.Error != nil {
			return fmt.Errorf("disable webauthn credential: %w", repoErr(res.Error, "webauthn_credential"))
		}
		changed = res.RowsAffected == 1
		if !changed {
			return nil
		}
		return s.countPasskeys(ctx, tenantID, owners[0])
	})
	return changed, err
}

// DeleteWebAuthnCredential removes the tenant's user's passkey id.
func (s *Store) DeleteWebAuthnCredential(ctx context.Context, tenantID, userID, id string) error {
	if !models.ValidID(id) || !models.ValidID(userID) || !models.ValidID(tenantID) {
		return models.ErrNotFound("webauthn_credential")
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		if err := s.lockPasskeyOwner(ctx, tenantID, userID); err != nil {
			return err
		}
		res := s.db(ctx).Where("tenant_id = ? AND user_id = ? AND id = ?", tenantID, userID, id).Delete(&models.WebAuthnCredential{})
		if res.Error != nil {
			return fmt.Errorf("delete webauthn credential: %w", repoErr(res.Error, "webauthn_credential"))
		}
		if res.RowsAffected == 0 {
			return models.ErrNotFound("webauthn_credential")
		}
		return s.countPasskeys(ctx, tenantID, userID)
	})
}

// CreateWebAuthnCeremony stores a begun ceremony and gives it its id;
// ChallengeHash must be set (a duplicate is Conflict).
func (s *Store) CreateWebAuthnCeremony(ctx context.Context, c *models.WebAuthnCeremony) error {
	c.ID, c.CreatedAt = uuid.NewString(), s.now()
	c.ExpiresAt = c.ExpiresAt.UTC()
	if err := s.db(ctx).Create(c).Error; err != nil {
		return fmt.Errorf("create webauthn ceremony: %w", repoErr(err, "webauthn_ceremony"))
	}
	return nil
}

// ConsumeWebAuthnCeremony takes the live (unexpired, unconsumed) ceremony
// whose challenge hashes to challengeHash and marks it consumed, in one
// statement: of concurrent finishes with one challenge only one gets it;
// the others, a replay and an expired or unknown challenge get NotFound
// "webauthn_ceremony".
func (s *Store) ConsumeWebAuthnCeremony(ctx context.Context, challengeHash string) (*models.WebAuthnCeremony, error) {
	var c *models.WebAuthnCeremony
	err := s.InTx(ctx, func(ctx context.Context) error {
		now := s.now()
		db := s.db(ctx)
		res := db.Model(&models.WebAuthnCeremony{}).Where("challenge_hash = ? AND consumed_at IS NULL AND expires_at > ?", challengeHash, now).
			Update("consumed_at", now)
		if res.Error != nil {
			return fmt.Errorf("consume webauthn ceremony: %w", repoErr(res.Error, "webauthn_ceremony"))
		}
		if res.RowsAffected != 1 {
			return models.ErrNotFound("webauthn_ceremony")
		}
		var got models.WebAuthnCeremony
		if err := db.Where("challenge_hash = ?", challengeHash).Take(&got).Error; err != nil {
			return fmt.Errorf("consume webauthn ceremony: %w", repoErr(err, "webauthn_ceremony"))
		}
		got.ExpiresAt, got.CreatedAt = got.ExpiresAt.UTC(), got.CreatedAt.UTC()
		c = &got
		return nil
	})
	return c, err
}
