package identity

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/google/uuid"
	"golang.org/x/oauth2"

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// The sign-in flow through a tenant's upstream identity provider (issue 12
// §1): Begin sends the browser upstream with a one-time state, a nonce and
// PKCE (S256); Callback consumes the state once, checks that the answer
// comes from the provider the state was made for (mix-up defence, RFC 9207
// iss), exchanges the code, validates the ID token (issuer, audience,
// expiry, signature through the provider's JWKS, nonce) or reads the
// userinfo of a plain OAuth 2.0 provider, maps the claims, and signs the
// person in through Login.SignInExternal: an existing link, an account
// provisioned just in time, or — when an account with the address already
// exists — a link step in which the person proves that account first
// (never a link on the e-mail address alone). docs/federation.md.

// FederationProviderStore reads a tenant's upstream providers.
type FederationProviderStore interface {
	// GetIdentityProvider returns the tenant's provider, or NotFound.
	GetIdentityProvider(ctx context.Context, tenantID, id string) (*models.IdentityProvider, error)
	// ListIdentityProviders returns the tenant's providers.
	ListIdentityProviders(ctx context.Context, tenantID string) ([]models.IdentityProvider, error)
}

// FederationStateStore keeps the started flows and the upstream side of
// federated sessions.
type FederationStateStore interface {
	// CreateFederationState stores a started flow (ID assigned when empty).
	CreateFederationState(ctx context.Context, st *models.FederationState) error
	// ConsumeFederationState returns the live flow whose state hashes to
	// stateHash and marks it consumed, once: a replay, an expired or an
	// unknown state is NotFound.
	ConsumeFederationState(ctx context.Context, stateHash string) (*models.FederationState, error)
	// CreateFederationLogin records the provider (and sealed ID token) of
	// a federated session; GetFederationLogin returns it, or NotFound.
	CreateFederationLogin(ctx context.Context, l *models.FederationLogin) error
	GetFederationLogin(ctx context.Context, tenantID, sessionID string) (*models.FederationLogin, error)
}

// FederationIdentityStore links upstream identities and provisions
// accounts.
type FederationIdentityStore interface {
	// GetUserIdentityBySubject returns the identity the tenant's provider
	// calls subject, or NotFound.
	GetUserIdentityBySubject(ctx context.Context, tenantID, providerID, subject string) (*models.UserIdentity, error)
	// CreateUserIdentity links; a (provider, subject) linked already is Conflict.
	CreateUserIdentity(ctx context.Context, i *models.UserIdentity) error
	// TouchUserIdentity stamps its last sign-in.
	TouchUserIdentity(ctx context.Context, id string, at time.Time) error
	// CreateUser creates an account; an address the tenant has is Conflict.
	CreateUser(ctx context.Context, u *models.User) error
}

// FederationRoleStore applies a provider's group → role mapping.
type FederationRoleStore interface {
	GetRoleByName(ctx context.Context, tenantID, name string) (*models.Role, error)
	GetRole(ctx context.Context, tenantID, id string) (*models.Role, error)
	// AssignRole: a role already held is Conflict; UnassignRole: one not
	// held is NotFound.
	AssignRole(ctx context.Context, tenantID, principalID, principalType, roleID string) error
	UnassignRole(ctx context.Context, tenantID, principalID, roleID string) error
	PrincipalRoles(ctx context.Context, tenantID string, principalIDs []string) (map[string][]models.Role, error)
	// ListFederationRoleGrants, AddFederationRoleGrant (idempotent) and
	// DeleteFederationRoleGrant keep which roles the mapping gave.
	ListFederationRoleGrants(ctx context.Context, tenantID, userID, providerID string) ([]string, error)
	AddFederationRoleGrant(ctx context.Context, g *models.FederationRoleGrant) error
	DeleteFederationRoleGrant(ctx context.Context, tenantID, userID, providerID, roleID string) error
}

// FederationDeps are what NewFederation needs. The stores, Tx, Auditor,
// Sealer, Login and Issuer are required; HTTPClient defaults to a client
// whose every request ends after Timeout (default 10 s).
type FederationDeps struct {
	Providers  FederationProviderStore
	States     FederationStateStore
	Identities FederationIdentityStore
	Roles      FederationRoleStore
	Tx         Tx
	Auditor    Auditor
	// Sealer seals the PKCE verifier and the upstream ID token, opens the
	// providers' client secrets and keys the state's hash (the keyring).
	Sealer Sealer
	// Login completes every sign-in (SignInExternal) and checks the
	// password or e-mailed code of the link step.
	Login *Login
	// Issuer is this server's public URL: the redirect URI registered
	// upstream is Issuer/api/auth/federation/<provider id>/callback.
	Issuer     string
	HTTPClient *http.Client
	// Timeout bounds each upstream call (discovery, token, JWKS, userinfo).
	Timeout time.Duration
	Now     func() time.Time
	Log     *slog.Logger
}

// Federation runs sign-ins through upstream identity providers.
type Federation struct {
	providers  FederationProviderStore
	states     FederationStateStore
	identities FederationIdentityStore
	roles      FederationRoleStore
	tx         Tx
	audit      Auditor
	sealer     Sealer
	login      *Login
	issuer     string
	client     *http.Client
	timeout    time.Duration
	now        func() time.Time
	log        *slog.Logger

	mu        sync.Mutex
	discovery map[string]discovered
}

// discovered is a provider's OIDC discovery, kept a few minutes: a cache
// of public metadata, never a correctness input (every sign-in still
// validates its token against the issuer's keys).
type discovered struct {
	p       *oidc.Provider
	meta    discoveryMeta
	fetched time.Time
}

type discoveryMeta struct {
	EndSession    string `json:"end_session_endpoint"`
	IssParameter  bool   `json:"authorization_response_iss_parameter_supported"`
	AuthEndpoint  string `json:"authorization_endpoint"`
	TokenEndpoint string `json:"token_endpoint"`
}

const (
	federationStateTTL    = 10 * time.Minute
	federationDiscoveryTT = 5 * time.Minute
	// ChallengeFederationLink is the login step in which a person who
	// signed in upstream proves the existing account with the same
	// address (its password or an e-mailed code) before it is linked.
	ChallengeFederationLink = "federation_link"
	federationLinkPurpose   = "federation_link"
)

