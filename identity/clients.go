package identity

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// ClientStore is what Clients needs from storage. Every method takes the
// tenant; another tenant's client, or a malformed id, is models.ErrNotFound.
type ClientStore interface {
	// GetTenant returns the tenant a client is created in, or NotFound.
	GetTenant(ctx context.Context, id string) (*models.Tenant, error)
	// CreateClient saves a new client; an id already taken (in any tenant)
	// is a Conflict.
	CreateClient(ctx context.Context, c *models.Client) error
	// ListTenantClients returns the tenant's clients, first-party ones included.
	ListTenantClients(ctx context.Context, tenantID string) ([]models.Client, error)
	// GetTenantClient returns the tenant's client, or NotFound.
	GetTenantClient(ctx context.Context, tenantID, id string) (*models.Client, error)
	// UpdateTenantClient runs fn under a row lock and saves the
	// administrable fields (never the tenant, the secrets or the holder);
	// fn's error is returned unchanged and saves nothing. NotFound when
	// the client is gone.
	UpdateTenantClient(ctx context.Context, tenantID, id string, fn func(c *models.Client) error) (*models.Client, error)
	// DeleteTenantClient deletes the client and every token issued to it,
	// or NotFound.
	DeleteTenantClient(ctx context.Context, tenantID, id string) error
	// RotateClientSecret replaces the secret hash under a row lock; the old
	// hash keeps working until keepOldUntil (nil: it stops at once).
	// NotFound when the client is gone.
	RotateClientSecret(ctx context.Context, tenantID, id, newHash string, keepOldUntil *time.Time) error
	// GetServiceAccount and ResolvePermissions load the service account a
	// client is bound to, for the grant rules (see ServiceAccountStore).
	GetServiceAccount(ctx context.Context, tenantID, id string) (*models.ServiceAccount, error)
	ResolvePermissions(ctx context.Context, tenantID, principalID string) ([]string, error)
}

// Clients manages a tenant's OAuth clients, for the API and the command
// line alike (one validation, one rotation window, one audit row per
// change, written in the change's transaction). A client bound to a service
// account is that account's credential: creating, changing, deleting or
// rotating it is acting on the account (CanActOn, see ServiceAccounts).
type Clients struct {
	store    ClientStore
	tx       Tx
	audit    Auditor
	hasher   SecretHasher
	rotation time.Duration
	now      func() time.Time
}

// ClientsDeps are what NewClients needs; RotationWindow and Now are optional.
type ClientsDeps struct {
	Store   ClientStore
	Tx      Tx
	Auditor Auditor
	// Hasher hashes client secrets (oauth.Hasher).
	Hasher SecretHasher
	// RotationWindow is how long a rotated client secret stays valid (0:
	// it stops at once).
	RotationWindow time.Duration
	Now            func() time.Time
}

// NewClients checks d and returns the service.
func NewClients(d ClientsDeps) (*Clients, error) {
	if err := checkDeps("Clients", dep{"Store", d.Store == nil}, dep{"Tx", d.Tx == nil},
		dep{"Auditor", d.Auditor.Store == nil}, dep{"Hasher", d.Hasher == nil}); err != nil {
		return nil, err
	}
	return &Clients{store: d.Store, tx: d.Tx, audit: d.Auditor, hasher: d.Hasher, rotation: d.RotationWindow, now: clockOr(d.Now)}, nil
}

func errClientNotFound() error { return models.ErrNotFound("client") }

// actOnClient applies actOnServiceAccount to the holder of a client, if it
// has one: a bound client's secret is the account's credential.
func (s *Clients) actOnClient(ctx context.Context, a Actor, id string) (*models.Client, error) {
	c, err := s.store.GetTenantClient(ctx, a.TenantID, id)
	if err != nil {
		return nil, err
	}
	if c.ServiceAccountID == nil {
		return c, nil
	}
	if _, err := actOnServiceAccount(ctx, s.store, a, *c.ServiceAccountID); err != nil {
		return nil, err
	}
	return c, nil
}

// ---- OAuth clients ----

// List lists the tenant's OAuth clients, first-party clients left out.
func (s *Clients) List(ctx context.Context, p Principal) ([]models.Client, error) {
	all, err := s.store.ListTenantClients(ctx, p.TenantID)
	if err != nil {
		return nil, err
	}
	out := make([]models.Client, 0, len(all))
	for _, c := range all {
		if !strings.HasPrefix(c.ID, models.FirstPartyClientPrefix) {
			out = append(out, c)
		}
	}
	return out, nil
}

// Get returns one of the tenant's clients.
func (s *Clients) Get(ctx context.Context, p Principal, id string) (*models.Client, error) {
	if strings.HasPrefix(id, models.FirstPartyClientPrefix) {
		return nil, errClientNotFound()
	}
	return s.store.GetTenantClient(ctx, p.TenantID, id)
}

