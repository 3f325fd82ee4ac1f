package handlers

import (
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
)

// userinfo is the OpenID Connect UserInfo endpoint (Core §5.3). The access
// token comes as a Bearer header only (RFC 6750 §2.1; the form field and
// query of §2.2–2.3 are not accepted); refresh tokens are refused. Claims follow
// the granted scopes, as in the ID token (oauth.UserClaims): sub and
// tenant_id always; email and email_verified with "email"; name,
// given_name, family_name, locale, zoneinfo, picture and updated_at with
// "profile"; phone_number and phone_number_verified with "phone"; each
// left out when the user has no value (Core §5.3.2).
func (s *Server) userinfo(c echo.Context) error {
	ctx := c.Request().Context()
	token := bearerToken(c.Request())
	if token == "" {
		return bearerError(c, http.StatusUnauthorized, "invalid_request", "An access token is required.")
	}
	ar, sess, err := s.Provider.IntrospectAccessToken(ctx, token)
	if unavailable(err) {
		return models.ErrUnavailable("token lookup", err)
	}
	if err != nil {
		var rfc *fosite.RFC6749Error
		if errors.As(err, &rfc) && rfc.CodeField >= 500 {
			return err
		}
		return bearerError(c, http.StatusUnauthorized, "invalid_token", "The access token is not active.")
	}
	if sess.Kind != oauth.KindUser {
		return bearerError(c, http.StatusUnauthorized, "invalid_token", "The access token does not stand for a user.")
	}
	if !ar.GetGrantedScopes().Has("openid") {
		return bearerError(c, http.StatusForbidden, "insufficient_scope", "The access token lacks the openid scope.")
	}
	user, err := s.Login.ActiveUser(ctx, sess.TenantID, sess.Subject)
	if err != nil {
		if models.IsKind(err, models.KindInternal) {
			return err
		}
		return bearerError(c, http.StatusUnauthorized, "invalid_token", "The user of this token is not active.")
	}
	claims := oauth.UserClaims(user, ar.GetGrantedScopes())
	claims["sub"] = user.ID
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, claims)
}

// bearerError answers per RFC 6750 §3 with a WWW-Authenticate challenge.
func bearerError(c echo.Context, status int, code, desc string) error {
	c.Response().Header().Set("WWW-Authenticate", `Bearer error="`+code+`", error_description="`+strings.ReplaceAll(desc, `"`, `'`)+`"`)
	return c.JSON(status, map[string]string{"error": code, "error_description": desc})
}
