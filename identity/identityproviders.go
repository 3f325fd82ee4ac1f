package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

// Upstream identity providers (issue 12 §1): a tenant's enterprise SSO or
// social providers, managed by its administrators. The service validates
// and stores them (the client secret sealed under the keyring, bound to
// the provider's id, never returned), fetches an OIDC issuer's discovery
// document before accepting it, applies the one grant rule (grants.go) to
// every role a group → role mapping names, and answers the sign-in flow's
// questions (ProviderSecret, ForDomain; ProviderForDomain is the discovery rule).

// Bounds of a provider's fields.
const (
	maxProviderName      = 100
	maxProviderURL       = 2000
	maxProviderClientID  = 500
	maxProviderSecret    = 4000
	maxProviderScopes    = 30
	maxProviderClaim     = 200
	maxProviderGroups    = 100
	maxProviderGroupName = 500
	maxProviderDomains   = 50
)

// DefaultDiscoveryTimeout bounds the fetch of an issuer's discovery
// document when a provider is created or its issuer changes.
const DefaultDiscoveryTimeout = 10 * time.Second

// IdentityProviderStore is what IdentityProviders needs from storage.
// Every method takes the tenant; another tenant's provider, or a malformed
// id, is models.ErrNotFound.
type IdentityProviderStore interface {
	CreateIdentityProvider(ctx context.Context, p *models.IdentityProvider) error
	GetIdentityProvider(ctx context.Context, tenantID, id string) (*models.IdentityProvider, error)
	ListIdentityProviders(ctx context.Context, tenantID string) ([]models.IdentityProvider, error)
	UpdateIdentityProvider(ctx context.Context, p *models.IdentityProvider) error
	// DeleteIdentityProvider deletes the provider with its identities and
	// returns how many identities went.
	DeleteIdentityProvider(ctx context.Context, tenantID, id string) (int, error)
	// LockTenantProviders serialises changes to the tenant's providers
	// until the transaction ends (two claims of one domain).
	LockTenantProviders(ctx context.Context, tenantID string) error
}

// RoleLookup finds a role of the tenant (or a global role) by name.
type RoleLookup interface {
	GetRoleByName(ctx context.Context, tenantID, name string) (*models.Role, error)
}

// Discoverer fetches and checks an OpenID Connect issuer's discovery
// document: an error when it cannot be fetched or names another issuer.
type Discoverer func(ctx context.Context, issuer string) error

// IdentityProviders manages a tenant's upstream identity providers.
type IdentityProviders struct {
	store    IdentityProviderStore
	roles    RoleLookup
	tx       Tx
	audit    Auditor
	sealer   Sealer
	discover Discoverer
	timeout  time.Duration
	log      *slog.Logger
}

// IdentityProvidersDeps are what NewIdentityProviders needs. Discover is
// optional (nil: OIDCDiscoverer with an HTTP client bounded by
// DiscoveryTimeout, itself DefaultDiscoveryTimeout when zero); Log is
// optional.
type IdentityProvidersDeps struct {
	Store            IdentityProviderStore
	Roles            RoleLookup
	Tx               Tx
	Auditor          Auditor
	Sealer           Sealer
	Discover         Discoverer
	DiscoveryTimeout time.Duration
	Log              *slog.Logger
}

