package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
)

// The permission model of a tenant: its roles (and the global roles, which
// tenant principals may read and assign but not edit) and its policies.
func (s *Server) roleRoutes(e *echo.Echo) {
	if s.Directory == nil {
		return
	}
	s.api(e, http.MethodGet, "/api/roles", "identity.roles.read", true, s.apiListRoles)
	s.api(e, http.MethodPost, "/api/roles", "identity.roles.create", true, s.apiCreateRole)
	s.api(e, http.MethodGet, "/api/roles/:id", "identity.roles.read", true, s.apiGetRole)
	s.api(e, http.MethodPatch, "/api/roles/:id", "identity.roles.update", true, s.apiUpdateRole)
	s.api(e, http.MethodDelete, "/api/roles/:id", "identity.roles.delete", true, s.apiDeleteRole)
	s.api(e, http.MethodGet, "/api/policies", "identity.policies.read", true, s.apiListPolicies)
	s.api(e, http.MethodPost, "/api/policies", "identity.policies.create", true, s.apiCreatePolicy)
	s.api(e, http.MethodGet, "/api/policies/:id", "identity.policies.read", true, s.apiGetPolicy)
	s.api(e, http.MethodPatch, "/api/policies/:id", "identity.policies.update", true, s.apiUpdatePolicy)
	s.api(e, http.MethodDelete, "/api/policies/:id", "identity.policies.delete", true, s.apiDeletePolicy)
}

// permissionSetPatch is the body of a role or policy update: only these
// fields are read (a tenant_id or system flag in the body changes nothing).
type permissionSetPatch struct {
	Name        *string   `json:"name"`
	Description *string   `json:"description"`
	Permissions *[]string `json:"permissions"`
}

func (s *Server) apiListRoles(c echo.Context) error {
	roles, err := s.Directory.ListRoles(c.Request().Context(), principal(c).TenantID)
	if err != nil {
		return err
	}
	out := make([]roleView, 0, len(roles))
	for i := range roles {
		out = append(out, viewRole(&roles[i]))
	}
	return c.JSON(http.StatusOK, map[string]any{"roles": out})
}

func (s *Server) apiGetRole(c echo.Context) error {
	r, err := s.Directory.GetRole(c.Request().Context(), principal(c).TenantID, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewRole(r))
}

func (s *Server) apiCreateRole(c echo.Context) error {
	var in struct {
		Name        string   `json:"name"`
		Description string   `json:"description"`
		Permissions []string `json:"permissions"`
		// Global asks for a role of every tenant: system admins only.
		Global bool `json:"global"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	r, err := s.Directory.CreateRole(c.Request().Context(), a, identity.RoleInput{
		Name: in.Name, Description: in.Description, Permissions: in.Permissions, Global: in.Global})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, viewRole(r))
}

func (s *Server) apiUpdateRole(c echo.Context) error {
	var in permissionSetPatch
	if err := bind(c, &in); err != nil {
		return err
	}
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	r, err := s.Directory.UpdateRole(c.Request().Context(), a, c.Param("id"), identity.RolePatch{
		Name: in.Name, Description: in.Description, Permissions: in.Permissions})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewRole(r))
}

func (s *Server) apiDeleteRole(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	if err := s.Directory.DeleteRole(c.Request().Context(), a, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiListPolicies(c echo.Context) error {
	ps, err := s.Directory.ListPolicies(c.Request().Context(), principal(c).TenantID)
	if err != nil {
		return err
	}
	out := make([]policyView, 0, len(ps))
	for i := range ps {
		out = append(out, viewPolicy(&ps[i]))
	}
	return c.JSON(http.StatusOK, map[string]any{"policies": out})
}

func (s *Server) apiGetPolicy(c echo.Context) error {
	p, err := s.Directory.GetPolicy(c.Request().Context(), principal(c).TenantID, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewPolicy(p))
}

func (s *Server) apiCreatePolicy(c echo.Context) error {
	var in struct {
		Name        string   `json:"name"`
		Description string   `json:"description"`
		Permissions []string `json:"permissions"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	p, err := s.Directory.CreatePolicy(c.Request().Context(), a, identity.PolicyInput{
		Name: in.Name, Description: in.Description, Permissions: in.Permissions})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, viewPolicy(p))
}

func (s *Server) apiUpdatePolicy(c echo.Context) error {
	var in permissionSetPatch
	if err := bind(c, &in); err != nil {
		return err
	}
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	p, err := s.Directory.UpdatePolicy(c.Request().Context(), a, c.Param("id"), identity.RolePatch{
		Name: in.Name, Description: in.Description, Permissions: in.Permissions})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewPolicy(p))
}

func (s *Server) apiDeletePolicy(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	if err := s.Directory.DeletePolicy(c.Request().Context(), a, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