// Create validates and creates a client in the actor's tenant, with its
// audit row in one transaction. The id and secret are generated here
// (the command line, as the system principal, may name them: --id,
// --secret); a confidential client without a secret gets 32 random bytes.
// A client held by a service account must be a confidential
// client-credentials client of the same tenant, and binding it is acting
// on the account (actOnServiceAccount: the actor covers what the account
// holds).
func (s *Clients) Create(ctx context.Context, a Actor, in NewClient) (*CreatedClient, error) {
	if a.Kind != PrincipalSystem {
		in.ID, in.Secret = "", ""
	}
	if in.IntrospectAllTenants && !a.SystemAdmin {
		return nil, errIntrospectAllTenants()
	}
	if in.ServiceAccountID != "" {
		fields := map[string]string{}
		if _, err := actOnServiceAccount(ctx, s.store, a, in.ServiceAccountID); err != nil {
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
	t, err := s.store.GetTenant(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	out, err := s.build(ctx, t.ID, in)
	if err != nil {
		return nil, err
	}
	c := out.Client
	md := map[string]any{"client_id": c.ID, "name": c.Name, "grant_types": c.GrantTypes}
	if in.ServiceAccountID != "" {
		md["service_account_id"] = in.ServiceAccountID
	}
	err = s.tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateClient(ctx, c); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditClientCreated, Metadata: md, Subject: c.ID,
			Data: map[string]any{"grant_types": c.GrantTypes, "public": c.Public}})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// errIntrospectAllTenants refuses a tenant administrator the setting that
// would let a client see every tenant's tokens, and any change to (or the
// secret of) a client that has it.
func errIntrospectAllTenants() error {
	return models.ErrForbidden("").WithMessage("Only a system admin can let a client introspect every tenant's tokens.")
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
	// IDTokenSignedResponseAlg: RS256 or ES256.
	IDTokenSignedResponseAlg *string
	// PostLogoutRedirectURIs replaces the post-logout redirect URIs.
	PostLogoutRedirectURIs *[]string
	// AuthMethods replaces the accepted authentication methods of a
	// confidential client (one method restricts it to that one).
	AuthMethods *[]string
	// IntrospectAllTenants: the caller must be a system administrator.
	IntrospectAllTenants *bool
}

// Update applies patch to the tenant's client, validating the result as
// Create validates a new one.
func (s *Clients) Update(ctx context.Context, a Actor, id string, patch ClientPatch) (*models.Client, error) {
	if strings.HasPrefix(id, models.FirstPartyClientPrefix) {
		return nil, errClientNotFound()
	}
	if patch.IntrospectAllTenants != nil && !a.SystemAdmin {
		return nil, errIntrospectAllTenants()
	}
	var changed []string
	var c *models.Client
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.actOnClient(ctx, a, id); err != nil {
			return err
		}
		var err error
		c, err = s.store.UpdateTenantClient(ctx, a.TenantID, id, func(c *models.Client) error {
			if c.IntrospectAllTenants && !a.SystemAdmin {
				return errIntrospectAllTenants() // a system-level resource server is a system admin's to change
			}
			changed = applyClientPatch(c, patch)
			in := NewClient{ID: c.ID, Name: c.Name, GrantTypes: c.GrantTypes, Scopes: c.Scopes, RedirectURIs: c.RedirectURIs,
				Audience: c.Audience, Public: c.Public, SkipConsent: c.SkipConsent, AuthMethod: c.TokenEndpointAuthMethod,
				AuthMethods: c.TokenEndpointAuthMethods, AccessTokenFormat: c.AccessTokenFormat,
				IDTokenSignedResponseAlg: c.IDTokenSignedResponseAlg, PostLogoutRedirectURIs: c.PostLogoutRedirectURIs}
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
			c.IDTokenSignedResponseAlg = in.IDTokenSignedResponseAlg
			c.ResponseTypes = nil
			if slices.Contains(c.GrantTypes, "authorization_code") {
				c.ResponseTypes = []string{"code"}
			}
			return nil
		})
		if err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditClientUpdated, Metadata: map[string]any{"client_id": id, "fields": changed}})
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
	if p.IDTokenSignedResponseAlg != nil {
		c.IDTokenSignedResponseAlg = *p.IDTokenSignedResponseAlg
		if c.IDTokenSignedResponseAlg == "" {
			c.IDTokenSignedResponseAlg = "invalid" // an explicit empty algorithm is not a reset
		}
		changed = append(changed, "id_token_signed_response_alg")
	}
	return changed
}

// Delete deletes the tenant's client and revokes every token issued to it.
func (s *Clients) Delete(ctx context.Context, a Actor, id string) error {
	if strings.HasPrefix(id, models.FirstPartyClientPrefix) {
		return errClientNotFound()
	}
	return s.tx.InTx(ctx, func(ctx context.Context) error {
		if _, err := s.actOnClient(ctx, a, id); err != nil {
			return err
		}
		if err := s.store.DeleteTenantClient(ctx, a.TenantID, id); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditClientDeleted, Metadata: map[string]any{"client_id": id}, Subject: id})
	})
}