// NewIdentityProviders checks d and returns the service.
func NewIdentityProviders(d IdentityProvidersDeps) (*IdentityProviders, error) {
	if err := checkDeps("IdentityProviders", dep{"Store", d.Store == nil}, dep{"Roles", d.Roles == nil}, dep{"Tx", d.Tx == nil},
		dep{"Auditor", d.Auditor.Store == nil}, dep{"Sealer", d.Sealer == nil}); err != nil {
		return nil, err
	}
	timeout := d.DiscoveryTimeout
	if timeout <= 0 {
		timeout = DefaultDiscoveryTimeout
	}
	discover := d.Discover
	if discover == nil {
		discover = OIDCDiscoverer(&http.Client{Timeout: timeout})
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &IdentityProviders{store: d.Store, roles: d.Roles, tx: d.Tx, audit: d.Auditor, sealer: d.Sealer,
		discover: discover, timeout: timeout, log: log}, nil
}

// OIDCDiscoverer fetches the discovery document with go-oidc through
// client: go-oidc refuses a document whose issuer is not the one asked.
func OIDCDiscoverer(client *http.Client) Discoverer {
	return func(ctx context.Context, issuer string) error {
		_, err := oidc.NewProvider(oidc.ClientContext(ctx, client), issuer)
		return err
	}
}

// IdentityProviderSecretAAD binds a provider's sealed client secret to its id.
func IdentityProviderSecretAAD(id string) []byte { return []byte("identity_provider:" + id) }

// FederationCallbackPath is the path of a provider's redirect URI under
// the issuer: the sign-in flow serves it, administrators register it
// upstream.
func FederationCallbackPath(providerID string) string {
	return "/api/auth/federation/" + providerID + "/callback"
}

// FederationRedirectURI is the redirect URI to register at the upstream
// provider: <issuer>/api/auth/federation/<id>/callback.
func FederationRedirectURI(issuer, providerID string) string {
	return strings.TrimRight(issuer, "/") + FederationCallbackPath(providerID)
}

// IdentityProviderInput is a new provider (Create: nil fields take their
// defaults) or a change (Update: nil fields are left as they are). A
// ClientSecret of "" on Update clears the secret.
type IdentityProviderInput struct {
	Kind             *string
	Name             *string
	ButtonLabel      *string
	Issuer           *string
	AuthorizationURL *string
	TokenURL         *string
	UserinfoURL      *string
	ClientID         *string
	ClientSecret     *string
	ClientAuthMethod *string
	Scopes           *[]string
	Claims           *models.ClaimMapping
	GroupRoles       *map[string][]string
	JITProvisioning  *bool
	AllowedDomains   *[]string
	Enabled          *bool
}

// List returns the tenant's providers, oldest first.
func (s *IdentityProviders) List(ctx context.Context, tenantID string) ([]models.IdentityProvider, error) {
	return s.store.ListIdentityProviders(ctx, tenantID)
}

// Get returns one of the tenant's providers.
func (s *IdentityProviders) Get(ctx context.Context, tenantID, id string) (*models.IdentityProvider, error) {
	return s.store.GetIdentityProvider(ctx, tenantID, id)
}

// ForDomain returns the tenant's enabled provider that claims the domain
// of email (its AllowedDomains), or NotFound "identity_provider".
func (s *IdentityProviders) ForDomain(ctx context.Context, tenantID, email string) (*models.IdentityProvider, error) {
	list, err := s.store.ListIdentityProviders(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if p := ProviderForDomain(list, email); p != nil {
		return p, nil
	}
	return nil, models.ErrNotFound("identity_provider")
}

// ProviderForDomain is the one rule of e-mail domain discovery (the admin
// API's ForDomain and the sign-in page's DiscoverProvider): the enabled
// provider among list whose AllowedDomains holds the address's domain
// (lower-cased, without a trailing dot), or nil. A domain is claimed by
// one provider of a tenant at most (checkDomainsFree).
func ProviderForDomain(list []models.IdentityProvider, email string) *models.IdentityProvider {
	_, domain, ok := strings.Cut(strings.TrimSpace(email), "@")
	domain = strings.TrimSuffix(strings.ToLower(domain), ".")
	if !ok || domain == "" || strings.Contains(domain, "@") {
		return nil
	}
	for i := range list {
		if list[i].Enabled && slices.Contains([]string(list[i].AllowedDomains), domain) {
			return &list[i]
		}
	}
	return nil
}

// ProviderSecret opens p's sealed client secret ("" when it has none).
func (s *IdentityProviders) ProviderSecret(_ context.Context, p *models.IdentityProvider) (string, error) {
	return openProviderSecret(s.sealer, p)
}

// openProviderSecret opens p's client secret, sealed bound to the provider
// (IdentityProviderSecretAAD); "" when it has none. The admin API and the
// sign-in flow both open it here.
func openProviderSecret(sealer Sealer, p *models.IdentityProvider) (string, error) {
	if len(p.ClientSecretSealed) == 0 {
		return "", nil
	}
	b, err := sealer.Open(p.ClientSecretSealed, IdentityProviderSecretAAD(p.ID))
	if err != nil {
		return "", models.ErrInternal(fmt.Errorf("open identity provider secret: %w", err))
	}
	return string(b), nil
}

// Create connects a provider to the actor's tenant. An OIDC issuer's
// discovery document is fetched first (bounded by the discovery timeout);
// a group → role mapping may name only roles the actor could grant.
func (s *IdentityProviders) Create(ctx context.Context, a Actor, in IdentityProviderInput) (*models.IdentityProvider, error) {
	p := &models.IdentityProvider{ID: uuid.NewString(), TenantID: a.TenantID, Enabled: true,
		ClientAuthMethod: models.ProviderAuthSecretBasic, GroupRoles: models.GroupRoleMap{}}
	if in.Kind == nil {
		in.Kind = new(string)
	}
	if in.Scopes == nil {
		in.Scopes = &[]string{}
		if *in.Kind == models.ProviderOIDC {
			in.Scopes = &[]string{"openid", "email", "profile"}
		}
	}
	fields := map[string]string{}
	secret := s.apply(fields, p, in)
	if p.ButtonLabel == "" && p.Name != "" {
		p.ButtonLabel = "Sign in with " + p.Name
		if len(p.ButtonLabel) > maxProviderName {
			p.ButtonLabel = p.Name
		}
	}
	s.checkProvider(fields, p, secret)
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	if p.Kind == models.ProviderOIDC {
		if err := s.checkDiscovery(ctx, p.Issuer); err != nil {
			return nil, err
		}
	}
	if err := s.seal(p, secret); err != nil {
		return nil, err
	}
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.LockTenantProviders(ctx, p.TenantID); err != nil {
			return err
		}
		if err := s.checkGroupRoles(ctx, a, p.GroupRoles); err != nil {
			return err
		}
		if err := s.checkDomainsFree(ctx, p); err != nil {
			return err
		}
		if err := s.store.CreateIdentityProvider(ctx, p); err != nil {
			return err
		}
		return s.record(ctx, a, AuditIdentityProviderCreated, p, nil)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// Update changes the fields in sets (PATCH). The whole provider is
// validated again, the grant rule applied again to every role its
// mapping names, and a new issuer's discovery document fetched.
func (s *IdentityProviders) Update(ctx context.Context, a Actor, id string, in IdentityProviderInput) (*models.IdentityProvider, error) {
	cur, err := s.store.GetIdentityProvider(ctx, a.TenantID, id)
	if err != nil {
		return nil, err
	}
	p := *cur
	fields := map[string]string{}
	secret := s.apply(fields, &p, in)
	s.checkProvider(fields, &p, secret)
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	if p.Kind == models.ProviderOIDC && (p.Issuer != cur.Issuer || cur.Kind != models.ProviderOIDC) {
		if err := s.checkDiscovery(ctx, p.Issuer); err != nil {
			return nil, err
		}
	}
	if err := s.seal(&p, secret); err != nil {
		return nil, err
	}
	changed := changedProviderFields(cur, &p, secret != nil)
	err = s.tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.LockTenantProviders(ctx, p.TenantID); err != nil {
			return err
		}
		if err := s.checkGroupRoles(ctx, a, p.GroupRoles); err != nil {
			return err
		}
		if err := s.checkDomainsFree(ctx, &p); err != nil {
			return err
		}
		if err := s.store.UpdateIdentityProvider(ctx, &p); err != nil {
			return err
		}
		return s.record(ctx, a, AuditIdentityProviderUpdated, &p, map[string]any{"changed": changed})
	})
	if err != nil {
		return nil, err
	}
	return &p, nil
}

// Delete removes one of the tenant's providers and unlinks every identity
// linked through it; it returns how many were unlinked.
func (s *IdentityProviders) Delete(ctx context.Context, a Actor, id string) (int, error) {
	n := 0
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		p, err := s.store.GetIdentityProvider(ctx, a.TenantID, id)
		if err != nil {
			return err
		}
		if n, err = s.store.DeleteIdentityProvider(ctx, a.TenantID, id); err != nil {
			return err
		}
		return s.record(ctx, a, AuditIdentityProviderDeleted, p, map[string]any{"identities_unlinked": n})
	})
	return n, err
}

