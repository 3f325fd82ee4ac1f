package handlers

import (
	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/oauth"
)

// introspect is RFC 7662 token introspection. The caller authenticates as a
// client (HTTP Basic) or with an access token, and sees only its own
// tenant's tokens unless it is an introspect_all_tenants client
// (scopeIntrospection). The response carries tenant_id (and principal_type)
// from the stored session, token_type and token_use, and the exp of the
// token introspected (writeIntrospection).
func (s *Server) introspect(c echo.Context) error {
	ctx := c.Request().Context()
	ir, err := s.Provider.NewIntrospectionRequest(ctx, c.Request(), oauth.NewSession())
	if err == nil {
		ir, err = s.scopeIntrospection(ctx, c.Request(), ir)
	}
	if err != nil {
		if s.writeOAuthUnavailable(ctx, c.Response(), err) {
			return nil
		}
		setClientChallenge(c.Response(), c.Request(), err)
		s.Provider.WriteIntrospectionError(ctx, c.Response(), err)
		return nil
	}
	s.writeIntrospection(c.Response(), ir)
	return nil
}

// revoke is RFC 7009 token revocation: revoking either token of a grant
// revokes the grant's access and refresh tokens.
func (s *Server) revoke(c echo.Context) error {
	ctx := c.Request().Context()
	err := s.Provider.NewRevocationRequest(ctx, c.Request())
	// fosite's writer answers 200 to temporarily_unavailable: the token
	// may still be active, so say so (RFC 7009 §2.2.1) and let the client retry.
	if s.writeOAuthUnavailable(ctx, c.Response(), err) {
		return nil
	}
	setClientChallenge(c.Response(), c.Request(), err)
	s.Provider.WriteRevocationResponse(ctx, c.Response(), err)
	return nil
}
