package storage

import (
	"context"
	"fmt"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

// CreateLoginSession inserts a browser login session; TokenHash must be set.
func (s *Store) CreateLoginSession(ctx context.Context, ls *models.LoginSession) error {
	if ls.ID == "" {
		ls.ID = uuid.NewString()
	}
	ls.CreatedAt = s.now()
	// UTC, as every stored time: SQLite compares times as text, so a time
	// stored with another offset would compare wrongly against now.
	ls.AuthTime, ls.ExpiresAt = ls.AuthTime.UTC(), ls.ExpiresAt.UTC()
	if err := s.db(ctx).Create(ls).Error; err != nil {
		return fmt.Errorf("create login session: %w", repoErr(err, "login_session"))
	}
	return nil
}

// GetLoginSession returns the unexpired session whose cookie token hashes to tokenHash.
func (s *Store) GetLoginSession(ctx context.Context, tokenHash string) (*models.LoginSession, error) {
	var ls models.LoginSession
	err := s.db(ctx).Where("token_hash = ? AND expires_at > ?", tokenHash, s.now()).Take(&ls).Error
	if err != nil {
		return nil, fmt.Errorf("get login session: %w", repoErr(err, "login_session"))
	}
	return &ls, nil
}

// DeleteLoginSession removes the session whose cookie token hashes to tokenHash.
func (s *Store) DeleteLoginSession(ctx context.Context, tokenHash string) error {
	if err := s.db(ctx).Where("token_hash = ?", tokenHash).Delete(&models.LoginSession{}).Error; err != nil {
		return fmt.Errorf("delete login session: %w", repoErr(err, "login_session"))
	}
	return nil
}
