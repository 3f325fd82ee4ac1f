package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/identityd/identityd/models"
)

// Repositories of a tenant's machines: its OAuth clients (as the admin API
// sees them), service accounts, their roles and their API keys. Every method
// takes the tenant; ids that are not UUIDs are NotFound, never a SQL error.

func validUUID(ids ...string) bool {
	for _, id := range ids {
		if _, err := uuid.Parse(id); err != nil {
			return false
		}
	}
	return true
}

// ListTenantClients returns the tenant's clients, oldest first.
func (s *Store) ListTenantClients(ctx context.Context, tenantID string) ([]models.Client, error) {
	var out []models.Client
	if err := s.db(ctx).Where("tenant_id = ?", tenantID).Order("created_at, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list clients: %w", repoErr(err, "client"))
	}
	return out, nil
}

// UpdateTenantClient runs fn on the tenant's client under a row lock and
// saves the fields an administrator may change: name, redirect URIs, grant
// and response types, scopes, audience, skip-consent, token format,
// post-logout redirect URIs, accepted authentication methods and
// all-tenant introspection. The
// tenant, the secret hashes and the service account never change here.
func (s *Store) UpdateTenantClient(ctx context.Context, tenantID, id string, fn func(c *models.Client) error) (*models.Client, error) {
	var m models.Client
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		if err := db.Scopes(s.forUpdate).Where("tenant_id = ? AND id = ?", tenantID, id).Take(&m).Error; err != nil {
			return fmt.Errorf("update client: %w", repoErr(err, "client"))
		}
		if err := fn(&m); err != nil {
			return err
		}
		m.UpdatedAt = s.now()
		err := db.Model(&models.Client{}).Where("tenant_id = ? AND id = ?", tenantID, id).
			Select("name", "redirect_uris", "grant_types", "response_types", "scopes", "audience", "skip_consent", "access_token_format",
				"post_logout_redirect_uris", "token_endpoint_auth_method", "token_endpoint_auth_methods", "introspect_all_tenants", "updated_at").
			Updates(&models.Client{Name: m.Name, RedirectURIs: m.RedirectURIs, GrantTypes: m.GrantTypes, ResponseTypes: m.ResponseTypes,
				Scopes: m.Scopes, Audience: m.Audience, SkipConsent: m.SkipConsent, AccessTokenFormat: m.AccessTokenFormat,
				PostLogoutRedirectURIs: m.PostLogoutRedirectURIs, TokenEndpointAuthMethod: m.TokenEndpointAuthMethod,
				TokenEndpointAuthMethods: m.TokenEndpointAuthMethods, IntrospectAllTenants: m.IntrospectAllTenants, UpdatedAt: m.UpdatedAt}).Error
		if err != nil {
			return fmt.Errorf("update client: %w", repoErr(err, "client"))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &m, nil
}

// DeleteTenantClient deletes the tenant's client and, in the same
// transaction, every token, code and session issued to it.
func (s *Store) DeleteTenantClient(ctx context.Context, tenantID, id string) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		res := db.Where("tenant_id = ? AND id = ?", tenantID, id).Delete(&models.Client{})
		if res.Error != nil {
			return fmt.Errorf("delete client: %w", repoErr(res.Error, "client"))
		}
		if res.RowsAffected == 0 {
			return models.ErrNotFound("client")
		}
		for _, table := range []string{tableAccess, tableRefresh, tableCodes, tablePKCE, tableOIDC} {
			if err := db.Table(table).Where("client_id = ?", id).Delete(&requestRow{}).Error; err != nil {
				return fmt.Errorf("delete client tokens: %w", repoErr(err, "client"))
			}
		}
		return nil
	})
}

// ListServiceAccounts returns the tenant's service accounts by name.
func (s *Store) ListServiceAccounts(ctx context.Context, tenantID string) ([]models.ServiceAccount, error) {
	var out []models.ServiceAccount
	if err := s.db(ctx).Where("tenant_id = ?", tenantID).Order("name, id").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list service accounts: %w", repoErr(err, "service_account"))
	}
	return out, nil
}

