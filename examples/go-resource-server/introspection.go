package resourceserver

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"golang.org/x/sync/singleflight"
)

// Defaults of an Introspector.
const (
	DefaultCacheTTL         = 10 * time.Second
	DefaultInactiveCacheTTL = 2 * time.Second
	DefaultCacheSize        = 10000
	DefaultTimeout          = 5 * time.Second
)

// Introspector validates opaque access tokens by asking identityd (RFC
// 7662), authenticated as the resource server's own client (HTTP Basic).
//
// Answers are cached for TTL (active tokens, never past their expiry) or
// InactiveTTL (unknown, expired and revoked ones), so a revoked token stops
// working here at most TTL after its revocation: keep TTL short. The cache
// is keyed by the token's SHA-256, never the token, holds at most
// CacheSize entries (least recently used go first), and concurrent requests
// with the same uncached token share one introspection call.
type Introspector struct {
	// URL is the introspection endpoint, e.g. http://localhost:8000/api/oauth/introspect.
	URL          string
	ClientID     string
	ClientSecret string
	// Audience, when set, must be one of an active token's audiences.
	Audience string
	// HTTPClient makes the calls (http.DefaultClient when nil); Timeout
	// bounds each one either way.
	HTTPClient *http.Client
	// Timeout bounds one introspection call (DefaultTimeout when zero): an
	// unreachable or stalled identityd gives ErrUnavailable, not a hang.
	Timeout time.Duration
	// TTL and InactiveTTL are how long answers are cached (DefaultCacheTTL,
	// DefaultInactiveCacheTTL when zero; negative: not cached).
	TTL, InactiveTTL time.Duration
	// CacheSize bounds the cache (DefaultCacheSize when zero).
	CacheSize int
	// Now is the clock (time.Now when nil).
	Now func() time.Time

	once    sync.Once
	cache   *lru.Cache[[sha256.Size]byte, cached]
	flights singleflight.Group
}

// cached is one introspection answer: the principal of an active token, or
// nil for an inactive one.
type cached struct {
	principal *Principal
	until     time.Time
}

// introspection is the part of an RFC 7662 §2.2 answer used here.
type introspection struct {
	Active    bool     `json:"active"`
	Scope     string   `json:"scope"`
	ClientID  string   `json:"client_id"`
	Subject   string   `json:"sub"`
	Exp       int64    `json:"exp"`
	Audience  audience `json:"aud"`
	TokenType string   `json:"token_type"`
	TokenUse  string   `json:"token_use"`
	TenantID  string   `json:"tenant_id"`
}

// audience is a JSON string or array of strings (RFC 7519 §4.1.3).
type audience []string

func (a *audience) UnmarshalJSON(b []byte) error {
	var one string
	if err := json.Unmarshal(b, &one); err == nil {
		*a = audience{one}
		return nil
	}
	var many []string
	if err := json.Unmarshal(b, &many); err != nil {
		return fmt.Errorf("aud is neither a string nor an array of strings: %w", err)
	}
	*a = many
	return nil
}

func (in *Introspector) init() {
	in.once.Do(func() {
		size := in.CacheSize
		if size <= 0 {
			size = DefaultCacheSize
		}
		in.cache, _ = lru.New[[sha256.Size]byte, cached](size) // errors only for size <= 0
	})
}

func (in *Introspector) now() time.Time {
	if in.Now != nil {
		return in.Now()
	}
	return time.Now()
}

func orDefault(d, def time.Duration) time.Duration {
	if d == 0 {
		return def
	}
	return d
}

// Validate implements Validator.
func (in *Introspector) Validate(ctx context.Context, token string) (*Principal, error) {
	in.init()
	key := sha256.Sum256([]byte(token))
	now := in.now()
	if c, ok := in.cache.Get(key); ok && now.Before(c.until) {
		return c.result(now)
	}
	// One call per token at a time; the flight is keyed by the hash too.
	// The call is not cancelled with the first caller's request (the
	// others share it); Timeout bounds it.
	v, err, _ := in.flights.Do(string(key[:]), func() (any, error) {
		p, err := in.introspect(context.WithoutCancel(ctx), token)
		if err != nil {
			return nil, err
		}
		in.store(key, p)
		return cached{principal: p}, nil
	})
	if err != nil {
		return nil, err
	}
	return v.(cached).result(in.now())
}

// result is the cached answer at now: an active token that has since
// expired is refused without asking again.
func (c cached) result(now time.Time) (*Principal, error) {
	if c.principal == nil {
		return nil, fmt.Errorf("%w: introspection says it is not active", ErrInvalidToken)
	}
	if !c.principal.Expiry.IsZero() && !now.Before(c.principal.Expiry) {
		return nil, fmt.Errorf("%w: expired", ErrInvalidToken)
	}
	return c.principal, nil
}

// store caches p (nil: inactive) for the TTL that applies.
func (in *Introspector) store(key [sha256.Size]byte, p *Principal) {
	ttl := orDefault(in.TTL, DefaultCacheTTL)
	if p == nil {
		ttl = orDefault(in.InactiveTTL, DefaultInactiveCacheTTL)
	}
	if ttl < 0 {
		return
	}
	until := in.now().Add(ttl)
	if p != nil && !p.Expiry.IsZero() && p.Expiry.Before(until) {
		until = p.Expiry
	}
	in.cache.Add(key, cached{principal: p, until: until})
}

// introspect asks the server about token: the principal of an active access
// token, nil for anything else, or an ErrUnavailable error.
func (in *Introspector) introspect(ctx context.Context, token string) (*Principal, error) {
	ctx, cancel := context.WithTimeout(ctx, orDefault(in.Timeout, DefaultTimeout))
	defer cancel()
	form := url.Values{"token": {token}, "token_type_hint": {"access_token"}}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, in.URL, strings.NewReader(form.Encode()))
	if err != nil {
		return nil, fmt.Errorf("%w: introspection request: %w", ErrUnavailable, err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Accept", "application/json")
	// RFC 6749 §2.3.1: the credentials are form-encoded before Basic.
	req.SetBasicAuth(url.QueryEscape(in.ClientID), url.QueryEscape(in.ClientSecret))
	client := in.HTTPClient
	if client == nil {
		client = http.DefaultClient
	}
	res, err := client.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%w: introspection: %w", ErrUnavailable, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return nil, fmt.Errorf("%w: read the introspection answer: %w", ErrUnavailable, err)
	}
	if res.StatusCode != http.StatusOK {
		// 401 here means the resource server's own credentials are wrong:
		// the caller's token is not at fault.
		return nil, fmt.Errorf("%w: introspection answered %s", ErrUnavailable, res.Status)
	}
	var ir introspection
	if err := json.Unmarshal(body, &ir); err != nil {
		return nil, fmt.Errorf("%w: introspection answer: %w", ErrUnavailable, err)
	}
	// A refresh token is active too, but it is no access token.
	if !ir.Active || ir.TokenUse == "refresh_token" || ir.TokenType == "refresh_token" {
		return nil, nil
	}
	if in.Audience != "" && !slices.Contains(ir.Audience, in.Audience) {
		return nil, nil
	}
	p := &Principal{Subject: ir.Subject, ClientID: ir.ClientID, TenantID: ir.TenantID, Scopes: strings.Fields(ir.Scope), Audience: ir.Audience}
	if ir.Exp != 0 {
		p.Expiry = time.Unix(ir.Exp, 0)
	}
	return p, nil
}