// NewFederation checks d and returns the service.
func NewFederation(d FederationDeps) (*Federation, error) {
	if err := checkDeps("Federation", dep{"Providers", d.Providers == nil}, dep{"States", d.States == nil},
		dep{"Identities", d.Identities == nil}, dep{"Roles", d.Roles == nil}, dep{"Tx", d.Tx == nil}, dep{"Auditor", d.Auditor.Store == nil},
		dep{"Sealer", d.Sealer == nil}, dep{"Login", d.Login == nil}, dep{"Issuer", d.Issuer == ""}); err != nil {
		return nil, err
	}
	f := &Federation{providers: d.Providers, states: d.States, identities: d.Identities, roles: d.Roles, tx: d.Tx, audit: d.Auditor, sealer: d.Sealer, login: d.Login, issuer: strings.TrimSuffix(d.Issuer, "/"),
		client: d.HTTPClient, timeout: d.Timeout, now: d.Now, log: d.Log, discovery: map[string]discovered{}}
	if f.timeout <= 0 {
		f.timeout = 10 * time.Second
	}
	if f.client == nil {
		f.client = &http.Client{Timeout: f.timeout}
	}
	if f.now == nil {
		f.now = time.Now
	}
	if f.log == nil {
		f.log = slog.New(slog.DiscardHandler)
	}
	return f, nil
}

// CallbackPath is the redirect URI path of a provider: what an
// administrator registers upstream, after this server's issuer URL.
func CallbackPath(providerID string) string {
	return "/api/auth/federation/" + providerID + "/callback"
}

// FederationMode is how a flow was started: from the sign-in page (Browser)
// or by an app that wants a bearer token, kept signed in (Remember), or by
// a signed-in user linking a provider to their account (LinkUserID).
type FederationMode struct {
	Browser    bool
	Remember   bool
	LinkUserID string
	// ForceSecondFactor: the relying party's acr_values asked for
	// multi-factor (a second factor even on a trusted device).
	ForceSecondFactor bool
}

// SignInProvider is a provider as the sign-in page shows it.
type SignInProvider struct {
	ID      string
	Label   string
	Domains []string
}

// SignInProviders returns the tenant's enabled providers for the sign-in
// page (an unknown tenant has none).
func (f *Federation) SignInProviders(ctx context.Context, tenantSlug string) ([]SignInProvider, error) {
	tenant, err := f.login.users.GetTenantBySlug(ctx, strings.TrimSpace(tenantSlug))
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			return nil, nil
		}
		return nil, err
	}
	list, err := f.providers.ListIdentityProviders(ctx, tenant.ID)
	if err != nil {
		return nil, err
	}
	var out []SignInProvider
	for _, p := range list {
		if !p.Enabled {
			continue
		}
		label := strings.TrimSpace(p.ButtonLabel)
		if label == "" {
			label = "Sign in with " + p.Name
		}
		out = append(out, SignInProvider{ID: p.ID, Label: label, Domains: []string(p.AllowedDomains)})
	}
	return out, nil
}

// DiscoverProvider returns the enabled provider of the tenant that claims
// the e-mail address's domain (its AllowedDomains), or "" when none does:
// the sign-in page sends such an address straight to its provider.
func (f *Federation) DiscoverProvider(ctx context.Context, tenantSlug, email string) (string, error) {
	tenant, err := f.login.users.GetTenantBySlug(ctx, strings.TrimSpace(tenantSlug))
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			return "", nil
		}
		return "", err
	}
	list, err := f.providers.ListIdentityProviders(ctx, tenant.ID)
	if err != nil {
		return "", err
	}
	if p := ProviderForDomain(list, email); p != nil {
		return p.ID, nil
	}
	return "", nil
}

// Begin starts a sign-in through the tenant's provider and returns the
// upstream authorization URL to send the browser to: response_type=code,
// PKCE S256, a one-time state (stored only as a keyed hash) and, for OIDC,
// a nonce. returnTo is where the browser goes afterwards; the caller has
// validated it. The state is returned for the browser's cookie
// (CallbackInput.BrowserState).
func (f *Federation) Begin(ctx context.Context, tenantSlug, providerID, returnTo string, mode FederationMode) (redirect, state string, err error) {
	tenant, err := f.login.users.GetTenantBySlug(ctx, strings.TrimSpace(tenantSlug))
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			return "", "", models.ErrNotFound("identity_provider")
		}
		return "", "", err
	}
	if tenant.SuspendedAt != nil {
		return "", "", ErrTenantSuspended()
	}
	p, err := f.providers.GetIdentityProvider(ctx, tenant.ID, providerID)
	if err != nil {
		return "", "", err
	}
	if !p.Enabled {
		return "", "", models.ErrNotFound("identity_provider")
	}
	if p.ClientAuthMethod == models.ProviderAuthPrivateKey {
		return "", "", errPrivateKeyJWT()
	}
	cfg, _, err := f.oauthConfig(ctx, p)
	if err != nil {
		return "", "", err
	}
	state, err = keyring.RandomToken(32)
	if err != nil {
		return "", "", models.ErrInternal(err)
	}
	nonce, err := keyring.RandomToken(32)
	if err != nil {
		return "", "", models.ErrInternal(err)
	}
	verifier := oauth2.GenerateVerifier()
	st := &models.FederationState{ID: uuid.NewString(), TenantID: tenant.ID, ProviderID: p.ID, StateHash: f.stateHash(state), Nonce: nonce,
		ReturnTo: truncate(returnTo, 4000), Browser: mode.Browser, Remember: mode.Remember, ForceSecondFactor: mode.ForceSecondFactor, ExpiresAt: f.now().Add(federationStateTTL)}
	// The PKCE verifier is a one-time secret that lives ten minutes; it is
	// sealed anyway (bound to the row id), so a database read alone cannot
	// finish a flow whose code was intercepted.
	if st.PKCEVerifierSealed, err = f.sealer.Seal([]byte(verifier), federationAAD("federation_state", st.ID)); err != nil {
		return "", "", models.ErrInternal(err)
	}
	if mode.LinkUserID != "" {
		id := mode.LinkUserID
		st.LinkUserID = &id
	}
	if err := f.states.CreateFederationState(ctx, st); err != nil {
		return "", "", err
	}
	opts := []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}
	if p.Kind == models.ProviderOIDC {
		opts = append(opts, oidc.Nonce(nonce))
	}
	return cfg.AuthCodeURL(state, opts...), state, nil
}

