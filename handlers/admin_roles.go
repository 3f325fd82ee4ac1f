package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
)

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
	a, err := s.dirActor(c)
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
	a, err := s.dirActor(c)
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
	a, err := s.dirActor(c)
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
	a, err := s.dirActor(c)
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
	a, err := s.dirActor(c)
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
	a, err := s.dirActor(c)
	if err != nil {
		return err
	}
	if err := s.Directory.DeletePolicy(c.Request().Context(), a, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
