package oauth

import (
	"context"
	"time"

	"github.com/identityd/identityd/models"
)

// IssueImpersonationToken mints a first-party access token for u on behalf
// of an administrator: the session's Extra carries the actor claim of
// RFC 8693 §4.1, {"act": {"sub": actorID, "tenant_id": actorTenantID}},
// which introspection reports beside the user's own sub and tenant_id. The
// token is bound to no device session; it simply expires after ttl (or is
// revoked like any other token).
func (f *FirstParty) IssueImpersonationToken(ctx context.Context, u *models.User, actorID, actorTenantID string, ttl time.Duration) (string, time.Time, error) {
	client, err := f.client(ctx, u.TenantID)
	if err != nil {
		return "", time.Time{}, err
	}
	now := time.Now().UTC()
	sess := NewUserSession(f.Provider.Issuer, u.TenantID, u.ID, client.GetID(), now, now)
	sess.Extra = map[string]any{"act": map[string]any{"sub": actorID, "tenant_id": actorTenantID}}
	tok, err := f.Provider.MintAccessToken(ctx, client, sess, nil, ttl)
	if err != nil {
		return "", time.Time{}, err
	}
	return tok.Token, tok.ExpiresAt, nil
}
