package handlers

import "github.com/labstack/echo/v4"

// adminRoutes registers the permission-gated administration API. Each area
// lives in its own file and registers through s.api, so every route carries
// its permission and tenant-scope in the route table.
func (s *Server) adminRoutes(e *echo.Echo) {
	s.userAdminRoutes(e)
	s.roleRoutes(e)
	s.clientRoutes(e)
	s.serviceAccountRoutes(e)
	s.tenantRoutes(e)
	s.auditRoutes(e)
}
