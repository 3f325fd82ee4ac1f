package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// MachineStore is what Machines needs from storage. Every method takes the
// tenant; another tenant's object is NotFound.
type MachineStore interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	CreateAuditLog(ctx context.Context, a *models.AuditLog) error
	GetTenant(ctx context.Context, id string) (*models.Tenant, error)

	ListTenantClients(ctx context.Context, tenantID string) ([]models.Client, error)
	GetTenantClient(ctx context.Context, tenantID, id string) (*models.Client, error)
	// UpdateTenantClient runs fn under a row lock and saves the
	// administrable fields (never the tenant, the secrets or the holder).
	UpdateTenantClient(ctx context.Context, tenantID, id string, fn func(c *models.Client) error) (*models.Client, error)
	// DeleteTenantClient deletes the client and every token issued to it.
	DeleteTenantClient(ctx context.Context, tenantID, id string) error

	ListServiceAccounts(ctx context.Context, tenantID string) ([]models.ServiceAccount, error)
	// CreateServiceAccount assigns the id; a taken name is a Conflict.
	CreateServiceAccount(ctx context.Context, sa *models.ServiceAccount) error
	GetServiceAccount(ctx context.Context, tenantID, id string) (*models.ServiceAccount, error)
	UpdateServiceAccount(ctx context.Context, tenantID, id string, fn func(sa *models.ServiceAccount) error) (*models.ServiceAccount, error)
	DeleteServiceAccount(ctx context.Context, tenantID, id string) error
	ListServiceAccountRoles(ctx context.Context, tenantID, id string) ([]models.Role, error)
	// ResolvePermissions returns what a principal (here: a service account)
	// effectively holds; GetRole a role of the tenant or a global role.
	ResolvePermissions(ctx context.Context, tenantID, principalID string) ([]string, error)
	GetRole(ctx context.Context, tenantID, id string) (*models.Role, error)
	// AssignServiceAccountRole: a role of another tenant is NotFound, a role
	// already held a Conflict.
	AssignServiceAccountRole(ctx context.Context, tenantID, serviceAccountID, roleID string) (*models.Role, error)
	RemoveServiceAccountRole(ctx context.Context, tenantID, serviceAccountID, roleID string) error

	CreateAPIKey(ctx context.Context, k *models.APIKey) error
	ListAPIKeys(ctx context.Context, tenantID, serviceAccountID string) ([]models.APIKey, error)
	GetAPIKeyForUpdate(ctx context.Context, tenantID, serviceAccountID, id string) (*models.APIKey, error)
	RevokeAPIKey(ctx context.Context, tenantID, serviceAccountID, id string) error
	// LookupAPIKey finds a live key by its keyed hash in one indexed read;
	// anything else (revoked, expired, inactive account, suspended tenant)
	// is NotFound.
	LookupAPIKey(ctx context.Context, keyHash string, now time.Time) (keyID, tenantID, serviceAccountID string, lastUsedAt *time.Time, err error)
	// TouchAPIKey records a use unless one was recorded within every.
	TouchAPIKey(ctx context.Context, id string, now time.Time, every time.Duration) error
	// ServiceAccountOfClient returns the holder of a client and whether it
	// may act; a client without a holder is NotFound.
	ServiceAccountOfClient(ctx context.Context, tenantID, clientID string) (string, bool, error)
}

// KeyedHasher makes keyed hashes (keyring.Keyring implements it).
type KeyedHasher interface {
	MAC(purpose string, parts ...[]byte) string
}

// Machines manages a tenant's non-human callers: OAuth clients, service
// accounts with their roles, and API keys; and it authenticates API keys and
// client-credentials tokens of clients held by a service account.
//
// A service account is changed, and credentials for it (API keys, clients
// bound to it, their rotation) are made, only by an actor whose grants cover
// the account's effective permissions, and a role is given to it only by
// one whose grants cover the role (CanActOn, CanGrant: the same rules as
// for users).
type Machines struct {
	Store MachineStore
	// Admin creates clients and rotates their secrets (one validation, one
	// rotation window for the CLI and the API).
	Admin *Admin
	Keys  KeyedHasher
	Log   *slog.Logger
	Now   func() time.Time
}

