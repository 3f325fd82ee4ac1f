package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

// Upstream identity providers and linked identities (issue 12 §1). Every
// read of a tenant's rows takes the tenant; another tenant's id, an
// unknown or a malformed one is models.ErrNotFound.

func utcProvider(p *models.IdentityProvider) {
	p.CreatedAt, p.UpdatedAt = p.CreatedAt.UTC(), p.UpdatedAt.UTC()
}

func utcIdentity(i *models.UserIdentity) {
	i.CreatedAt = i.CreatedAt.UTC()
	if i.LastLoginAt != nil {
		t := i.LastLoginAt.UTC()
		i.LastLoginAt = &t
	}
}

// CreateIdentityProvider inserts p; its ID is assigned when empty (the
// service assigns it first when it seals a secret bound to it).
func (s *Store) CreateIdentityProvider(ctx context.Context, p *models.IdentityProvider) error {
	if p.ID == "" {
		p.ID = uuid.NewString()
	}
	now := s.now()
	p.CreatedAt, p.UpdatedAt = now, now
	if p.Scopes == nil {
		p.Scopes = models.StringList{}
	}
	if p.AllowedDomains == nil {
		p.AllowedDomains = models.StringList{}
	}
	if err := s.db(ctx).Create(p).Error; err != nil {
		return fmt.Errorf("create identity provider: %w", repoErr(err, "identity_provider"))
	}
	return nil
}

// GetIdentityProvider returns the tenant's provider.
func (s *Store) GetIdentityProvider(ctx context.Context, tenantID, id string) (*models.IdentityProvider, error) {
	if !models.ValidID(id) || !models.ValidID(tenantID) {
		return nil, models.ErrNotFound("identity_provider")
	}
	var p models.IdentityProvider
	if err := s.db(ctx).Where("tenant_id = ? AND id = ?", tenantID, id).Take(&p).Error; err != nil {
		return nil, fmt.Errorf("get identity provider: %w", repoErr(err, "identity_provider"))
	}
	utcProvider(&p)
	return &p, nil
}

// ListIdentityProviders returns the tenant's providers, oldest first (a
// tenant has a handful: no paging).
func (s *Store) ListIdentityProviders(ctx context.Context, tenantID string) ([]models.IdentityProvider, error) {
	if !models.ValidID(tenantID) {
		return []models.IdentityProvider{}, nil
	}
	var out []models.IdentityProvider
	if err := s.db(ctx).Where("tenant_id = ?", tenantID).Order("created_at, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list identity providers: %w", repoErr(err, "identity_provider"))
	}
	for i := range out {
		utcProvider(&out[i])
	}
	return out, nil
}

// UpdateIdentityProvider saves every field of p (the tenant's provider
// p.ID) and stamps UpdatedAt; NotFound when it is not the tenant's.
func (s *Store) UpdateIdentityProvider(ctx context.Context, p *models.IdentityProvider) error {
	if !models.ValidID(p.ID) || !models.ValidID(p.TenantID) {
		return models.ErrNotFound("identity_provider")
	}
	p.UpdatedAt = s.now()
	res := s.db(ctx).Model(&models.IdentityProvider{}).Where("tenant_id = ? AND id = ?", p.TenantID, p.ID).
		Select("kind", "name", "button_label", "issuer", "authorization_url", "token_url", "userinfo_url", "client_id",
			"client_secret_sealed", "client_auth_method", "scopes", "claims", "group_roles", "jit_provisioning",
			"allowed_domains", "enabled", "updated_at").Updates(p)
	if res.Error != nil {
		return fmt.Errorf("update identity provider: %w", repoErr(res.Error, "identity_provider"))
	}
	if res.RowsAffected == 0 {
		return models.ErrNotFound("identity_provider")
	}
	return nil
}

// DeleteIdentityProvider removes the tenant's provider and every identity
// linked through it, and returns how many identities went with it.
func (s *Store) DeleteIdentityProvider(ctx context.Context, tenantID, id string) (int, error) {
	if !models.ValidID(id) || !models.ValidID(tenantID) {
		return 0, models.ErrNotFound("identity_provider")
	}
	var unlinked int64
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		res := db.Where("tenant_id = ? AND provider_id = ?", tenantID, id).Delete(&models.UserIdentity{})
		if res.Error != nil {
			return fmt.Errorf("delete identity provider: identities: %w", repoErr(res.Error, "identity_provider"))
		}
		unlinked = res.RowsAffected
		res = db.Where("tenant_id = ? AND id = ?", tenantID, id).Delete(&models.IdentityProvider{})
		if res.Error != nil {
			return fmt.Errorf("delete identity provider: %w", repoErr(res.Error, "identity_provider"))
		}
		if res.RowsAffected == 0 {
			return models.ErrNotFound("identity_provider")
		}
		return nil
	})
	return int(unlinked), err
}

// CreateUserIdentity links an upstream identity to an account; a
// (provider, subject) already linked is Conflict "user_identity".
func (s *Store) CreateUserIdentity(ctx context.Context, i *models.UserIdentity) error {
	i.ID, i.CreatedAt = uuid.NewString(), s.now()
	if err := s.db(ctx).Create(i).Error; err != nil {
		return fmt.Errorf("create user identity: %w", repoErr(err, "user_identity"))
	}
	return nil
}

