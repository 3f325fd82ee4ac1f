package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

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
	if _, err := uuid.Parse(id); err != nil {
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

// CreateSession stores a login session.
func (s *Store) CreateSession(ctx context.Context, sess *models.Session) error {
	if sess.ID == "" {
		sess.ID = uuid.NewString()
	}
	now := s.now()
	sess.CreatedAt, sess.LastActiveAt = now, now
	if err := s.db(ctx).Create(sess).Error; err != nil {
		return fmt.Errorf("create session: %w", repoErr(err, "session"))
	}
	return nil
}

// GetSession returns a tenant user's live session by id.
func (s *Store) GetSession(ctx context.Context, tenantID, userID, id string) (*models.Session, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, models.ErrNotFound("session")
	}
	var sess models.Session
	err := s.db(ctx).Where("tenant_id = ? AND user_id = ? AND id = ? AND revoked_at IS NULL AND expires_at > ?", tenantID, userID, id, s.now()).Take(&sess).Error
	if err != nil {
		return nil, fmt.Errorf("get session: %w", repoErr(err, "session"))
	}
	return &sess, nil
}

// ListSessions returns a user's live sessions, most recently active first.
func (s *Store) ListSessions(ctx context.Context, tenantID, userID string) ([]models.Session, error) {
	var out []models.Session
	err := s.db(ctx).Where("tenant_id = ? AND user_id = ? AND revoked_at IS NULL AND expires_at > ?", tenantID, userID, s.now()).
		Order("last_active_at DESC").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list sessions: %w", repoErr(err, "session"))
	}
	return out, nil
}

// TouchSession records activity, writing at most once per interval: the
// UPDATE only matches when the stored time is older than that.
func (s *Store) TouchSession(ctx context.Context, id string, interval time.Duration) error {
	now := s.now()
	err := s.db(ctx).Model(&models.Session{}).Where("id = ? AND last_active_at < ?", id, now.Add(-interval)).
		Update("last_active_at", now).Error
	if err != nil {
		return fmt.Errorf("touch session: %w", repoErr(err, "session"))
	}
	return nil
}

// RevokeSession ends one session: its row is marked revoked, its browser
// cookie stops working, and every token issued under it is deleted, in one
// transaction. Returns NotFound for a session that is not the user's.
func (s *Store) RevokeSession(ctx context.Context, tenantID, userID, id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return models.ErrNotFound("session")
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		res := db.Model(&models.Session{}).Where("tenant_id = ? AND user_id = ? AND id = ? AND revoked_at IS NULL", tenantID, userID, id).
			Update("revoked_at", s.now())
		if res.Error != nil {
			return fmt.Errorf("revoke session: %w", repoErr(res.Error, "session"))
		}
		if res.RowsAffected == 0 {
			return models.ErrNotFound("session")
		}
		return s.deleteSessionTokens(ctx, "session_id = ?", id)
	})
}

// RevokeUserSessions ends every session of a user except keepID (""
// keeps none), deleting their tokens, browser cookies and, with oauthGrants,
// every OAuth grant token of the user too.
func (s *Store) RevokeUserSessions(ctx context.Context, tenantID, userID, keepID string, oauthGrants bool) (int, error) {
	var n int
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		q := db.Model(&models.Session{}).Where("tenant_id = ? AND user_id = ? AND revoked_at IS NULL", tenantID, userID)
		if keepID != "" {
			q = q.Where("id <> ?", keepID)
		}
		var ids []string
		if err := q.Pluck("id", &ids).Error; err != nil {
			return fmt.Errorf("revoke sessions: %w", repoErr(err, "session"))
		}
		n = len(ids)
		if len(ids) > 0 {
			if err := db.Model(&models.Session{}).Where("id IN ?", ids).Update("revoked_at", s.now()).Error; err != nil {
				return fmt.Errorf("revoke sessions: %w", repoErr(err, "session"))
			}
			if err := s.deleteSessionTokens(ctx, "session_id IN ?", ids); err != nil {
				return err
			}
		}
		if oauthGrants {
			cond := "tenant_id = ? AND subject = ?"
			args := []any{tenantID, userID}
			if keepID != "" {
				cond += " AND session_id <> ?"
				args = append(args, keepID)
			}
			for _, t := range []string{tableAccess, tableRefresh} {
				if err := db.Table(t).Where(cond, args...).Delete(&requestRow{}).Error; err != nil {
					return fmt.Errorf("revoke user tokens: %w", mapErr(err))
				}
			}
			lq := db.Where("tenant_id = ? AND user_id = ?", tenantID, userID)
			if keepID != "" {
				lq = lq.Where("session_id IS NULL OR session_id <> ?", keepID)
			}
			if err := lq.Delete(&models.LoginSession{}).Error; err != nil {
				return fmt.Errorf("revoke browser sessions: %w", repoErr(err, "login_session"))
			}
		}
		return nil
	})
	return n, err
}

func (s *Store) deleteSessionTokens(ctx context.Context, cond string, arg any) error {
	db := s.db(ctx)
	for _, t := range []string{tableAccess, tableRefresh} {
		if err := db.Table(t).Where(cond, arg).Delete(&requestRow{}).Error; err != nil {
			return fmt.Errorf("revoke session tokens: %w", mapErr(err))
		}
	}
	if err := db.Where(cond, arg).Delete(&models.LoginSession{}).Error; err != nil {
		return fmt.Errorf("revoke browser session: %w", repoErr(err, "login_session"))
	}
	return nil
}

// RevokeDevice revokes a device and every session started from it.
func (s *Store) RevokeDevice(ctx context.Context, tenantID, userID, id string) error {
	if _, err := uuid.Parse(id); err != nil {
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

// CreateAuditLog writes one audit row (in the caller's transaction, if any).
func (s *Store) CreateAuditLog(ctx context.Context, a *models.AuditLog) error {
	a.ID = uuid.NewString()
	a.CreatedAt = s.now()
	if err := s.db(ctx).Create(a).Error; err != nil {
		return fmt.Errorf("write audit log: %w", repoErr(err, "audit_log"))
	}
	return nil
}

// ListUserAuditLogs returns a user's events, newest first, one page; before
// (an id from the previous page, "" for the first) is the keyset cursor.
func (s *Store) ListUserAuditLogs(ctx context.Context, tenantID, userID string, limit int, beforeTime time.Time, beforeID string) ([]models.AuditLog, error) {
	q := s.db(ctx).Where("tenant_id = ? AND user_id = ?", tenantID, userID)
	if beforeID != "" {
		q = q.Where("created_at < ? OR (created_at = ? AND id < ?)", beforeTime, beforeTime, beforeID)
	}
	var out []models.AuditLog
	if err := q.Order("created_at DESC, id DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list audit logs: %w", repoErr(err, "audit_log"))
	}
	return out, nil
}
