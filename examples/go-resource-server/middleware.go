// Package resourceserver protects HTTP routes with access tokens issued by
// identityd: opaque tokens are checked by RFC 7662 introspection (with a
// small cache, see Introspector), JWT access tokens (RFC 9068) locally
// against the issuer's published keys (see JWTVerifier).
//
// A route says which scope it needs:
//
//	tokens := &resourceserver.Tokens{JWT: verifier, Introspection: introspector}
//	mux.Handle("GET /api/orders", resourceserver.Require(tokens, "orders.read", listOrders))
//
// The middleware answers as RFC 6750 §3 says: 401 with
// `WWW-Authenticate: Bearer error="invalid_token"` for a missing, unknown,
// expired or revoked token, 403 `insufficient_scope` when the token lacks
// the route's scope, and 503 when the token cannot be checked right now
// (identityd or its key set unreachable): a client should retry later, not
// sign in again.
package resourceserver

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"time"
)

// ErrInvalidToken means the token is not (or no longer) acceptable: the
// caller gets 401. Validators wrap it with the reason.
var ErrInvalidToken = errors.New("invalid access token")

// ErrUnavailable means the token could not be checked (the authorization
// server or its keys could not be reached in time): the caller gets 503.
var ErrUnavailable = errors.New("token validation unavailable")

// Principal is who an accepted token speaks for.
type Principal struct {
	// Subject is the user's id, or the client's for a client-credentials token.
	Subject  string
	ClientID string
	TenantID string
	Scopes   []string
	Audience []string
	Expiry   time.Time
}

// HasScope reports whether the token was granted scope.
func (p *Principal) HasScope(scope string) bool { return slices.Contains(p.Scopes, scope) }

// Validator checks a bearer token. Its errors wrap ErrInvalidToken (401) or
// anything else (503).
type Validator interface {
	Validate(ctx context.Context, token string) (*Principal, error)
}

// Tokens validates JWT access tokens with JWT and every other token with
// Introspection; either may be nil when the tokens of that kind are not
// accepted.
type Tokens struct {
	JWT           *JWTVerifier
	Introspection *Introspector
}

// Validate implements Validator.
func (t *Tokens) Validate(ctx context.Context, token string) (*Principal, error) {
	if looksLikeJWT(token) {
		if t.JWT == nil {
			return nil, fmt.Errorf("%w: JWT access tokens are not accepted here", ErrInvalidToken)
		}
		return t.JWT.Validate(ctx, token)
	}
	if t.Introspection == nil {
		return nil, fmt.Errorf("%w: opaque access tokens are not accepted here", ErrInvalidToken)
	}
	return t.Introspection.Validate(ctx, token)
}

func looksLikeJWT(token string) bool { return strings.Count(token, ".") == 2 }

type principalKey struct{}

// PrincipalFrom returns the principal Require put in the request's context.
func PrincipalFrom(ctx context.Context) (*Principal, bool) {
	p, ok := ctx.Value(principalKey{}).(*Principal)
	return p, ok
}

// Require serves next only to requests with a valid bearer token granted
// scope (no scope check when scope is empty). Errors are logged with
// slog.Default; the token never is.
func Require(v Validator, scope string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		token, ok := bearerToken(r)
		if !ok {
			// RFC 6750 §3.1: no error code when the request had no token.
			w.Header().Set("WWW-Authenticate", `Bearer`)
			writeError(w, http.StatusUnauthorized, "a bearer token is required")
			return
		}
		p, err := v.Validate(r.Context(), token)
		switch {
		case errors.Is(err, ErrInvalidToken):
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			writeError(w, http.StatusUnauthorized, "the access token is invalid, expired or revoked")
			return
		case err != nil:
			slog.ErrorContext(r.Context(), "resource server: cannot validate the access token", "err", err)
			w.Header().Set("Retry-After", "5")
			writeError(w, http.StatusServiceUnavailable, "the access token cannot be checked right now; try again shortly")
			return
		}
		if scope != "" && !p.HasScope(scope) {
			w.Header().Set("WWW-Authenticate", fmt.Sprintf(`Bearer error="insufficient_scope", scope=%q`, scope))
			writeError(w, http.StatusForbidden, "the access token lacks the scope "+scope)
			return
		}
		next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), principalKey{}, p)))
	})
}

// bearerToken is the token of an "Authorization: Bearer …" header (RFC 6750
// §2.1; the scheme is case-insensitive).
func bearerToken(r *http.Request) (string, bool) {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	token = strings.TrimSpace(token)
	if !ok || !strings.EqualFold(scheme, "Bearer") || token == "" {
		return "", false
	}
	return token, true
}

func writeError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": msg})
}
