package storage

import (
	"context"
	"fmt"

	"github.com/google/uuid"
	"gorm.io/gorm/clause"

	"github.com/identityd/identityd/models"
)

// The state of sign-ins through an upstream identity provider (issue 12
// §1): the started flows (federation_states), the roles a provider's group
// mapping granted (federation_role_grants) and the upstream side of a
// federated session (federation_logins).

// CreateFederationState stores a started flow; its ID is assigned when
// empty (the service assigns it first, to bind the sealed PKCE verifier to
// it). StateHash must be set.
func (s *Store) CreateFederationState(ctx context.Context, st *models.FederationState) error {
	if st.ID == "" {
		st.ID = uuid.NewString()
	}
	st.CreatedAt = s.now()
	st.ExpiresAt = st.ExpiresAt.UTC()
	if err := s.db(ctx).Create(st).Error; err != nil {
		return fmt.Errorf("create federation state: %w", repoErr(err, "federation_state"))
	}
	return nil
}

// ConsumeFederationState finds the live (unexpired, unconsumed) flow whose
// state hashes to stateHash and marks it consumed in the same conditional
// UPDATE: of any number of concurrent callbacks with one state, exactly one
// gets the row; the others, a replay, an expired or an unknown state get
// NotFound "federation_state".
func (s *Store) ConsumeFederationState(ctx context.Context, stateHash string) (*models.FederationState, error) {
	if stateHash == "" {
		return nil, models.ErrNotFound("federation_state")
	}
	now := s.now()
	db := s.db(ctx)
	// One conditional UPDATE decides the winner: the row is claimed only
	// while unconsumed and unexpired, whatever the isolation level.
	res := db.Model(&models.FederationState{}).Where("state_hash = ? AND consumed_at IS NULL AND expires_at > ?", stateHash, now).
		Update("consumed_at", now)
	if res.Error != nil {
		return nil, fmt.Errorf("consume federation state: %w", repoErr(res.Error, "federation_state"))
	}
	if res.RowsAffected != 1 {
		return nil, models.ErrNotFound("federation_state")
	}
	var st models.FederationState
	if err := db.Where("state_hash = ?", stateHash).Take(&st).Error; err != nil {
		return nil, fmt.Errorf("get federation state: %w", repoErr(err, "federation_state"))
	}
	st.CreatedAt, st.ExpiresAt = st.CreatedAt.UTC(), st.ExpiresAt.UTC()
	if st.ConsumedAt != nil {
		c := st.ConsumedAt.UTC()
		st.ConsumedAt = &c
	}
	return &st, nil
}

// ListFederationRoleGrants returns the ids of the roles the provider's
// group mapping granted the tenant's user.
func (s *Store) ListFederationRoleGrants(ctx context.Context, tenantID, userID, providerID string) ([]string, error) {
	if !models.ValidID(tenantID) || !models.ValidID(userID) || !models.ValidID(providerID) {
		return []string{}, nil
	}
	var ids []string
	err := s.db(ctx).Model(&models.FederationRoleGrant{}).Where("tenant_id = ? AND user_id = ? AND provider_id = ?", tenantID, userID, providerID).
		Order("role_id").Pluck("role_id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("list federation role grants: %w", repoErr(err, "federation_role_grant"))
	}
	if ids == nil {
		ids = []string{}
	}
	return ids, nil
}

// AddFederationRoleGrant records that the provider's mapping granted the
// role; recording it twice is not an error.
func (s *Store) AddFederationRoleGrant(ctx context.Context, g *models.FederationRoleGrant) error {
	g.CreatedAt = s.now()
	if err := s.db(ctx).Clauses(clause.OnConflict{DoNothing: true}).Create(g).Error; err != nil {
		return fmt.Errorf("add federation role grant: %w", repoErr(err, "federation_role_grant"))
	}
	return nil
}

// DeleteFederationRoleGrant forgets a grant; an unknown one is not an error.
func (s *Store) DeleteFederationRoleGrant(ctx context.Context, tenantID, userID, providerID, roleID string) error {
	if !models.ValidID(tenantID) || !models.ValidID(userID) || !models.ValidID(providerID) || !models.ValidID(roleID) {
		return nil
	}
	err := s.db(ctx).Where("tenant_id = ? AND user_id = ? AND provider_id = ? AND role_id = ?", tenantID, userID, providerID, roleID).
		Delete(&models.FederationRoleGrant{}).Error
	if err != nil {
		return fmt.Errorf("delete federation role grant: %w", repoErr(err, "federation_role_grant"))
	}
	return nil
}

// CreateFederationLogin records the upstream side of a federated session.
func (s *Store) CreateFederationLogin(ctx context.Context, l *models.FederationLogin) error {
	l.CreatedAt = s.now()
	l.ExpiresAt = l.ExpiresAt.UTC()
	if err := s.db(ctx).Create(l).Error; err != nil {
		return fmt.Errorf("create federation login: %w", repoErr(err, "federation_login"))
	}
	return nil
}

// GetFederationLogin returns the upstream side of the tenant's session,
// or NotFound "federation_login" (a session that was not federated).
func (s *Store) GetFederationLogin(ctx context.Context, tenantID, sessionID string) (*models.FederationLogin, error) {
	if !models.ValidID(tenantID) || !models.ValidID(sessionID) {
		return nil, models.ErrNotFound("federation_login")
	}
	var l models.FederationLogin
	if err := s.db(ctx).Where("tenant_id = ? AND session_id = ?", tenantID, sessionID).Take(&l).Error; err != nil {
		return nil, fmt.Errorf("get federation login: %w", repoErr(err, "federation_login"))
	}
	l.CreatedAt, l.ExpiresAt = l.CreatedAt.UTC(), l.ExpiresAt.UTC()
	return &l, nil
}
