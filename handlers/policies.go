package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
	"github.com/labstack/echo/v4"
)

// PolicyService is the policies of a tenant (identity.Policies).
type PolicyService interface {
	List(ctx context.Context, tenantID string) ([]models.Policy, error)
	Get(ctx context.Context, tenantID, id string) (*models.Policy, error)
	Create(ctx context.Context, a identity.Actor, in identity.PolicyInput) (*models.Policy, error)
	Update(ctx context.Context, a identity.Actor, id string, in identity.RolePatch) (*models.Policy, error)
	Delete(ctx context.Context, a identity.Actor, id string) error
}

func (s *Server) apiListPolicies(c echo.Context) error {
	ps, err := s.Policies.List(c.Request().Context(), principal(c).TenantID)
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
	p, err := s.Policies.Get(c.Request().Context(), principal(c).TenantID, c.Param("id"))
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
	p, err := s.Policies.Create(c.Request().Context(), a, identity.PolicyInput{
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
	p, err := s.Policies.Update(c.Request().Context(), a, c.Param("id"), identity.RolePatch{
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
	if err := s.Policies.Delete(c.Request().Context(), a, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// policyView is a policy as the API shows it.
type policyView struct {
	ID          string    `json:"id"`
	TenantID    string    `json:"tenant_id"`
	Name        string    `json:"name"`
	Description string    `json:"description"`
	Permissions []string  `json:"permissions"`
	CreatedAt   time.Time `json:"created_at"`
	UpdatedAt   time.Time `json:"updated_at"`
}

func viewPolicy(p *models.Policy) policyView {
	perms := []string(p.Permissions)
	if perms == nil {
		perms = []string{}
	}
	return policyView{ID: p.ID, TenantID: p.TenantID, Name: p.Name, Description: p.Description, Permissions: perms,
		CreatedAt: p.CreatedAt, UpdatedAt: p.UpdatedAt}
}
