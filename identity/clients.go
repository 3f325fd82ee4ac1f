package identity

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"regexp"
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

// ---- API keys ----

// ---- authentication ----

// SecretHasher hashes client secrets (oauth.Hasher implements it).
type SecretHasher interface {
	Hash(ctx context.Context, data []byte) ([]byte, error)
}

// NewClient is what CreateClient takes.
type NewClient struct {
	TenantSlug   string
	ID           string
	Secret       string
	Name         string
	GrantTypes   []string
	Scopes       []string
	RedirectURIs []string
	Audience     []string
	Public       bool
	SkipConsent  bool
	// AuthMethod is the registered method: client_secret_basic (default),
	// client_secret_post, or none (the only one for public clients). Named
	// alone (AuthMethods empty) it restricts the client to that method.
	AuthMethod string
	// AuthMethods are every method a confidential client may use. Empty with
	// AuthMethod empty: both client_secret_basic and client_secret_post.
	AuthMethods       []string
	AccessTokenFormat string
	// PostLogoutRedirectURIs are where RP-initiated logout may return the
	// browser, matched exactly (the same rules as redirect URIs).
	PostLogoutRedirectURIs []string
	// IntrospectAllTenants makes the client a system-level resource server
	// that may introspect every tenant's tokens. Only the CLI and system
	// administrators may set it (the caller checks).
	IntrospectAllTenants bool
	// ServiceAccountID, when set, makes the client's client-credentials
	// tokens act as that service account (the caller checks it is the tenant's).
	ServiceAccountID string
}

// CreatedClient is a new client with its secret, shown once.
type CreatedClient struct {
	Client *models.Client
	Secret string
}

