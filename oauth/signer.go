package oauth

import (
	"context"
	"fmt"

	"github.com/ory/fosite/token/jwt"

	"github.com/identityd/identityd/models"
)

// Signer is fosite's jwt.Signer over the KeyManager: it signs with whatever
// key of its algorithm is current at the moment of signing and writes that
// key's kid into the header itself, so a rotation between authorization and
// token exchange can never produce a token whose kid names another key.
// Decoding picks the key by kid, whatever its algorithm, so tokens signed
// before a rotation (or by the other algorithm's key) still verify while
// published.
type Signer struct {
	Keys *KeyManager
	// Alg is the algorithm Generate signs with: models.SigningAlgRS256
	// (also when empty) or models.SigningAlgES256.
	Alg string
}

var _ jwt.Signer = (*Signer)(nil)

func (s *Signer) alg() string {
	if s.Alg == "" {
		return models.SigningAlgRS256
	}
	return s.Alg
}

func (s *Signer) keyFor(ctx context.Context) func(*jwt.Token) (any, error) {
	return func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, fmt.Errorf("token has no kid")
		}
		pub, alg, err := s.Keys.PublicKey(ctx, kid)
		if err != nil {
			return nil, err
		}
		// The key decides the algorithm, never the token's header (RFC 8725
		// §3.1): a header naming another one is refused before go-jose sees it.
		if string(t.Method) != alg {
			return nil, fmt.Errorf("token alg %q is not its key's (%s)", t.Method, alg)
		}
		return pub, nil
	}
}

// Generate signs claims with the current key of the signer's algorithm; the
// header gets its kid.
func (s *Signer) Generate(ctx context.Context, claims jwt.MapClaims, header jwt.Mapper) (string, string, error) {
	kid, priv, err := s.Keys.Signer(ctx, s.alg())
	if err != nil {
		return "", "", err
	}
	h := &jwt.Headers{Extra: map[string]any{}}
	if header != nil {
		for k, v := range header.ToMap() {
			h.Extra[k] = v
		}
	}
	h.Extra["kid"] = kid
	// DefaultSigner picks RS256 for an *rsa.PrivateKey, ES256 for an
	// *ecdsa.PrivateKey.
	d := &jwt.DefaultSigner{GetPrivateKey: func(context.Context) (any, error) { return priv, nil }}
	return d.Generate(ctx, claims, h)
}

// Validate checks a token's signature and claims and returns its signature.
func (s *Signer) Validate(ctx context.Context, token string) (string, error) {
	if _, err := jwt.ParseWithClaims(token, jwt.MapClaims{}, s.keyFor(ctx)); err != nil {
		return "", err
	}
	return s.GetSignature(ctx, token)
}

// Decode parses and verifies a token with the key its kid names.
func (s *Signer) Decode(ctx context.Context, token string) (*jwt.Token, error) {
	return jwt.ParseWithClaims(token, jwt.MapClaims{}, s.keyFor(ctx))
}

// Hash is SHA-256, the hash of both RS256 and ES256 (used for at_hash and
// c_hash, OpenID Connect Core §3.1.3.6).
func (s *Signer) Hash(ctx context.Context, in []byte) ([]byte, error) {
	return (&jwt.DefaultSigner{}).Hash(ctx, in)
}

// GetSignature returns the third segment of a JWS.
func (s *Signer) GetSignature(ctx context.Context, token string) (string, error) {
	return (&jwt.DefaultSigner{}).GetSignature(ctx, token)
}

// GetSigningMethodLength is the size of SHA-256, RS256's and ES256's hash.
func (s *Signer) GetSigningMethodLength(ctx context.Context) int {
	return (&jwt.DefaultSigner{}).GetSigningMethodLength(ctx)
}
