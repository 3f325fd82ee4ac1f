package handlers

import (
	"errors"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/identity/identity/oauth"
)

// tenantClient is a client that belongs to a tenant.
type tenantClient interface{ GetTenantID() string }

// token is the token endpoint (RFC 6749 §3.2): authorization_code (with
// PKCE), client_credentials and refresh_token. It answers only through
// fosite's writers, so every error is in RFC 6749 §5.2 form.
func (s *Server) token(c echo.Context) error {
	ctx := c.Request().Context()
	w := c.Response()
	sess := oauth.NewSession()
	ar, err := s.Provider.NewAccessRequest(ctx, c.Request(), sess)
	if err != nil {
		s.Provider.WriteAccessError(ctx, w, ar, concurrentAsInvalidGrant(err))
		return nil
	}
	if ar.GetGrantTypes().ExactOne("client_credentials") {
		// The client acts for itself (RFC 6749 §4.4): its id is the subject and
		// its tenant the token's. fosite already checked the requested scopes
		// and audience against the client's; grant them.
		client := ar.GetClient()
		tc, ok := client.(tenantClient)
		if !ok {
			s.Provider.WriteAccessError(ctx, w, ar, fosite.ErrServerError.WithHint("client has no tenant"))
			return nil
		}
		sess.Kind = oauth.KindClient
		sess.TenantID = tc.GetTenantID()
		sess.ClientID = client.GetID()
		sess.Subject = client.GetID()
		sess.Claims.Subject = client.GetID()
		for _, scope := range ar.GetRequestedScopes() {
			ar.GrantScope(scope)
		}
		for _, aud := range ar.GetRequestedAudience() {
			ar.GrantAudience(aud)
		}
	}
	resp, err := s.Provider.NewAccessResponse(ctx, ar)
	if err != nil {
		s.Provider.WriteAccessError(ctx, w, ar, concurrentAsInvalidGrant(err))
		return nil
	}
	s.Provider.WriteAccessResponse(ctx, w, ar, resp)
	return nil
}

// concurrentAsInvalidGrant answers a grant that lost a race to a concurrent
// use of the same code or refresh token as invalid_grant: the client sent a
// grant that is no longer valid, which is not a server error.
func concurrentAsInvalidGrant(err error) error {
	if errors.Is(err, fosite.ErrSerializationFailure) {
		return fosite.ErrInvalidGrant.WithHint("The grant was used by a concurrent request.").WithWrap(err)
	}
	return err
}