// CreateServiceAccount inserts a service account; a taken name is a Conflict.
func (s *Store) CreateServiceAccount(ctx context.Context, sa *models.ServiceAccount) error {
	now := s.now()
	sa.ID, sa.CreatedAt, sa.UpdatedAt = uuid.NewString(), now, now
	if err := s.db(ctx).Create(sa).Error; err != nil {
		return fmt.Errorf("create service account: %w", repoErr(err, "service_account"))
	}
	return nil
}

// GetServiceAccount returns the tenant's service account.
func (s *Store) GetServiceAccount(ctx context.Context, tenantID, id string) (*models.ServiceAccount, error) {
	if !validUUID(id) {
		return nil, models.ErrNotFound("service_account")
	}
	var sa models.ServiceAccount
	if err := s.db(ctx).Where("tenant_id = ? AND id = ?", tenantID, id).Take(&sa).Error; err != nil {
		return nil, fmt.Errorf("get service account: %w", repoErr(err, "service_account"))
	}
	return &sa, nil
}

// UpdateServiceAccount runs fn on the tenant's service account under a row
// lock and saves its name, description and active flag.
func (s *Store) UpdateServiceAccount(ctx context.Context, tenantID, id string, fn func(sa *models.ServiceAccount) error) (*models.ServiceAccount, error) {
	if !validUUID(id) {
		return nil, models.ErrNotFound("service_account")
	}
	var sa models.ServiceAccount
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		if err := db.Scopes(s.forUpdate).Where("tenant_id = ? AND id = ?", tenantID, id).Take(&sa).Error; err != nil {
			return fmt.Errorf("update service account: %w", repoErr(err, "service_account"))
		}
		if err := fn(&sa); err != nil {
			return err
		}
		sa.UpdatedAt = s.now()
		err := db.Model(&models.ServiceAccount{}).Where("tenant_id = ? AND id = ?", tenantID, id).Updates(map[string]any{
			"name": sa.Name, "description": sa.Description, "is_active": sa.IsActive, "updated_at": sa.UpdatedAt,
		}).Error
		if err != nil {
			return fmt.Errorf("update service account: %w", repoErr(err, "service_account"))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &sa, nil
}

// DeleteServiceAccount deletes the tenant's service account with its role
// and policy assignments; its API keys go with it (ON DELETE CASCADE) and
// clients it held stop acting as it (ON DELETE SET NULL).
func (s *Store) DeleteServiceAccount(ctx context.Context, tenantID, id string) error {
	if !validUUID(id) {
		return models.ErrNotFound("service_account")
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		res := db.Where("tenant_id = ? AND id = ?", tenantID, id).Delete(&models.ServiceAccount{})
		if res.Error != nil {
			return fmt.Errorf("delete service account: %w", repoErr(res.Error, "service_account"))
		}
		if res.RowsAffected == 0 {
			return models.ErrNotFound("service_account")
		}
		if err := db.Where("tenant_id = ? AND principal_id = ?", tenantID, id).Delete(&models.RoleAssignment{}).Error; err != nil {
			return fmt.Errorf("delete service account roles: %w", repoErr(err, "role_assignment"))
		}
		if err := db.Where("tenant_id = ? AND principal_id = ?", tenantID, id).Delete(&models.PolicyAssignment{}).Error; err != nil {
			return fmt.Errorf("delete service account policies: %w", repoErr(err, "policy_assignment"))
		}
		return nil
	})
}

// ListServiceAccountRoles returns the roles a service account holds.
func (s *Store) ListServiceAccountRoles(ctx context.Context, tenantID, id string) ([]models.Role, error) {
	if !validUUID(id) {
		return nil, models.ErrNotFound("service_account")
	}
	var out []models.Role
	err := s.db(ctx).Model(&models.Role{}).
		Joins("JOIN role_assignments a ON a.role_id = roles.id").
		Where("a.tenant_id = ? AND a.principal_id = ? AND a.principal_type = ?", tenantID, id, models.PrincipalServiceAccount).
		Order("roles.name").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list service account roles: %w", repoErr(err, "role"))
	}
	return out, nil
}

