package oauth

import (
	"context"
	"fmt"

	"github.com/ory/fosite/token/jwt"
)

// Signer is fosite's jwt.Signer over the KeyManager: it signs with whatever
// key is current at the moment of signing and writes that key's kid into the
// header itself, so a rotation between authorization and token exchange can
// never produce a token whose kid names another key. Decoding picks the key
// by kid, so tokens signed before a rotation still verify while published.
type Signer struct {
	Keys *KeyManager
}

var _ jwt.Signer = (*Signer)(nil)

func (s *Signer) keyFor(ctx context.Context) func(*jwt.Token) (any, error) {
	return func(t *jwt.Token) (any, error) {
		kid, _ := t.Header["kid"].(string)
		if kid == "" {
			return nil, fmt.Errorf("token has no kid")
		}
		return s.Keys.PublicKey(ctx, kid)
	}
}

// Generate signs claims with the current key; the header gets its kid.
func (s *Signer) Generate(ctx context.Context, claims jwt.MapClaims, header jwt.Mapper) (string, string, error) {
	kid, priv, err := s.Keys.Signer(ctx)
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

// Hash is SHA-256, the hash of RS256 (used for at_hash and c_hash).
func (s *Signer) Hash(ctx context.Context, in []byte) ([]byte, error) {
	return (&jwt.DefaultSigner{}).Hash(ctx, in)
}

// GetSignature returns the third segment of a JWS.
func (s *Signer) GetSignature(ctx context.Context, token string) (string, error) {
	return (&jwt.DefaultSigner{}).GetSignature(ctx, token)
}

// GetSigningMethodLength is RS256's hash size.
func (s *Signer) GetSigningMethodLength(ctx context.Context) int {
	return (&jwt.DefaultSigner{}).GetSigningMethodLength(ctx)
}
