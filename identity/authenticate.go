package identity

import (
	"context"
	"errors"
	"strings"

	"github.com/identityd/identityd/models"
)

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
