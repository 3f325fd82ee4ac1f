package handlers

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// TenantService is the tenants, for system administrators (identity.Tenants).
type TenantService interface {
	List(ctx context.Context, search, cursor string, limit int) (*identity.TenantPage, error)
	Get(ctx context.Context, id string) (*models.Tenant, error)
	Create(ctx context.Context, a identity.Actor, slug, name string) (*models.Tenant, error)
	Update(ctx context.Context, a identity.Actor, id string, in identity.TenantUpdate) (*models.Tenant, error)
	Suspend(ctx context.Context, a identity.Actor, id string) (*models.Tenant, error)
	Unsuspend(ctx context.Context, a identity.Actor, id string) (*models.Tenant, error)
	Delete(ctx context.Context, a identity.Actor, id string) error
	// Own and UpdateOwn are the principal's own tenant (handlers/tenant.go).
	Own(ctx context.Context, a identity.Actor) (*models.Tenant, error)
	UpdateOwn(ctx context.Context, a identity.Actor, in identity.TenantProfile) (*models.Tenant, error)
	// ScheduleOwnDeletion and RestoreOwn are the own tenant's deletion with
	// its grace period, and its cancellation.
	ScheduleOwnDeletion(ctx context.Context, a identity.Actor, confirm string) (*models.Tenant, error)
	RestoreOwn(ctx context.Context, a identity.Actor) (*models.Tenant, error)
}

type tenantView struct {
	ID                 string     `json:"id"`
	Slug               string     `json:"slug"`
	Name               string     `json:"name"`
	Status             string     `json:"status"`
	SuspendedAt        *time.Time `json:"suspended_at"`
	AuditRetentionDays int        `json:"audit_retention_days"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
}

func viewTenant(t *models.Tenant) tenantView {
	v := tenantView{ID: t.ID, Slug: t.Slug, Name: t.Name, Status: "active", SuspendedAt: t.SuspendedAt,
		AuditRetentionDays: t.AuditRetentionDays, CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC()}
	if t.SuspendedAt != nil {
		at := t.SuspendedAt.UTC()
		v.Status, v.SuspendedAt = "suspended", &at
	}
	return v
}

// pageLimit reads ?limit= (1..100), def when absent.
func pageLimit(c echo.Context, def int) (int, error) {
	v := c.QueryParam("limit")
	if v == "" {
		return def, nil
	}
	return parseLimit(v)
}

func (s *Server) adminListTenants(c echo.Context) error {
	limit, err := pageLimit(c, 50)
	if err != nil {
		return err
	}
	page, err := s.TenantRegistry.List(c.Request().Context(), c.QueryParam("search"), c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	items := make([]tenantView, len(page.Items))
	for i := range page.Items {
		items[i] = viewTenant(&page.Items[i])
	}
	body := map[string]any{"items": items, "next_cursor": nil}
	if page.NextCursor != "" {
		body["next_cursor"] = page.NextCursor
	}
	return c.JSON(http.StatusOK, body)
}

func (s *Server) adminCreateTenant(c echo.Context) error {
	var in struct {
		Slug string `json:"slug"`
		Name string `json:"name"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	t, err := s.TenantRegistry.Create(c.Request().Context(), a, strings.TrimSpace(in.Slug), in.Name)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, viewTenant(t))
}

func (s *Server) adminGetTenant(c echo.Context) error {
	t, err := s.TenantRegistry.Get(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewTenant(t))
}

func (s *Server) adminUpdateTenant(c echo.Context) error {
	var in struct {
		Name               *string `json:"name"`
		AuditRetentionDays *int    `json:"audit_retention_days"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	t, err := s.TenantRegistry.Update(c.Request().Context(), a, c.Param("id"),
		identity.TenantUpdate{Name: in.Name, AuditRetentionDays: in.AuditRetentionDays})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewTenant(t))
}

func (s *Server) adminSuspendTenant(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	t, err := s.TenantRegistry.Suspend(c.Request().Context(), a, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewTenant(t))
}

func (s *Server) adminUnsuspendTenant(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	t, err := s.TenantRegistry.Unsuspend(c.Request().Context(), a, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewTenant(t))
}

func (s *Server) adminDeleteTenant(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	if err := s.TenantRegistry.Delete(c.Request().Context(), a, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}
