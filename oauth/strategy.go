package oauth

import (
	"context"
	"errors"
	"strings"
	"time"

	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/oauth2"
	"github.com/ory/fosite/token/jwt"

	"github.com/identityd/identityd/keyring"
)

// Token prefixes make our tokens recognisable to secret scanners and to
// people reading logs: idt_at_ (access), idt_rt_ (refresh), idt_ac_ (code).
const (
	PrefixAccess  = "idt_at_"
	PrefixRefresh = "idt_rt_"
	PrefixCode    = "idt_ac_"
)

// jwtAccessTokenClient is implemented by clients that can ask for RFC 9068
// JWT access tokens instead of opaque ones.
type jwtAccessTokenClient interface {
	GetAccessTokenFormat() string
}

// TokenStrategy is the CoreStrategy of the provider. Codes and refresh tokens
// are always opaque HMAC tokens; access tokens are opaque too, unless the
// client asks for RFC 9068 JWTs. Either way the token's signature is what
// storage keys it by, so introspection and revocation treat both alike.
type TokenStrategy struct {
	HMAC   *oauth2.HMACSHAStrategyUnPrefixed
	Signer *Signer
	Issuer string
}

var _ oauth2.CoreStrategy = (*TokenStrategy)(nil)

func isJWT(token string) bool { return strings.Count(token, ".") == 2 }

// The *Signature methods are the one place a presented token becomes the
// key storage finds it by, for every path: fosite's token, refresh,
// introspection and revocation handlers, PKCE, the first-party refresh and
// logout. A token is key.signature (HMAC) or header.payload.signature (JWT)
// and storage is keyed by the signature alone, so a signature taken without
// checking the rest would let anyone holding a token's signature part, with
// any key or claims in front of it, act on the real token (revoke it,
// notably: fosite's TokenRevocationHandler does not validate). So each
// method first verifies the whole token, the HMAC of the key or the JWS
// signature over header and payload, and returns "" (which matches no
// stored row: the token is unknown) when that fails. Expiry is not checked
// here: revoking an expired token is fine (RFC 7009 §2.2), and the
// Validate* methods check it wherever a token must be live.
const noSignature = ""

// AccessTokenSignature returns the part of the token storage keys it by, or
// "" when the token does not verify.
func (s *TokenStrategy) AccessTokenSignature(ctx context.Context, token string) string {
	if isJWT(token) {
		if !s.jwtVerifies(ctx, token) {
			return noSignature
		}
		return token[strings.LastIndexByte(token, '.')+1:]
	}
	return s.hmacSignature(ctx, strings.TrimPrefix(token, PrefixAccess))
}

// hmacSignature is the signature of an unprefixed HMAC token whose key's
// HMAC (under the current or a rotated global secret) is that signature,
// else "".
func (s *TokenStrategy) hmacSignature(ctx context.Context, raw string) string {
	if err := s.HMAC.Enigma.Validate(ctx, raw); err != nil {
		return noSignature
	}
	return s.HMAC.Enigma.Signature(raw)
}

// jwtVerifies reports whether token is a JWS signed by one of our keys.
// Its time claims (exp, iat, nbf) may have failed: that is no forgery.
func (s *TokenStrategy) jwtVerifies(ctx context.Context, token string) bool {
	_, err := s.Signer.Decode(ctx, token)
	if err == nil {
		return true
	}
	var ve *jwt.ValidationError
	const timeOnly = jwt.ValidationErrorExpired | jwt.ValidationErrorIssuedAt | jwt.ValidationErrorNotValidYet
	// ParseWithClaims checks the claims only after the signature verified.
	return errors.As(err, &ve) && ve.Errors != 0 && ve.Errors&^timeOnly == 0
}

// GenerateAccessToken issues an opaque token, or a JWT for clients that chose it.
func (s *TokenStrategy) GenerateAccessToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	if c, ok := r.GetClient().(jwtAccessTokenClient); ok && c.GetAccessTokenFormat() == "jwt" {
		return s.generateJWT(ctx, r)
	}
	token, sig, err := s.HMAC.GenerateAccessToken(ctx, r)
	if err != nil {
		return "", "", err
	}
	return PrefixAccess + token, sig, nil
}

// ValidateAccessToken checks the token's integrity and expiry; storage then
// decides whether it is still active.
func (s *TokenStrategy) ValidateAccessToken(ctx context.Context, r fosite.Requester, token string) error {
	if isJWT(token) {
		t, err := s.Signer.Decode(ctx, token)
		if err != nil {
			var ve *jwt.ValidationError
			if errors.As(err, &ve) && ve.Has(jwt.ValidationErrorExpired) {
				return fosite.ErrTokenExpired.WithWrap(err)
			}
			return fosite.ErrTokenSignatureMismatch.WithWrap(err)
		}
		if typ, _ := t.Header["typ"].(string); typ != "at+jwt" {
			return fosite.ErrInvalidTokenFormat.WithHint("The JWT is not an access token.")
		}
		return nil
	}
	raw, ok := strings.CutPrefix(token, PrefixAccess)
	if !ok {
		return errWrongPrefix()
	}
	return s.HMAC.ValidateAccessToken(ctx, r, raw)
}