// record writes the audit row and the provider's event: its id, name and
// kind (never the secret, the client id or the URLs' queries).
func (s *IdentityProviders) record(ctx context.Context, a Actor, action string, p *models.IdentityProvider, extra map[string]any) error {
	md := map[string]any{"provider_id": p.ID, "name": p.Name, "kind": p.Kind, "enabled": p.Enabled}
	for k, v := range extra {
		md[k] = v
	}
	return s.audit.RecordActor(ctx, a, Event{Action: action, Metadata: md, Subject: p.ID,
		Data: map[string]any{"provider_id": p.ID, "name": p.Name, "kind": p.Kind}})
}

// seal seals a new secret into p (nil: unchanged; "": cleared).
func (s *IdentityProviders) seal(p *models.IdentityProvider, secret *string) error {
	if secret == nil {
		return nil
	}
	if *secret == "" {
		p.ClientSecretSealed = nil
		return nil
	}
	sealed, err := s.sealer.Seal([]byte(*secret), IdentityProviderSecretAAD(p.ID))
	if err != nil {
		return models.ErrInternal(fmt.Errorf("seal identity provider secret: %w", err))
	}
	p.ClientSecretSealed = sealed
	return nil
}

// apply copies in onto p, normalising and checking each field it sets
// into fields; it returns the new secret (nil: unchanged).
func (s *IdentityProviders) apply(fields map[string]string, p *models.IdentityProvider, in IdentityProviderInput) *string {
	if in.Kind != nil {
		p.Kind = strings.TrimSpace(*in.Kind)
	}
	if in.Name != nil {
		p.Name = strings.TrimSpace(*in.Name)
	}
	if in.ButtonLabel != nil {
		p.ButtonLabel = strings.TrimSpace(*in.ButtonLabel)
	}
	if in.Issuer != nil {
		p.Issuer = strings.TrimSpace(*in.Issuer)
	}
	if in.AuthorizationURL != nil {
		p.AuthorizationURL = strings.TrimSpace(*in.AuthorizationURL)
	}
	if in.TokenURL != nil {
		p.TokenURL = strings.TrimSpace(*in.TokenURL)
	}
	if in.UserinfoURL != nil {
		p.UserinfoURL = strings.TrimSpace(*in.UserinfoURL)
	}
	if in.ClientID != nil {
		p.ClientID = strings.TrimSpace(*in.ClientID)
	}
	if in.ClientAuthMethod != nil {
		p.ClientAuthMethod = strings.TrimSpace(*in.ClientAuthMethod)
		if p.ClientAuthMethod == "" {
			p.ClientAuthMethod = models.ProviderAuthSecretBasic
		}
	}
	if in.Scopes != nil {
		p.Scopes = checkProviderScopes(fields, *in.Scopes)
	}
	if in.Claims != nil {
		p.Claims = checkClaimMapping(fields, *in.Claims)
	}
	if in.GroupRoles != nil {
		p.GroupRoles = checkGroupRoleMap(fields, *in.GroupRoles)
	}
	if in.JITProvisioning != nil {
		p.JITProvisioning = *in.JITProvisioning
	}
	if in.AllowedDomains != nil {
		p.AllowedDomains = checkAllowedDomains(fields, *in.AllowedDomains)
	}
	if in.Enabled != nil {
		p.Enabled = *in.Enabled
	}
	var secret *string
	if in.ClientSecret != nil {
		v := *in.ClientSecret
		if len(v) > maxProviderSecret || clientHasControl(v) || strings.TrimSpace(v) != v {
			fields["client_secret"] = fmt.Sprintf("Use the secret the provider gave, at most %d characters, without spaces around it.", maxProviderSecret)
		}
		secret = &v
	}
	return secret
}

