package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	jose "github.com/go-jose/go-jose/v3"
	"github.com/ory/fosite"
	"gorm.io/gorm"

	"github.com/identityd/identityd/models"
)

// Client adapts a models.Client to fosite's client interfaces.
type Client struct {
	models.Client
	now time.Time
}

var (
	_ fosite.Client                   = (*Client)(nil)
	_ fosite.ClientWithSecretRotation = (*Client)(nil)
	_ fosite.OpenIDConnectClient      = (*Client)(nil)
)

// GetID returns the client id.
func (c *Client) GetID() string { return c.ID }

// GetTenantID returns the tenant the client belongs to.
func (c *Client) GetTenantID() string { return c.TenantID }

// GetName returns the client's display name.
func (c *Client) GetName() string { return c.Name }

// GetSkipConsent reports a first-party client that needs no consent page.
func (c *Client) GetSkipConsent() bool { return c.SkipConsent }

// GetAccessTokenFormat is "opaque" or "jwt" (RFC 9068).
func (c *Client) GetAccessTokenFormat() string { return c.AccessTokenFormat }

// GetIDTokenSignedResponseAlg is the JWS algorithm of the client's ID
// tokens: RS256 (the default) or ES256.
func (c *Client) GetIDTokenSignedResponseAlg() string { return c.IDTokenAlg() }

// GetHashedSecret returns the algorithm-prefixed secret hash.
func (c *Client) GetHashedSecret() []byte { return []byte(c.SecretHash) }

// GetRotatedHashes returns the previous secret's hash while its window is open.
func (c *Client) GetRotatedHashes() [][]byte {
	if c.RotatedSecretHash == "" || c.RotatedSecretExpiresAt == nil || !c.now.Before(*c.RotatedSecretExpiresAt) {
		return nil
	}
	return [][]byte{[]byte(c.RotatedSecretHash)}
}

// GetRedirectURIs returns the registered redirect URIs (matched exactly).
func (c *Client) GetRedirectURIs() []string { return c.RedirectURIs }

// GetGrantTypes returns the allowed grant types.
func (c *Client) GetGrantTypes() fosite.Arguments { return fosite.Arguments(c.GrantTypes) }

// GetResponseTypes returns the allowed response types.
func (c *Client) GetResponseTypes() fosite.Arguments { return fosite.Arguments(c.ResponseTypes) }

// GetScopes returns the scopes the client may request.
func (c *Client) GetScopes() fosite.Arguments { return fosite.Arguments(c.Scopes) }

// IsPublic reports a client without a secret.
func (c *Client) IsPublic() bool { return c.Public }

// GetAudience returns the audiences the client may request.
func (c *Client) GetAudience() fosite.Arguments { return fosite.Arguments(c.Audience) }

// GetRequestURIs returns nil: request_uri is not supported.
func (c *Client) GetRequestURIs() []string { return nil }

// GetJSONWebKeys returns nil: private_key_jwt is not offered.
func (c *Client) GetJSONWebKeys() *jose.JSONWebKeySet { return nil }

// GetJSONWebKeysURI returns "".
func (c *Client) GetJSONWebKeysURI() string { return "" }

// GetRequestObjectSigningAlgorithm returns "": request objects are not accepted.
func (c *Client) GetRequestObjectSigningAlgorithm() string { return "" }

// GetTokenEndpointAuthMethod returns how the client authenticates.
func (c *Client) GetTokenEndpointAuthMethod() string { return c.TokenEndpointAuthMethod }

// GetTokenEndpointAuthMethods returns every method the client may
// authenticate with at the token, revocation and introspection endpoints; a
// client registered before the list existed uses its one method.
func (c *Client) GetTokenEndpointAuthMethods() []string {
	if len(c.TokenEndpointAuthMethods) == 0 {
		return []string{c.TokenEndpointAuthMethod}
	}
	return c.TokenEndpointAuthMethods
}

// GetPostLogoutRedirectURIs returns where RP-initiated logout may send the
// browser back (OpenID Connect RP-Initiated Logout 1.0 §3.1), matched exactly.
func (c *Client) GetPostLogoutRedirectURIs() []string { return c.PostLogoutRedirectURIs }

// GetIntrospectAllTenants reports a system-level resource server that may
// introspect tokens of every tenant.
func (c *Client) GetIntrospectAllTenants() bool { return c.IntrospectAllTenants }

// GetTokenEndpointAuthSigningAlgorithm returns RS256 (unused: no JWT client auth).
func (c *Client) GetTokenEndpointAuthSigningAlgorithm() string { return "RS256" }

