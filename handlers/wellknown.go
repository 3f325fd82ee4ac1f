package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/oauth"
)

// ping is a no-op route: the baseline the load tool compares hot paths with.
func (s *Server) ping(c echo.Context) error { return c.NoContent(http.StatusNoContent) }

// discovery serves the OpenID Provider Metadata (OpenID Connect Discovery
// 1.0 §4).
func (s *Server) discovery(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.JSON(http.StatusOK, oauth.NewDiscovery(s.Issuer))
}

// jwks publishes the signing keys. They are read from the database on each
// request, so a rotation on another instance shows at once; relying parties
// may cache for a minute and refetch on an unknown kid.
func (s *Server) jwks(c echo.Context) error {
	set, err := s.Provider.Keys.JWKS(c.Request().Context())
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=60")
	return c.JSON(http.StatusOK, set)
}