// checkProvider validates the provider as a whole (after apply); secret is
// the new secret, nil when unchanged.
func (s *IdentityProviders) checkProvider(fields map[string]string, p *models.IdentityProvider, secret *string) {
	switch {
	case p.Name == "":
		setField(fields, "name", "Enter a display name.")
	case len(p.Name) > maxProviderName || clientHasControl(p.Name):
		setField(fields, "name", fmt.Sprintf("Use at most %d characters, without control characters.", maxProviderName))
	}
	if len(p.ButtonLabel) > maxProviderName || clientHasControl(p.ButtonLabel) {
		setField(fields, "button_label", fmt.Sprintf("Use at most %d characters, without control characters.", maxProviderName))
	}
	switch p.Kind {
	case models.ProviderOIDC:
		if p.Issuer == "" {
			setField(fields, "issuer", "Enter the provider's issuer URL (its discovery document is at <issuer>/.well-known/openid-configuration).")
		} else {
			checkProviderURL(fields, "issuer", p.Issuer, true)
		}
		for name, v := range map[string]string{"authorization_url": p.AuthorizationURL, "token_url": p.TokenURL, "userinfo_url": p.UserinfoURL} {
			if v != "" {
				checkProviderURL(fields, name, v, false)
			}
		}
		if !slices.Contains([]string(p.Scopes), "openid") && fields["scopes"] == "" {
			p.Scopes = append(models.StringList{"openid"}, p.Scopes...)
		}
	case models.ProviderOAuth2:
		if p.Issuer != "" {
			checkProviderURL(fields, "issuer", p.Issuer, true)
		}
		for name, v := range map[string]string{"authorization_url": p.AuthorizationURL, "token_url": p.TokenURL, "userinfo_url": p.UserinfoURL} {
			if v == "" {
				setField(fields, name, "A plain OAuth 2.0 provider needs its authorization, token and userinfo URLs.")
			} else {
				checkProviderURL(fields, name, v, false)
			}
		}
	default:
		setField(fields, "kind", `Use "oidc" (OpenID Connect) or "oauth2" (plain OAuth 2.0).`)
	}
	switch {
	case p.ClientID == "":
		setField(fields, "client_id", "Enter the client id the provider gave this service.")
	case len(p.ClientID) > maxProviderClientID || clientHasControl(p.ClientID):
		setField(fields, "client_id", fmt.Sprintf("Use at most %d characters, without control characters.", maxProviderClientID))
	}
	hasSecret := len(p.ClientSecretSealed) > 0
	if secret != nil {
		hasSecret = *secret != ""
	}
	switch p.ClientAuthMethod {
	case models.ProviderAuthSecretBasic, models.ProviderAuthSecretPost:
		if !hasSecret {
			setField(fields, "client_secret", "Enter the client secret: "+p.ClientAuthMethod+" sends it to the provider's token endpoint.")
		}
	case models.ProviderAuthPrivateKey:
	default:
		setField(fields, "client_auth_method", "Use client_secret_basic, client_secret_post or private_key_jwt.")
	}
}