// GetClient implements fosite.ClientManager. An unknown id is
// fosite.ErrNotFound, and so is a client of a suspended tenant: the join
// makes suspension refuse client authentication (and the loading of any
// stored request of the tenant) at once, in the same indexed read. While a
// tenant's deletion is pending only its first-party client (the login API
// its Owners sign in through) is found: any other is fosite.ErrNotFound
// wrapping models.ErrTenantPendingDeletion, which the token endpoint names.
func (s *Store) GetClient(ctx context.Context, id string) (fosite.Client, error) {
	gen, mode := s.cachedGeneration(ctx)
	if mode == lookupCached {
		if e, hit := s.cache.clients.Get(id); hit && s.cache.fresh(e.gen, gen.Clients, e.at, time.Now()) {
			s.cache.lookedUp("client_lookup", true)
			return &Client{Client: e.client, now: s.now()}, nil
		}
		s.cache.lookedUp("client_lookup", false)
	}
	var row struct {
		models.Client `gorm:"embedded"`
		TenantPending bool
	}
	err := s.db(ctx).Table("oauth_clients").Select("oauth_clients.*, tenants.deletes_at IS NOT NULL AS tenant_pending").
		Joins("JOIN tenants ON tenants.id = oauth_clients.tenant_id").
		Where("oauth_clients.id = ? AND tenants.suspended_at IS NULL", id).Take(&row).Error
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return nil, fosite.ErrNotFound
	}
	if err != nil {
		err = mapErr(err)
		if e, hit := s.cache.clientIfLastResort(mode, err, id, gen.Clients); hit {
			return &Client{Client: e.client, now: s.now()}, nil
		}
		return nil, fmt.Errorf("get client: %w", err)
	}
	m := row.Client
	if row.TenantPending && !strings.HasPrefix(m.ID, models.FirstPartyClientPrefix) {
		return nil, fmt.Errorf("get client: %w: %w", fosite.ErrNotFound, models.ErrTenantPendingDeletion())
	}
	if mode == lookupCached {
		s.cache.clients.Add(id, cachedClient{gen: gen.Clients, at: time.Now(), client: m})
	}
	return &Client{Client: m, now: s.now()}, nil
}

// CreateClient inserts a client; the secret must already be hashed.
func (s *Store) CreateClient(ctx context.Context, c *models.Client) error {
	now := s.now()
	c.CreatedAt, c.UpdatedAt = now, now
	if err := s.db(ctx).Create(c).Error; err != nil {
		return fmt.Errorf("create client: %w", repoErr(err, "client"))
	}
	return nil
}

// GetTenantClient returns a client of the tenant; another tenant's is NotFound.
func (s *Store) GetTenantClient(ctx context.Context, tenantID, id string) (*models.Client, error) {
	var m models.Client
	if err := s.db(ctx).Where("tenant_id = ? AND id = ?", tenantID, id).Take(&m).Error; err != nil {
		return nil, fmt.Errorf("get client: %w", repoErr(err, "client"))
	}
	return &m, nil
}

// RotateClientSecret installs a new secret hash; the previous hash stays
// valid until keepOldUntil (nil: revoked at once).
func (s *Store) RotateClientSecret(ctx context.Context, tenantID, id, newHash string, keepOldUntil *time.Time) error {
	return s.InTx(ctx, func(ctx context.Context) error {
		var m models.Client
		if err := s.db(ctx).Scopes(s.forUpdate).Where("tenant_id = ? AND id = ?", tenantID, id).Take(&m).Error; err != nil {
			return fmt.Errorf("rotate client secret: %w", repoErr(err, "client"))
		}
		old := m.SecretHash
		if keepOldUntil == nil {
			old = ""
		}
		err := s.db(ctx).Model(&models.Client{}).Where("id = ?", id).Updates(map[string]any{
			"secret_hash":               newHash,
			"rotated_secret_hash":       old,
			"rotated_secret_expires_at": keepOldUntil,
			"updated_at":                s.now(),
		}).Error
		if err != nil {
			return fmt.Errorf("rotate client secret: %w", repoErr(err, "client"))
		}
		s.invalidateLookups(ctx, AllLookups)
		return nil
	})
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
// and response types, scopes, audience, skip-consent, token format, ID
// token algorithm, post-logout redirect URIs, accepted authentication methods and
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
				"id_token_signed_response_alg", "post_logout_redirect_uris", "token_endpoint_auth_method", "token_endpoint_auth_methods", "introspect_all_tenants", "updated_at").
			Updates(&models.Client{Name: m.Name, RedirectURIs: m.RedirectURIs, GrantTypes: m.GrantTypes, ResponseTypes: m.ResponseTypes,
				Scopes: m.Scopes, Audience: m.Audience, SkipConsent: m.SkipConsent, AccessTokenFormat: m.AccessTokenFormat,
				IDTokenSignedResponseAlg: m.IDTokenSignedResponseAlg, PostLogoutRedirectURIs: m.PostLogoutRedirectURIs, TokenEndpointAuthMethod: m.TokenEndpointAuthMethod,
				TokenEndpointAuthMethods: m.TokenEndpointAuthMethods, IntrospectAllTenants: m.IntrospectAllTenants, UpdatedAt: m.UpdatedAt}).Error
		if err != nil {
			return fmt.Errorf("update client: %w", repoErr(err, "client"))
		}
		s.invalidateLookups(ctx, AllLookups)
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
		s.invalidateLookups(ctx, AllLookups)
		return nil
	})
}
