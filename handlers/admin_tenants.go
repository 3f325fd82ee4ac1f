package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

type adminTenantView struct {
	ID                 string     `json:"id"`
	Slug               string     `json:"slug"`
	Name               string     `json:"name"`
	Status             string     `json:"status"`
	SuspendedAt        *time.Time `json:"suspended_at"`
	AuditRetentionDays int        `json:"audit_retention_days"`
	CreatedAt          time.Time  `json:"created_at"`
	UpdatedAt          time.Time  `json:"updated_at"`
}

func viewAdminTenant(t *models.Tenant) adminTenantView {
	v := adminTenantView{ID: t.ID, Slug: t.Slug, Name: t.Name, Status: "active", SuspendedAt: t.SuspendedAt,
		AuditRetentionDays: t.AuditRetentionDays, CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC()}
	if t.SuspendedAt != nil {
		at := t.SuspendedAt.UTC()
		v.Status, v.SuspendedAt = "suspended", &at
	}
	return v
}

// operatorLimit reads ?limit= (1..100), def when absent.
func operatorLimit(c echo.Context, def int) (int, error) {
	v := c.QueryParam("limit")
	if v == "" {
		return def, nil
	}
	return parseLimit(v)
}

func (s *Server) adminListTenants(c echo.Context) error {
	limit, err := operatorLimit(c, 50)
	if err != nil {
		return err
	}
	page, err := s.Operator.ListTenants(c.Request().Context(), c.QueryParam("search"), c.QueryParam("cursor"), limit)
	if err != nil {
		return err
	}
	items := make([]adminTenantView, len(page.Items))
	for i := range page.Items {
		items[i] = viewAdminTenant(&page.Items[i])
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
	t, err := s.Operator.CreateTenant(c.Request().Context(), principal(c), in.Slug, in.Name, meta(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, viewAdminTenant(t))
}

func (s *Server) adminGetTenant(c echo.Context) error {
	t, err := s.Operator.GetTenant(c.Request().Context(), c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewAdminTenant(t))
}

func (s *Server) adminUpdateTenant(c echo.Context) error {
	var in struct {
		Name               *string `json:"name"`
		AuditRetentionDays *int    `json:"audit_retention_days"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	t, err := s.Operator.UpdateTenant(c.Request().Context(), principal(c), c.Param("id"),
		identity.TenantUpdate{Name: in.Name, AuditRetentionDays: in.AuditRetentionDays}, meta(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewAdminTenant(t))
}

func (s *Server) adminSuspendTenant(c echo.Context) error {
	t, err := s.Operator.SuspendTenant(c.Request().Context(), principal(c), c.Param("id"), meta(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewAdminTenant(t))
}

func (s *Server) adminUnsuspendTenant(c echo.Context) error {
	t, err := s.Operator.UnsuspendTenant(c.Request().Context(), principal(c), c.Param("id"), meta(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewAdminTenant(t))
}

func (s *Server) adminDeleteTenant(c echo.Context) error {
	if err := s.Operator.DeleteTenant(c.Request().Context(), principal(c), c.Param("id"), meta(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// adminImpersonate gives a system admin a token acting as a user; the
// token's introspection carries act (RFC 8693 §4.1).
func (s *Server) adminImpersonate(c echo.Context) error {
	var in struct {
		TenantID string `json:"tenant_id"`
		UserID   string `json:"user_id"`
		Reason   string `json:"reason"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	p := principal(c)
	imp, err := s.Operator.Impersonate(c.Request().Context(), p, identity.ImpersonationInput{
		TenantID: in.TenantID, UserID: in.UserID, Reason: in.Reason, Meta: meta(c)})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{
		"access_token": imp.Token,
		"token_type":   "Bearer",
		"expires_in":   int64(time.Until(imp.ExpiresAt).Seconds()),
		"expires_at":   imp.ExpiresAt,
		"user":         viewUser(imp.User),
		"act":          map[string]any{"sub": p.UserID, "tenant_id": p.TenantID},
	})
}