// setField keeps the first message of a field.
func setField(fields map[string]string, name, msg string) {
	if _, ok := fields[name]; !ok {
		fields[name] = msg
	}
}

// LoopbackHost reports whether host is localhost or a loopback address:
// the only hosts a provider's URL may reach over plain http (a provider
// on the same machine, as in tests and development).
func LoopbackHost(host string) bool {
	h := strings.ToLower(strings.TrimSuffix(host, "."))
	if h == "localhost" || strings.HasSuffix(h, ".localhost") {
		return true
	}
	ip := net.ParseIP(strings.Trim(h, "[]"))
	return ip != nil && ip.IsLoopback()
}

// checkProviderURL validates a provider URL: absolute https (http only to
// a loopback host), no user information or fragment; an issuer has no
// query either.
func checkProviderURL(fields map[string]string, name, raw string, issuer bool) {
	u, err := url.Parse(raw)
	switch {
	case len(raw) > maxProviderURL || err != nil || clientHasControl(raw) || strings.ContainsAny(raw, " \t"):
		setField(fields, name, fmt.Sprintf("Use an absolute https URL of at most %d characters.", maxProviderURL))
	case (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" || u.Hostname() == "" || u.Opaque != "":
		setField(fields, name, "Use an absolute https URL.")
	case u.Scheme == "http" && !LoopbackHost(u.Hostname()):
		setField(fields, name, "Use https (plain http is accepted only for localhost and loopback addresses).")
	case u.User != nil:
		setField(fields, name, "The URL must not carry a user name or password.")
	case u.Fragment != "" || strings.Contains(raw, "#"):
		setField(fields, name, "The URL must not have a fragment.")
	case issuer && (u.RawQuery != "" || strings.Contains(raw, "?")):
		setField(fields, name, "An issuer has no query string.")
	}
}

// scopeTokenRE is RFC 6749's scope-token.
var scopeTokenRE = regexp.MustCompile(`^[\x21\x23-\x5B\x5D-\x7E]{1,200}$`)

func checkProviderScopes(fields map[string]string, in []string) models.StringList {
	out := models.StringList{}
	for _, sc := range in {
		sc = strings.TrimSpace(sc)
		if !scopeTokenRE.MatchString(sc) {
			setField(fields, "scopes", "Use scope names such as openid, email, profile: no spaces, quotes or backslashes.")
			return out
		}
		if !slices.Contains([]string(out), sc) {
			out = append(out, sc)
		}
	}
	if len(out) > maxProviderScopes {
		setField(fields, "scopes", fmt.Sprintf("Use at most %d scopes.", maxProviderScopes))
	}
	return out
}

// claimPathRE is a claim name or a dotted path into an object (claim
// names may be URLs, as Auth0's and Okta's namespaced claims are).
var claimPathRE = regexp.MustCompile(`^[A-Za-z0-9_:/\-\.]{1,200}$`)

func checkClaimMapping(fields map[string]string, in models.ClaimMapping) models.ClaimMapping {
	out := models.ClaimMapping{}
	for _, f := range []struct {
		name string
		in   string
		out  *string
	}{
		{"claims.subject", in.Subject, &out.Subject}, {"claims.email", in.Email, &out.Email},
		{"claims.email_verified", in.EmailVerified, &out.EmailVerified}, {"claims.name", in.Name, &out.Name},
		{"claims.groups", in.Groups, &out.Groups},
	} {
		v := strings.TrimSpace(f.in)
		if v != "" && (!claimPathRE.MatchString(v) || strings.HasPrefix(v, ".") || strings.HasSuffix(v, ".") || strings.Contains(v, "..")) {
			setField(fields, f.name, fmt.Sprintf("Use a claim name or a dotted path (letters, digits, _ - : / .), at most %d characters.", maxProviderClaim))
		}
		*f.out = v
	}
	return out
}

func checkGroupRoleMap(fields map[string]string, in map[string][]string) models.GroupRoleMap {
	out := models.GroupRoleMap{}
	if len(in) > maxProviderGroups {
		setField(fields, "group_roles", fmt.Sprintf("Map at most %d groups.", maxProviderGroups))
		return out
	}
	for group, roles := range in {
		g := strings.TrimSpace(group)
		if g == "" || len(g) > maxProviderGroupName || clientHasControl(g) {
			setField(fields, "group_roles", fmt.Sprintf("Use group names of 1 to %d characters, without control characters.", maxProviderGroupName))
			continue
		}
		list := models.StringList{}
		for _, r := range roles {
			r = strings.TrimSpace(r)
			if r == "" || len(r) > 100 || clientHasControl(r) {
				setField(fields, "group_roles", fmt.Sprintf("Group %q maps to an empty or malformed role name.", truncate(g, 100)))
				continue
			}
			if !slices.Contains([]string(list), r) {
				list = append(list, r)
			}
		}
		if len(list) == 0 {
			setField(fields, "group_roles", fmt.Sprintf("Group %q maps to no role.", truncate(g, 100)))
		}
		out[g] = list
	}
	return out
}

// domainRE is a domain name of at least two labels (LDH, no label
// starting or ending with a hyphen), already lower-cased.
var domainRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)