// CallbackInput is the upstream's answer at the callback of ProviderID
// (the provider named by the callback's path).
type CallbackInput struct {
	ProviderID string
	State      string
	Code       string
	// Iss is RFC 9207's iss parameter ("" when absent); Error and
	// ErrorDescription the upstream's error answer, if any.
	Iss   string
	Error string
	// BrowserState is the state the browser that started the flow keeps
	// in a cookie: the callback must come from that browser (login CSRF:
	// a page elsewhere must not finish its author's flow in its visitor's
	// browser). SignedInUserID is the browser's signed-in user, if any: a
	// link flow completes only for the user who started it.
	BrowserState   string
	SignedInUserID string
	// DeviceToken is the browser's device cookie.
	DeviceToken string
	Meta        Meta
}

// FederationResult is a finished callback: a sign-in (completed, or a
// second-factor step, in LoginResult), a link step to prove the existing
// account (LinkChallenge), or a link to the signed-in account (Linked).
type FederationResult struct {
	*LoginResult
	ReturnTo string
	Browser  bool
	// LinkChallenge is the token of the link step (ChallengeFederationLink);
	// LinkEmail the existing account's address and ProviderName the
	// provider's name, for the page.
	LinkChallenge string
	LinkEmail     string
	ProviderName  string
	// Linked: a signed-in user linked the provider (no new sign-in).
	Linked bool
}

// upstreamPerson is what the provider said about the person.
type upstreamPerson struct {
	Subject string
	// Mail and MailVerified: the address and whether the provider vouches
	// for it (a user's address is set only through setEmail).
	Mail         string
	MailVerified bool
	Name         string
	Groups       []string
	AMR          []string
	ACR          string
	rawIDToken   string
}

// linkData is what the link step carries to its completion.
type linkData struct {
	ProviderID  string   `json:"provider_id"`
	Subject     string   `json:"subject"`
	Email       string   `json:"email"`
	Groups      []string `json:"groups,omitempty"`
	AMR         []string `json:"amr"`
	MultiFactor bool     `json:"multi_factor,omitempty"`
	Browser     bool     `json:"browser"`
	Remember    bool     `json:"remember"`
	ReturnTo    string   `json:"return_to"`
	Force2FA    bool     `json:"force_2fa,omitempty"`
	// IDTokenSealed is the upstream ID token sealed under the keyring
	// bound to the challenge's user id, for the upstream logout.
	IDTokenSealed []byte `json:"id_token_sealed,omitempty"`
}

// Callback finishes a flow: see the package comment above. Every refusal
// is audited (AuditFederatedLoginFailed with a reason, never a token) and
// answered with a models error whose message is safe to show; an upstream
// that is down or slow is a 503 (models.KindUnavailable) after the
// deadline, never a hang.
func (f *Federation) Callback(ctx context.Context, in CallbackInput) (*FederationResult, error) {
	if in.State == "" || subtle.ConstantTimeCompare([]byte(in.BrowserState), []byte(in.State)) != 1 {
		f.refuse(ctx, "", "", in.ProviderID, "browser_mismatch", in.Meta)
		return nil, models.ErrFederationFailed("This sign-in was not started in this browser. Go back to the sign-in page and start again.")
	}
	st, err := f.states.ConsumeFederationState(ctx, f.stateHash(in.State))
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			f.refuse(ctx, "", "", in.ProviderID, "bad_state", in.Meta)
			return nil, models.ErrFederationFailed("This sign-in has expired or was already used. Go back to the sign-in page and start again.")
		}
		return nil, err
	}
	res := &FederationResult{ReturnTo: st.ReturnTo, Browser: st.Browser}
	// Mix-up defence: the answer arrived at the callback of the provider
	// the state was made for, or it is refused.
	if st.ProviderID != in.ProviderID {
		f.refuse(ctx, st.TenantID, "", st.ProviderID, "provider_mismatch", in.Meta)
		return res, models.ErrFederationFailed("")
	}
	p, err := f.providers.GetIdentityProvider(ctx, st.TenantID, st.ProviderID)
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			f.refuse(ctx, st.TenantID, "", st.ProviderID, "provider_gone", in.Meta)
			return res, models.ErrFederationFailed("")
		}
		return res, err
	}
	res.ProviderName = p.Name
	if !p.Enabled {
		f.refuse(ctx, st.TenantID, "", p.ID, "provider_disabled", in.Meta)
		return res, models.ErrFederationFailed("")
	}
	if in.Error != "" {
		f.refuse(ctx, st.TenantID, "", p.ID, "upstream_error", in.Meta, "upstream_error", truncate(in.Error, 64))
		return res, models.ErrFederationFailed(p.Name + " did not sign you in. Go back to the sign-in page and try again.")
	}
	if in.Code == "" {
		f.refuse(ctx, st.TenantID, "", p.ID, "no_code", in.Meta)
		return res, models.ErrFederationFailed("")
	}
	if p.ClientAuthMethod == models.ProviderAuthPrivateKey {
		f.refuse(ctx, st.TenantID, "", p.ID, "unsupported_auth_method", in.Meta)
		return res, errPrivateKeyJWT()
	}
	person, reason, err := f.exchange(ctx, p, st, in)
	if err != nil {
		if reason != "" {
			f.refuse(ctx, st.TenantID, "", p.ID, reason, in.Meta)
		}
		return res, err
	}
	if st.LinkUserID != nil {
		if in.SignedInUserID != *st.LinkUserID {
			f.refuse(ctx, p.TenantID, *st.LinkUserID, p.ID, "link_user_mismatch", in.Meta)
			return res, models.ErrFederationFailed("Sign in again, then link your account.")
		}
		return f.linkSignedIn(ctx, res, p, *st.LinkUserID, person, in.Meta)
	}
	return f.signInPerson(ctx, res, p, st, person, in)
}