// RotateSecret gives the tenant's confidential client a new generated
// secret, returned once; the old one stays valid for the rotation window
// (until, nil when there is none). The rotation and its audit row are one
// transaction. The new secret is hashed (bcrypt) between a first check of
// the caller's right and the transaction, which checks it again: the
// transaction holds no connection (SQLite's one writer) while bcrypt runs,
// and a caller without the right costs no bcrypt.
func (s *Clients) RotateSecret(ctx context.Context, a Actor, id string) (secret string, until *time.Time, err error) {
	if strings.HasPrefix(id, models.FirstPartyClientPrefix) {
		return "", nil, errClientNotFound()
	}
	mayRotate := func(ctx context.Context) error {
		c, err := s.actOnClient(ctx, a, id)
		if err != nil {
			return err
		}
		if c.IntrospectAllTenants && !a.SystemAdmin {
			// A tenant administrator must not obtain the secret of the
			// tenant's system-level resource server, which sees every
			// tenant's tokens.
			return errIntrospectAllTenants()
		}
		if c.Public {
			return models.ErrPublicClient()
		}
		return nil
	}
	if err := mayRotate(ctx); err != nil {
		return "", nil, err
	}
	if secret, err = keyring.RandomToken(32); err != nil {
		return "", nil, models.ErrInternal(err)
	}
	hash, err := s.hasher.Hash(ctx, []byte(secret))
	if err != nil {
		return "", nil, models.ErrInternal(err)
	}
	err = s.tx.InTx(ctx, func(ctx context.Context) error {
		if err := mayRotate(ctx); err != nil {
			return err
		}
		var keep *time.Time
		if s.rotation > 0 {
			t := s.now().Add(s.rotation)
			keep = &t
		}
		if err := s.store.RotateClientSecret(ctx, a.TenantID, id, string(hash), keep); err != nil {
			return err
		}
		if keep != nil {
			// As stored (the database's precision), which the API reports.
			c, err := s.store.GetTenantClient(ctx, a.TenantID, id)
			if err != nil {
				return err
			}
			until = c.RotatedSecretExpiresAt
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditClientSecretRotated, Metadata: map[string]any{"client_id": id, "old_secret_valid_until": until}, Subject: id,
			Data: map[string]any{"previous_valid_until": until}})
	})
	if err != nil {
		return "", nil, err
	}
	return secret, until, nil
}

// SecretHasher hashes client secrets (oauth.Hasher implements it).
type SecretHasher interface {
	Hash(ctx context.Context, data []byte) ([]byte, error)
}

// NewClient is what Clients.Create takes.
type NewClient struct {
	// TenantSlug names the tenant for callers that know only its slug
	// (test fixtures); Clients.Create takes the tenant from the actor and
	// ignores it.
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
	// IDTokenSignedResponseAlg is the JWS algorithm of the client's ID
	// tokens (OpenID Connect Dynamic Client Registration 1.0 §2): RS256
	// (the default) or ES256.
	IDTokenSignedResponseAlg string
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
	switch in.IDTokenSignedResponseAlg {
	case "":
		in.IDTokenSignedResponseAlg = models.SigningAlgRS256
	case models.SigningAlgRS256, models.SigningAlgES256:
	default:
		fields["id_token_signed_response_alg"] = "Use RS256 or ES256."
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

// build validates in and makes the client row of tenantID with its id and
// secret (generated unless named), hashing the secret; nothing is stored.
func (s *Clients) build(ctx context.Context, tenantID string, in NewClient) (*CreatedClient, error) {
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
	c := &models.Client{
		ID: in.ID, TenantID: tenantID, Name: in.Name,
		RedirectURIs: in.RedirectURIs, GrantTypes: in.GrantTypes, Scopes: in.Scopes, Audience: in.Audience,
		TokenEndpointAuthMethod: in.AuthMethod, TokenEndpointAuthMethods: in.AuthMethods, Public: in.Public, SkipConsent: in.SkipConsent,
		AccessTokenFormat: in.AccessTokenFormat, IDTokenSignedResponseAlg: in.IDTokenSignedResponseAlg,
		PostLogoutRedirectURIs: in.PostLogoutRedirectURIs, IntrospectAllTenants: in.IntrospectAllTenants,
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
			var err error
			if secret, err = keyring.RandomToken(32); err != nil {
				return nil, models.ErrInternal(err)
			}
		}
		hash, err := s.hasher.Hash(ctx, []byte(secret))
		if err != nil {
			return nil, models.ErrInternal(err)
		}
		c.SecretHash = string(hash)
		out.Secret = secret
	}
	return out, nil
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
