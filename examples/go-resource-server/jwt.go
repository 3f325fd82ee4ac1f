package resourceserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Defaults of a JWTVerifier.
const (
	DefaultLeeway = 30 * time.Second
	// DefaultKeyRefresh is how long the key set is kept, and the least time
	// between two fetches prompted by an unknown key id.
	DefaultKeyRefresh = 5 * time.Minute
)

// signingAlgorithms are the algorithms accepted in a token's header; "none"
// and the HMAC ones never are.
var signingAlgorithms = []jose.SignatureAlgorithm{jose.RS256, jose.RS384, jose.RS512, jose.PS256, jose.PS384, jose.PS512, jose.ES256, jose.ES384, jose.ES512, jose.EdDSA}

// JWTVerifier validates RFC 9068 JWT access tokens locally: the header's
// typ is at+jwt, the signature verifies with a key of the issuer's key set
// (JWKSURL, fetched on first use, again when a token names an unknown key
// id, and every KeyRefresh), iss is Issuer, aud contains Audience, and exp
// and nbf hold (with Leeway).
//
// A JWT cannot be revoked before it expires: use short access token
// lifetimes, or opaque tokens and an Introspector where revocation must be
// immediate.
type JWTVerifier struct {
	Issuer   string
	Audience string
	// JWKSURL is the issuer's key set (Issuer + "/.well-known/jwks.json"
	// when empty, where identityd publishes it).
	JWKSURL string
	// HTTPClient fetches the key set (http.DefaultClient when nil); Timeout
	// bounds each fetch (DefaultTimeout when zero).
	HTTPClient *http.Client
	Timeout    time.Duration
	Leeway     time.Duration // DefaultLeeway when zero
	KeyRefresh time.Duration // DefaultKeyRefresh when zero
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	mu      sync.Mutex
	keys    *jose.JSONWebKeySet
	fetched time.Time
}

// accessClaims are the RFC 9068 §2.2 claims read besides the registered ones.
type accessClaims struct {
	ClientID string `json:"client_id"`
	Scope    string `json:"scope"`
	TenantID string `json:"tenant_id"`
}

func (v *JWTVerifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Validate implements Validator.
func (v *JWTVerifier) Validate(ctx context.Context, token string) (*Principal, error) {
	if v.Issuer == "" || v.Audience == "" {
		return nil, errors.New("resourceserver: a JWTVerifier needs its Issuer and Audience")
	}
	tok, err := jwt.ParseSigned(token, signingAlgorithms)
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if len(tok.Headers) != 1 {
		return nil, fmt.Errorf("%w: want one signature", ErrInvalidToken)
	}
	h := tok.Headers[0]
	// RFC 9068 §4: typ is at+jwt (or its full media type); this keeps an ID
	// token, signed by the same key, from passing as an access token.
	typ, _ := h.ExtraHeaders[jose.HeaderType].(string)
	if t := strings.ToLower(typ); t != "at+jwt" && t != "application/at+jwt" {
		return nil, fmt.Errorf("%w: typ %q is not at+jwt", ErrInvalidToken, typ)
	}
	key, err := v.key(ctx, h.KeyID)
	if err != nil {
		return nil, err
	}
	var std jwt.Claims
	var extra accessClaims
	if err := tok.Claims(key, &std, &extra); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if std.Expiry == nil {
		return nil, fmt.Errorf("%w: no exp", ErrInvalidToken)
	}
	want := jwt.Expected{Issuer: v.Issuer, AnyAudience: jwt.Audience{v.Audience}, Time: v.now()}
	if err := std.ValidateWithLeeway(want, orDefault(v.Leeway, DefaultLeeway)); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return &Principal{
		Subject: std.Subject, ClientID: extra.ClientID, TenantID: extra.TenantID,
		Scopes: strings.Fields(extra.Scope), Audience: std.Audience, Expiry: std.Expiry.Time(),
	}, nil
}

// key is the public key with id kid, fetching the key set when it is not
// loaded yet, is old, or lacks kid (at most once per KeyRefresh for that).
func (v *JWTVerifier) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	refresh := orDefault(v.KeyRefresh, DefaultKeyRefresh)
	stale := v.keys == nil || v.now().Sub(v.fetched) >= refresh
	if !stale {
		if k := findKey(v.keys, kid); k != nil {
			return k, nil
		}
		// An unknown kid may be a new key: look again, but not on every
		// request carrying a made-up kid.
		if v.now().Sub(v.fetched) < refresh/10 {
			return nil, fmt.Errorf("%w: unknown key id %q", ErrInvalidToken, kid)
		}
	}
	keys, err := v.fetch(ctx)
	if err != nil {
		if v.keys != nil { // keep serving with the keys we have
			if k := findKey(v.keys, kid); k != nil {
				return k, nil
			}
		}
		return nil, err
	}
	v.keys, v.fetched = keys, v.now()
	if k := findKey(keys, kid); k != nil {
		return k, nil
	}
	return nil, fmt.Errorf("%w: unknown key id %q", ErrInvalidToken, kid)
}

// findKey is the public signing key with id kid (any, when kid is empty
// and the set has one key).
func findKey(set *jose.JSONWebKeySet, kid string) *jose.JSONWebKey {
	found := set.Key(kid)
	if kid == "" {
		if len(set.Keys) != 1 {
			return nil
		}
		found = set.Keys
	}
	for i := range found {
		k := found[i]
		if k.Use != "" && k.Use != "sig" {
			continue
		}
		if k.IsPublic() {
			return &k
		}
		pub := k.Public()
		return &pub
	}
	return nil
}

// fetch downloads the key set; failures are ErrUnavailable.
func (v *JWTVerifier) fetch(ctx context.Context) (*jose.JSONWebKeySet, error) {
	url := v.JWKSURL
	if url == "" {
		url = strings.TrimSuffix(v.Issuer, "/") + "/.well-known/jwks.json"
	}
	ctx, cancel := context.WithTimeout(ctx, orDefault(v.Timeout, DefaultTimeout))
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return nil, fmt.Errorf("%w: key set request: %w", ErrUnavailable, err)
	}
	req.Header.Set("Accept", "application/json")
	client := v.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: fetch the key set: %w", ErrUnavailable, err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: the key set answered %s", ErrUnavailable, res.Status)
	}
	var set jose.JSONWebKeySet
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&set); err != nil {
		return nil, fmt.Errorf("%w: decode the key set: %w", ErrUnavailable, err)
	}
	return &set, nil
}