// exchange turns the code into the person: token endpoint (PKCE verifier,
// client_secret_basic or _post), then the ID token (OIDC) and/or userinfo.
// reason names an audited refusal ("" for an outage or an internal error).
func (f *Federation) exchange(ctx context.Context, p *models.IdentityProvider, st *models.FederationState, in CallbackInput) (*upstreamPerson, string, error) {
	verifier, err := f.sealer.Open(st.PKCEVerifierSealed, federationAAD("federation_state", st.ID))
	if err != nil {
		return nil, "", models.ErrInternal(fmt.Errorf("open pkce verifier: %w", err))
	}
	cfg, disc, err := f.oauthConfig(ctx, p)
	if err != nil {
		return nil, "", err
	}
	// RFC 9207: an iss parameter must name the provider's issuer; a
	// provider that announces the parameter must send it.
	if disc != nil {
		if in.Iss != "" && in.Iss != p.Issuer {
			return nil, "issuer_mismatch", models.ErrFederationFailed("")
		}
		if in.Iss == "" && disc.meta.IssParameter {
			return nil, "issuer_missing", models.ErrFederationFailed("")
		}
	}
	uctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, f.client), f.timeout)
	defer cancel()
	uctx = context.WithValue(uctx, oauth2.HTTPClient, f.client)
	tok, err := cfg.Exchange(uctx, in.Code, oauth2.VerifierOption(string(verifier)))
	if err != nil {
		var re *oauth2.RetrieveError
		if errors.As(err, &re) {
			return nil, "token_exchange", models.ErrFederationFailed("")
		}
		return nil, "", f.unavailable(err)
	}
	person := &upstreamPerson{}
	claims := map[string]any{}
	if p.Kind == models.ProviderOIDC {
		raw, _ := tok.Extra("id_token").(string)
		if raw == "" {
			return nil, "no_id_token", models.ErrFederationFailed("")
		}
		idt, err := disc.p.VerifierContext(oidc.ClientContext(ctx, f.client), &oidc.Config{ClientID: p.ClientID, Now: f.now}).Verify(uctx, raw)
		if err != nil {
			if uctx.Err() != nil || strings.Contains(err.Error(), "fetching keys") {
				return nil, "", f.unavailable(err)
			}
			return nil, "invalid_id_token", models.ErrFederationFailed("")
		}
		if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(st.Nonce)) != 1 {
			return nil, "nonce_mismatch", models.ErrFederationFailed("")
		}
		if err := idt.Claims(&claims); err != nil {
			return nil, "invalid_id_token", models.ErrFederationFailed("")
		}
		person.rawIDToken = raw
		m := mapping(p.Claims)
		_, hasEmail := lookup(claims, m.Email)
		_, hasGroups := lookup(claims, m.Groups)
		need := !hasEmail || (len(p.GroupRoles) > 0 && !hasGroups)
		if need && (p.UserinfoURL != "" || disc.p.UserInfoEndpoint() != "") {
			info, err := f.userinfo(uctx, p, disc, tok)
			if err != nil {
				return nil, userinfoReason(err), err
			}
			// OpenID Connect Core §5.3.2: userinfo's sub must be the ID
			// token's, or its claims are not this person's.
			if s, _ := info["sub"].(string); s != idt.Subject {
				return nil, "userinfo_subject_mismatch", models.ErrFederationFailed("")
			}
			for k, v := range info {
				if _, ok := claims[k]; !ok {
					claims[k] = v
				}
			}
		}
	} else {
		info, err := f.userinfo(uctx, p, nil, tok)
		if err != nil {
			return nil, userinfoReason(err), err
		}
		claims = info
	}
	mapClaims(person, claims, mapping(p.Claims))
	if person.Subject == "" {
		return nil, "no_subject", models.ErrFederationFailed("")
	}
	return person, "", nil
}

func userinfoReason(err error) string {
	if models.IsKind(err, models.KindUnavailable) {
		return ""
	}
	return "userinfo"
}

// userinfo reads the provider's userinfo endpoint with the access token.
func (f *Federation) userinfo(ctx context.Context, p *models.IdentityProvider, disc *discovered, tok *oauth2.Token) (map[string]any, error) {
	endpoint := p.UserinfoURL
	if endpoint == "" && disc != nil {
		endpoint = disc.p.UserInfoEndpoint()
	}
	if endpoint == "" {
		return nil, models.ErrFederationFailed("")
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, endpoint, nil)
	if err != nil {
		return nil, models.ErrFederationFailed("")
	}
	req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
	req.Header.Set("Accept", "application/json")
	resp, err := f.client.Do(req)
	if err != nil {
		return nil, f.unavailable(err)
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 500 {
		return nil, f.unavailable(fmt.Errorf("userinfo: %s", resp.Status))
	}
	if resp.StatusCode != http.StatusOK {
		return nil, models.ErrFederationFailed("")
	}
	var out map[string]any
	if ct := resp.Header.Get("Content-Type"); strings.Contains(ct, "jwt") {
		// A signed userinfo response is not accepted unverified.
		return nil, models.ErrFederationFailed("")
	}
	dec := json.NewDecoder(io.LimitReader(resp.Body, 1<<20))
	dec.UseNumber()
	if err := dec.Decode(&out); err != nil {
		if ctx.Err() != nil {
			return nil, f.unavailable(err)
		}
		return nil, models.ErrFederationFailed("")
	}
	return out, nil
}

// unavailable is the answer to an upstream that did not answer in time
// or at all: a 503, never a hang or a 500.
func (f *Federation) unavailable(err error) error {
	return models.ErrUnavailable("identity provider", err).WithMessage("Your organisation's sign-in provider is not answering. Try again in a moment.")
}

// oauthConfig is the provider's OAuth 2.0 client: endpoints from
// discovery (OIDC) or the configured URLs (oauth2), the client secret
// opened from its seal, the redirect URI, the scopes.
func (f *Federation) oauthConfig(ctx context.Context, p *models.IdentityProvider) (*oauth2.Config, *discovered, error) {
	secret := ""
	if len(p.ClientSecretSealed) > 0 {
		s, err := openProviderSecret(f.sealer, p)
		if err != nil {
			return nil, nil, models.ErrInternal(fmt.Errorf("open provider secret: %w", err))
		}
		secret = s
	}
	cfg := &oauth2.Config{ClientID: p.ClientID, ClientSecret: secret, RedirectURL: f.issuer + CallbackPath(p.ID)}
	style := oauth2.AuthStyleInHeader
	if p.ClientAuthMethod == models.ProviderAuthSecretPost {
		style = oauth2.AuthStyleInParams
	}
	var disc *discovered
	scopes := slices.Clone([]string(p.Scopes))
	if p.Kind == models.ProviderOIDC {
		d, err := f.discover(ctx, p.Issuer)
		if err != nil {
			return nil, nil, err
		}
		disc = d
		ep := d.p.Endpoint()
		cfg.Endpoint = oauth2.Endpoint{AuthURL: ep.AuthURL, TokenURL: ep.TokenURL, AuthStyle: style}
		if len(scopes) == 0 {
			scopes = []string{"email", "profile"}
		}
		if !slices.Contains(scopes, oidc.ScopeOpenID) {
			scopes = append([]string{oidc.ScopeOpenID}, scopes...)
		}
	} else {
		cfg.Endpoint = oauth2.Endpoint{AuthURL: p.AuthorizationURL, TokenURL: p.TokenURL, AuthStyle: style}
	}
	cfg.Scopes = scopes
	// An endpoint that is not an absolute http(s) URL would send the
	// browser (or the token request) somewhere undefined.
	for _, e := range []string{cfg.Endpoint.AuthURL, cfg.Endpoint.TokenURL} {
		if u, err := url.Parse(e); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			return nil, nil, models.ErrFederationUnsupported("This provider's authorization or token endpoint is missing or not an http(s) URL: an administrator must fix its settings.")
		}
	}
	return cfg, disc, nil
}

