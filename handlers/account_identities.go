package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
)

// LinkedIdentityService is the signed-in person's linked upstream
// identities (identity.LinkedIdentities, issue 12 §1).
type LinkedIdentityService interface {
	List(ctx context.Context, p identity.Principal) ([]identity.LinkedIdentity, error)
	Summary(ctx context.Context, p identity.Principal) (*identity.LinkedSummary, error)
	Unlink(ctx context.Context, p identity.Principal, id, password string, meta identity.Meta) error
}

// linkedIdentityView is a linked identity as the account API shows it: the
// provider and the upstream e-mail, never the upstream subject.
type linkedIdentityView struct {
	ID           string     `json:"id"`
	ProviderID   string     `json:"provider_id"`
	ProviderName string     `json:"provider_name"`
	Email        string     `json:"email"`
	CreatedAt    time.Time  `json:"created_at"`
	LastLoginAt  *time.Time `json:"last_login_at"`
}

func (s *Server) apiMyIdentities(c echo.Context) error {
	list, err := s.LinkedIdentities.List(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	out := make([]linkedIdentityView, 0, len(list))
	for _, i := range list {
		out = append(out, linkedIdentityView{ID: i.ID, ProviderID: i.ProviderID, ProviderName: i.ProviderName, Email: i.Email,
			CreatedAt: i.CreatedAt, LastLoginAt: i.LastLoginAt})
	}
	return c.JSON(http.StatusOK, map[string]any{"identities": out})
}

// apiUnlinkMyIdentity unlinks one: the body may carry {"password"} (an
// account with a password needs it, or a password step-up).
func (s *Server) apiUnlinkMyIdentity(c echo.Context) error {
	var in struct {
		Password string `json:"password"`
	}
	if c.Request().ContentLength != 0 {
		if err := bind(c, &in); err != nil {
			return err
		}
	}
	if err := s.LinkedIdentities.Unlink(c.Request().Context(), principal(c), c.Param("id"), in.Password, meta(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// linkedSignIn adds the "Linked sign-in" section's data to the account
// page.
func (s *Server) linkedSignIn(ctx context.Context, p identity.Principal, data map[string]any) error {
	sum, err := s.LinkedIdentities.Summary(ctx, p)
	if err != nil {
		return err
	}
	data["Linked"] = sum
	return nil
}

// accountUnlinkIdentity is the page's Unlink button.
func (s *Server) accountUnlinkIdentity(c echo.Context, p identity.Principal) (accountPageData, error) {
	err := s.LinkedIdentities.Unlink(c.Request().Context(), p, c.Param("id"), c.FormValue("password"), meta(c))
	return accountPageData{notice: "That sign-in method is unlinked: it no longer signs you in to this account."}, err
}