var (
	knownGrants  = []string{"authorization_code", "client_credentials", "refresh_token"}
	knownMethods = []string{"client_secret_basic", "client_secret_post", "none"}
	clientIDRE   = regexp.MustCompile(`^[A-Za-z0-9._~-]{3,128}$`)
	scopeRE      = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]+$`) // RFC 6749 §3.3 scope-token
)

// validate checks a client's settings (for CreateClient and the admin API's
// updates) and fills the defaults of the auth method and token format. It
// returns one entry per bad field.
func (in *NewClient) validate() map[string]string {
	fields := map[string]string{}
	if in.ID != "" && !clientIDRE.MatchString(in.ID) {
		fields["id"] = "Use 3 to 128 letters, digits, '.', '_', '~' or '-'."
	}
	if len(in.Name) > 200 || clientHasControl(in.Name) {
		fields["name"] = "Use at most 200 characters, without control characters."
	}
	for _, aud := range in.Audience {
		if aud == "" || len(aud) > 2048 || clientHasControl(aud) || strings.ContainsAny(aud, " \t") {
			fields["audience"] = fmt.Sprintf("%q is not a valid audience.", aud)
		}
	}
	if len(in.GrantTypes) == 0 {
		fields["grant_types"] = "Name at least one grant type."
	}
	for _, g := range in.GrantTypes {
		if !slices.Contains(knownGrants, g) {
			fields["grant_types"] = fmt.Sprintf("Unknown grant type %q; use %s.", g, strings.Join(knownGrants, ", "))
		}
	}
	for _, s := range in.Scopes {
		if !scopeRE.MatchString(s) {
			fields["scopes"] = fmt.Sprintf("%q is not a valid scope.", s)
		}
	}
	hasCode := slices.Contains(in.GrantTypes, "authorization_code")
	if hasCode && len(in.RedirectURIs) == 0 {
		fields["redirect_uris"] = "An authorization-code client needs at least one redirect URI."
	}
	for _, u := range in.RedirectURIs {
		if msg := checkRedirectURI(u); msg != "" {
			fields["redirect_uris"] = msg
		}
	}
	for _, u := range in.PostLogoutRedirectURIs {
		if msg := checkRedirectURI(u); msg != "" {
			fields["post_logout_redirect_uris"] = msg
		}
	}
	if in.Public {
		if slices.Contains(in.GrantTypes, "client_credentials") {
			fields["grant_types"] = "A public client cannot use client_credentials."
		}
		if in.AuthMethod == "" {
			in.AuthMethod = "none"
		}
		if in.AuthMethod != "none" {
			fields["auth_method"] = "A public client authenticates with none."
		}
		if len(in.AuthMethods) > 0 && !slices.Equal(in.AuthMethods, []string{"none"}) {
			fields["auth_methods"] = "A public client authenticates with none."
		}
		in.AuthMethods = []string{"none"}
		if in.Secret != "" {
			fields["secret"] = "A public client has no secret."
		}
	} else {
		in.defaultAuthMethods()
		if in.AuthMethod == "none" || !slices.Contains(knownMethods, in.AuthMethod) {
			fields["auth_method"] = "Use client_secret_basic or client_secret_post."
		}
		for _, m := range in.AuthMethods {
			if m == "none" || !slices.Contains(knownMethods, m) {
				fields["auth_methods"] = "Use client_secret_basic, client_secret_post or both."
			}
		}
		if !slices.Contains(in.AuthMethods, in.AuthMethod) {
			fields["auth_method"] = "The registered method must be one of the accepted methods."
		}
		if in.Secret != "" && len(in.Secret) < 16 {
			fields["secret"] = "Use a secret of at least 16 characters, or let one be generated."
		} else if len(in.Secret) > 72 {
			fields["secret"] = "Use a secret of at most 72 bytes."
		}
	}
	switch in.AccessTokenFormat {
	case "":
		in.AccessTokenFormat = models.AccessTokenOpaque
	case models.AccessTokenOpaque, models.AccessTokenJWT:
	default:
		fields["access_token_format"] = "Use opaque or jwt."
	}
	return fields
}

// defaultAuthMethods fills a confidential client's methods: none named
// accepts both client_secret_basic and client_secret_post (so the form post
// and HTTP Basic both work, RFC 6749 §2.3.1); one method named alone
// restricts the client to it; a list named without a registered method
// registers its first.
func (in *NewClient) defaultAuthMethods() {
	switch {
	case in.AuthMethod == "" && len(in.AuthMethods) == 0:
		in.AuthMethod = "client_secret_basic"
		in.AuthMethods = []string{"client_secret_basic", "client_secret_post"}
	case len(in.AuthMethods) == 0:
		in.AuthMethods = []string{in.AuthMethod}
	case in.AuthMethod == "" || !slices.Contains(in.AuthMethods, in.AuthMethod):
		in.AuthMethod = in.AuthMethods[0]
	}
	in.AuthMethods = slices.Compact(in.AuthMethods)
}

// clientHasControl reports a control character (NUL included), which no name or
// identifier may hold.
func clientHasControl(s string) bool {
	for _, r := range s {
		if r < 0x20 || r == 0x7f {
			return true
		}
	}
	return false
}

// CreateClient validates and creates an OAuth client. A confidential client
// without a secret gets a generated one (32 random bytes).
func (a *Admin) CreateClient(ctx context.Context, in NewClient) (*CreatedClient, error) {
	fields := in.validate()
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	if in.ID == "" {
		id, err := keyring.RandomToken(16)
		if err != nil {
			return nil, models.ErrInternal(err)
		}
		in.ID = id
	}
	t, err := a.Store.GetTenantBySlug(ctx, in.TenantSlug)
	if err != nil {
		return nil, err
	}
	c := &models.Client{
		ID: in.ID, TenantID: t.ID, Name: in.Name,
		RedirectURIs: in.RedirectURIs, GrantTypes: in.GrantTypes, Scopes: in.Scopes, Audience: in.Audience,
		TokenEndpointAuthMethod: in.AuthMethod, TokenEndpointAuthMethods: in.AuthMethods, Public: in.Public, SkipConsent: in.SkipConsent,
		AccessTokenFormat: in.AccessTokenFormat, PostLogoutRedirectURIs: in.PostLogoutRedirectURIs,
		IntrospectAllTenants: in.IntrospectAllTenants,
	}
	if in.ServiceAccountID != "" {
		sa := in.ServiceAccountID
		c.ServiceAccountID = &sa
	}
	if slices.Contains(in.GrantTypes, "authorization_code") {
		c.ResponseTypes = []string{"code"}
	}
	out := &CreatedClient{Client: c}
	if !in.Public {
		secret := in.Secret
		if secret == "" {
			if secret, err = keyring.RandomToken(32); err != nil {
				return nil, models.ErrInternal(err)
			}
		}
		hash, err := a.Hasher.Hash(ctx, []byte(secret))
		if err != nil {
			return nil, models.ErrInternal(err)
		}
		c.SecretHash = string(hash)
		out.Secret = secret
	}
	if err := a.Store.CreateClient(ctx, c); err != nil {
		return nil, err
	}
	return out, nil
}

// RotateClientSecret gives a confidential client a new generated secret; the
// previous one keeps working for RotationWindow (0: it stops at once).
func (a *Admin) RotateClientSecret(ctx context.Context, tenantID, clientID string) (string, error) {
	c, err := a.Store.GetTenantClient(ctx, tenantID, clientID)
	if err != nil {
		return "", err
	}
	if c.Public {
		return "", models.NewError(models.KindConflict, "public_client", "A public client has no secret to rotate.", nil)
	}
	secret, err := keyring.RandomToken(32)
	if err != nil {
		return "", models.ErrInternal(err)
	}
	hash, err := a.Hasher.Hash(ctx, []byte(secret))
	if err != nil {
		return "", models.ErrInternal(err)
	}
	var keep *time.Time
	if a.RotationWindow > 0 {
		now := time.Now
		if a.Now != nil {
			now = a.Now
		}
		t := now().UTC().Add(a.RotationWindow)
		keep = &t
	}
	if err := a.Store.RotateClientSecret(ctx, tenantID, clientID, string(hash), keep); err != nil {
		return "", err
	}
	return secret, nil
}

// checkRedirectURI enforces RFC 6749 §3.1.2: absolute, no fragment; https,
// or http only for loopback hosts (RFC 8252 §7.3), or a private-use scheme.
func checkRedirectURI(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() {
		return fmt.Sprintf("%q is not an absolute URI.", raw)
	}
	if u.Fragment != "" || strings.Contains(raw, "#") {
		return fmt.Sprintf("%q must not have a fragment.", raw)
	}
	if (u.Scheme == "https" || u.Scheme == "http") && u.Hostname() == "" {
		return fmt.Sprintf("%q has no host.", raw)
	}
	switch u.Scheme {
	case "https":
	case "http":
		h := u.Hostname()
		if h != "localhost" && h != "127.0.0.1" && h != "::1" {
			return fmt.Sprintf("%q must use https (http only for loopback).", raw)
		}
	default:
		if !strings.Contains(u.Scheme, ".") {
			return fmt.Sprintf("%q: a private-use scheme must be a reverse domain name.", raw)
		}
	}
	return ""
}
