package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

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
	if !models.ValidID(id) {
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
	if !models.ValidID(id) {
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
			s.invalidateLookups(ctx, TokenLookups)
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
	s.invalidateLookups(ctx, TokenLookups)
	if err := db.Where(cond, arg).Delete(&models.LoginSession{}).Error; err != nil {
		return fmt.Errorf("revoke browser session: %w", repoErr(err, "login_session"))
	}
	return nil
}
