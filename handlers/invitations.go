package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// InvitationService is the tenant's invitations (identity.Invitations).
// Another tenant's invitation is NotFound.
type InvitationService interface {
	Create(ctx context.Context, a identity.Actor, in identity.NewInvitation) (*identity.InvitationView, error)
	List(ctx context.Context, tenantID string, q identity.InvitationQuery) (*identity.InvitationPage, error)
	Get(ctx context.Context, tenantID, id string) (*identity.InvitationView, error)
	Revoke(ctx context.Context, a identity.Actor, id string) error
	Resend(ctx context.Context, a identity.Actor, id string) (*identity.InvitationView, error)
	Lookup(ctx context.Context, token string) (*identity.InvitationLookup, error)
	Accept(ctx context.Context, in identity.AcceptInput) (*identity.Accepted, error)
}

// invitationView is an invitation as the API shows it (never its token).
type invitationView struct {
	ID         string     `json:"id"`
	Email      string     `json:"email"`
	Roles      []string   `json:"roles"`
	RoleNames  []string   `json:"role_names"`
	Message    string     `json:"message"`
	InviterID  *string    `json:"inviter_id"`
	Status     string     `json:"status"`
	ExpiresAt  time.Time  `json:"expires_at"`
	AcceptedAt *time.Time `json:"accepted_at,omitempty"`
	RevokedAt  *time.Time `json:"revoked_at,omitempty"`
	CreatedAt  time.Time  `json:"created_at"`
}

func viewInvitation(v *identity.InvitationView) invitationView {
	roles := []string(v.Roles)
	if roles == nil {
		roles = []string{}
	}
	return invitationView{ID: v.ID, Email: v.Email, Roles: roles, RoleNames: v.RoleNames, Message: v.Message, InviterID: v.InviterID,
		Status: v.Status, ExpiresAt: v.ExpiresAt, AcceptedAt: v.AcceptedAt, RevokedAt: v.RevokedAt, CreatedAt: v.CreatedAt}
}

// apiCreateInvitation invites a person with roles the caller could assign.
func (s *Server) apiCreateInvitation(c echo.Context) error {
	var in struct {
		Email   string   `json:"email"`
		Roles   []string `json:"roles"`
		Message string   `json:"message"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	v, err := s.Invitations.Create(c.Request().Context(), a, identity.NewInvitation{Email: in.Email, Roles: in.Roles, Message: in.Message})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusCreated, viewInvitation(v))
}

func (s *Server) apiListInvitations(c echo.Context) error {
	fields := map[string]string{}
	q := identity.InvitationQuery{Status: c.QueryParam("status")}
	q.Page, q.PerPage = parseIntParam(c, "page", fields), parseIntParam(c, "per_page", fields)
	if len(fields) > 0 {
		return models.ErrInvalid(fields)
	}
	page, err := s.Invitations.List(c.Request().Context(), principal(c).TenantID, q)
	if err != nil {
		return err
	}
	out := make([]invitationView, 0, len(page.Invitations))
	for k := range page.Invitations {
		out = append(out, viewInvitation(&page.Invitations[k]))
	}
	return c.JSON(http.StatusOK, map[string]any{"invitations": out, "page": page.Page, "per_page": page.PerPage, "total": page.Total})
}

func (s *Server) apiGetInvitation(c echo.Context) error {
	v, err := s.Invitations.Get(c.Request().Context(), principal(c).TenantID, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewInvitation(v))
}

func (s *Server) apiRevokeInvitation(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	if err := s.Invitations.Revoke(c.Request().Context(), a, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiResendInvitation(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	v, err := s.Invitations.Resend(c.Request().Context(), a, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewInvitation(v))
}

// apiLookupInvitation tells the holder of a link what it invites to.
func (s *Server) apiLookupInvitation(c echo.Context) error {
	l, err := s.Invitations.Lookup(c.Request().Context(), c.QueryParam("token"))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	roles := l.Roles
	if roles == nil {
		roles = []string{}
	}
	return c.JSON(http.StatusOK, map[string]any{"tenant_name": l.TenantName, "tenant": l.TenantSlug, "inviter_name": l.InviterName,
		"email": l.Email, "roles": roles, "status": l.Status, "expires_at": l.ExpiresAt, "has_account": l.HasAccount})
}

// apiAcceptInvitation accepts a link: a new account is signed in (the
// answer of POST /api/auth/login); an existing account gets the roles and
// signs in as usual ({"signed_in": false}).
func (s *Server) apiAcceptInvitation(c echo.Context) error {
	var in struct {
		Token      string `json:"token"`
		Name       string `json:"name"`
		Password   string `json:"password"`
		DeviceName string `json:"device_name"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	res, err := s.Invitations.Accept(c.Request().Context(), identity.AcceptInput{Token: in.Token, Name: in.Name, Password: in.Password,
		DeviceName: in.DeviceName, Meta: meta(c)})
	if err != nil {
		return err
	}
	if res.SignIn != nil {
		return loginResponse(c, res.SignIn)
	}
	return c.JSON(http.StatusOK, map[string]any{"signed_in": false, "user": viewUser(res.User)})
}