// apiKeyPrefix starts every API key (handlers.apiKeyPrefix routes bearer
// credentials by it).
const apiKeyPrefix = "idk_"

// apiKeyTouchEvery is how often a key's last use is written at most.
const apiKeyTouchEvery = time.Minute

// firstPartyPrefix marks the tenants' first-party clients, which the login
// API owns: the admin API neither lists nor changes them.
const firstPartyPrefix = "first-party-"

func (m *Machines) now() time.Time {
	if m.Now != nil {
		return m.Now().UTC()
	}
	return time.Now().UTC()
}

func (m *Machines) log() *slog.Logger {
	if m.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return m.Log
}

// audit writes an admin event: the actor is the principal (the system admin
// when impersonating), never a secret in the metadata.
func (m *Machines) audit(ctx context.Context, p Principal, action string, meta Meta, md map[string]any) error {
	actor := p.UserID
	if md == nil {
		md = map[string]any{}
	}
	if p.ActorID != "" {
		actor = p.ActorID
		md["on_behalf_of"] = p.UserID
	}
	if p.Kind == models.PrincipalServiceAccount {
		md["actor_kind"] = models.PrincipalServiceAccount
	}
	return WriteAudit(ctx, m.Store, Event{TenantID: p.TenantID, ActorID: actor, Action: action, Meta: meta, Metadata: md})
}

// auditAfter records an event for a change already committed; a failure is
// logged rather than reported as the change failing.
func (m *Machines) auditAfter(ctx context.Context, p Principal, action string, meta Meta, md map[string]any) {
	if err := m.audit(ctx, p, action, meta, md); err != nil {
		m.log().ErrorContext(ctx, "write audit log", "action", action, "err", err)
	}
}

func errClientNotFound() error { return models.ErrNotFound("client") }

// actOnServiceAccount loads the tenant's service account id for a change of
// it or of its credentials: the actor's grants must cover what the account
// effectively holds (CanActOn), danger actions with a step-up.
func (m *Machines) actOnServiceAccount(ctx context.Context, a Actor, id string) (*models.ServiceAccount, error) {
	sa, err := m.Store.GetServiceAccount(ctx, a.TenantID, id)
	if err != nil {
		return nil, err
	}
	perms, err := m.Store.ResolvePermissions(ctx, a.TenantID, sa.ID)
	if err != nil {
		return nil, err
	}
	if err := CanActOn(ctx, a, perms); err != nil {
		return nil, err
	}
	return sa, nil
}

// actOnClient applies actOnServiceAccount to the holder of a client, if it
// has one: a bound client's secret is the account's credential.
func (m *Machines) actOnClient(ctx context.Context, a Actor, id string) error {
	c, err := m.Store.GetTenantClient(ctx, a.TenantID, id)
	if err != nil {
		return err
	}
	if c.ServiceAccountID == nil {
		return nil
	}
	_, err = m.actOnServiceAccount(ctx, a, *c.ServiceAccountID)
	return err
}

// ---- OAuth clients ----

// Clients lists the tenant's OAuth clients, first-party clients left out.
func (m *Machines) Clients(ctx context.Context, p Principal) ([]models.Client, error) {
	all, err := m.Store.ListTenantClients(ctx, p.TenantID)
	if err != nil {
		return nil, err
	}
	out := make([]models.Client, 0, len(all))
	for _, c := range all {
		if !strings.HasPrefix(c.ID, firstPartyPrefix) {
			out = append(out, c)
		}
	}
	return out, nil
}

// Client returns one of the tenant's clients.
func (m *Machines) Client(ctx context.Context, p Principal, id string) (*models.Client, error) {
	if strings.HasPrefix(id, firstPartyPrefix) {
		return nil, errClientNotFound()
	}
	return m.Store.GetTenantClient(ctx, p.TenantID, id)
}

