package handlers

import (
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// The caller's own tenant (issue 10 §3): GET and PATCH /api/tenant. The
// tenant is the principal's; the system admins' routes for any tenant are
// in tenants.go.

type ownTenantView struct {
	ID            string       `json:"id"`
	Slug          string       `json:"slug"`
	Name          string       `json:"name"`
	Description   string       `json:"description"`
	Website       string       `json:"website"`
	LogoURL       string       `json:"logo_url"`
	PrimaryColour string       `json:"primary_colour"`
	DefaultLocale string       `json:"default_locale"`
	Settings      settingsView `json:"settings"`
	// DeletionScheduledAt and DeletesAt are set while the tenant's own
	// deletion is pending (null otherwise).
	DeletionScheduledAt *time.Time `json:"deletion_scheduled_at"`
	DeletesAt           *time.Time `json:"deletes_at"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
}

// settingsView is identity.TenantSettings with the audit retention
// (its own column).
type settingsView struct {
	identity.TenantSettings
	AuditRetentionDays int `json:"audit_retention_days"`
}

func viewOwnTenant(t *models.Tenant) ownTenantView {
	st := identity.SettingsOf(t)
	return ownTenantView{ID: t.ID, Slug: t.Slug, Name: t.Name, Description: t.Description, Website: t.Website,
		LogoURL: t.LogoURL, PrimaryColour: t.PrimaryColour, DefaultLocale: t.DefaultLocale,
		Settings:            settingsView{TenantSettings: st, AuditRetentionDays: st.AuditRetentionDays},
		DeletionScheduledAt: utcOrNil(t.DeletionScheduledAt), DeletesAt: utcOrNil(t.DeletesAt),
		CreatedAt: t.CreatedAt.UTC(), UpdatedAt: t.UpdatedAt.UTC()}
}

func utcOrNil(t *time.Time) *time.Time {
	if t == nil {
		return nil
	}
	u := t.UTC()
	return &u
}

func (s *Server) apiOwnTenant(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	t, err := s.TenantRegistry.Own(c.Request().Context(), a)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewOwnTenant(t))
}

func (s *Server) apiUpdateOwnTenant(c echo.Context) error {
	// No tenant_id, slug or id field: the tenant is the principal's, and
	// the binder ignores what it does not name.
	var in struct {
		Name          *string `json:"name"`
		Description   *string `json:"description"`
		Website       *string `json:"website"`
		LogoURL       *string `json:"logo_url"`
		PrimaryColour *string `json:"primary_colour"`
		DefaultLocale *string `json:"default_locale"`
		Settings      *struct {
			SelfRegistration      *bool     `json:"self_registration"`
			DefaultRole           *string   `json:"default_role"`
			AllowUnverifiedSignIn *bool     `json:"allow_unverified_sign_in"`
			AuditRetentionDays    *int      `json:"audit_retention_days"`
			PasswordMinLength     *int      `json:"password_min_length"`
			SessionTTLSeconds     *int      `json:"session_ttl_seconds"`
			RememberTTLSeconds    *int      `json:"remember_ttl_seconds"`
			Require2FARoles       *[]string `json:"require_2fa_roles"`
		} `json:"settings"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	p := identity.TenantProfile{Name: in.Name,
		Description: in.Description, Website: in.Website, LogoURL: in.LogoURL, PrimaryColour: in.PrimaryColour,
		DefaultLocale: in.DefaultLocale}
	if st := in.Settings; st != nil {
		p.Settings = &identity.TenantSettingsPatch{SelfRegistration: st.SelfRegistration, DefaultRole: st.DefaultRole,
			AllowUnverifiedSignIn: st.AllowUnverifiedSignIn, AuditRetentionDays: st.AuditRetentionDays,
			PasswordMinLength: st.PasswordMinLength, SessionTTLSeconds: st.SessionTTLSeconds, RememberTTLSeconds: st.RememberTTLSeconds,
			Require2FARoles: st.Require2FARoles}
	}
	t, err := s.TenantRegistry.UpdateOwn(c.Request().Context(), a, p)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewOwnTenant(t))
}

// apiDeleteOwnTenant schedules the deletion of the caller's own tenant
// (identity.tenants.delete, a danger action): the body names the tenant's
// slug to confirm. 202: it happens at deletes_at, unless an Owner restores
// it first; every token of the tenant (the caller's too) ends now.
func (s *Server) apiDeleteOwnTenant(c echo.Context) error {
	var in struct {
		Confirm string `json:"confirm"`
	}
	if c.Request().ContentLength != 0 {
		if err := bind(c, &in); err != nil {
			return err
		}
	}
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	t, err := s.TenantRegistry.ScheduleOwnDeletion(c.Request().Context(), a, in.Confirm)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, viewOwnTenant(t))
}

// apiRestoreOwnTenant cancels the pending deletion of the caller's own
// tenant (identity.tenants.delete, a danger action).
func (s *Server) apiRestoreOwnTenant(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	t, err := s.TenantRegistry.RestoreOwn(c.Request().Context(), a)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewOwnTenant(t))
}
