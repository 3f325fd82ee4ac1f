package identity

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// AdminStore is what Admin needs from storage.
type AdminStore interface {
	CreateTenant(ctx context.Context, t *models.Tenant) error
	GetTenantBySlug(ctx context.Context, slug string) (*models.Tenant, error)
	CreateUser(ctx context.Context, u *models.User) error
	CreateClient(ctx context.Context, c *models.Client) error
	GetTenantClient(ctx context.Context, tenantID, id string) (*models.Client, error)
	RotateClientSecret(ctx context.Context, tenantID, id, newHash string, keepOldUntil *time.Time) error
	SeedTenantRoles(ctx context.Context, tenantID string, roles map[string][]string, dangerPolicy string, danger []string) error
	TenantsWithoutRoles(ctx context.Context) ([]string, error)
	GetRoleByName(ctx context.Context, tenantID, name string) (*models.Role, error)
	AssignRole(ctx context.Context, tenantID, principalID, principalType, roleID string) error
	CreateAuditLog(ctx context.Context, a *models.AuditLog) error
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// SecretHasher hashes client secrets (oauth.Hasher implements it).
type SecretHasher interface {
	Hash(ctx context.Context, data []byte) ([]byte, error)
}

// Admin creates tenants, users and clients.
type Admin struct {
	Store        AdminStore
	Hasher       SecretHasher
	PasswordCost int
	// RotationWindow is how long a rotated client secret stays valid.
	RotationWindow time.Duration
	Now            func() time.Time
}

var slugRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// CreateTenant creates a tenant with a slug (lower-case letters, digits,
// hyphens) and a name.
func (a *Admin) CreateTenant(ctx context.Context, slug, name string) (*models.Tenant, error) {
	fields := map[string]string{}
	if !slugRE.MatchString(slug) {
		fields["slug"] = "Use 1 to 63 lower-case letters, digits and inner hyphens."
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		fields["name"] = "Give a name of 1 to 200 characters."
	}
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	t := &models.Tenant{Slug: slug, Name: name}
	err := a.Store.InTx(ctx, func(ctx context.Context) error {
		if err := a.Store.CreateTenant(ctx, t); err != nil {
			return err
		}
		return a.Store.SeedTenantRoles(ctx, t.ID, SystemRoles(), DangerZonePolicy, DangerActions)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// SeedMissingRoles gives tenants created before roles existed their system
// roles and danger-zone policy (idempotent; run at start).
func (a *Admin) SeedMissingRoles(ctx context.Context) error {
	ids, err := a.Store.TenantsWithoutRoles(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := a.Store.SeedTenantRoles(ctx, id, SystemRoles(), DangerZonePolicy, DangerActions); err != nil {
			return err
		}
	}
	return nil
}

// NewUser is what CreateUser takes.
type NewUser struct {
	TenantSlug string
	Email      string
	Password   string
	Name       string
	// SystemAdmin and Role are for test fixtures: the HTTP API and the
	// command line grant system administration only through the audited
	// Directory.SetSystemAdmin.
	SystemAdmin bool
	Role        string
}

var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

// CreateUser creates a user in the tenant with a bcrypt password hash. It
// applies neither the password policy nor the role rules and writes no
// user.created row: it is the storage-level fixture tests build users with.
// Every real path (the API, and the command line as the system principal)
// goes through Directory.CreateUser.
func (a *Admin) CreateUser(ctx context.Context, in NewUser) (*models.User, error) {
	fields := map[string]string{}
	email := strings.ToLower(strings.TrimSpace(in.Email))
	if !emailRE.MatchString(email) || len(email) > 254 {
		fields["email"] = "Give a valid e-mail address."
	}
	if len(in.Password) < 8 {
		fields["password"] = "Use at least 8 characters."
	} else if len(in.Password) > 72 {
		fields["password"] = "Use at most 72 bytes."
	}
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	t, err := a.Store.GetTenantBySlug(ctx, in.TenantSlug)
	if err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(in.Password), a.cost())
	if err != nil {
		return nil, models.ErrInternal(fmt.Errorf("hash password: %w", err))
	}
	u := &models.User{TenantID: t.ID, Email: email, PasswordHash: string(hash), Name: strings.TrimSpace(in.Name), IsSystemAdmin: in.SystemAdmin}
	err = a.Store.InTx(ctx, func(ctx context.Context) error {
		if err := a.Store.CreateUser(ctx, u); err != nil {
			return err
		}
		if in.Role != "" {
			r, err := a.Store.GetRoleByName(ctx, t.ID, in.Role)
			if err != nil {
				if models.IsKind(err, models.KindNotFound) {
					return models.ErrInvalid(map[string]string{"role": fmt.Sprintf("No role %q in this tenant.", in.Role)})
				}
				return err
			}
			if err := a.Store.AssignRole(ctx, t.ID, u.ID, models.PrincipalUser, r.ID); err != nil {
				return err
			}
		}
		if in.SystemAdmin {
			return WriteAudit(ctx, a.Store, Event{TenantID: t.ID, UserID: u.ID, ActorID: "cli", Action: AuditSystemAdminGranted, Metadata: map[string]any{"via": "cli"}})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (a *Admin) cost() int {
	if a.PasswordCost == 0 {
		return bcrypt.DefaultCost
	}
	return a.PasswordCost
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
