package oauth

import (
	"context"
	"errors"
	"fmt"

	"github.com/ory/fosite/token/jwt"
)

// IDTokenHint is what an id_token_hint says about the logout it comes with.
type IDTokenHint struct {
	ClientID string // the ID token's audience: the relying party
	Subject  string
	TenantID string
}

// ParseIDTokenHint verifies an id_token_hint (OpenID Connect RP-Initiated
// Logout 1.0 §2): one of our ID tokens, signed by a key we publish, issued
// by us, for exactly one audience. An expired hint is accepted, as §2 says
// the OP should ("the OP SHOULD accept ID Tokens when the RP identified by
// the ID Token's aud claim ... has a current session or had a recent
// session"), since logging out is when ID tokens tend to have expired. A
// JWT access token (typ at+jwt) is not an ID token.
func (p *Provider) ParseIDTokenHint(ctx context.Context, hint string) (*IDTokenHint, error) {
	t, err := p.Signer.Decode(ctx, hint)
	if err != nil {
		var ve *jwt.ValidationError
		if !errors.As(err, &ve) || ve.Errors&^jwt.ValidationErrorExpired != 0 || t == nil {
			return nil, fmt.Errorf("id_token_hint: %w", err)
		}
	}
	if typ, _ := t.Header["typ"].(string); typ == "at+jwt" {
		return nil, errors.New("id_token_hint: an access token, not an ID token")
	}
	claims := t.Claims
	if iss, _ := claims["iss"].(string); iss != p.Issuer {
		return nil, errors.New("id_token_hint: another issuer")
	}
	var aud []string
	switch v := claims["aud"].(type) {
	case string:
		aud = []string{v}
	case []any:
		for _, a := range v {
			if s, ok := a.(string); ok {
				aud = append(aud, s)
			}
		}
	}
	if len(aud) != 1 || aud[0] == "" {
		return nil, errors.New("id_token_hint: not for exactly one client")
	}
	h := &IDTokenHint{ClientID: aud[0]}
	h.Subject, _ = claims["sub"].(string)
	h.TenantID, _ = claims["tenant_id"].(string)
	return h, nil
}