// discover fetches (or reuses, for a few minutes) the issuer's discovery.
func (f *Federation) discover(ctx context.Context, issuer string) (*discovered, error) {
	now := f.now()
	f.mu.Lock()
	d, ok := f.discovery[issuer]
	f.mu.Unlock()
	if ok && now.Sub(d.fetched) < federationDiscoveryTT {
		return &d, nil
	}
	dctx, cancel := context.WithTimeout(oidc.ClientContext(ctx, f.client), f.timeout)
	defer cancel()
	p, err := oidc.NewProvider(dctx, issuer)
	if err != nil {
		var mismatch *oidc.IssuerMismatchError
		if errors.As(err, &mismatch) {
			return nil, models.ErrFederationFailed("")
		}
		return nil, f.unavailable(err)
	}
	var meta discoveryMeta
	_ = p.Claims(&meta)
	d = discovered{p: p, meta: meta, fetched: now}
	f.mu.Lock()
	f.discovery[issuer] = d
	f.mu.Unlock()
	return &d, nil
}

func (f *Federation) stateHash(state string) string {
	if state == "" {
		return ""
	}
	return f.sealer.MAC(keyring.PurposeLookup, []byte("federation-state"), []byte(state))
}

// federationAAD is the additional data a value of the flow is sealed
// with: its kind and the row it belongs to, so a sealed value copied to
// another row, or to a column of another kind, does not open.
func federationAAD(kind, id string) []byte { return []byte(kind + ":" + id) }

func errPrivateKeyJWT() *models.Error {
	return models.ErrFederationUnsupported("This provider is set up to use private_key_jwt, which this server does not support yet: an administrator must switch it to client_secret_basic or client_secret_post.")
}

// mapping fills the claim mapping's defaults.
func mapping(m models.ClaimMapping) models.ClaimMapping {
	def := func(v, d string) string {
		if strings.TrimSpace(v) == "" {
			return d
		}
		return strings.TrimSpace(v)
	}
	return models.ClaimMapping{Subject: def(m.Subject, "sub"), Email: def(m.Email, "email"), EmailVerified: def(m.EmailVerified, "email_verified"),
		Name: def(m.Name, "name"), Groups: def(m.Groups, "groups")}
}

// lookup follows a dotted path into the claims.
func lookup(claims map[string]any, path string) (any, bool) {
	if v, ok := claims[path]; ok {
		return v, true
	}
	var cur any = claims
	for _, part := range strings.Split(path, ".") {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, false
		}
		if cur, ok = m[part]; !ok {
			return nil, false
		}
	}
	return cur, true
}

func claimString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case json.Number:
		return x.String()
	case float64:
		return fmt.Sprintf("%.0f", x)
	case bool:
		return fmt.Sprint(x)
	}
	return ""
}

func claimStrings(v any) []string {
	switch x := v.(type) {
	case string:
		if x == "" {
			return nil
		}
		return []string{x}
	case []any:
		var out []string
		for _, e := range x {
			if s := claimString(e); s != "" {
				out = append(out, s)
			}
		}
		return out
	case []string:
		return x
	}
	return nil
}

func mapClaims(p *upstreamPerson, claims map[string]any, m models.ClaimMapping) {
	get := func(path string) any { v, _ := lookup(claims, path); return v }
	p.Subject = claimString(get(m.Subject))
	p.Mail = strings.ToLower(strings.TrimSpace(claimString(get(m.Email))))
	switch v := get(m.EmailVerified).(type) {
	case bool:
		p.MailVerified = v
	case string:
		p.MailVerified = strings.EqualFold(v, "true")
	}
	p.Name = truncate(strings.TrimSpace(claimString(get(m.Name))), 200)
	p.Groups = claimStrings(get(m.Groups))
	p.AMR = claimStrings(claims["amr"])
	p.ACR = claimString(claims["acr"])
}

// amrOf is the sign-in's methods: "fed", then what the provider said, and
// "mfa" when the provider reported a multi-factor sign-in (an amr of mfa,
// otp or hwk, or an acr that names mfa).
func amrOf(p *upstreamPerson) ([]string, bool) {
	amr := []string{"fed"}
	mfa := strings.Contains(strings.ToLower(p.ACR), "mfa")
	for _, m := range p.AMR {
		m = strings.TrimSpace(m)
		if m == "" || len(m) > 32 || slices.Contains(amr, m) {
			continue
		}
		amr = append(amr, m)
		mfa = mfa || m == "mfa" || m == "otp" || m == "hwk"
	}
	if mfa && !slices.Contains(amr, "mfa") {
		amr = append(amr, "mfa")
	}
	return amr, mfa
}

// domainAllowed: the provider limits no domain, or the address is in one.
func domainAllowed(p *models.IdentityProvider, email string) bool {
	if len(p.AllowedDomains) == 0 {
		return true
	}
	_, domain, ok := strings.Cut(email, "@")
	if !ok {
		return false
	}
	for _, d := range p.AllowedDomains {
		if strings.EqualFold(strings.TrimSpace(d), domain) {
			return true
		}
	}
	return false
}

