package oauth

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/models"
)

// FirstPartyClients finds and creates tenants' first-party clients.
type FirstPartyClients interface {
	GetClient(ctx context.Context, id string) (fosite.Client, error)
	CreateClient(ctx context.Context, c *models.Client) error
	// GetRefreshTokenClientID returns the id of the client a stored refresh
	// token (by signature) was issued to, whether or not it is still
	// active; fosite.ErrNotFound when there is none. It reads and reports
	// nothing else (no reuse is detected here).
	GetRefreshTokenClientID(ctx context.Context, signature string) (string, error)
}

// FirstParty mints the login API's tokens under each tenant's first-party
// client (created on first use), with the provider's strategy and storage.
type FirstParty struct {
	Provider *Provider
	Clients  FirstPartyClients
}

// client returns the tenant's first-party client, creating it if needed.
func (f *FirstParty) client(ctx context.Context, tenantID string) (fosite.Client, error) {
	id := FirstPartyClientID(tenantID)
	c, err := f.Clients.GetClient(ctx, id)
	if err == nil {
		return c, nil
	}
	if !errors.Is(err, fosite.ErrNotFound) {
		return nil, err
	}
	m := &models.Client{ID: id, TenantID: tenantID, Name: "Identity", TokenEndpointAuthMethod: "none",
		SkipConsent: true, AccessTokenFormat: models.AccessTokenOpaque}
	if err := f.Clients.CreateClient(ctx, m); err != nil && !models.IsKind(err, models.KindConflict) {
		return nil, fmt.Errorf("create first-party client: %w", err)
	}
	return f.Clients.GetClient(ctx, id)
}

// FirstPartyRefreshScope is the scope of a first-party grant that carries a
// refresh token: fosite's refresh handler refreshes only grants holding
// one of Config.RefreshTokenScopes, as it does for every OAuth client.
const FirstPartyRefreshScope = "offline_access"

// IssueUserTokens mints a first-party access token for u bound to the
// login session sessionID and, when refreshUntil is set, a refresh token of
// the same grant valid until then (the end of that session), for
// RefreshUserToken.
func (f *FirstParty) IssueUserTokens(ctx context.Context, u *models.User, sessionID string, amr []string, authTime time.Time, ttl time.Duration, refreshUntil time.Time) (access, refresh string, expiresAt time.Time, err error) {
	client, err := f.client(ctx, u.TenantID)
	if err != nil {
		return "", "", time.Time{}, err
	}
	sess := NewUserSession(f.Provider.Issuer, u.TenantID, u.ID, client.GetID(), authTime, authTime)
	sess.SessionID = sessionID
	sess.Claims.AuthenticationMethodsReferences = amr
	var scopes []string
	if !refreshUntil.IsZero() {
		scopes = []string{FirstPartyRefreshScope}
	}
	tok, err := f.Provider.MintTokens(ctx, client, sess, scopes, ttl, refreshUntil)
	if err != nil {
		return "", "", time.Time{}, err
	}
	return tok.Token, tok.RefreshToken, tok.ExpiresAt, nil
}

// refreshingClient is a tenant's first-party client as the refresh of its
// own grants sees it: allowed the refresh_token grant and the offline scope.
// The stored client has neither, so no one can use it at the token
// endpoint; only RefreshUserToken, which is reached without client
// authentication, presents it this way.
type refreshingClient struct{ fosite.Client }

func (refreshingClient) GetGrantTypes() fosite.Arguments { return fosite.Arguments{"refresh_token"} }
func (refreshingClient) GetScopes() fosite.Arguments {
	return fosite.Arguments{FirstPartyRefreshScope}
}

