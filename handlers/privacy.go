package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// ConsentService is what the signed-in person allowed applications to do
// (identity.Consents).
type ConsentService interface {
	// List returns the applications the person allowed, with their names.
	List(ctx context.Context, p identity.Principal) ([]models.ConsentListing, error)
	// Revoke withdraws the consent and ends that application's access for
	// the person; one never allowed is NotFound "consent".
	Revoke(ctx context.Context, p identity.Principal, clientID string, meta identity.Meta) error
}

// PrivacyService is a person's rights over their own data
// (identity.Privacy).
type PrivacyService interface {
	// Export returns everything held about the signed-in person
	// (user.data_exported).
	Export(ctx context.Context, p identity.Principal, meta identity.Meta) (*identity.PersonalData, error)
	// EraseMe erases the signed-in person (step-up and password).
	EraseMe(ctx context.Context, a identity.Actor, password string) error
	// EraseUser erases a user of the actor's tenant.
	EraseUser(ctx context.Context, a identity.Actor, id string) error
}

// apiEraseMe erases the signed-in person for good (user.erased): it needs
// a step-up and the password in the body.
func (s *Server) apiEraseMe(c echo.Context) error {
	var in struct {
		Password string `json:"password"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	if err := s.Privacy.EraseMe(c.Request().Context(), a, in.Password); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// apiEraseUser erases a user of the principal's tenant (identity.users.erase).
func (s *Server) apiEraseUser(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	if err := s.Privacy.EraseUser(c.Request().Context(), a, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// apiExportMe downloads everything held about the signed-in person as one
// JSON document (docs/privacy.md lists its contents).
func (s *Server) apiExportMe(c echo.Context) error {
	d, err := s.Privacy.Export(c.Request().Context(), principal(c), meta(c))
	if err != nil {
		return err
	}
	h := c.Response().Header()
	h.Set("Cache-Control", "no-store")
	h.Set("Content-Disposition", `attachment; filename="personal-data.json"`)
	return c.JSON(http.StatusOK, d)
}

// consentView is one allowed application as the API shows it.
type consentView struct {
	ClientID   string    `json:"client_id"`
	ClientName string    `json:"client_name"`
	Scopes     []string  `json:"scopes"`
	GrantedAt  time.Time `json:"granted_at"`
	UpdatedAt  time.Time `json:"updated_at"`
}

func viewConsents(list []models.ConsentListing) []consentView {
	out := make([]consentView, 0, len(list))
	for _, c := range list {
		scopes := []string(c.Scopes)
		if scopes == nil {
			scopes = []string{}
		}
		out = append(out, consentView{ClientID: c.ClientID, ClientName: c.ClientName, Scopes: scopes,
			GrantedAt: c.CreatedAt, UpdatedAt: c.UpdatedAt})
	}
	return out
}

// apiListConsents lists the applications the signed-in person allowed.
func (s *Server) apiListConsents(c echo.Context) error {
	list, err := s.ConsentRegistry.List(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"consents": viewConsents(list)})
}

// apiRevokeConsent withdraws one (consent.revoked); the application's
// codes and tokens for the person stop working at once.
func (s *Server) apiRevokeConsent(c echo.Context) error {
	if err := s.ConsentRegistry.Revoke(c.Request().Context(), principal(c), c.Param("client_id"), meta(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// The applications page (/account/apps): server-rendered, every action a
// CSRF-protected form, usable without JavaScript.

// appView is one allowed application as the page shows it.
type appView struct {
	ClientID, Name string
	Scopes         []scopeView
	GrantedAt      time.Time
	UpdatedAt      time.Time
}

func (s *Server) appsPage(c echo.Context) error {
	p, ok := s.pagePrincipal(c)
	if !ok {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	return s.renderApps(c, p, http.StatusOK, accountPageData{})
}

func (s *Server) renderApps(c echo.Context, p identity.Principal, status int, d accountPageData) error {
	ctx := c.Request().Context()
	user, _, err := s.Account.Me(ctx, p)
	if err != nil {
		return err
	}
	list, err := s.ConsentRegistry.List(ctx, p)
	if err != nil {
		return err
	}
	apps := make([]appView, 0, len(list))
	for _, a := range list {
		name := a.ClientName
		if name == "" {
			name = a.ClientID
		}
		apps = append(apps, appView{ClientID: a.ClientID, Name: name, Scopes: describeScopes(a.Scopes),
			GrantedAt: a.CreatedAt, UpdatedAt: a.UpdatedAt})
	}
	return s.render(c, status, "apps", map[string]any{
		"Title": "Apps you allowed", "CSRF": csrfToken(c), "User": user, "Apps": apps, "Notice": d.notice, "Error": d.errMsg,
	})
}

// appsAction is accountAction for the applications page.
func (s *Server) appsAction(fn func(c echo.Context, p identity.Principal) (accountPageData, error)) echo.HandlerFunc {
	return s.pageAction(fn, s.renderApps)
}

func (s *Server) appsRevoke(c echo.Context, p identity.Principal) (accountPageData, error) {
	err := s.ConsentRegistry.Revoke(c.Request().Context(), p, c.FormValue("client_id"), meta(c))
	return accountPageData{notice: "Done. That app can no longer use your account. It will ask again if you use it."}, err
}