// signInPerson signs in the person the provider vouched for: an existing
// link, an account made just in time, or the link step.
func (f *Federation) signInPerson(ctx context.Context, res *FederationResult, p *models.IdentityProvider, st *models.FederationState,
	person *upstreamPerson, in CallbackInput) (*FederationResult, error) {
	if !domainAllowed(p, person.Mail) {
		f.refuse(ctx, p.TenantID, "", p.ID, "domain_not_allowed", in.Meta)
		return res, models.ErrFederationNotAllowed("Your e-mail address is not one this organisation accepts from " + p.Name + ".")
	}
	amr, mfa := amrOf(person)
	link, err := f.identities.GetUserIdentityBySubject(ctx, p.TenantID, p.ID, person.Subject)
	if err != nil && !models.IsKind(err, models.KindNotFound) {
		return res, err
	}
	var user *models.User
	if link != nil {
		if user, err = f.login.users.GetUser(ctx, p.TenantID, link.UserID); err != nil {
			return res, err
		}
		if err := f.identities.TouchUserIdentity(ctx, link.ID, f.now()); err != nil {
			return res, err
		}
	} else {
		if person.Mail == "" {
			f.refuse(ctx, p.TenantID, "", p.ID, "no_email", in.Meta)
			return res, models.ErrFederationNotAllowed(p.Name + " did not tell us your e-mail address, so no account can be found or made for you.")
		}
		if !person.MailVerified {
			f.refuse(ctx, p.TenantID, "", p.ID, "email_unverified", in.Meta)
			return res, models.ErrFederationEmailUnverified()
		}
		existing, err := f.login.users.GetUserByEmail(ctx, p.TenantID, person.Mail)
		if err != nil && !models.IsKind(err, models.KindNotFound) {
			return res, err
		}
		if existing != nil {
			// Never a link on the e-mail address alone: the person proves
			// the account first.
			return f.startLink(ctx, res, p, st, existing, person, amr, mfa, in)
		}
		if !p.JITProvisioning {
			f.refuse(ctx, p.TenantID, "", p.ID, "no_account", in.Meta)
			return res, models.ErrFederationNotAllowed("There is no account for you here yet, and " + p.Name + " cannot create one. Ask your administrator for an invitation.")
		}
		if user, err = f.provision(ctx, p, person, in.Meta); err != nil {
			return res, err
		}
	}
	if err := f.applyGroupRoles(ctx, p, user, person.Groups, in.Meta); err != nil {
		return res, err
	}
	return f.complete(ctx, res, p, user, person.rawIDToken, amr, mfa, st.Browser, st.Remember, in.DeviceToken, st.ForceSecondFactor, in.Meta)
}

// provision creates the account of a first sign-in (no password, the
// address verified by the provider), links the identity, and records both
// in one transaction.
func (f *Federation) provision(ctx context.Context, p *models.IdentityProvider, person *upstreamPerson, meta Meta) (*models.User, error) {
	u := &models.User{TenantID: p.TenantID, Name: person.Name}
	setEmail(u, person.Mail, true) // the provider vouched for the address (email_verified)
	err := f.tx.InTx(ctx, func(ctx context.Context) error {
		if err := f.identities.CreateUser(ctx, u); err != nil {
			return err
		}
		if err := f.audit.Record(ctx, Principal{}, Event{TenantID: u.TenantID, UserID: u.ID, Action: AuditUserProvisioned, Meta: meta,
			Metadata: map[string]any{"provider_id": p.ID, "email": u.Email}, Data: userData(u)}); err != nil {
			return err
		}
		return f.link(ctx, p, u, person, meta)
	})
	if err != nil {
		if models.IsKind(err, models.KindConflict) {
			return nil, models.ErrFederationFailed("Another sign-in for this person is under way. Go back to the sign-in page and try again.")
		}
		return nil, err
	}
	return u, nil
}

// link records the identity and its audit row (in the caller's tx).
func (f *Federation) link(ctx context.Context, p *models.IdentityProvider, u *models.User, person *upstreamPerson, meta Meta) error {
	i := &models.UserIdentity{TenantID: u.TenantID, UserID: u.ID, ProviderID: p.ID, Subject: person.Subject, Email: person.Mail}
	if err := f.identities.CreateUserIdentity(ctx, i); err != nil {
		return err
	}
	return f.audit.Record(ctx, Principal{}, Event{TenantID: u.TenantID, UserID: u.ID, Action: AuditIdentityLinked, Meta: meta,
		Metadata: map[string]any{"provider_id": p.ID, "identity_id": i.ID}, Data: map[string]any{"identity_id": i.ID, "provider_id": p.ID}})
}

// linkSignedIn links the provider to the user who started the flow while
// signed in; the identity must not be linked to anyone yet.
func (f *Federation) linkSignedIn(ctx context.Context, res *FederationResult, p *models.IdentityProvider, userID string, person *upstreamPerson, meta Meta) (*FederationResult, error) {
	u, err := f.login.users.GetUser(ctx, p.TenantID, userID)
	if err != nil {
		return res, err
	}
	err = f.tx.InTx(ctx, func(ctx context.Context) error { return f.link(ctx, p, u, person, meta) })
	if err != nil {
		if models.IsKind(err, models.KindConflict) {
			f.refuse(ctx, p.TenantID, u.ID, p.ID, "already_linked", meta)
			return res, models.ErrFederationNotAllowed("This " + p.Name + " account is already linked to an account here.")
		}
		return res, err
	}
	res.Linked = true
	return res, nil
}

// complete applies the sign-in through Login.SignInExternal and, for a
// provider with an upstream logout, keeps its ID token (sealed, bound to
// the session) for the logout's id_token_hint.
func (f *Federation) complete(ctx context.Context, res *FederationResult, p *models.IdentityProvider, user *models.User, rawIDToken string,
	amr []string, mfa, browser, remember bool, deviceToken string, force bool, meta Meta) (*FederationResult, error) {
	lr, err := f.login.SignInExternal(ctx, ExternalSignIn{User: user, AMR: amr, MultiFactor: mfa, Browser: browser, Remember: remember,
		DeviceToken: deviceToken, ForceSecondFactor: force, Meta: meta})
	if err != nil {
		return res, err
	}
	res.LoginResult = lr
	if lr.Session != nil {
		f.keepFederationLogin(ctx, p, lr.Session, rawIDToken)
	}
	return res, nil
}

// keepFederationLogin records the upstream side of a new session; a
// failure is logged (it costs only the upstream logout).
func (f *Federation) keepFederationLogin(ctx context.Context, p *models.IdentityProvider, s *models.Session, rawIDToken string) {
	l := &models.FederationLogin{SessionID: s.ID, TenantID: s.TenantID, UserID: s.UserID, ProviderID: p.ID, ExpiresAt: s.ExpiresAt}
	if rawIDToken != "" {
		sealed, err := f.sealer.Seal([]byte(rawIDToken), federationAAD("federation_login", s.ID))
		if err != nil {
			f.log.ErrorContext(ctx, "seal upstream id token", "err", err)
			return
		}
		l.IDTokenSealed = sealed
	}
	if err := f.states.CreateFederationLogin(ctx, l); err != nil {
		f.log.ErrorContext(ctx, "record federated session", "err", err)
	}
}