// RefreshUserToken rotates a first-party refresh token through the
// provider's own refresh-token handler (fosite's, RFC 6749 §6), so the one
// rule of the token endpoint applies: the token must be active (strict, or
// inside IDENTITY_REFRESH_GRACE_PERIOD); an already rotated token is reuse,
// and the whole grant (every access and refresh token of it) is revoked; of
// concurrent refreshes of one token at most one succeeds.
//
// check runs after fosite accepted the token and before anything is
// rotated, with the grant's tenant, user and login session; an error from it
// is returned as it is and leaves the token untouched. It answers when the
// login session ends (the new refresh token's expiry) and the new access
// token's lifetime (capped at that end).
//
// Every refusal that is about the token (unknown, another client's,
// expired, rotated, revoked, lost to a concurrent refresh) is
// models.ErrInvalidRefreshToken, so none can be told apart.
func (f *FirstParty) RefreshUserToken(ctx context.Context, refreshToken string,
	check func(ctx context.Context, tenantID, userID, sessionID string) (sessionEnds time.Time, accessTTL time.Duration, err error),
) (access, refresh string, expiresAt time.Time, err error) {
	p := f.Provider
	bad := func(cause error) (string, string, time.Time, error) {
		return "", "", time.Time{}, models.ErrInvalidRefreshToken().WithCause(cause)
	}
	if refreshToken == "" || !strings.HasPrefix(refreshToken, PrefixRefresh) {
		return bad(nil)
	}
	clientID, err := f.Clients.GetRefreshTokenClientID(ctx, p.Strategy.RefreshTokenSignature(ctx, refreshToken))
	if errors.Is(err, fosite.ErrNotFound) {
		return bad(err)
	}
	if err != nil {
		return "", "", time.Time{}, fmt.Errorf("refresh first-party token: %w", err)
	}
	if !strings.HasPrefix(clientID, models.FirstPartyClientPrefix) {
		return bad(nil) // an OAuth client's token refreshes at the token endpoint only
	}
	client, err := f.Clients.GetClient(ctx, clientID)
	if errors.Is(err, fosite.ErrNotFound) {
		return bad(err) // a suspended tenant's client is not found
	}
	if err != nil {
		return "", "", time.Time{}, fmt.Errorf("refresh first-party token: %w", err)
	}
	ar := fosite.NewAccessRequest(NewSession())
	ar.Client = refreshingClient{client}
	ar.GrantTypes = fosite.Arguments{"refresh_token"}
	ar.Form = url.Values{"grant_type": {"refresh_token"}, "refresh_token": {refreshToken}}
	ar.RequestedAt = time.Now().UTC()
	// The request half of fosite's NewAccessRequest, after client
	// authentication: every token endpoint handler that takes the request.
	found := false
	for _, h := range p.Config.GetTokenEndpointHandlers(ctx) {
		if !h.CanHandleTokenEndpointRequest(ctx, ar) {
			continue
		}
		err := h.HandleTokenEndpointRequest(ctx, ar)
		switch {
		case err == nil:
			found = true
		case errors.Is(err, fosite.ErrUnknownRequest):
		default:
			return "", "", time.Time{}, refreshError(err)
		}
	}
	if !found {
		return "", "", time.Time{}, models.ErrInternal(fmt.Errorf("refresh first-party token: no refresh handler"))
	}
	sess, ok := ar.GetSession().(*Session)
	if !ok || sess.Kind != KindUser || sess.SessionID == "" {
		return bad(nil)
	}
	ends, ttl, err := check(ctx, sess.TenantID, sess.Subject, sess.SessionID)
	if err != nil {
		return "", "", time.Time{}, err
	}
	now := time.Now().UTC()
	exp := now.Add(ttl)
	if exp.After(ends) {
		exp = ends
	}
	sess.SetExpiresAt(fosite.AccessToken, exp.Truncate(time.Second))
	sess.SetExpiresAt(fosite.RefreshToken, ends.UTC().Truncate(time.Second))
	resp, err := p.NewAccessResponse(ctx, ar)
	if err != nil {
		return "", "", time.Time{}, refreshError(err)
	}
	refresh, _ = resp.GetExtra("refresh_token").(string)
	return resp.GetAccessToken(), refresh, exp.Truncate(time.Second), nil
}

// refreshError maps what fosite's refresh handler answers to our errors: a
// refusal of the token (invalid_grant, and invalid_request, which it answers
// for a lost race or a malformed token) is ErrInvalidRefreshToken; a
// storage failure keeps its own error (an outage stays a 503).
func refreshError(err error) error {
	var me *models.Error
	if errors.As(err, &me) {
		return err
	}
	for _, refused := range []error{fosite.ErrInvalidGrant, fosite.ErrInvalidRequest, fosite.ErrUnauthorizedClient,
		fosite.ErrScopeNotGranted, fosite.ErrInvalidScope, fosite.ErrSerializationFailure, fosite.ErrNotFound, fosite.ErrInactiveToken} {
		if errors.Is(err, refused) {
			return models.ErrInvalidRefreshToken().WithCause(err)
		}
	}
	return models.ErrInternal(fmt.Errorf("refresh first-party token: %w", err))
}

// PrepareTenant creates the tenant's first-party client if it is missing.
// Call it outside any transaction: a creation that loses a race with a
// concurrent one fails, which on PostgreSQL aborts the enclosing transaction.
func (f *FirstParty) PrepareTenant(ctx context.Context, tenantID string) error {
	_, err := f.client(ctx, tenantID)
	return err
}

// RevokeToken deletes one access token.
func (f *FirstParty) RevokeToken(ctx context.Context, token string) error {
	return f.Provider.RevokeAccessToken(ctx, token)
}
