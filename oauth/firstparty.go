package oauth

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/models"
)

// FirstPartyClients finds and creates tenants' first-party clients.
type FirstPartyClients interface {
	GetClient(ctx context.Context, id string) (fosite.Client, error)
	CreateClient(ctx context.Context, c *models.Client) error
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

// IssueUserToken mints a first-party access token for u bound to sessionID.
func (f *FirstParty) IssueUserToken(ctx context.Context, u *models.User, sessionID string, amr []string, authTime time.Time, ttl time.Duration) (string, time.Time, error) {
	client, err := f.client(ctx, u.TenantID)
	if err != nil {
		return "", time.Time{}, err
	}
	sess := NewUserSession(f.Provider.Issuer, u.TenantID, u.ID, client.GetID(), authTime, authTime)
	sess.SessionID = sessionID
	sess.Claims.AuthenticationMethodsReferences = amr
	tok, err := f.Provider.MintAccessToken(ctx, client, sess, nil, ttl)
	if err != nil {
		return "", time.Time{}, err
	}
	return tok.Token, tok.ExpiresAt, nil
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