// refuse audits a refused sign-in; extra are more metadata pairs.
func (f *Federation) refuse(ctx context.Context, tenantID, userID, providerID, reason string, meta Meta, extra ...string) {
	md := map[string]any{"reason": reason}
	if models.ValidID(providerID) {
		md["provider_id"] = providerID
	}
	for i := 0; i+1 < len(extra); i += 2 {
		md[extra[i]] = extra[i+1]
	}
	ev := Event{TenantID: tenantID, UserID: userID, Action: AuditFederatedLoginFailed, Meta: meta, Metadata: md, Data: map[string]any{"reason": reason}}
	if tenantID == "" {
		ev.Publish = []string{}
	}
	f.login.recordOutside(ctx, Principal{}, ev)
}

// applyGroupRoles gives the user the roles the provider's GroupRoles map
// their upstream groups to, and takes back the roles this mapping gave
// earlier whose groups are gone; a role the user holds otherwise (given by
// an administrator) is never taken. Each change is audited with its event.
func (f *Federation) applyGroupRoles(ctx context.Context, p *models.IdentityProvider, u *models.User, groups []string, meta Meta) error {
	want := map[string]*models.Role{}
	for _, g := range groups {
		for _, name := range p.GroupRoles[g] {
			r, err := f.roles.GetRoleByName(ctx, p.TenantID, name)
			if err != nil {
				if models.IsKind(err, models.KindNotFound) {
					f.log.WarnContext(ctx, "group role mapping names no role", "provider_id", p.ID, "role", truncate(name, 100))
					continue
				}
				return err
			}
			want[r.ID] = r
		}
	}
	granted, err := f.roles.ListFederationRoleGrants(ctx, p.TenantID, u.ID, p.ID)
	if err != nil {
		return err
	}
	if len(want) == 0 && len(granted) == 0 {
		return nil
	}
	// Roles held already and not given by the mapping (an administrator's)
	// are left alone: the mapping neither records nor ever takes them. They
	// are read first: a failed INSERT would abort a PostgreSQL transaction.
	heldRoles, err := f.roles.PrincipalRoles(ctx, p.TenantID, []string{u.ID})
	if err != nil {
		return err
	}
	held := map[string]bool{}
	for _, r := range heldRoles[u.ID] {
		held[r.ID] = true
	}
	return f.tx.InTx(ctx, func(ctx context.Context) error {
		for id, r := range want {
			if slices.Contains(granted, id) || held[id] {
				continue
			}
			if err := f.roles.AssignRole(ctx, p.TenantID, u.ID, models.PrincipalUser, id); err != nil {
				return err
			}
			if err := f.roles.AddFederationRoleGrant(ctx, &models.FederationRoleGrant{TenantID: p.TenantID, UserID: u.ID, ProviderID: p.ID, RoleID: id}); err != nil {
				return err
			}
			if err := f.audit.Record(ctx, Principal{}, Event{TenantID: p.TenantID, UserID: u.ID, Action: AuditRoleAssigned, Meta: meta,
				Metadata: map[string]any{"role_id": id, "role": r.Name, "provider_id": p.ID, "source": "group_mapping"}, Data: userHolder}); err != nil {
				return err
			}
		}
		for _, id := range granted {
			if _, ok := want[id]; ok {
				continue
			}
			name := ""
			if r, err := f.roles.GetRole(ctx, p.TenantID, id); err == nil {
				name = r.Name
			}
			if err := f.roles.UnassignRole(ctx, p.TenantID, u.ID, id); err != nil && !models.IsKind(err, models.KindNotFound) {
				return err
			}
			if err := f.roles.DeleteFederationRoleGrant(ctx, p.TenantID, u.ID, p.ID, id); err != nil {
				return err
			}
			if err := f.audit.Record(ctx, Principal{}, Event{TenantID: p.TenantID, UserID: u.ID, Action: AuditRoleUnassigned, Meta: meta,
				Metadata: map[string]any{"role_id": id, "role": name, "provider_id": p.ID, "source": "group_mapping"}, Data: userHolder}); err != nil {
				return err
			}
		}
		return nil
	})
}

// startLink begins the link step: a challenge for the existing account
// that carries the upstream identity to the proof.
func (f *Federation) startLink(ctx context.Context, res *FederationResult, p *models.IdentityProvider, st *models.FederationState, user *models.User,
	person *upstreamPerson, amr []string, mfa bool, in CallbackInput) (*FederationResult, error) {
	d := linkData{ProviderID: p.ID, Subject: person.Subject, Email: person.Mail, Groups: person.Groups, AMR: amr, MultiFactor: mfa,
		Browser: st.Browser, Remember: st.Remember, ReturnTo: st.ReturnTo, Force2FA: st.ForceSecondFactor}
	if person.rawIDToken != "" {
		if sealed, err := f.sealer.Seal([]byte(person.rawIDToken), federationAAD("federation_link", user.ID)); err == nil {
			d.IDTokenSealed = sealed
		}
	}
	raw, err := json.Marshal(d)
	if err != nil {
		return res, models.ErrInternal(err)
	}
	token, err := keyring.RandomToken(32)
	if err != nil {
		return res, models.ErrInternal(err)
	}
	c := &models.AuthChallenge{TokenHash: sha(token), TenantID: user.TenantID, UserID: user.ID, Kind: ChallengeFederationLink, Data: string(raw),
		ExpiresAt: f.now().Add(f.login.cfg.ChallengeTTL)}
	if err := f.login.challenges.CreateChallenge(ctx, c); err != nil {
		return res, err
	}
	res.LinkChallenge, res.LinkEmail = token, user.Email
	return res, nil
}

// LinkProof is the proof of the existing account at the link step: its
// password, or the code e-mailed to it.
type LinkProof struct {
	Challenge string
	Password  string
	Code      string
	// BrowserState is the state the browser that started the flow keeps
	// in a cookie: the callback must come from that browser (login CSRF:
	// a page elsewhere must not finish its author's flow in its visitor's
	// browser). SignedInUserID is the browser's signed-in user, if any: a
	// link flow completes only for the user who started it.
	BrowserState   string
	SignedInUserID string
	// DeviceToken is the browser's device cookie.
	DeviceToken string
	Meta        Meta
}

func (f *Federation) loadLink(ctx context.Context, token string) (*models.AuthChallenge, *models.User, linkData, error) {
	var d linkData
	bad := models.ErrInvalidChallenge().WithMessage("This step has expired. Go back to the sign-in page and start again.")
	if token == "" {
		return nil, nil, d, bad
	}
	c, err := f.login.challenges.GetChallenge(ctx, sha(token))
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			return nil, nil, d, bad
		}
		return nil, nil, d, err
	}
	if c.Kind != ChallengeFederationLink {
		return nil, nil, d, bad
	}
	if err := json.Unmarshal([]byte(c.Data), &d); err != nil {
		return nil, nil, d, models.ErrInternal(err)
	}
	u, err := f.login.users.GetUser(ctx, c.TenantID, c.UserID)
	if err != nil {
		return nil, nil, d, bad
	}
	if err := f.login.checkActive(ctx, u); err != nil {
		return nil, nil, d, err
	}
	return c, u, d, nil
}