// GetUserIdentityBySubject returns the identity the tenant's provider
// calls subject, or NotFound "user_identity".
func (s *Store) GetUserIdentityBySubject(ctx context.Context, tenantID, providerID, subject string) (*models.UserIdentity, error) {
	if !models.ValidID(providerID) || !models.ValidID(tenantID) {
		return nil, models.ErrNotFound("user_identity")
	}
	var i models.UserIdentity
	if err := s.db(ctx).Where("tenant_id = ? AND provider_id = ? AND subject = ?", tenantID, providerID, subject).Take(&i).Error; err != nil {
		return nil, fmt.Errorf("get user identity: %w", repoErr(err, "user_identity"))
	}
	utcIdentity(&i)
	return &i, nil
}

// ListUserIdentities returns the identities linked to the tenant's user,
// oldest first.
func (s *Store) ListUserIdentities(ctx context.Context, tenantID, userID string) ([]models.UserIdentity, error) {
	if !models.ValidID(userID) || !models.ValidID(tenantID) {
		return []models.UserIdentity{}, nil
	}
	var out []models.UserIdentity
	if err := s.db(ctx).Where("tenant_id = ? AND user_id = ?", tenantID, userID).Order("created_at, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list user identities: %w", repoErr(err, "user_identity"))
	}
	for i := range out {
		utcIdentity(&out[i])
	}
	return out, nil
}

// DeleteUserIdentity unlinks the user's identity id; NotFound when it is
// not theirs.
func (s *Store) DeleteUserIdentity(ctx context.Context, tenantID, userID, id string) error {
	if !models.ValidID(id) || !models.ValidID(userID) || !models.ValidID(tenantID) {
		return models.ErrNotFound("user_identity")
	}
	res := s.db(ctx).Where("tenant_id = ? AND user_id = ? AND id = ?", tenantID, userID, id).Delete(&models.UserIdentity{})
	if res.Error != nil {
		return fmt.Errorf("delete user identity: %w", repoErr(res.Error, "user_identity"))
	}
	if res.RowsAffected == 0 {
		return models.ErrNotFound("user_identity")
	}
	return nil
}

// TouchUserIdentity records a sign-in through the identity.
func (s *Store) TouchUserIdentity(ctx context.Context, id string, at time.Time) error {
	if !models.ValidID(id) {
		return models.ErrNotFound("user_identity")
	}
	if err := s.db(ctx).Model(&models.UserIdentity{}).Where("id = ?", id).Update("last_login_at", at.UTC()).Error; err != nil {
		return fmt.Errorf("touch user identity: %w", repoErr(err, "user_identity"))
	}
	return nil
}

// CountSignInMethods returns how many linked identities and usable
// (not disabled) passkeys the tenant's user has: with the password, the
// ways they can sign in (identity keeps at least one).
func (s *Store) CountSignInMethods(ctx context.Context, tenantID, userID string) (identities, passkeys int, err error) {
	if !models.ValidID(userID) || !models.ValidID(tenantID) {
		return 0, 0, nil
	}
	var ni, np int64
	db := s.db(ctx)
	if err := db.Model(&models.UserIdentity{}).Where("tenant_id = ? AND user_id = ?", tenantID, userID).Count(&ni).Error; err != nil {
		return 0, 0, fmt.Errorf("count user identities: %w", repoErr(err, "user_identity"))
	}
	if err := db.Model(&models.WebAuthnCredential{}).Where("tenant_id = ? AND user_id = ? AND NOT disabled", tenantID, userID).Count(&np).Error; err != nil {
		return 0, 0, fmt.Errorf("count passkeys: %w", repoErr(err, "webauthn_credential"))
	}
	return int(ni), int(np), nil
}

// LockUserSignIn returns the tenant's user with its row locked until the
// transaction in ctx ends (SQLite's transactions already exclude each
// other), so that the removals of two sign-in methods of one user run one
// after the other and identity.KeepsAWayIn sees the first's result.
func (s *Store) LockUserSignIn(ctx context.Context, tenantID, id string) (*models.User, error) {
	if !models.ValidID(id) || !models.ValidID(tenantID) {
		return nil, models.ErrNotFound("user")
	}
	var u models.User
	if err := s.forUpdate(s.db(ctx).Where("tenant_id = ? AND id = ?", tenantID, id)).Take(&u).Error; err != nil {
		return nil, fmt.Errorf("lock user: %w", repoErr(err, "user"))
	}
	return &u, nil
}

// LockTenantProviders locks the tenant's row until the transaction in ctx
// ends, so that two changes to the tenant's providers (two claims of one
// e-mail domain) run one after the other.
func (s *Store) LockTenantProviders(ctx context.Context, tenantID string) error {
	if !models.ValidID(tenantID) {
		return models.ErrNotFound("tenant")
	}
	var ids []string
	if err := s.forUpdate(s.db(ctx).Model(&models.Tenant{}).Where("id = ?", tenantID)).Pluck("id", &ids).Error; err != nil {
		return fmt.Errorf("lock tenant providers: %w", repoErr(err, "tenant"))
	}
	if len(ids) == 0 {
		return models.ErrNotFound("tenant")
	}
	return nil
}
