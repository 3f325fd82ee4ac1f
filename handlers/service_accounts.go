package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// ServiceAccountService is the service accounts of a tenant and their
// roles (identity.ServiceAccounts).
type ServiceAccountService interface {
	List(ctx context.Context, p identity.Principal) ([]models.ServiceAccount, error)
	Get(ctx context.Context, p identity.Principal, id string) (*models.ServiceAccount, []models.Role, error)
	Create(ctx context.Context, a identity.Actor, in identity.ServiceAccountInput) (*models.ServiceAccount, error)
	Update(ctx context.Context, a identity.Actor, id string, in identity.ServiceAccountInput) (*models.ServiceAccount, error)
	Delete(ctx context.Context, a identity.Actor, id string) error
	AssignRole(ctx context.Context, a identity.Actor, id, roleID string) (*models.Role, error)
	RemoveRole(ctx context.Context, a identity.Actor, id, roleID string) error
}

type saRoleRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

type serviceAccountView struct {
	ID          string      `json:"id"`
	Name        string      `json:"name"`
	Description string      `json:"description"`
	IsActive    bool        `json:"is_active"`
	Roles       []saRoleRef `json:"roles,omitempty"`
	CreatedAt   time.Time   `json:"created_at"`
	UpdatedAt   time.Time   `json:"updated_at"`
}

func viewServiceAccount(sa *models.ServiceAccount, roles []models.Role) serviceAccountView {
	v := serviceAccountView{ID: sa.ID, Name: sa.Name, Description: sa.Description, IsActive: sa.IsActive, CreatedAt: sa.CreatedAt, UpdatedAt: sa.UpdatedAt}
	if roles != nil {
		v.Roles = make([]saRoleRef, 0, len(roles))
		for _, r := range roles {
			v.Roles = append(v.Roles, saRoleRef{ID: r.ID, Name: r.Name})
		}
	}
	return v
}

type serviceAccountBody struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	IsActive    *bool   `json:"is_active"`
}

func (b serviceAccountBody) input() identity.ServiceAccountInput {
	return identity.ServiceAccountInput{Name: b.Name, Description: b.Description, IsActive: b.IsActive}
}

func (s *Server) apiListServiceAccounts(c echo.Context) error {
	list, err := s.ServiceAccounts.List(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	out := make([]serviceAccountView, 0, len(list))
	for i := range list {
		out = append(out, viewServiceAccount(&list[i], nil))
	}
	return c.JSON(http.StatusOK, map[string]any{"service_accounts": out})
}

func (s *Server) apiGetServiceAccount(c echo.Context) error {
	sa, roles, err := s.ServiceAccounts.Get(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	if roles == nil {
		roles = []models.Role{}
	}
	return c.JSON(http.StatusOK, viewServiceAccount(sa, roles))
}

func (s *Server) apiCreateServiceAccount(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	var in serviceAccountBody
	if err := bind(c, &in); err != nil {
		return err
	}
	if in.Name == nil {
		return models.ErrInvalid(map[string]string{"name": "Required."})
	}
	sa, err := s.ServiceAccounts.Create(c.Request().Context(), a, in.input())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, viewServiceAccount(sa, nil))
}

func (s *Server) apiUpdateServiceAccount(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	var in serviceAccountBody
	if err := bind(c, &in); err != nil {
		return err
	}
	sa, err := s.ServiceAccounts.Update(c.Request().Context(), a, c.Param("id"), in.input())
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewServiceAccount(sa, nil))
}

func (s *Server) apiDeleteServiceAccount(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	if err := s.ServiceAccounts.Delete(c.Request().Context(), a, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiAssignServiceAccountRole(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	var in struct {
		RoleID string `json:"role_id"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	r, err := s.ServiceAccounts.AssignRole(c.Request().Context(), a, c.Param("id"), in.RoleID)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"service_account_id": c.Param("id"), "role": saRoleRef{ID: r.ID, Name: r.Name}})
}

func (s *Server) apiRemoveServiceAccountRole(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	if err := s.ServiceAccounts.RemoveRole(c.Request().Context(), a, c.Param("id"), c.Param("role_id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