func checkAllowedDomains(fields map[string]string, in []string) models.StringList {
	out := models.StringList{}
	for _, d := range in {
		d = strings.TrimSuffix(strings.ToLower(strings.TrimSpace(d)), ".")
		if len(d) > 253 || !domainRE.MatchString(d) {
			setField(fields, "allowed_domains", fmt.Sprintf("%q is not a domain name: use names such as acme.com.", truncate(d, 100)))
			continue
		}
		if !slices.Contains([]string(out), d) {
			out = append(out, d)
		}
	}
	if len(out) > maxProviderDomains {
		setField(fields, "allowed_domains", fmt.Sprintf("Use at most %d domains.", maxProviderDomains))
	}
	sort.Strings(out)
	return out
}

// checkGroupRoles applies the one grant rule to the mapping: every role
// it names must exist in the tenant (422 on group_roles) and be one the
// actor could assign (CanGrant, exactly as assigning the role would be
// refused).
func (s *IdentityProviders) checkGroupRoles(ctx context.Context, a Actor, m models.GroupRoleMap) error {
	groups := make([]string, 0, len(m))
	for g := range m {
		groups = append(groups, g)
	}
	sort.Strings(groups)
	for _, g := range groups {
		for _, name := range m[g] {
			r, err := s.roles.GetRoleByName(ctx, a.TenantID, name)
			if err != nil {
				if models.IsKind(err, models.KindNotFound) {
					return models.ErrInvalid(map[string]string{"group_roles": fmt.Sprintf("Group %q maps to %q: no role of that name in this tenant.",
						truncate(g, 100), truncate(name, 100))})
				}
				return err
			}
			if err := CanGrant(ctx, a, r.Permissions); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkDomainsFree refuses a domain another provider of the tenant claims
// (the sign-in page's discovery sends a domain to one provider).
func (s *IdentityProviders) checkDomainsFree(ctx context.Context, p *models.IdentityProvider) error {
	if len(p.AllowedDomains) == 0 {
		return nil
	}
	others, err := s.store.ListIdentityProviders(ctx, p.TenantID)
	if err != nil {
		return err
	}
	for _, o := range others {
		if o.ID == p.ID {
			continue
		}
		for _, d := range p.AllowedDomains {
			if slices.Contains([]string(o.AllowedDomains), d) {
				return models.ErrInvalid(map[string]string{"allowed_domains": fmt.Sprintf("%s is already claimed by the provider %q.", d, truncate(o.Name, 100))})
			}
		}
	}
	return nil
}

// checkDiscovery fetches the issuer's discovery document within the
// discovery timeout; a failure is a 422 on issuer saying why.
func (s *IdentityProviders) checkDiscovery(ctx context.Context, issuer string) error {
	ctx, cancel := context.WithTimeout(ctx, s.timeout)
	defer cancel()
	err := s.discover(ctx, issuer)
	if err == nil {
		return nil
	}
	s.log.InfoContext(ctx, "identity provider discovery failed", "issuer", issuer, "err", err)
	msg := "The issuer's discovery document (" + strings.TrimRight(issuer, "/") + "/.well-known/openid-configuration) could not be fetched"
	switch {
	case errors.Is(err, context.DeadlineExceeded) || errors.Is(ctx.Err(), context.DeadlineExceeded) || isTimeout(err):
		msg += fmt.Sprintf(": no answer within %s.", s.timeout)
	case strings.Contains(err.Error(), "did not match"):
		msg = "The discovery document names another issuer: enter the issuer exactly as the provider's discovery document states it (mind a trailing slash)."
	case strings.Contains(err.Error(), "connect:") || strings.Contains(err.Error(), "no such host") || strings.Contains(err.Error(), "dial"):
		msg += ": the host cannot be reached."
	default:
		msg += ": the provider did not answer with a valid OpenID Connect discovery document."
	}
	return models.ErrInvalid(map[string]string{"issuer": msg})
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// changedProviderFields names the fields an update changed (for the audit
// row; never their values).
func changedProviderFields(a, b *models.IdentityProvider, secret bool) []string {
	var out []string
	add := func(name string, differ bool) {
		if differ {
			out = append(out, name)
		}
	}
	add("kind", a.Kind != b.Kind)
	add("name", a.Name != b.Name)
	add("button_label", a.ButtonLabel != b.ButtonLabel)
	add("issuer", a.Issuer != b.Issuer)
	add("authorization_url", a.AuthorizationURL != b.AuthorizationURL)
	add("token_url", a.TokenURL != b.TokenURL)
	add("userinfo_url", a.UserinfoURL != b.UserinfoURL)
	add("client_id", a.ClientID != b.ClientID)
	add("client_secret", secret)
	add("client_auth_method", a.ClientAuthMethod != b.ClientAuthMethod)
	add("scopes", !slices.Equal(a.Scopes, b.Scopes))
	add("claims", a.Claims != b.Claims)
	add("group_roles", fmt.Sprint(a.GroupRoles) != fmt.Sprint(b.GroupRoles))
	add("jit_provisioning", a.JITProvisioning != b.JITProvisioning)
	add("allowed_domains", !slices.Equal(a.AllowedDomains, b.AllowedDomains))
	add("enabled", a.Enabled != b.Enabled)
	if out == nil {
		out = []string{}
	}
	return out
}
