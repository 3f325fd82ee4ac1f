package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/oauth"
)

// allTenantsClient is implemented by clients that may be registered as a
// system-level resource server (storage.Client).
type allTenantsClient interface{ GetIntrospectAllTenants() bool }

// Introspection token types (RFC 7662 §2.2 token_type). An access token is
// "Bearer", its RFC 6749 §7.1 type; a refresh token has no such type, so it
// is "refresh_token". token_use (as Hydra answers) says the same for both.
const (
	introspectTypeAccess  = "Bearer"
	introspectTypeRefresh = "refresh_token"
)

// scopeIntrospection hides another tenant's token from the caller, like a
// Keycloak realm: a tenant's client (or bearer token) sees only its own
// tenant's tokens, and anything else is {"active": false}, indistinguishable
// from an unknown token. Only a client registered with
// introspect_all_tenants (a system administrator's setting) sees every
// tenant. fosite has already authenticated the caller when this runs.
func (s *Server) scopeIntrospection(ctx context.Context, r *http.Request, ir fosite.IntrospectionResponder) (fosite.IntrospectionResponder, error) {
	if !ir.IsActive() {
		return ir, nil
	}
	sess, ok := ir.GetAccessRequester().GetSession().(*oauth.Session)
	if !ok {
		return &fosite.IntrospectionResponse{Active: false}, nil
	}
	callerTenant, all, err := s.introspectionCaller(ctx, r)
	if err != nil {
		return nil, err
	}
	if all || (callerTenant != "" && callerTenant == sess.TenantID) {
		return ir, nil
	}
	return &fosite.IntrospectionResponse{Active: false}, nil
}

// introspectionCaller names the authenticated caller's tenant and whether it
// may see every tenant: the client of the HTTP Basic credentials, or the
// principal of the bearer token (a client-credentials token of an
// all-tenants client counts as that client).
func (s *Server) introspectionCaller(ctx context.Context, r *http.Request) (tenantID string, all bool, err error) {
	if id, _, ok := r.BasicAuth(); ok {
		clientID, err := url.QueryUnescape(id)
		if err != nil {
			return "", false, fosite.ErrRequestUnauthorized.WithWrap(err)
		}
		return s.clientIntrospectionScope(ctx, clientID)
	}
	token := fosite.AccessTokenFromRequest(r)
	if token == "" {
		return "", false, fosite.ErrRequestUnauthorized.WithHint("HTTP Authorization header missing.")
	}
	_, sess, err := s.Provider.IntrospectAccessToken(ctx, token)
	if err != nil {
		return "", false, callerLookupError(err)
	}
	if sess.Kind == oauth.KindClient && sess.ClientID != "" {
		tenantID, all, err := s.clientIntrospectionScope(ctx, sess.ClientID)
		if err == nil && tenantID == sess.TenantID {
			return tenantID, all, nil
		}
	}
	return sess.TenantID, false, nil
}

func (s *Server) clientIntrospectionScope(ctx context.Context, clientID string) (string, bool, error) {
	cl, err := s.Clients.GetClient(ctx, clientID)
	if err != nil {
		return "", false, callerLookupError(err)
	}
	tc, ok := cl.(tenantClient)
	if !ok {
		return "", false, nil
	}
	ac, ok := cl.(allTenantsClient)
	return tc.GetTenantID(), ok && ac.GetIntrospectAllTenants(), nil
}

// callerLookupError: a caller that vanished between fosite's check and ours
// (deleted, revoked, expired) is unauthorised; any other failure (the
// database) is the server's, and keeps its cause for the error mapping.
func callerLookupError(err error) error {
	if errors.Is(err, fosite.ErrNotFound) || errors.Is(err, fosite.ErrInactiveToken) || errors.Is(err, fosite.ErrTokenExpired) ||
		errors.Is(err, fosite.ErrRequestUnauthorized) || errors.Is(err, fosite.ErrTokenSignatureMismatch) {
		return fosite.ErrRequestUnauthorized.WithWrap(err)
	}
	return fosite.ErrServerError.WithWrap(err).WithDebug(err.Error())
}

// writeIntrospection is fosite's WriteIntrospectionResponse (RFC 7662 §2.2)
// with what it leaves out: token_type and token_use, and, for a refresh
// token, the refresh token's own exp (fosite reports the access token's).
func (s *Server) writeIntrospection(w http.ResponseWriter, ir fosite.IntrospectionResponder, user map[string]any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.Header().Set("Cache-Control", "no-store")
	w.Header().Set("Pragma", "no-cache")
	if !ir.IsActive() {
		_ = json.NewEncoder(w).Encode(map[string]bool{"active": false})
		return
	}
	ar := ir.GetAccessRequester()
	sess := ar.GetSession()
	out := map[string]any{}
	if ec, ok := sess.(fosite.ExtraClaimsSession); ok {
		for k, v := range ec.GetExtraClaims() {
			switch k {
			case "active", "exp", "client_id", "scope", "iat", "sub", "aud", "username", "token_type", "token_use":
				// never set through extra claims
			default:
				out[k] = v
			}
		}
	}
	for k, v := range user {
		out[k] = v
	}
	out["active"] = true
	use := fosite.AccessToken
	out["token_type"] = introspectTypeAccess
	if ir.GetTokenUse() == fosite.RefreshToken {
		use = fosite.RefreshToken
		out["token_type"] = introspectTypeRefresh
	}
	out["token_use"] = string(use)
	if exp := sess.GetExpiresAt(use); !exp.IsZero() {
		out["exp"] = exp.Unix()
	}
	if id := ar.GetClient().GetID(); id != "" {
		out["client_id"] = id
	}
	if sc := ar.GetGrantedScopes(); len(sc) > 0 {
		out["scope"] = strings.Join(sc, " ")
	}
	if at := ar.GetRequestedAt(); !at.IsZero() {
		out["iat"] = at.Unix()
	}
	if sub := sess.GetSubject(); sub != "" {
		out["sub"] = sub
	}
	if aud := ar.GetGrantedAudience(); len(aud) > 0 {
		out["aud"] = aud
	}
	if u := sess.GetUsername(); u != "" {
		out["username"] = u
	}
	_ = json.NewEncoder(w).Encode(out)
}