// generateJWT builds an RFC 9068 access token: typ at+jwt, and the claims
// iss, exp, aud, sub, client_id, iat, jti, scope, plus tenant_id. aud is the
// granted audience; a request that named none gets the client's registered
// audience (GrantAudience), and a client without one its own id.
func (s *TokenStrategy) generateJWT(ctx context.Context, r fosite.Requester) (string, string, error) {
	now := time.Now().UTC()
	exp := r.GetSession().GetExpiresAt(fosite.AccessToken)
	if exp.IsZero() {
		return "", "", errors.New("generate jwt access token: session has no access token expiry")
	}
	jti, err := keyring.RandomToken(16)
	if err != nil {
		return "", "", err
	}
	clientID := r.GetClient().GetID()
	aud := []string(r.GetGrantedAudience())
	if len(aud) == 0 {
		aud = []string(r.GetClient().GetAudience())
	}
	if len(aud) == 0 {
		aud = []string{clientID}
	}
	claims := jwt.MapClaims{
		"iss":       s.Issuer,
		"sub":       r.GetSession().GetSubject(),
		"aud":       aud,
		"exp":       exp.Unix(),
		"iat":       now.Unix(),
		"nbf":       now.Unix(),
		"jti":       jti,
		"client_id": clientID,
		"scope":     strings.Join(r.GetGrantedScopes(), " "),
	}
	if sess, ok := r.GetSession().(*Session); ok {
		if sess.TenantID != "" {
			claims["tenant_id"] = sess.TenantID
		}
		if sess.Kind == KindUser && sess.Claims != nil && !sess.Claims.AuthTime.IsZero() {
			claims["auth_time"] = sess.Claims.AuthTime.Unix()
		}
	}
	return s.Signer.Generate(ctx, claims, &jwt.Headers{Extra: map[string]any{"typ": "at+jwt"}})
}

// RefreshTokenSignature returns the part of the token storage keys it by, or
// "" when the token's HMAC does not verify.
func (s *TokenStrategy) RefreshTokenSignature(ctx context.Context, token string) string {
	return s.hmacSignature(ctx, strings.TrimPrefix(token, PrefixRefresh))
}

// GenerateRefreshToken issues an opaque refresh token.
func (s *TokenStrategy) GenerateRefreshToken(ctx context.Context, r fosite.Requester) (string, string, error) {
	token, sig, err := s.HMAC.GenerateRefreshToken(ctx, r)
	if err != nil {
		return "", "", err
	}
	return PrefixRefresh + token, sig, nil
}

// ValidateRefreshToken checks the refresh token's integrity and expiry.
func (s *TokenStrategy) ValidateRefreshToken(ctx context.Context, r fosite.Requester, token string) error {
	raw, ok := strings.CutPrefix(token, PrefixRefresh)
	if !ok {
		return errWrongPrefix()
	}
	return s.HMAC.ValidateRefreshToken(ctx, r, raw)
}

// AuthorizeCodeSignature returns the part of the code storage keys it by, or
// "" when the code's HMAC does not verify.
func (s *TokenStrategy) AuthorizeCodeSignature(ctx context.Context, token string) string {
	return s.hmacSignature(ctx, strings.TrimPrefix(token, PrefixCode))
}

// GenerateAuthorizeCode issues an opaque authorization code.
func (s *TokenStrategy) GenerateAuthorizeCode(ctx context.Context, r fosite.Requester) (string, string, error) {
	token, sig, err := s.HMAC.GenerateAuthorizeCode(ctx, r)
	if err != nil {
		return "", "", err
	}
	return PrefixCode + token, sig, nil
}

// ValidateAuthorizeCode checks the code's integrity and expiry.
func (s *TokenStrategy) ValidateAuthorizeCode(ctx context.Context, r fosite.Requester, token string) error {
	raw, ok := strings.CutPrefix(token, PrefixCode)
	if !ok {
		return errWrongPrefix()
	}
	return s.HMAC.ValidateAuthorizeCode(ctx, r, raw)
}

// GrantAudience grants a token request its audience: the audiences it asked
// for (fosite already checked them against the client's), or, when it named
// none, every audience registered on the client, so a JWT access token's aud
// and introspection's aud name the resource servers the client was set up
// for (RFC 9068 §3, RFC 8707).
func GrantAudience(r fosite.Requester) {
	aud := r.GetRequestedAudience()
	if len(aud) == 0 {
		aud = r.GetClient().GetAudience()
	}
	for _, a := range aud {
		r.GrantAudience(a)
	}
}
