package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/identityd/identityd/models"
)

func utcInvitation(i *models.Invitation) {
	i.ExpiresAt, i.CreatedAt, i.UpdatedAt = i.ExpiresAt.UTC(), i.CreatedAt.UTC(), i.UpdatedAt.UTC()
	for _, p := range []**time.Time{&i.AcceptedAt, &i.RevokedAt} {
		if *p != nil {
			t := (*p).UTC()
			*p = &t
		}
	}
}

// CreateInvitation stores i (TokenHash set); it fills the id and timestamps.
func (s *Store) CreateInvitation(ctx context.Context, i *models.Invitation) error {
	now := s.now()
	i.ID, i.CreatedAt, i.UpdatedAt = uuid.NewString(), now, now
	if i.Roles == nil {
		i.Roles = models.StringList{}
	}
	if err := s.db(ctx).Create(i).Error; err != nil {
		return fmt.Errorf("create invitation: %w", repoErr(err, "invitation"))
	}
	return nil
}

// GetInvitation returns the tenant's invitation; another tenant's, unknown
// or malformed is NotFound "invitation".
func (s *Store) GetInvitation(ctx context.Context, tenantID, id string) (*models.Invitation, error) {
	if !models.ValidID(id) {
		return nil, models.ErrNotFound("invitation")
	}
	var i models.Invitation
	if err := s.db(ctx).Where("tenant_id = ? AND id = ?", tenantID, id).Take(&i).Error; err != nil {
		return nil, fmt.Errorf("get invitation: %w", repoErr(err, "invitation"))
	}
	utcInvitation(&i)
	return &i, nil
}

// GetInvitationByTokenHash returns the invitation whose link token hashes
// to hash (whatever its state), or NotFound "invitation".
func (s *Store) GetInvitationByTokenHash(ctx context.Context, hash string) (*models.Invitation, error) {
	var i models.Invitation
	if err := s.db(ctx).Where("token_hash = ?", hash).Take(&i).Error; err != nil {
		return nil, fmt.Errorf("get invitation: %w", repoErr(err, "invitation"))
	}
	utcInvitation(&i)
	return &i, nil
}

// ListInvitations returns one page of the tenant's invitations, newest
// first, and how many match in all; f.Status ("" for all) filters by the
// state at f.Now.
func (s *Store) ListInvitations(ctx context.Context, f models.InvitationFilter) ([]models.Invitation, int, error) {
	q := s.db(ctx).Model(&models.Invitation{}).Where("tenant_id = ?", f.TenantID)
	switch f.Status {
	case "":
	case models.InvitationAccepted:
		q = q.Where("accepted_at IS NOT NULL")
	case models.InvitationRevoked:
		q = q.Where("accepted_at IS NULL AND revoked_at IS NOT NULL")
	case models.InvitationExpired:
		q = q.Where("accepted_at IS NULL AND revoked_at IS NULL AND expires_at <= ?", f.Now)
	case models.InvitationPending:
		q = q.Where("accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?", f.Now)
	default:
		return nil, 0, models.ErrInvalid(map[string]string{"status": "Use pending, accepted, expired or revoked."})
	}
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count invitations: %w", repoErr(err, "invitation"))
	}
	limit := f.Limit
	if limit <= 0 {
		limit = 100
	}
	var out []models.Invitation
	if err := q.Order("created_at DESC, id").Offset(f.Offset).Limit(limit).Find(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("list invitations: %w", repoErr(err, "invitation"))
	}
	for k := range out {
		utcInvitation(&out[k])
	}
	return out, int(total), nil
}

// pendingAt restricts a statement to invitations still pending at now.
func pendingAt(now time.Time) func(*gorm.DB) *gorm.DB {
	return func(db *gorm.DB) *gorm.DB {
		return db.Where("accepted_at IS NULL AND revoked_at IS NULL AND expires_at > ?", now)
	}
}

// RevokeInvitation withdraws the tenant's invitation if it is still
// pending at now, in one statement; false when it was not (accepted,
// revoked or expired; concurrent calls: one true). Unknown is NotFound.
func (s *Store) RevokeInvitation(ctx context.Context, tenantID, id string, now time.Time) (bool, error) {
	if !models.ValidID(id) {
		return false, models.ErrNotFound("invitation")
	}
	res := s.db(ctx).Model(&models.Invitation{}).Where("tenant_id = ? AND id = ?", tenantID, id).Scopes(pendingAt(now)).
		Updates(map[string]any{"revoked_at": now, "updated_at": now})
	if res.Error != nil {
		return false, fmt.Errorf("revoke invitation: %w", repoErr(res.Error, "invitation"))
	}
	if res.RowsAffected == 0 {
		if _, err := s.GetInvitation(ctx, tenantID, id); err != nil {
			return false, err
		}
		return false, nil
	}
	return true, nil
}

// ReissueInvitation gives the tenant's invitation a new token hash and
// expiry if it has not been accepted or revoked (an expired one is
// renewed); false when it has. The old token stops matching at once.
func (s *Store) ReissueInvitation(ctx context.Context, tenantID, id, tokenHash string, expiresAt time.Time) (bool, error) {
	if !models.ValidID(id) {
		return false, models.ErrNotFound("invitation")
	}
	res := s.db(ctx).Model(&models.Invitation{}).Where("tenant_id = ? AND id = ? AND accepted_at IS NULL AND revoked_at IS NULL", tenantID, id).
		Updates(map[string]any{"token_hash": tokenHash, "expires_at": expiresAt, "updated_at": s.now()})
	if res.Error != nil {
		return false, fmt.Errorf("reissue invitation: %w", repoErr(res.Error, "invitation"))
	}
	if res.RowsAffected == 0 {
		if _, err := s.GetInvitation(ctx, tenantID, id); err != nil {
			return false, err
		}
		return false, nil
	}
	return true, nil
}

// ClaimInvitation marks the invitation whose token hashes to tokenHash
// accepted at now, in one statement, if it is still pending: of concurrent
// claims exactly one is true. The accepting user is recorded later with
// SetInvitationUser (in the same transaction).
func (s *Store) ClaimInvitation(ctx context.Context, id, tokenHash string, now time.Time) (bool, error) {
	res := s.db(ctx).Model(&models.Invitation{}).Where("id = ? AND token_hash = ?", id, tokenHash).Scopes(pendingAt(now)).
		Updates(map[string]any{"accepted_at": now, "updated_at": now})
	if res.Error != nil {
		return false, fmt.Errorf("claim invitation: %w", repoErr(res.Error, "invitation"))
	}
	return res.RowsAffected == 1, nil
}

// SetInvitationUser records who accepted a claimed invitation.
func (s *Store) SetInvitationUser(ctx context.Context, id, userID string) error {
	res := s.db(ctx).Model(&models.Invitation{}).Where("id = ?", id).Update("accepted_user_id", userID)
	if res.Error != nil {
		return fmt.Errorf("set invitation user: %w", repoErr(res.Error, "invitation"))
	}
	if res.RowsAffected == 0 {
		return models.ErrNotFound("invitation")
	}
	return nil
}
