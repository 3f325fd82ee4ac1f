package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/docs"
)

// openAPI serves the OpenAPI 3.1 document of the API (docs/openapi.json,
// embedded). Public: it describes routes, never data.
func (s *Server) openAPI(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.Blob(http.StatusOK, echo.MIMEApplicationJSON, docs.OpenAPI)
}