// AssignServiceAccountRole gives the tenant's service account a role of the
// tenant (or a global role). Another tenant's role is NotFound; holding it
// already is a Conflict.
func (s *Store) AssignServiceAccountRole(ctx context.Context, tenantID, serviceAccountID, roleID string) (*models.Role, error) {
	if !validUUID(roleID) {
		return nil, models.ErrNotFound("role")
	}
	var r models.Role
	err := s.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.GetServiceAccount(ctx, tenantID, serviceAccountID); err != nil {
			return err
		}
		if err := s.db(ctx).Where("id = ? AND (tenant_id = ? OR tenant_id IS NULL)", roleID, tenantID).Take(&r).Error; err != nil {
			return fmt.Errorf("assign role: %w", repoErr(err, "role"))
		}
		return s.AssignRole(ctx, tenantID, serviceAccountID, models.PrincipalServiceAccount, roleID)
	})
	if err != nil {
		return nil, err
	}
	return &r, nil
}

// RemoveServiceAccountRole takes a role from the tenant's service account;
// a role it does not hold is NotFound.
func (s *Store) RemoveServiceAccountRole(ctx context.Context, tenantID, serviceAccountID, roleID string) error {
	if !validUUID(serviceAccountID, roleID) {
		return models.ErrNotFound("role_assignment")
	}
	res := s.db(ctx).Where("tenant_id = ? AND principal_id = ? AND principal_type = ? AND role_id = ?",
		tenantID, serviceAccountID, models.PrincipalServiceAccount, roleID).Delete(&models.RoleAssignment{})
	if res.Error != nil {
		return fmt.Errorf("remove role: %w", repoErr(res.Error, "role_assignment"))
	}
	if res.RowsAffected == 0 {
		return models.ErrNotFound("role_assignment")
	}
	return nil
}

// CreateAPIKey inserts an API key; KeyHash must already be the keyed hash.
func (s *Store) CreateAPIKey(ctx context.Context, k *models.APIKey) error {
	k.ID, k.CreatedAt = uuid.NewString(), s.now()
	if err := s.db(ctx).Create(k).Error; err != nil {
		return fmt.Errorf("create api key: %w", repoErr(err, "api_key"))
	}
	return nil
}

// ListAPIKeys returns the live (unrevoked) keys of a service account, newest first.
func (s *Store) ListAPIKeys(ctx context.Context, tenantID, serviceAccountID string) ([]models.APIKey, error) {
	if !validUUID(serviceAccountID) {
		return nil, models.ErrNotFound("service_account")
	}
	var out []models.APIKey
	err := s.db(ctx).Where("tenant_id = ? AND service_account_id = ? AND revoked_at IS NULL", tenantID, serviceAccountID).
		Order("created_at DESC, id").Find(&out).Error
	if err != nil {
		return nil, fmt.Errorf("list api keys: %w", repoErr(err, "api_key"))
	}
	return out, nil
}

// GetAPIKeyForUpdate returns a key of the tenant's service account, locked
// for the rest of the caller's transaction.
func (s *Store) GetAPIKeyForUpdate(ctx context.Context, tenantID, serviceAccountID, id string) (*models.APIKey, error) {
	if !validUUID(serviceAccountID, id) {
		return nil, models.ErrNotFound("api_key")
	}
	var k models.APIKey
	err := s.db(ctx).Scopes(s.forUpdate).Where("tenant_id = ? AND service_account_id = ? AND id = ?", tenantID, serviceAccountID, id).Take(&k).Error
	if err != nil {
		return nil, fmt.Errorf("get api key: %w", repoErr(err, "api_key"))
	}
	return &k, nil
}

