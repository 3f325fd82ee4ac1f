package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
	"github.com/labstack/echo/v4"
)

// RoleService is the roles of a tenant and the global roles (identity.Roles).
type RoleService interface {
	List(ctx context.Context, tenantID string) ([]models.Role, error)
	Get(ctx context.Context, tenantID, id string) (*models.Role, error)
	Create(ctx context.Context, a identity.Actor, in identity.RoleInput) (*models.Role, error)
	Update(ctx context.Context, a identity.Actor, id string, in identity.RolePatch) (*models.Role, error)
	Delete(ctx context.Context, a identity.Actor, id string) error
}

// permissionSetPatch is the body of a role or policy update: only these
// fields are read (a tenant_id or system flag in the body changes nothing).
type permissionSetPatch struct {
	Name        *string   `json:"name"`
	Description *string   `json:"description"`
	Permissions *[]string `json:"permissions"`
}

func (s *Server) apiListRoles(c echo.Context) error {
	roles, err := s.Roles.List(c.Request().Context(), principal(c).TenantID)
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
	r, err := s.Roles.Get(c.Request().Context(), principal(c).TenantID, c.Param("id"))
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
	r, err := s.Roles.Create(c.Request().Context(), a, identity.RoleInput{
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
	r, err := s.Roles.Update(c.Request().Context(), a, c.Param("id"), identity.RolePatch{
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
	if err := s.Roles.Delete(c.Request().Context(), a, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// roleView is a role as the API shows it.
type roleView struct {
	ID          string    `json:"id"`
	TenantID    *string   `json:"tenant_id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Permissions []string  `json:"permissions"`
	System      bool      `json:"system"`
	Global      bool      `json:"global"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func viewRole(r *models.Role) roleView {
	perms := []string(r.Permissions)
	if perms == nil {
		perms = []string{}
	}
	return roleView{ID: r.ID, TenantID: r.TenantID, Name: r.Name, Description: r.Description, Permissions: perms,
		System: r.System, Global: r.TenantID == nil, CreatedAt: r.CreatedAt, UpdatedAt: r.UpdatedAt}
}
