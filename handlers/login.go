package handlers

import (
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identity/identity/identity"
	"github.com/identity/identity/models"
)

// loginTarget is what a signed return_to tells the login page: where to go
// back to, and the client's tenant and name when the flow came from a client.
type loginTarget struct {
	signed     string
	path       string
	tenantSlug string
	clientName string
	// formTargets are the CSP sources of the client's redirect URIs.
	formTargets []string
}

func (s *Server) loginTarget(c echo.Context, signed string) loginTarget {
	u, ok := s.verifyReturnTo(signed)
	if !ok {
		return loginTarget{}
	}
	t := loginTarget{signed: signed, path: u.String()}
	ctx := c.Request().Context()
	if cl, err := s.Clients.GetClient(ctx, u.Query().Get("client_id")); err == nil {
		if tc, ok := cl.(tenantClient); ok {
			if tenant, err := s.Tenants.GetTenant(ctx, tc.GetTenantID()); err == nil {
				t.tenantSlug = tenant.Slug
			}
		}
		if n, ok := cl.(interface{ GetName() string }); ok {
			t.clientName = n.GetName()
		}
		if t.clientName == "" {
			t.clientName = cl.GetID()
		}
		t.formTargets = redirectSources(cl.GetRedirectURIs())
	}
	return t
}

func (s *Server) loginPage(c echo.Context) error {
	t := s.loginTarget(c, c.QueryParam("return_to"))
	tenant := t.tenantSlug
	if tenant == "" {
		tenant = c.QueryParam("tenant")
	}
	return s.renderLogin(c, http.StatusOK, t, tenant, "", "")
}

func (s *Server) renderLogin(c echo.Context, status int, t loginTarget, tenant, email, errMsg string) error {
	return s.renderPage(c, status, "login", map[string]any{
		"Title": "Sign in", "CSRF": csrfToken(c), "ReturnTo": t.signed,
		"Tenant": tenant, "TenantLocked": t.tenantSlug != "", "Email": email,
		"ClientName": t.clientName, "Error": errMsg,
	}, t.formTargets)
}

// loginSubmit checks the password and starts a browser session. Every
// failure shows the same sentence, whatever was wrong.
func (s *Server) loginSubmit(c echo.Context) error {
	ctx := c.Request().Context()
	t := s.loginTarget(c, c.FormValue("return_to"))
	tenant := strings.TrimSpace(c.FormValue("tenant"))
	if t.tenantSlug != "" {
		tenant = t.tenantSlug
	}
	email := strings.TrimSpace(c.FormValue("email"))
	user, err := s.Login.Authenticate(ctx, tenant, email, c.FormValue("password"))
	if err != nil {
		if models.IsKind(err, models.KindUnauthenticated) {
			return s.renderLogin(c, http.StatusUnauthorized, t, tenant, email, identity.ErrBadCredentials().Msg)
		}
		return err
	}
	if ck, err := c.Cookie(sessionCookie); err == nil {
		_ = s.Login.EndSession(ctx, ck.Value) // a new login never reuses a session token
	}
	remember := c.FormValue("remember") != ""
	bs, err := s.Login.StartSession(ctx, user, remember)
	if err != nil {
		return err
	}
	ck := &http.Cookie{Name: sessionCookie, Value: bs.Token, Path: "/", HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode}
	if remember {
		ck.Expires = bs.Session.ExpiresAt
		ck.MaxAge = int(time.Until(bs.Session.ExpiresAt).Seconds())
	}
	c.SetCookie(ck)
	if t.path != "" {
		return c.Redirect(http.StatusSeeOther, t.path)
	}
	return s.renderMessage(c, http.StatusOK, "Signed in", "You are signed in as "+user.Email+".", false)
}

func (s *Server) logoutPage(c echo.Context) error {
	ls, user := s.currentLogin(c)
	data := map[string]any{"Title": "Sign out", "CSRF": csrfToken(c), "SignedIn": ls != nil}
	if user != nil {
		data["Email"] = user.Email
	}
	return s.render(c, http.StatusOK, "logout", data)
}

func (s *Server) logoutSubmit(c echo.Context) error {
	if ck, err := c.Cookie(sessionCookie); err == nil {
		if err := s.Login.EndSession(c.Request().Context(), ck.Value); err != nil {
			return err
		}
	}
	c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	return s.renderMessage(c, http.StatusOK, "Signed out", "You are signed out.", false)
}
