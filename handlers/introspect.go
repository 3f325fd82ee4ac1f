package handlers

import (
	"context"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

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
	s.countIntrospection(err == nil && ir.IsActive(), err)
	if err != nil {
		if s.writeOAuthUnavailable(ctx, c.Response(), err) {
			return nil
		}
		setClientChallenge(c.Response(), c.Request(), err)
		s.Provider.WriteIntrospectionError(ctx, c.Response(), err)
		return nil
	}
	s.writeIntrospection(c.Response(), ir, s.introspectedUserClaims(ctx, ir))
	return nil
}

// introspectedUserClaims are email and email_verified of an active user's
// token granted the "email" scope, read from the user now (as userinfo
// does), so a resource server sees the truth after a verification or a
// change of address; nil for anything else.
func (s *Server) introspectedUserClaims(ctx context.Context, ir fosite.IntrospectionResponder) map[string]any {
	if !ir.IsActive() || !ir.GetAccessRequester().GetGrantedScopes().Has("email") {
		return nil
	}
	sess, ok := ir.GetAccessRequester().GetSession().(*oauth.Session)
	if !ok || sess.Kind != oauth.KindUser {
		return nil
	}
	u, err := s.Login.ActiveUser(ctx, sess.TenantID, sess.Subject)
	if err != nil || u.Email == "" {
		return nil
	}
	return map[string]any{"email": u.Email, "email_verified": u.EmailVerified}
}

// refreshUserClaims brings the user claims of a refresh grant's session up
// to date before fosite signs the new ID token from it.
func (s *Server) refreshUserClaims(ctx context.Context, ar fosite.AccessRequester) {
	sess, ok := ar.GetSession().(*oauth.Session)
	if !ok || sess.Kind != oauth.KindUser || sess.DefaultSession == nil || sess.Claims == nil {
		return
	}
	u, err := s.Login.ActiveUser(ctx, sess.TenantID, sess.Subject)
	if err != nil {
		return // fosite answers for a grant whose user is gone
	}
	if sess.Claims.Extra == nil {
		sess.Claims.Extra = map[string]any{}
	}
	oauth.SetUserClaims(sess.Claims.Extra, u, ar.GetGrantedScopes())
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
