package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

// pushUpsertSQL registers a token in one statement: a new token inserts a
// row, a known one (the tenant's unique token_hash) takes the new owner,
// device, platform, app, name and sealed value, keeping its id and
// created_at. Concurrent registrations of one token therefore meet in the
// unique index and leave one row.
const pushUpsertSQL = `INSERT INTO push_devices
  (id, tenant_id, user_id, device_id, platform, token_hash, token_sealed, app_id, device_name, created_at, updated_at)
VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)
ON CONFLICT (tenant_id, token_hash) DO UPDATE SET
  user_id = excluded.user_id, device_id = excluded.device_id, platform = excluded.platform,
  token_sealed = excluded.token_sealed, app_id = excluded.app_id, device_name = excluded.device_name,
  updated_at = excluded.updated_at
RETURNING id, created_at`

// SavePushDevice registers d's token for d's user: a token the tenant
// already holds is updated in place (and moves to d's user), a new one is
// inserted. It fills d's id and timestamps and returns the registration as
// it was before (nil for a new token).
func (s *Store) SavePushDevice(ctx context.Context, d *models.PushDevice) (*models.PushDevice, error) {
	var prev *models.PushDevice
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		var rows []models.PushDevice
		if err := db.Where("tenant_id = ? AND token_hash = ?", d.TenantID, d.TokenHash).Limit(1).Find(&rows).Error; err != nil {
			return fmt.Errorf("save push device: %w", repoErr(err, "push_device"))
		}
		if len(rows) == 1 {
			prev = &rows[0]
			prev.CreatedAt, prev.UpdatedAt = prev.CreatedAt.UTC(), prev.UpdatedAt.UTC()
		}
		now := s.now()
		var out []struct {
			ID        string
			CreatedAt time.Time
		}
		err := db.Raw(pushUpsertSQL, uuid.NewString(), d.TenantID, d.UserID, d.DeviceID, d.Platform, d.TokenHash, d.TokenSealed,
			d.AppID, d.DeviceName, now, now).Scan(&out).Error
		if err != nil {
			return fmt.Errorf("save push device: %w", repoErr(err, "push_device"))
		}
		if len(out) != 1 {
			return fmt.Errorf("save push device: %d rows returned", len(out))
		}
		d.ID, d.CreatedAt, d.UpdatedAt = out[0].ID, out[0].CreatedAt.UTC(), now
		return nil
	})
	if err != nil {
		return nil, err
	}
	return prev, nil
}

// ListPushDevices returns a user's push registrations, newest first.
func (s *Store) ListPushDevices(ctx context.Context, tenantID, userID string) ([]models.PushDevice, error) {
	if !models.ValidID(userID) {
		return nil, models.ErrNotFound("user")
	}
	var out []models.PushDevice
	err := s.db(ctx).Where("tenant_id = ? AND user_id = ?", tenantID, userID).Order("created_at DESC, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list push devices: %w", repoErr(err, "push_device"))
	}
	for i := range out {
		out[i].CreatedAt, out[i].UpdatedAt = out[i].CreatedAt.UTC(), out[i].UpdatedAt.UTC()
	}
	return out, nil
}

// DeletePushDevices removes the push registrations of f's user that f
// selects (all, those of f.DeviceID, or f.ID) and returns them, locked
// first so two concurrent removals do not both return a row. It is the one
// statement that deletes registrations: identity writes one
// push_device.removed audit row per row it returns. A malformed id selects
// nothing.
func (s *Store) DeletePushDevices(ctx context.Context, f models.PushDeviceFilter) ([]models.PushDevice, error) {
	if !models.ValidID(f.TenantID) || !models.ValidID(f.UserID) || (f.ID != "" && !models.ValidID(f.ID)) ||
		(f.DeviceID != "" && !models.ValidID(f.DeviceID)) {
		return nil, nil
	}
	var out []models.PushDevice
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		q := db.Scopes(s.forUpdate).Where("tenant_id = ? AND user_id = ?", f.TenantID, f.UserID)
		if f.ID != "" {
			q = q.Where("id = ?", f.ID)
		}
		if f.DeviceID != "" {
			q = q.Where("device_id = ?", f.DeviceID)
		}
		if err := q.Order("created_at, id").Find(&out).Error; err != nil {
			return fmt.Errorf("delete push devices: %w", repoErr(err, "push_device"))
		}
		if len(out) == 0 {
			return nil
		}
		ids := make([]string, len(out))
		for i := range out {
			ids[i] = out[i].ID
			out[i].CreatedAt, out[i].UpdatedAt = out[i].CreatedAt.UTC(), out[i].UpdatedAt.UTC()
		}
		if err := db.Where("id IN ?", ids).Delete(&models.PushDevice{}).Error; err != nil {
			return fmt.Errorf("delete push devices: %w", repoErr(err, "push_device"))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