// LinkInfo returns the address and provider name of a pending link step,
// for its page.
func (f *Federation) LinkInfo(ctx context.Context, challenge string) (email, providerName, returnTo string, err error) {
	_, u, d, err := f.loadLink(ctx, challenge)
	if err != nil {
		return "", "", "", err
	}
	name := ""
	if p, err := f.providers.GetIdentityProvider(ctx, u.TenantID, d.ProviderID); err == nil {
		name = p.Name
	}
	return u.Email, name, d.ReturnTo, nil
}

// SendLinkCode e-mails a code to the existing account of a link step (the
// proof for an account without a password, or a person who forgot it).
func (f *Federation) SendLinkCode(ctx context.Context, challenge string, meta Meta) error {
	at, err := f.login.beginAttempt(ctx, f.login.cfg.TwoFactorLimit, meta.IP, "")
	if err != nil {
		return err
	}
	_, u, _, err := f.loadLink(ctx, challenge)
	if err != nil {
		at.failed(ctx)
		return err
	}
	if err := f.login.limit(ctx, f.login.cfg.TwoFactorLimit, "send:"+u.ID); err != nil {
		return err
	}
	return f.login.sendEmailCode(ctx, u, federationLinkPurpose)
}

// Link completes the link step: the existing account's password (counted
// towards its lockout like a failed login) or its e-mailed code proves it;
// then the identity is linked (AuditIdentityLinked) and the person signed
// in. A wrong proof links nothing.
func (f *Federation) Link(ctx context.Context, in LinkProof) (*FederationResult, error) {
	c, u, d, err := f.loadLink(ctx, in.Challenge)
	if err != nil {
		return nil, err
	}
	res := &FederationResult{ReturnTo: d.ReturnTo, Browser: d.Browser}
	p, err := f.providers.GetIdentityProvider(ctx, u.TenantID, d.ProviderID)
	if err != nil || !p.Enabled {
		return res, models.ErrFederationFailed("")
	}
	res.ProviderName = p.Name
	at, err := f.login.claimCodeAttempt(ctx, c, u, in.Meta.IP)
	if err != nil {
		return res, err
	}
	proof := ""
	switch {
	case in.Password != "":
		proof = "pwd"
		if _, err := f.login.verifyPassword(ctx, Principal{TenantID: u.TenantID, UserID: u.ID}, in.Password, in.Meta); err != nil {
			at.failed(ctx)
			f.refuse(ctx, u.TenantID, u.ID, p.ID, "link_proof_failed", in.Meta, "proof", "password")
			return res, err
		}
	case in.Code != "":
		proof = "email"
		ok, err := f.login.checkEmailCode(ctx, u, federationLinkPurpose, strings.TrimSpace(in.Code))
		if err != nil {
			return res, err
		}
		if !ok {
			at.failed(ctx)
			f.refuse(ctx, u.TenantID, u.ID, p.ID, "link_proof_failed", in.Meta, "proof", "email_code")
			return res, errInvalidCode()
		}
	default:
		return res, models.ErrPasswordRequired()
	}
	at.succeeded(ctx)
	if ok, err := f.login.challenges.ConsumeChallenge(ctx, c.ID); err != nil {
		return res, err
	} else if !ok {
		return res, models.ErrInvalidChallenge().WithMessage("This step was already completed.")
	}
	person := &upstreamPerson{Subject: d.Subject, Mail: d.Email, Groups: d.Groups}
	err = f.tx.InTx(ctx, func(ctx context.Context) error { return f.link(ctx, p, u, person, in.Meta) })
	if err != nil {
		if models.IsKind(err, models.KindConflict) {
			f.refuse(ctx, u.TenantID, u.ID, p.ID, "already_linked", in.Meta)
			return res, models.ErrFederationNotAllowed("This " + p.Name + " account is already linked to an account here.")
		}
		return res, err
	}
	if err := f.applyGroupRoles(ctx, p, u, d.Groups, in.Meta); err != nil {
		return res, err
	}
	raw := ""
	if len(d.IDTokenSealed) > 0 {
		if b, err := f.sealer.Open(d.IDTokenSealed, federationAAD("federation_link", u.ID)); err == nil {
			raw = string(b)
		}
	}
	amr := slices.Clone(d.AMR)
	if proof == "pwd" && !slices.Contains(amr, "pwd") {
		amr = append(amr, "pwd")
	}
	return f.complete(ctx, res, p, u, raw, amr, d.MultiFactor, d.Browser, d.Remember, in.DeviceToken, d.Force2FA, in.Meta)
}

// UpstreamLogout returns where to send the browser to end the upstream
// session too, for a session that was federated through a provider whose
// discovery names an end_session_endpoint (OpenID Connect RP-Initiated
// Logout 1.0): with the upstream ID token as id_token_hint, our client id,
// and postLogout (a URL of this server the administrator registered
// upstream) as post_logout_redirect_uri. "" when there is none; it never
// fails the logout.
func (f *Federation) UpstreamLogout(ctx context.Context, tenantID, sessionID, postLogout, state string) string {
	l, err := f.states.GetFederationLogin(ctx, tenantID, sessionID)
	if err != nil {
		return ""
	}
	p, err := f.providers.GetIdentityProvider(ctx, tenantID, l.ProviderID)
	if err != nil || p.Kind != models.ProviderOIDC {
		return ""
	}
	d, err := f.discover(ctx, p.Issuer)
	if err != nil || d.meta.EndSession == "" {
		return ""
	}
	u, err := url.Parse(d.meta.EndSession)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") {
		return ""
	}
	q := u.Query()
	if len(l.IDTokenSealed) > 0 {
		if raw, err := f.sealer.Open(l.IDTokenSealed, federationAAD("federation_login", sessionID)); err == nil {
			q.Set("id_token_hint", string(raw))
		}
	}
	q.Set("client_id", p.ClientID)
	if postLogout != "" {
		q.Set("post_logout_redirect_uri", postLogout)
	}
	if state != "" {
		q.Set("state", state)
	}
	u.RawQuery = q.Encode()
	return u.String()
}
