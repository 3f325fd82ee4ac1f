package oauth

import (
	"context"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"

	"github.com/identityd/identityd/models"
)

// idTokenAlgClient is a client that registered the JWS algorithm of its ID
// tokens (id_token_signed_response_alg, OpenID Connect Dynamic Client
// Registration 1.0 §2).
type idTokenAlgClient interface {
	GetIDTokenSignedResponseAlg() string
}

// IDTokenStrategy is the provider's openid.OpenIDConnectTokenStrategy: it
// signs every ID token, from whichever flow (the code exchange, a refresh),
// with the algorithm its client registered, RS256 when it registered none,
// through fosite's DefaultStrategy (which checks and fills the claims) over
// a Signer of that algorithm. The header's kid names the key, which the
// JWKS publishes.
type IDTokenStrategy struct {
	byAlg map[string]openid.DefaultStrategy
}

var _ openid.OpenIDConnectTokenStrategy = (*IDTokenStrategy)(nil)

// NewIDTokenStrategy builds the strategy over keys, one signer per
// algorithm of models.SigningAlgs.
func NewIDTokenStrategy(keys *KeyManager, cfg *fosite.Config) *IDTokenStrategy {
	s := &IDTokenStrategy{byAlg: make(map[string]openid.DefaultStrategy, len(models.SigningAlgs))}
	for _, alg := range models.SigningAlgs {
		s.byAlg[alg] = openid.DefaultStrategy{Signer: &Signer{Keys: keys, Alg: alg}, Config: cfg}
	}
	return s
}

// IDTokenAlg is the algorithm c's ID tokens are signed with.
func IDTokenAlg(c fosite.Client) string {
	if ac, ok := c.(idTokenAlgClient); ok {
		if alg := ac.GetIDTokenSignedResponseAlg(); alg != "" {
			return alg
		}
	}
	return models.SigningAlgRS256
}

// GenerateIDToken signs the requester's ID token with its client's algorithm.
func (s *IDTokenStrategy) GenerateIDToken(ctx context.Context, lifespan time.Duration, requester fosite.Requester) (string, error) {
	alg := IDTokenAlg(requester.GetClient())
	strategy, ok := s.byAlg[alg]
	if !ok {
		return "", fosite.ErrServerError.WithHintf("The client's id_token_signed_response_alg %q is not supported.", alg)
	}
	// fosite's errors (an RFC6749Error with its hint) go back unchanged.
	return strategy.GenerateIDToken(ctx, lifespan, requester)
}
