package handlers

import (
	"errors"
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// invitationPage shows the invitation of a link and the form to accept it:
// name and password for a new account, one button for an existing one.
func (s *Server) invitationPage(c echo.Context) error {
	return s.renderInvitation(c, http.StatusOK, c.QueryParam("token"), "", "")
}

// renderInvitation renders the accept page of token, or a plain message
// when the link cannot be used.
func (s *Server) renderInvitation(c echo.Context, status int, token, name, errMsg string) error {
	c.Response().Header().Set("Referrer-Policy", "no-referrer")
	l, err := s.Invitations.Lookup(c.Request().Context(), token)
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			return s.renderMessage(c, http.StatusNotFound, "Invitation not found",
				"This invitation link is not valid. It may have been replaced by a newer one: check your e-mail, or ask for a new invitation.", true)
		}
		return err
	}
	switch l.Status {
	case models.InvitationAccepted:
		return s.renderMessage(c, http.StatusConflict, "Invitation already used", "This invitation has already been accepted. Sign in instead.", true)
	case models.InvitationRevoked:
		return s.renderMessage(c, http.StatusConflict, "Invitation withdrawn", "This invitation was withdrawn. Ask the person who invited you.", true)
	case models.InvitationExpired:
		return s.renderMessage(c, http.StatusConflict, "Invitation expired", "This invitation has expired. Ask the person who invited you for a new one.", true)
	}
	return s.render(c, status, "invitation", map[string]any{
		"Title": "Join " + l.TenantName, "CSRF": csrfToken(c), "Token": token, "Inviter": l.InviterName, "Company": l.TenantName,
		"Email": l.Email, "Roles": l.Roles, "Expires": l.ExpiresAt.Format("2 January 2006"), "HasAccount": l.HasAccount,
		"Name": name, "Rules": identity.PasswordRules, "Error": errMsg,
	})
}

// invitationSubmit accepts the invitation through the one implementation
// (identity.Invitations.Accept): a new account is signed in with a browser
// session; an existing account gets the roles and is sent to sign in.
func (s *Server) invitationSubmit(c echo.Context) error {
	token, name, pw := c.FormValue("token"), strings.TrimSpace(c.FormValue("name")), c.FormValue("password")
	l, err := s.Invitations.Lookup(c.Request().Context(), token)
	if err != nil || l.Status != models.InvitationPending {
		return s.renderInvitation(c, http.StatusConflict, token, name, "")
	}
	if !l.HasAccount && pw != c.FormValue("confirm_password") {
		return s.renderInvitation(c, http.StatusUnprocessableEntity, token, name, "The two passwords differ. Type the same password twice.")
	}
	res, err := s.Invitations.Accept(c.Request().Context(), identity.AcceptInput{Token: token, Name: name, Password: pw, Browser: true, Meta: meta(c)})
	if err != nil {
		var me *models.Error
		if errors.As(err, &me) && me.Kind != models.KindInternal {
			msg := me.Msg
			if len(me.Fields) > 0 {
				var parts []string
				for _, r := range identity.PasswordRules {
					if m, ok := me.Fields["password."+r.Code]; ok {
						parts = append(parts, m)
					}
				}
				for _, f := range []string{"name", "password"} {
					if m, ok := me.Fields[f]; ok {
						parts = append(parts, m)
					}
				}
				if len(parts) > 0 {
					msg = strings.Join(parts, " ")
				}
			}
			if me.Kind == models.KindConflict {
				return s.renderInvitation(c, http.StatusConflict, token, name, msg)
			}
			return s.renderInvitation(c, http.StatusUnprocessableEntity, token, name, msg)
		}
		return err
	}
	if res.SignIn == nil {
		return c.Redirect(http.StatusSeeOther, "/login?tenant="+url.QueryEscape(l.TenantSlug))
	}
	return s.loginNext(c, loginTarget{}, res.SignIn, "")
}
