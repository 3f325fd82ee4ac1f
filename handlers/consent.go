package handlers

import (
	"net/http"
	"net/url"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"
)

type scopeView struct{ Name, Description string }

var scopeDescriptions = map[string]string{
	"openid":         "Confirm who you are",
	"offline_access": "Stay connected when you are away",
	"email":          "See your e-mail address",
	"profile":        "See your name, language, time zone and picture",
	"phone":          "See your phone number",
}

func describeScopes(scopes []string) []scopeView {
	out := make([]scopeView, 0, len(scopes))
	for _, sc := range scopes {
		d, ok := scopeDescriptions[sc]
		if !ok {
			d = "Use “" + sc + "”"
		}
		out = append(out, scopeView{Name: sc, Description: d})
	}
	return out
}

// consentPage lists what the client asks for. Without a login it sends the
// browser to sign in first.
func (s *Server) consentPage(c echo.Context) error {
	signed := c.QueryParam("return_to")
	u, ok := s.verifyReturnTo(signed)
	if !ok {
		return s.renderMessage(c, http.StatusBadRequest, "Link not valid", "This consent link is not valid. Start again from the application.", true)
	}
	ls, user := s.currentLogin(c)
	if ls == nil {
		return c.Redirect(http.StatusSeeOther, "/login?return_to="+url.QueryEscape(signed))
	}
	t := s.loginTarget(c, signed)
	return s.renderPage(c, http.StatusOK, "consent", map[string]any{
		"Title": "Allow access?", "CSRF": csrfToken(c), "ReturnTo": signed,
		"ClientName": t.clientName, "Email": user.Email,
		"Scopes": describeScopes(strings.Fields(u.Query().Get("scope"))),
	}, t.formTargets)
}

// consentSubmit records an allow and goes back to the authorization request,
// or answers the client with access_denied.
func (s *Server) consentSubmit(c echo.Context) error {
	ctx := c.Request().Context()
	u, ok := s.verifyReturnTo(c.FormValue("return_to"))
	if !ok {
		return s.renderMessage(c, http.StatusBadRequest, "Link not valid", "This consent link is not valid. Start again from the application.", true)
	}
	ls, user := s.currentLogin(c)
	if ls == nil {
		return c.Redirect(http.StatusSeeOther, "/login?return_to="+url.QueryEscape(c.FormValue("return_to")))
	}
	q := u.Query()
	switch c.FormValue("decision") {
	case "allow":
		cl, err := s.Clients.GetClient(ctx, q.Get("client_id"))
		if err != nil {
			return s.renderMessage(c, http.StatusBadRequest, "Link not valid", "The application is not known.", true)
		}
		tc, ok := cl.(tenantClient)
		if !ok || tc.GetTenantID() != ls.TenantID {
			return s.renderMessage(c, http.StatusBadRequest, "Link not valid", "The application is not known.", true)
		}
		if err := s.consent.Record(ctx, ls.TenantID, user.ID, cl.GetID(), strings.Fields(q.Get("scope"))); err != nil {
			return err
		}
		rt, ok := s.requestTime(q.Get(loginCtxParam), s.Now().UTC())
		if ok {
			q.Set(consentCtxParam, s.consent.Marker(user.ID, rt))
		}
		return c.Redirect(http.StatusSeeOther, authorizePath+"?"+q.Encode())
	case "deny":
		r, err := http.NewRequestWithContext(ctx, http.MethodGet, u.String(), nil)
		if err != nil {
			return err
		}
		ar, err := s.Provider.NewAuthorizeRequest(ctx, r)
		if err != nil {
			s.authorizeError(c, ar, err)
			return nil
		}
		s.authorizeError(c, ar, fosite.ErrAccessDenied.WithHint("The user denied the request."))
		return nil
	default:
		return s.renderMessage(c, http.StatusBadRequest, "Choose", "Choose Allow or Deny.", true)
	}
}
