package handlers

import (
	"net/http"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
)

// The profile page (/account/profile): server-rendered, every action a
// CSRF-protected form, usable without JavaScript. It calls the same
// service methods as PATCH /api/auth/me and POST /api/auth/me/phone/….

func (s *Server) profilePage(c echo.Context) error {
	p, ok := s.pagePrincipal(c)
	if !ok {
		return c.Redirect(http.StatusSeeOther, "/login")
	}
	return s.renderProfile(c, p, http.StatusOK, accountPageData{})
}

func (s *Server) renderProfile(c echo.Context, p identity.Principal, status int, d accountPageData) error {
	user, _, err := s.Account.Me(c.Request().Context(), p)
	if err != nil {
		return err
	}
	return s.render(c, status, "profile", map[string]any{
		"Title": "Your profile", "CSRF": csrfToken(c), "User": user, "Notice": d.notice, "Error": d.errMsg,
	})
}

// profileAction is accountAction for the profile page.
func (s *Server) profileAction(fn func(c echo.Context, p identity.Principal) (accountPageData, error)) echo.HandlerFunc {
	return s.pageAction(fn, s.renderProfile)
}

// profileSave saves the whole form: every text field as typed (an empty
// one clears it), the check boxes as on or off.
func (s *Server) profileSave(c echo.Context, p identity.Principal) (accountPageData, error) {
	text := func(k string) *string { v := c.FormValue(k); return &v }
	check := func(k string) *bool { v := c.FormValue(k) != ""; return &v }
	ch := identity.ProfileChange{Name: text("name"), GivenName: text("given_name"), FamilyName: text("family_name"),
		Locale: text("locale"), Zoneinfo: text("zoneinfo"), Picture: text("picture"), PhoneNumber: text("phone_number"),
		MarketingEmails: check("marketing_emails"), ProfileVisibleToColleagues: check("profile_visible_to_colleagues")}
	before, _, err := s.Account.Me(c.Request().Context(), p)
	if err != nil {
		return accountPageData{}, err
	}
	u, err := s.Account.UpdateMe(c.Request().Context(), p, ch, meta(c))
	if err != nil {
		return accountPageData{}, err
	}
	if u.PhoneNumber != "" && u.PhoneNumber != before.PhoneNumber {
		return accountPageData{notice: "Saved. We sent a code to " + u.PhoneNumber + " to confirm it."}, nil
	}
	return accountPageData{notice: "Your profile is saved."}, nil
}

func (s *Server) profileVerifyPhone(c echo.Context, p identity.Principal) (accountPageData, error) {
	_, err := s.Account.VerifyPhone(c.Request().Context(), p, c.FormValue("code"), meta(c))
	return accountPageData{notice: "Your phone number is confirmed."}, err
}

func (s *Server) profileResendPhone(c echo.Context, p identity.Principal) (accountPageData, error) {
	err := s.Account.ResendPhoneCode(c.Request().Context(), p)
	return accountPageData{notice: "We sent a new code. The earlier one no longer works."}, err
}
