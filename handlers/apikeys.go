package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
	"github.com/labstack/echo/v4"
)

// APIKeyService is the API keys of a tenant's service accounts
// (identity.APIKeys).
type APIKeyService interface {
	Create(ctx context.Context, a identity.Actor, serviceAccountID, name string, expiresInDays *int) (*identity.NewAPIKey, error)
	List(ctx context.Context, p identity.Principal, serviceAccountID string) ([]models.APIKey, error)
	Revoke(ctx context.Context, a identity.Actor, serviceAccountID, keyID string) error
	Rotate(ctx context.Context, a identity.Actor, serviceAccountID, keyID string) (*identity.NewAPIKey, error)
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

func (s *Server) apiCreateAPIKey(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	var in struct {
		Name          string `json:"name"`
		ExpiresInDays *int   `json:"expires_in_days"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	k, err := s.APIKeys.Create(c.Request().Context(), a, c.Param("id"), in.Name, in.ExpiresInDays)
	if err != nil {
		return err
	}
	return newKeyBody(c, http.StatusCreated, k)
}

func (s *Server) apiListAPIKeys(c echo.Context) error {
	list, err := s.APIKeys.List(c.Request().Context(), principal(c), c.Param("id"))
	if err != nil {
		return err
	}
	out := make([]apiKeyView, 0, len(list))
	for i := range list {
		out = append(out, viewAPIKey(&list[i]))
	}
	return c.JSON(http.StatusOK, map[string]any{"api_keys": out})
}

func (s *Server) apiRevokeAPIKey(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	if err := s.APIKeys.Revoke(c.Request().Context(), a, c.Param("id"), c.Param("key_id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiRotateAPIKey(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	k, err := s.APIKeys.Rotate(c.Request().Context(), a, c.Param("id"), c.Param("key_id"))
	if err != nil {
		return err
	}
	return newKeyBody(c, http.StatusOK, k)
}
