package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

// UntrustUserDevices drops the trust of every device of a user, so the
// next login from any of them asks for the second factor.
func (s *Store) UntrustUserDevices(ctx context.Context, tenantID, userID string) error {
	err := s.db(ctx).Model(&models.Device{}).Where("tenant_id = ? AND user_id = ? AND trusted_until IS NOT NULL", tenantID, userID).
		Update("trusted_until", nil).Error
	if err != nil {
		return fmt.Errorf("untrust devices: %w", repoErr(err, "device"))
	}
	return nil
}

// CreateDevice stores a device; TokenHash must be set.
func (s *Store) CreateDevice(ctx context.Context, d *models.Device) error {
	d.ID = uuid.NewString()
	now := s.now()
	d.CreatedAt, d.LastSeenAt = now, now
	if err := s.db(ctx).Create(d).Error; err != nil {
		return fmt.Errorf("create device: %w", repoErr(err, "device"))
	}
	return nil
}

// GetDeviceByToken returns the user's live device whose token hashes to tokenHash.
func (s *Store) GetDeviceByToken(ctx context.Context, tenantID, userID, tokenHash string) (*models.Device, error) {
	var d models.Device
	err := s.db(ctx).Where("tenant_id = ? AND user_id = ? AND token_hash = ? AND revoked_at IS NULL", tenantID, userID, tokenHash).Take(&d).Error
	if err != nil {
		return nil, fmt.Errorf("get device: %w", repoErr(err, "device"))
	}
	return &d, nil
}

// GetDevice returns a tenant user's device by id.
func (s *Store) GetDevice(ctx context.Context, tenantID, userID, id string) (*models.Device, error) {
	if !models.ValidID(id) {
		return nil, models.ErrNotFound("device")
	}
	var d models.Device
	if err := s.db(ctx).Where("tenant_id = ? AND user_id = ? AND id = ?", tenantID, userID, id).Take(&d).Error; err != nil {
		return nil, fmt.Errorf("get device: %w", repoErr(err, "device"))
	}
	return &d, nil
}

// SetDeviceTrust trusts a device until the given time (nil: not trusted).
func (s *Store) SetDeviceTrust(ctx context.Context, tenantID, userID, id string, until *time.Time) error {
	res := s.db(ctx).Model(&models.Device{}).Where("tenant_id = ? AND user_id = ? AND id = ? AND revoked_at IS NULL", tenantID, userID, id).
		Update("trusted_until", until)
	if res.Error != nil {
		return fmt.Errorf("set device trust: %w", repoErr(res.Error, "device"))
	}
	if res.RowsAffected == 0 {
		return models.ErrNotFound("device")
	}
	return nil
}

// TouchDevice records that the device was just seen.
func (s *Store) TouchDevice(ctx context.Context, id string) error {
	if err := s.db(ctx).Model(&models.Device{}).Where("id = ?", id).Update("last_seen_at", s.now()).Error; err != nil {
		return fmt.Errorf("touch device: %w", repoErr(err, "device"))
	}
	return nil
}

// ListDevices returns a user's live devices, newest first.
func (s *Store) ListDevices(ctx context.Context, tenantID, userID string) ([]models.Device, error) {
	var out []models.Device
	err := s.db(ctx).Where("tenant_id = ? AND user_id = ? AND revoked_at IS NULL", tenantID, userID).Order("last_seen_at DESC").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list devices: %w", repoErr(err, "device"))
	}
	return out, nil
}

// RevokeDevice revokes a device and every session started from it. The
// push registrations made from it are identity's to remove (and audit),
// with DeletePushDevices in the same transaction.
func (s *Store) RevokeDevice(ctx context.Context, tenantID, userID, id string) error {
	if !models.ValidID(id) {
		return models.ErrNotFound("device")
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		res := db.Model(&models.Device{}).Where("tenant_id = ? AND user_id = ? AND id = ? AND revoked_at IS NULL", tenantID, userID, id).
			Updates(map[string]any{"revoked_at": s.now(), "trusted_until": nil})
		if res.Error != nil {
			return fmt.Errorf("revoke device: %w", repoErr(res.Error, "device"))
		}
		if res.RowsAffected == 0 {
			return models.ErrNotFound("device")
		}
		var ids []string
		if err := db.Model(&models.Session{}).Where("device_id = ? AND revoked_at IS NULL", id).Pluck("id", &ids).Error; err != nil {
			return fmt.Errorf("revoke device sessions: %w", repoErr(err, "session"))
		}
		if len(ids) == 0 {
			return nil
		}
		if err := db.Model(&models.Session{}).Where("id IN ?", ids).Update("revoked_at", s.now()).Error; err != nil {
			return fmt.Errorf("revoke device sessions: %w", repoErr(err, "session"))
		}
		return s.deleteSessionTokens(ctx, "session_id IN ?", ids)
	})
}
