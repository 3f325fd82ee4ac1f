package handlers

import (
	"context"
	"errors"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// MachineAdmin is the administration of a tenant's clients, service
// accounts and API keys (identity.Machines implements it, beside MachineAuth).
type MachineAdmin interface {
	Clients(ctx context.Context, p identity.Principal) ([]models.Client, error)
	Client(ctx context.Context, p identity.Principal, id string) (*models.Client, error)
	CreateClient(ctx context.Context, a identity.Actor, in identity.NewClient, m identity.Meta) (*identity.CreatedClient, error)
	UpdateClient(ctx context.Context, a identity.Actor, id string, patch identity.ClientPatch, m identity.Meta) (*models.Client, error)
	DeleteClient(ctx context.Context, a identity.Actor, id string, m identity.Meta) error
	RotateClientSecret(ctx context.Context, a identity.Actor, id string, m identity.Meta) (string, *time.Time, error)

	ServiceAccounts(ctx context.Context, p identity.Principal) ([]models.ServiceAccount, error)
	ServiceAccount(ctx context.Context, p identity.Principal, id string) (*models.ServiceAccount, []models.Role, error)
	CreateServiceAccount(ctx context.Context, a identity.Actor, in identity.ServiceAccountInput, m identity.Meta) (*models.ServiceAccount, error)
	UpdateServiceAccount(ctx context.Context, a identity.Actor, id string, in identity.ServiceAccountInput, m identity.Meta) (*models.ServiceAccount, error)
	DeleteServiceAccount(ctx context.Context, a identity.Actor, id string, m identity.Meta) error
	AssignServiceAccountRole(ctx context.Context, a identity.Actor, id, roleID string, m identity.Meta) (*models.Role, error)
	RemoveServiceAccountRole(ctx context.Context, a identity.Actor, id, roleID string, m identity.Meta) error

	CreateAPIKey(ctx context.Context, a identity.Actor, serviceAccountID, name string, expiresInDays *int, m identity.Meta) (*identity.NewAPIKey, error)
	APIKeys(ctx context.Context, p identity.Principal, serviceAccountID string) ([]models.APIKey, error)
	RevokeAPIKey(ctx context.Context, a identity.Actor, serviceAccountID, keyID string, m identity.Meta) error
	RotateAPIKey(ctx context.Context, a identity.Actor, serviceAccountID, keyID string, m identity.Meta) (*identity.NewAPIKey, error)
}

// machineAdmin returns Deps.Machines as a MachineAdmin.
func (s *Server) machineAdmin() (MachineAdmin, error) {
	if m, ok := s.Machines.(MachineAdmin); ok {
		return m, nil
	}
	return nil, models.ErrInternal(errors.New("handlers: Deps.Machines does not administer machines"))
}

// withMachines adapts a handler that needs the machine administration and
// the acting principal with its permissions (the grant rules need both).
func (s *Server) withMachines(h func(c echo.Context, m MachineAdmin, a identity.Actor) error) echo.HandlerFunc {
	return func(c echo.Context) error {
		m, err := s.machineAdmin()
		if err != nil {
			return err
		}
		a, err := s.dirActor(c)
		if err != nil {
			return err
		}
		return h(c, m, a)
	}
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

// apiKeyView is what a key's listing shows: never the key or its hash.
type apiKeyView struct {
	ID         string     `json:"id"`
	Prefix     string     `json:"prefix"`
	Name       string     `json:"name"`
	CreatedAt  time.Time  `json:"created_at"`
	LastUsedAt *time.Time `json:"last_used_at"`
	ExpiresAt  *time.Time `json:"expires_at"`
}

func viewAPIKey(k *models.APIKey) apiKeyView {
	return apiKeyView{ID: k.ID, Prefix: k.Prefix, Name: k.Name, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt, ExpiresAt: k.ExpiresAt}
}

// newKeyBody shows a new key once.
func newKeyBody(c echo.Context, status int, k *identity.NewAPIKey) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(status, struct {
		apiKeyView
		Key              string `json:"key"`
		ServiceAccountID string `json:"service_account_id"`
	}{viewAPIKey(k.APIKey), k.Key, k.APIKey.ServiceAccountID})
}

type serviceAccountBody struct {
	Name        *string `json:"name"`
	Description *string `json:"description"`
	IsActive    *bool   `json:"is_active"`
}

func (b serviceAccountBody) input() identity.ServiceAccountInput {
	return identity.ServiceAccountInput{Name: b.Name, Description: b.Description, IsActive: b.IsActive}
}

func apiListServiceAccounts(c echo.Context, m MachineAdmin, a identity.Actor) error {
	list, err := m.ServiceAccounts(c.Request().Context(), a.Principal)
	if err != nil {
		return err
	}
	out := make([]serviceAccountView, 0, len(list))
	for i := range list {
		out = append(out, viewServiceAccount(&list[i], nil))
	}
	return c.JSON(http.StatusOK, map[string]any{"service_accounts": out})
}

func apiGetServiceAccount(c echo.Context, m MachineAdmin, a identity.Actor) error {
	sa, roles, err := m.ServiceAccount(c.Request().Context(), a.Principal, c.Param("id"))
	if err != nil {
		return err
	}
	if roles == nil {
		roles = []models.Role{}
	}
	return c.JSON(http.StatusOK, viewServiceAccount(sa, roles))
}

func apiCreateServiceAccount(c echo.Context, m MachineAdmin, a identity.Actor) error {
	var in serviceAccountBody
	if err := bind(c, &in); err != nil {
		return err
	}
	if in.Name == nil {
		return models.ErrInvalid(map[string]string{"name": "Required."})
	}
	sa, err := m.CreateServiceAccount(c.Request().Context(), a, in.input(), meta(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, viewServiceAccount(sa, nil))
}

func apiUpdateServiceAccount(c echo.Context, m MachineAdmin, a identity.Actor) error {
	var in serviceAccountBody
	if err := bind(c, &in); err != nil {
		return err
	}
	sa, err := m.UpdateServiceAccount(c.Request().Context(), a, c.Param("id"), in.input(), meta(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewServiceAccount(sa, nil))
}

func apiDeleteServiceAccount(c echo.Context, m MachineAdmin, a identity.Actor) error {
	if err := m.DeleteServiceAccount(c.Request().Context(), a, c.Param("id"), meta(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func apiAssignServiceAccountRole(c echo.Context, m MachineAdmin, a identity.Actor) error {
	var in struct {
		RoleID string `json:"role_id"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	r, err := m.AssignServiceAccountRole(c.Request().Context(), a, c.Param("id"), in.RoleID, meta(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, map[string]any{"service_account_id": c.Param("id"), "role": saRoleRef{ID: r.ID, Name: r.Name}})
}

func apiRemoveServiceAccountRole(c echo.Context, m MachineAdmin, a identity.Actor) error {
	if err := m.RemoveServiceAccountRole(c.Request().Context(), a, c.Param("id"), c.Param("role_id"), meta(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func apiCreateAPIKey(c echo.Context, m MachineAdmin, a identity.Actor) error {
	var in struct {
		Name          string `json:"name"`
		ExpiresInDays *int   `json:"expires_in_days"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	k, err := m.CreateAPIKey(c.Request().Context(), a, c.Param("id"), in.Name, in.ExpiresInDays, meta(c))
	if err != nil {
		return err
	}
	return newKeyBody(c, http.StatusCreated, k)
}

func apiListAPIKeys(c echo.Context, m MachineAdmin, a identity.Actor) error {
	list, err := m.APIKeys(c.Request().Context(), a.Principal, c.Param("id"))
	if err != nil {
		return err
	}
	out := make([]apiKeyView, 0, len(list))
	for i := range list {
		out = append(out, viewAPIKey(&list[i]))
	}
	return c.JSON(http.StatusOK, map[string]any{"api_keys": out})
}

func apiRevokeAPIKey(c echo.Context, m MachineAdmin, a identity.Actor) error {
	if err := m.RevokeAPIKey(c.Request().Context(), a, c.Param("id"), c.Param("key_id"), meta(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func apiRotateAPIKey(c echo.Context, m MachineAdmin, a identity.Actor) error {
	k, err := m.RotateAPIKey(c.Request().Context(), a, c.Param("id"), c.Param("key_id"), meta(c))
	if err != nil {
		return err
	}
	return newKeyBody(c, http.StatusOK, k)
}
