package oauth

import (
	"context"
	"fmt"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/compose"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/hmac"

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// Lifespans of what the provider issues.
type Lifespans struct {
	AccessToken   time.Duration
	RefreshToken  time.Duration
	AuthorizeCode time.Duration
	IDToken       time.Duration
}

// Storage is everything fosite's composed handlers need from storage.
type Storage interface {
	fosite.Storage
	oauth2.CoreStorage
	oauth2.TokenRevocationStorage
	openid.OpenIDConnectRequestStorage
	PKCEStorage
	refreshRotationStorage
}

// Deps are what New needs.
type Deps struct {
	Issuer    string
	Lifespans Lifespans
	Ring      *keyring.Keyring
	Store     Storage
	Keys      *KeyManager
	Hasher    *Hasher
}

// Provider is the composed fosite provider with the parts handlers use.
type Provider struct {
	fosite.OAuth2Provider
	Config   *fosite.Config
	Keys     *KeyManager
	Strategy *TokenStrategy
	Signer   *Signer
	Issuer   string
	store    Storage
}

// New composes the provider: authorization code with PKCE (S256 only,
// required for public clients), client credentials, refresh token with
// rotation (and a narrower scope on request), RFC 7662 introspection, RFC 7009 revocation, and OpenID Connect
// (explicit flow and refresh). Implicit, hybrid and ROPC are left out.
func New(d Deps) (*Provider, error) {
	if d.Ring == nil || d.Store == nil || d.Keys == nil || d.Hasher == nil {
		return nil, fmt.Errorf("oauth: incomplete dependencies")
	}
	cfg := &fosite.Config{
		AccessTokenLifespan:            d.Lifespans.AccessToken,
		RefreshTokenLifespan:           d.Lifespans.RefreshToken,
		AuthorizeCodeLifespan:          d.Lifespans.AuthorizeCode,
		IDTokenLifespan:                d.Lifespans.IDToken,
		IDTokenIssuer:                  d.Issuer,
		AccessTokenIssuer:              d.Issuer,
		TokenURL:                       d.Issuer + "/api/oauth/token",
		GlobalSecret:                   d.Ring.Derive(keyring.PurposeTokenHMAC),
		ClientSecretsHasher:            d.Hasher,
		EnforcePKCEForPublicClients:    true,
		EnablePKCEPlainChallengeMethod: false,
		ScopeStrategy:                  fosite.ExactScopeStrategy,
		AudienceMatchingStrategy:       fosite.DefaultAudienceMatchingStrategy,
		RefreshTokenScopes:             []string{"offline_access", "offline"},
		SendDebugMessagesToClients:     false,
	}
	// Several methods per client, and no authentication at all is
	// invalid_client: see clientauth.go.
	cfg.ClientAuthenticationStrategy = (&clientAuthenticator{store: d.Store, hasher: d.Hasher}).authenticate
	signer := &Signer{Keys: d.Keys}
	strategy := &TokenStrategy{
		HMAC:   oauth2.NewHMACSHAStrategyUnPrefixed(&hmac.HMACStrategy{Config: cfg}, cfg),
		Signer: signer,
		Issuer: d.Issuer,
	}
	// ID tokens are signed with their client's algorithm (RS256 or ES256);
	// JWT access tokens, and the signer fosite checks id_token_hint with,
	// are RS256's (Decode takes any published key by kid).
	common := &compose.CommonStrategy{
		CoreStrategy:               strategy,
		OpenIDConnectTokenStrategy: NewIDTokenStrategy(d.Keys, cfg),
		Signer:                     signer,
	}
	// Order matters: the OpenID Connect factories must follow the OAuth 2.0
	// authorization code factory. Compose is called exactly once.
	p := compose.Compose(cfg, d.Store, common,
		compose.OAuth2AuthorizeExplicitFactory,
		compose.OAuth2ClientCredentialsGrantFactory,
		refreshFactory, // fosite's, with the scope parameter honoured (RFC 6749 §6)
		compose.OAuth2TokenIntrospectionFactory,
		compose.OAuth2TokenRevocationFactory,
		compose.OAuth2PKCEFactory,
		compose.OpenIDConnectExplicitFactory,
		compose.OpenIDConnectRefreshFactory,
	)
	return &Provider{OAuth2Provider: p, Config: cfg, Keys: d.Keys, Strategy: strategy, Signer: signer, Issuer: d.Issuer, store: d.Store}, nil
}

// IntrospectAccessToken validates an access token as a resource server
// would, filling and returning our Session. Refresh tokens and codes are
// refused (ErrInactiveToken).
func (p *Provider) IntrospectAccessToken(ctx context.Context, token string) (fosite.AccessRequester, *Session, error) {
	sess := NewSession()
	tu, ar, err := p.IntrospectToken(ctx, token, fosite.AccessToken, sess)
	if err != nil {
		return nil, nil, err
	}
	// fosite treats the token type as a hint and falls back to refresh
	// tokens: a bearer credential must be an access token (RFC 6750 §1.2).
	if tu != fosite.AccessToken {
		return nil, nil, fosite.ErrInactiveToken.WithHint("Only access tokens are accepted as bearer credentials.")
	}
	s, ok := ar.GetSession().(*Session)
	if !ok {
		return nil, nil, fosite.ErrServerError.WithHint("unexpected session type")
	}
	return ar, s, nil
}

// GrantClientCredentials completes a client-credentials request fosite has
// accepted (RFC 6749 §4.4): the client acts for itself, so the request's
// session becomes NewClientSession's (the client's id the subject, its
// tenant the token's), keeping the access-token expiry fosite set; and the
// requested scopes and audience, which fosite checked against the
// client's, are granted.
func (p *Provider) GrantClientCredentials(ar fosite.AccessRequester) error {
	client := ar.GetClient()
	tc, ok := client.(tenantClient)
	if !ok {
		return fosite.ErrServerError.WithHint("client has no tenant")
	}
	sess := NewClientSession(p.Issuer, tc.GetTenantID(), client.GetID())
	if prev := ar.GetSession(); prev != nil {
		sess.SetExpiresAt(fosite.AccessToken, prev.GetExpiresAt(fosite.AccessToken))
	}
	ar.SetSession(sess)
	for _, scope := range ar.GetRequestedScopes() {
		ar.GrantScope(scope)
	}
	GrantAudience(ar)
	return nil
}

// FirstPartyClientID is the id of a tenant's own client, under which the
// login API issues its tokens. It has no secret and no grant types, so no
// one can authenticate as it at the token endpoint.
func FirstPartyClientID(tenantID string) string { return models.FirstPartyClientPrefix + tenantID }

// FirstPartyToken is an access token minted by the login API, and the
// refresh token of its grant when one was asked for.
type FirstPartyToken struct {
	Token     string
	ExpiresAt time.Time
	// RefreshToken is set by MintTokens with a refresh expiry.
	RefreshToken string
}

// MintAccessToken issues an access token outside the token endpoint (the
// first-party login API), with the same strategy and storage fosite uses, so
// introspection, revocation and logout treat it like any other token.
func (p *Provider) MintAccessToken(ctx context.Context, client fosite.Client, sess *Session, scopes []string, ttl time.Duration) (*FirstPartyToken, error) {
	return p.MintTokens(ctx, client, sess, scopes, ttl, time.Time{})
}

// MintTokens is MintAccessToken that, when refreshUntil is set, also issues
// a refresh token of the same grant (one request id) expiring then, stored
// as fosite's authorization-code exchange stores one: the token endpoint's
// refresh handler (RotateRefreshToken, reuse detection) then treats it like
// any other. Call it inside the caller's transaction: both rows or neither.
func (p *Provider) MintTokens(ctx context.Context, client fosite.Client, sess *Session, scopes []string, ttl time.Duration, refreshUntil time.Time) (*FirstPartyToken, error) {
	now := time.Now().UTC()
	req := fosite.NewRequest()
	id, err := keyring.RandomToken(16)
	if err != nil {
		return nil, err
	}
	req.ID = id
	req.Client = client
	req.RequestedAt = now
	req.Session = sess
	for _, sc := range scopes {
		req.AppendRequestedScope(sc)
		req.GrantScope(sc)
	}
	exp := now.Add(ttl).Truncate(time.Second)
	sess.SetExpiresAt(fosite.AccessToken, exp)
	token, sig, err := p.Strategy.GenerateAccessToken(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("mint access token: %w", err)
	}
	if err := p.store.CreateAccessTokenSession(ctx, sig, req); err != nil {
		return nil, fmt.Errorf("mint access token: %w", err)
	}
	out := &FirstPartyToken{Token: token, ExpiresAt: exp}
	if refreshUntil.IsZero() {
		return out, nil
	}
	sess.SetExpiresAt(fosite.RefreshToken, refreshUntil.UTC().Truncate(time.Second))
	refresh, rsig, err := p.Strategy.GenerateRefreshToken(ctx, req)
	if err != nil {
		return nil, fmt.Errorf("mint refresh token: %w", err)
	}
	if err := p.store.CreateRefreshTokenSession(ctx, rsig, sig, req); err != nil {
		return nil, fmt.Errorf("mint refresh token: %w", err)
	}
	out.RefreshToken = refresh
	return out, nil
}

// RevokeAccessToken deletes one access token (a logout of this token).
func (p *Provider) RevokeAccessToken(ctx context.Context, token string) error {
	if err := p.store.DeleteAccessTokenSession(ctx, p.Strategy.AccessTokenSignature(ctx, token)); err != nil {
		return fmt.Errorf("revoke access token: %w", err)
	}
	return nil
}