// RevokeAPIKey stamps revoked_at on a key of the tenant's service account
// (idempotent: a revoked key keeps its first stamp). An unknown key is NotFound.
func (s *Store) RevokeAPIKey(ctx context.Context, tenantID, serviceAccountID, id string) error {
	if !validUUID(serviceAccountID, id) {
		return models.ErrNotFound("api_key")
	}
	res := s.db(ctx).Model(&models.APIKey{}).Where("tenant_id = ? AND service_account_id = ? AND id = ?", tenantID, serviceAccountID, id).
		Update("revoked_at", gorm.Expr("COALESCE(revoked_at, ?)", s.now()))
	if res.Error != nil {
		return fmt.Errorf("revoke api key: %w", repoErr(res.Error, "api_key"))
	}
	if res.RowsAffected == 0 {
		return models.ErrNotFound("api_key")
	}
	return nil
}

// apiKeyLookupSQL is the whole API-key lookup: one read through the unique
// key_hash index, joined by primary key to the service account (active) and
// the tenant (not suspended), the key neither revoked nor expired at ?.
const apiKeyLookupSQL = `SELECT k.id AS key_id, k.tenant_id, k.service_account_id, k.last_used_at
FROM api_keys k
JOIN service_accounts sa ON sa.id = k.service_account_id AND sa.tenant_id = k.tenant_id
JOIN tenants t ON t.id = k.tenant_id
WHERE k.key_hash = ? AND k.revoked_at IS NULL AND (k.expires_at IS NULL OR k.expires_at > ?)
AND sa.is_active AND t.suspended_at IS NULL`

// LookupAPIKey finds the live key whose keyed hash is keyHash, in one
// indexed read. Unknown, revoked, expired, of an inactive service account or
// of a suspended tenant: NotFound.
func (s *Store) LookupAPIKey(ctx context.Context, keyHash string, now time.Time) (keyID, tenantID, serviceAccountID string, lastUsedAt *time.Time, err error) {
	var rows []struct {
		KeyID            string
		TenantID         string
		ServiceAccountID string
		LastUsedAt       *time.Time
	}
	if err := s.db(ctx).Raw(apiKeyLookupSQL, keyHash, now.UTC()).Scan(&rows).Error; err != nil {
		return "", "", "", nil, fmt.Errorf("lookup api key: %w", repoErr(err, "api_key"))
	}
	if len(rows) == 0 {
		return "", "", "", nil, models.ErrNotFound("api_key")
	}
	r := rows[0]
	return r.KeyID, r.TenantID, r.ServiceAccountID, r.LastUsedAt, nil
}

// TouchAPIKey records a use of the key at now unless one was recorded within
// every, so busy keys cost one write a minute, whichever instance serves them.
func (s *Store) TouchAPIKey(ctx context.Context, id string, now time.Time, every time.Duration) error {
	err := s.db(ctx).Model(&models.APIKey{}).
		Where("id = ? AND (last_used_at IS NULL OR last_used_at <= ?)", id, now.UTC().Add(-every)).
		Update("last_used_at", now.UTC()).Error
	if err != nil {
		return fmt.Errorf("touch api key: %w", repoErr(err, "api_key"))
	}
	return nil
}

// ServiceAccountOfClient returns the service account holding the tenant's
// client and whether it may act: the account active and the tenant not
// suspended. A client held by no service account is NotFound.
func (s *Store) ServiceAccountOfClient(ctx context.Context, tenantID, clientID string) (string, bool, error) {
	var rows []struct {
		ID        string
		IsActive  bool
		Suspended bool
	}
	if !validUUID(tenantID) {
		return "", false, models.ErrNotFound("service_account")
	}
	err := s.db(ctx).Raw(`SELECT sa.id, sa.is_active, t.suspended_at IS NOT NULL AS suspended
		FROM oauth_clients c
		JOIN service_accounts sa ON sa.id = c.service_account_id AND sa.tenant_id = c.tenant_id
		JOIN tenants t ON t.id = c.tenant_id
		WHERE c.id = ? AND c.tenant_id = ?`, clientID, tenantID).Scan(&rows).Error
	if err != nil {
		return "", false, fmt.Errorf("service account of client: %w", repoErr(err, "client"))
	}
	if len(rows) == 0 {
		return "", false, models.ErrNotFound("service_account")
	}
	return rows[0].ID, rows[0].IsActive && !rows[0].Suspended, nil
}