// CreateClient creates a client in the principal's tenant, validated as the
// CLI's are; the id and secret are always generated here. A client held by a
// service account must be a confidential client-credentials client of the
// same tenant, and binding it is acting on the account (actOnServiceAccount:
// the actor covers what the account holds).
func (m *Machines) CreateClient(ctx context.Context, a Actor, in NewClient, meta Meta) (*CreatedClient, error) {
	if a.Kind != PrincipalSystem { // the command line may name them (--id, --secret)
		in.ID, in.Secret = "", ""
	}
	if in.IntrospectAllTenants && !a.SystemAdmin {
		return nil, errIntrospectAllTenants()
	}
	if in.ServiceAccountID != "" {
		fields := map[string]string{}
		if _, err := m.actOnServiceAccount(ctx, a, in.ServiceAccountID); err != nil {
			if !models.IsKind(err, models.KindNotFound) {
				return nil, err
			}
			fields["service_account_id"] = "No such service account in this tenant."
		}
		if in.Public || !slices.Contains(in.GrantTypes, "client_credentials") {
			fields["service_account_id"] = "Only a confidential client_credentials client can act as a service account."
		}
		if len(fields) > 0 {
			return nil, models.ErrInvalid(fields)
		}
	}
	t, err := m.Store.GetTenant(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	in.TenantSlug = t.Slug
	cc, err := m.Admin.CreateClient(ctx, in)
	if err != nil {
		return nil, err
	}
	md := map[string]any{"client_id": cc.Client.ID, "name": cc.Client.Name, "grant_types": cc.Client.GrantTypes}
	if in.ServiceAccountID != "" {
		md["service_account_id"] = in.ServiceAccountID
	}
	m.auditAfter(ctx, a.Principal, AuditClientCreated, meta, md)
	return cc, nil
}

// errIntrospectAllTenants refuses a tenant administrator the setting that
// would let a client see every tenant's tokens, and any change to (or the
// secret of) a client that has it.
func errIntrospectAllTenants() error {
	return models.NewError(models.KindForbidden, "forbidden", "Only a system admin can let a client introspect every tenant's tokens.", nil)
}

// ClientPatch is a partial update of a client; nil fields stay as they are.
type ClientPatch struct {
	Name              *string
	RedirectURIs      *[]string
	Scopes            *[]string
	GrantTypes        *[]string
	Audience          *[]string
	SkipConsent       *bool
	AccessTokenFormat *string
	// PostLogoutRedirectURIs replaces the post-logout redirect URIs.
	PostLogoutRedirectURIs *[]string
	// AuthMethods replaces the accepted authentication methods of a
	// confidential client (one method restricts it to that one).
	AuthMethods *[]string
	// IntrospectAllTenants: the caller must be a system administrator.
	IntrospectAllTenants *bool
}

// UpdateClient applies patch to the tenant's client, validating the result
// as CreateClient validates a new one.
func (m *Machines) UpdateClient(ctx context.Context, a Actor, id string, patch ClientPatch, meta Meta) (*models.Client, error) {
	if strings.HasPrefix(id, firstPartyPrefix) {
		return nil, errClientNotFound()
	}
	if patch.IntrospectAllTenants != nil && !a.SystemAdmin {
		return nil, errIntrospectAllTenants()
	}
	var changed []string
	var c *models.Client
	err := m.Store.InTx(ctx, func(ctx context.Context) error {
		if err := m.actOnClient(ctx, a, id); err != nil {
			return err
		}
		var err error
		c, err = m.Store.UpdateTenantClient(ctx, a.TenantID, id, func(c *models.Client) error {
			if c.IntrospectAllTenants && !a.SystemAdmin {
				return errIntrospectAllTenants() // a system-level resource server is a system admin's to change
			}
			changed = applyClientPatch(c, patch)
			in := NewClient{ID: c.ID, Name: c.Name, GrantTypes: c.GrantTypes, Scopes: c.Scopes, RedirectURIs: c.RedirectURIs,
				Audience: c.Audience, Public: c.Public, SkipConsent: c.SkipConsent, AuthMethod: c.TokenEndpointAuthMethod,
				AuthMethods: c.TokenEndpointAuthMethods, AccessTokenFormat: c.AccessTokenFormat,
				PostLogoutRedirectURIs: c.PostLogoutRedirectURIs}
			if patch.AuthMethods != nil && !slices.Contains(*patch.AuthMethods, in.AuthMethod) {
				in.AuthMethod = "" // the registered method follows the new list
			}
			if fields := in.validate(); len(fields) > 0 {
				return models.ErrInvalid(fields)
			}
			c.TokenEndpointAuthMethod, c.TokenEndpointAuthMethods = in.AuthMethod, in.AuthMethods
			if c.ServiceAccountID != nil && !slices.Contains(c.GrantTypes, "client_credentials") {
				return models.ErrInvalid(map[string]string{"grant_types": "A client held by a service account keeps client_credentials."})
			}
			c.AccessTokenFormat = in.AccessTokenFormat
			c.ResponseTypes = nil
			if slices.Contains(c.GrantTypes, "authorization_code") {
				c.ResponseTypes = []string{"code"}
			}
			return nil
		})
		if err != nil {
			return err
		}
		return m.audit(ctx, a.Principal, AuditClientUpdated, meta, map[string]any{"client_id": id, "fields": changed})
	})
	if err != nil {
		return nil, err
	}
	return c, nil
}

func applyClientPatch(c *models.Client, p ClientPatch) []string {
	var changed []string
	if p.Name != nil {
		c.Name = strings.TrimSpace(*p.Name)
		changed = append(changed, "name")
	}
	if p.RedirectURIs != nil {
		c.RedirectURIs = *p.RedirectURIs
		changed = append(changed, "redirect_uris")
	}
	if p.Scopes != nil {
		c.Scopes = *p.Scopes
		changed = append(changed, "scopes")
	}
	if p.GrantTypes != nil {
		c.GrantTypes = *p.GrantTypes
		changed = append(changed, "grant_types")
	}
	if p.Audience != nil {
		c.Audience = *p.Audience
		changed = append(changed, "audience")
	}
	if p.SkipConsent != nil {
		c.SkipConsent = *p.SkipConsent
		changed = append(changed, "skip_consent")
	}
	if p.PostLogoutRedirectURIs != nil {
		c.PostLogoutRedirectURIs = *p.PostLogoutRedirectURIs
		changed = append(changed, "post_logout_redirect_uris")
	}
	if p.AuthMethods != nil {
		c.TokenEndpointAuthMethods = *p.AuthMethods
		changed = append(changed, "token_endpoint_auth_methods")
	}
	if p.IntrospectAllTenants != nil {
		c.IntrospectAllTenants = *p.IntrospectAllTenants
		changed = append(changed, "introspect_all_tenants")
	}
	if p.AccessTokenFormat != nil {
		c.AccessTokenFormat = *p.AccessTokenFormat
		if c.AccessTokenFormat == "" {
			c.AccessTokenFormat = "invalid" // an explicit empty format is not a reset
		}
		changed = append(changed, "access_token_format")
	}
	return changed
}

// DeleteClient deletes the tenant's client and revokes every token issued to it.
func (m *Machines) DeleteClient(ctx context.Context, a Actor, id string, meta Meta) error {
	if strings.HasPrefix(id, firstPartyPrefix) {
		return errClientNotFound()
	}
	return m.Store.InTx(ctx, func(ctx context.Context) error {
		if err := m.actOnClient(ctx, a, id); err != nil {
			return err
		}
		if err := m.Store.DeleteTenantClient(ctx, a.TenantID, id); err != nil {
			return err
		}
		return m.audit(ctx, a.Principal, AuditClientDeleted, meta, map[string]any{"client_id": id})
	})
}

// RotateClientSecret gives the tenant's client a new secret, returned once;
// the old one stays valid for the configured rotation window.
func (m *Machines) RotateClientSecret(ctx context.Context, a Actor, id string, meta Meta) (string, *time.Time, error) {
	if strings.HasPrefix(id, firstPartyPrefix) {
		return "", nil, errClientNotFound()
	}
	if err := m.actOnClient(ctx, a, id); err != nil {
		return "", nil, err
	}
	if !a.SystemAdmin {
		// A tenant administrator must not obtain the secret of the tenant's
		// system-level resource server, which sees every tenant's tokens.
		c, err := m.Store.GetTenantClient(ctx, a.TenantID, id)
		if err != nil {
			return "", nil, err
		}
		if c.IntrospectAllTenants {
			return "", nil, errIntrospectAllTenants()
		}
	}
	secret, err := m.Admin.RotateClientSecret(ctx, a.TenantID, id)
	if err != nil {
		return "", nil, err
	}
	var until *time.Time
	if m.Admin.RotationWindow > 0 {
		if c, err := m.Store.GetTenantClient(ctx, a.TenantID, id); err == nil {
			until = c.RotatedSecretExpiresAt
		}
	}
	md := map[string]any{"client_id": id, "old_secret_valid_until": until}
	m.auditAfter(ctx, a.Principal, AuditClientSecretRotated, meta, md)
	return secret, until, nil
}

// ---- service accounts ----

// ServiceAccountInput is a service account's editable fields.
type ServiceAccountInput struct {
	Name        *string
	Description *string
	IsActive    *bool
}

func checkServiceAccount(sa *models.ServiceAccount) error {
	fields := map[string]string{}
	if sa.Name == "" || len(sa.Name) > 200 || clientHasControl(sa.Name) {
		fields["name"] = "Give a name of 1 to 200 characters, without control characters."
	}
	if len(sa.Description) > 1000 || strings.ContainsRune(sa.Description, 0) {
		fields["description"] = "Use at most 1000 characters."
	}
	if len(fields) > 0 {
		return models.ErrInvalid(fields)
	}
	return nil
}

// ServiceAccounts lists the tenant's service accounts.
func (m *Machines) ServiceAccounts(ctx context.Context, p Principal) ([]models.ServiceAccount, error) {
	return m.Store.ListServiceAccounts(ctx, p.TenantID)
}

// ServiceAccount returns one of the tenant's service accounts with its roles.
func (m *Machines) ServiceAccount(ctx context.Context, p Principal, id string) (*models.ServiceAccount, []models.Role, error) {
	sa, err := m.Store.GetServiceAccount(ctx, p.TenantID, id)
	if err != nil {
		return nil, nil, err
	}
	roles, err := m.Store.ListServiceAccountRoles(ctx, p.TenantID, id)
	if err != nil {
		return nil, nil, err
	}
	return sa, roles, nil
}

// CreateServiceAccount creates an active service account in the tenant.
func (m *Machines) CreateServiceAccount(ctx context.Context, a Actor, in ServiceAccountInput, meta Meta) (*models.ServiceAccount, error) {
	sa := &models.ServiceAccount{TenantID: a.TenantID, IsActive: true}
	applySAInput(sa, in)
	if err := checkServiceAccount(sa); err != nil {
		return nil, err
	}
	err := m.Store.InTx(ctx, func(ctx context.Context) error {
		if err := m.Store.CreateServiceAccount(ctx, sa); err != nil {
			return err
		}
		return m.audit(ctx, a.Principal, AuditServiceAccountCreated, meta, map[string]any{"service_account_id": sa.ID, "name": sa.Name})
	})
	if err != nil {
		return nil, err
	}
	return sa, nil
}

func applySAInput(sa *models.ServiceAccount, in ServiceAccountInput) []string {
	var changed []string
	if in.Name != nil {
		sa.Name = strings.TrimSpace(*in.Name)
		changed = append(changed, "name")
	}
	if in.Description != nil {
		sa.Description = strings.TrimSpace(*in.Description)
		changed = append(changed, "description")
	}
	if in.IsActive != nil {
		sa.IsActive = *in.IsActive
		changed = append(changed, "is_active")
	}
	return changed
}

// UpdateServiceAccount changes a service account's name, description or
// active flag; an inactive account's keys and tokens stop working at once.
func (m *Machines) UpdateServiceAccount(ctx context.Context, a Actor, id string, in ServiceAccountInput, meta Meta) (*models.ServiceAccount, error) {
	var sa *models.ServiceAccount
	err := m.Store.InTx(ctx, func(ctx context.Context) error {
		var changed []string
		if _, err := m.actOnServiceAccount(ctx, a, id); err != nil {
			return err
		}
		var err error
		sa, err = m.Store.UpdateServiceAccount(ctx, a.TenantID, id, func(sa *models.ServiceAccount) error {
			changed = applySAInput(sa, in)
			return checkServiceAccount(sa)
		})
		if err != nil {
			return err
		}
		md := map[string]any{"service_account_id": id, "fields": changed}
		if in.IsActive != nil {
			md["is_active"] = *in.IsActive
		}
		return m.audit(ctx, a.Principal, AuditServiceAccountUpdated, meta, md)
	})
	if err != nil {
		return nil, err
	}
	return sa, nil
}

// DeleteServiceAccount deletes a service account with its roles and keys.
func (m *Machines) DeleteServiceAccount(ctx context.Context, a Actor, id string, meta Meta) error {
	return m.Store.InTx(ctx, func(ctx context.Context) error {
		if _, err := m.actOnServiceAccount(ctx, a, id); err != nil {
			return err
		}
		if err := m.Store.DeleteServiceAccount(ctx, a.TenantID, id); err != nil {
			return err
		}
		return m.audit(ctx, a.Principal, AuditServiceAccountDeleted, meta, map[string]any{"service_account_id": id})
	})
}

// AssignServiceAccountRole gives a service account a role of the tenant:
// the actor must cover the account's permissions and the role's.
func (m *Machines) AssignServiceAccountRole(ctx context.Context, a Actor, id, roleID string, meta Meta) (*models.Role, error) {
	if roleID == "" {
		return nil, models.ErrInvalid(map[string]string{"role_id": "Required."})
	}
	var r *models.Role
	err := m.Store.InTx(ctx, func(ctx context.Context) error {
		if _, err := m.actOnServiceAccount(ctx, a, id); err != nil {
			return err
		}
		role, err := m.Store.GetRole(ctx, a.TenantID, roleID)
		if err != nil {
			return err
		}
		if err := CanGrant(ctx, a, role.Permissions); err != nil {
			return err
		}
		if r, err = m.Store.AssignServiceAccountRole(ctx, a.TenantID, id, roleID); err != nil {
			return err
		}
		return m.audit(ctx, a.Principal, AuditServiceAccountRoleAssigned, meta, map[string]any{"service_account_id": id, "role_id": roleID, "role": r.Name})
	})
	if err != nil {
		return nil, err
	}
	return r, nil
}

// RemoveServiceAccountRole takes a role from a service account.
func (m *Machines) RemoveServiceAccountRole(ctx context.Context, a Actor, id, roleID string, meta Meta) error {
	return m.Store.InTx(ctx, func(ctx context.Context) error {
		if _, err := m.actOnServiceAccount(ctx, a, id); err != nil {
			return err
		}
		if err := m.Store.RemoveServiceAccountRole(ctx, a.TenantID, id, roleID); err != nil {
			return err
		}
		return m.audit(ctx, a.Principal, AuditServiceAccountRoleRemoved, meta, map[string]any{"service_account_id": id, "role_id": roleID})
	})
}

// ---- API keys ----

// NewAPIKey is a created key: Key is shown once and never stored.
type NewAPIKey struct {
	Key    string
	APIKey *models.APIKey
}

// MaxAPIKeyDays bounds expires_in_days.
const MaxAPIKeyDays = 3650

// apiKeyDisplayLen is how much of a key is kept to recognise it by: the
// "idk_" prefix and 8 of its 43 random characters.
const apiKeyDisplayLen = len(apiKeyPrefix) + 8

// mintAPIKey makes a key ("idk_" + 32 random bytes, base64url) and its row.
func (m *Machines) mintAPIKey(p Principal, serviceAccountID, name string, expiresAt *time.Time) (string, *models.APIKey, error) {
	raw, err := keyring.RandomToken(32)
	if err != nil {
		return "", nil, models.ErrInternal(err)
	}
	key := apiKeyPrefix + raw
	return key, &models.APIKey{
		TenantID: p.TenantID, ServiceAccountID: serviceAccountID, Name: name,
		Prefix: key[:apiKeyDisplayLen], KeyHash: m.hashKey(key), ExpiresAt: expiresAt,
	}, nil
}

func (m *Machines) hashKey(key string) string {
	return m.Keys.MAC(keyring.PurposeLookup, []byte(key))
}

// CreateAPIKey makes a key for the tenant's service account, expiring after
// expiresInDays (nil: never). The key is returned once.
func (m *Machines) CreateAPIKey(ctx context.Context, a Actor, serviceAccountID, name string, expiresInDays *int, meta Meta) (*NewAPIKey, error) {
	name = strings.TrimSpace(name)
	fields := map[string]string{}
	if len(name) > 200 || clientHasControl(name) {
		fields["name"] = "Use at most 200 characters, without control characters."
	}
	var expires *time.Time
	if expiresInDays != nil {
		if *expiresInDays < 1 || *expiresInDays > MaxAPIKeyDays {
			fields["expires_in_days"] = fmt.Sprintf("Use a whole number of days from 1 to %d.", MaxAPIKeyDays)
		} else {
			t := m.now().Add(time.Duration(*expiresInDays) * 24 * time.Hour)
			expires = &t
		}
	}
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	key, row, err := m.mintAPIKey(a.Principal, serviceAccountID, name, expires)
	if err != nil {
		return nil, err
	}
	err = m.Store.InTx(ctx, func(ctx context.Context) error {
		if _, err := m.actOnServiceAccount(ctx, a, serviceAccountID); err != nil {
			return err
		}
		if err := m.Store.CreateAPIKey(ctx, row); err != nil {
			return err
		}
		return m.audit(ctx, a.Principal, AuditAPIKeyCreated, meta, map[string]any{
			"service_account_id": serviceAccountID, "api_key_id": row.ID, "prefix": row.Prefix, "expires_at": row.ExpiresAt})
	})
	if err != nil {
		return nil, err
	}
	return &NewAPIKey{Key: key, APIKey: row}, nil
}

// APIKeys lists a service account's live keys (never a key or its hash).
func (m *Machines) APIKeys(ctx context.Context, p Principal, serviceAccountID string) ([]models.APIKey, error) {
	if _, err := m.Store.GetServiceAccount(ctx, p.TenantID, serviceAccountID); err != nil {
		return nil, err
	}
	return m.Store.ListAPIKeys(ctx, p.TenantID, serviceAccountID)
}

// RevokeAPIKey revokes a key; it stops authenticating at once.
func (m *Machines) RevokeAPIKey(ctx context.Context, a Actor, serviceAccountID, keyID string, meta Meta) error {
	return m.Store.InTx(ctx, func(ctx context.Context) error {
		if _, err := m.actOnServiceAccount(ctx, a, serviceAccountID); err != nil {
			return err
		}
		if err := m.Store.RevokeAPIKey(ctx, a.TenantID, serviceAccountID, keyID); err != nil {
			return err
		}
		return m.audit(ctx, a.Principal, AuditAPIKeyRevoked, meta, map[string]any{"service_account_id": serviceAccountID, "api_key_id": keyID})
	})
}

// RotateAPIKey replaces a live key with a new one of the same name and
// lifetime, revoking the old one in the same transaction.
func (m *Machines) RotateAPIKey(ctx context.Context, a Actor, serviceAccountID, keyID string, meta Meta) (*NewAPIKey, error) {
	var out *NewAPIKey
	err := m.Store.InTx(ctx, func(ctx context.Context) error {
		if _, err := m.actOnServiceAccount(ctx, a, serviceAccountID); err != nil {
			return err
		}
		old, err := m.Store.GetAPIKeyForUpdate(ctx, a.TenantID, serviceAccountID, keyID)
		if err != nil {
			return err
		}
		now := m.now()
		if old.RevokedAt != nil || old.ExpiresAt != nil && !old.ExpiresAt.After(now) {
			return models.NewError(models.KindConflict, "api_key_inactive", "A revoked or expired key cannot be rotated; create a new one.", nil)
		}
		var expires *time.Time
		if old.ExpiresAt != nil {
			t := now.Add(old.ExpiresAt.Sub(old.CreatedAt))
			expires = &t
		}
		key, row, err := m.mintAPIKey(a.Principal, serviceAccountID, old.Name, expires)
		if err != nil {
			return err
		}
		if err := m.Store.RevokeAPIKey(ctx, a.TenantID, serviceAccountID, keyID); err != nil {
			return err
		}
		if err := m.Store.CreateAPIKey(ctx, row); err != nil {
			return err
		}
		out = &NewAPIKey{Key: key, APIKey: row}
		return m.audit(ctx, a.Principal, AuditAPIKeyRotated, meta, map[string]any{
			"service_account_id": serviceAccountID, "old_api_key_id": keyID, "api_key_id": row.ID, "prefix": row.Prefix})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// ---- authentication ----

// errBadKey is the one answer for every unusable key, so a caller cannot
// tell unknown from revoked, expired or suspended.
func errBadKey() error {
	return models.NewError(models.KindUnauthenticated, "invalid_token", "The API key is not valid.", nil)
}

// AuthenticateAPIKey returns the service-account principal of a live key:
// one indexed read by the key's keyed hash, then at most one write a minute
// recording its use.
func (m *Machines) AuthenticateAPIKey(ctx context.Context, key string) (Principal, error) {
	if !strings.HasPrefix(key, apiKeyPrefix) || len(key) != len(apiKeyPrefix)+43 {
		return Principal{}, errBadKey()
	}
	now := m.now()
	keyID, tenantID, saID, lastUsed, err := m.Store.LookupAPIKey(ctx, m.hashKey(key), now)
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			return Principal{}, errBadKey()
		}
		return Principal{}, err
	}
	if lastUsed == nil || now.Sub(*lastUsed) >= apiKeyTouchEvery {
		if err := m.Store.TouchAPIKey(ctx, keyID, now, apiKeyTouchEvery); err != nil {
			m.log().WarnContext(ctx, "record api key use", "err", err)
		}
	}
	return Principal{Kind: models.PrincipalServiceAccount, TenantID: tenantID, UserID: saID}, nil
}

// ServiceAccountForClient returns the principal a client-credentials token
// of clientID acts as: the service account holding the client. ok is false
// for a client no service account holds; an inactive account or a suspended
// tenant is Unauthenticated.
func (m *Machines) ServiceAccountForClient(ctx context.Context, tenantID, clientID string) (Principal, bool, error) {
	saID, live, err := m.Store.ServiceAccountOfClient(ctx, tenantID, clientID)
	if err != nil {
		var me *models.Error
		if errors.As(err, &me) && me.Kind == models.KindNotFound {
			return Principal{}, false, nil
		}
		return Principal{}, false, err
	}
	if !live {
		return Principal{}, false, models.NewError(models.KindUnauthenticated, "invalid_token", "The service account of this client is not active.", nil)
	}
	return Principal{Kind: models.PrincipalServiceAccount, TenantID: tenantID, UserID: saID, ClientID: clientID}, true, nil
}
