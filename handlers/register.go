package handlers

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// Sign-up (issue 10 §1): POST /api/auth/register and the page /register,
// both through identity.Registration.Register.

// RegistrationService is sign-up (identity.Registration).
type RegistrationService interface {
	Register(ctx context.Context, in identity.RegisterInput) (*identity.Registered, error)
	Options() identity.RegistrationOptions
}

// apiRegister signs a person up. The answer is 201 with the tenant and
// the address, never a user id and never a token: the person verifies the
// address, then signs in. An address that already has an account in the
// tenant joined gets the very same answer (its owner is e-mailed).
func (s *Server) apiRegister(c echo.Context) error {
	var in struct {
		Email       string `json:"email"`
		Password    string `json:"password"`
		Name        string `json:"name"`
		CompanyName string `json:"company_name"`
		CompanySlug string `json:"company_slug"`
		Tenant      string `json:"tenant"`
		Locale      string `json:"locale"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	r, err := s.Registration.Register(c.Request().Context(), identity.RegisterInput{Email: in.Email, Password: in.Password, Name: in.Name,
		CompanyName: in.CompanyName, CompanySlug: in.CompanySlug, Tenant: in.Tenant, Locale: in.Locale, Meta: meta(c)})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, map[string]any{"tenant_id": r.TenantID, "tenant_slug": r.TenantSlug, "email": r.Email,
		"tenant_created": r.NewTenant, "email_verification_required": true})
}

// registerForm is what the sign-up page shows besides its options.
type registerForm struct {
	mode                                          string // "company" or "join"
	companyName, companySlug, tenant, name, email string
	err                                           string
	problems                                      []string
	done                                          *identity.Registered
}

func (s *Server) renderRegister(c echo.Context, status int, f registerForm) error {
	opts := s.Registration.Options()
	data := map[string]any{"Title": "Create an account", "CSRF": csrfToken(c), "Enabled": opts.Enabled,
		"CompanyCreation": opts.CompanyCreation, "Mode": f.mode, "CompanyName": f.companyName, "CompanySlug": f.companySlug,
		"Tenant": f.tenant, "Name": f.name, "Email": f.email, "Error": f.err, "Problems": f.problems,
		"Rules": identity.PasswordRules, "LoginURL": pageURL("/login", "tenant", f.tenant)}
	if f.mode == "join" {
		data["Title"] = "Join your organisation"
	}
	if d := f.done; d != nil {
		data["Title"], data["Done"] = "Check your e-mail", true
		data["Email"], data["TenantName"], data["TenantSlug"], data["NewTenant"] = d.Email, d.TenantName, d.TenantSlug, d.NewTenant
		data["LoginURL"] = pageURL("/login", "tenant", d.TenantSlug)
	}
	if !opts.Enabled {
		data["Title"] = "Sign-up is not available"
	}
	return s.render(c, status, "register", data)
}

// registerPage shows the sign-up form: a new organisation by default
// (when the deployment allows it), joining one with ?join=1 or ?tenant=.
func (s *Server) registerPage(c echo.Context) error {
	opts := s.Registration.Options()
	f := registerForm{mode: "company", tenant: strings.TrimSpace(c.QueryParam("tenant"))}
	if !opts.CompanyCreation || f.tenant != "" || c.QueryParam("join") != "" {
		f.mode = "join"
	}
	status := http.StatusOK
	if !opts.Enabled {
		status = http.StatusNotFound
	}
	return s.renderRegister(c, status, f)
}

// registerSubmit signs up through the one implementation and shows
// "check your e-mail", or the form again with what to change in plain
// words.
func (s *Server) registerSubmit(c echo.Context) error {
	f := registerForm{mode: "join", tenant: strings.TrimSpace(c.FormValue("tenant")), name: strings.TrimSpace(c.FormValue("name")),
		email: strings.TrimSpace(c.FormValue("email"))}
	if c.FormValue("mode") == "company" {
		f.mode, f.tenant = "company", ""
		f.companyName, f.companySlug = strings.TrimSpace(c.FormValue("company_name")), strings.TrimSpace(c.FormValue("company_slug"))
	}
	if !s.Registration.Options().Enabled {
		return s.renderRegister(c, http.StatusForbidden, f)
	}
	pw := c.FormValue("password")
	switch {
	case f.mode == "company" && f.companyName == "":
		f.err = "Enter the name of your organisation."
	case f.mode == "join" && f.tenant == "":
		f.err = "Enter the short name of the organisation you want to join."
	case pw != c.FormValue("confirm_password"):
		f.err = "The two passwords differ. Type the same password twice."
	}
	if f.err != "" {
		return s.renderRegister(c, http.StatusUnprocessableEntity, f)
	}
	r, err := s.Registration.Register(c.Request().Context(), identity.RegisterInput{Email: f.email, Password: pw, Name: f.name,
		CompanyName: f.companyName, CompanySlug: f.companySlug, Tenant: f.tenant, Meta: meta(c)})
	if err == nil {
		return s.renderRegister(c, http.StatusOK, registerForm{mode: f.mode, done: r})
	}
	var me *models.Error
	if !errors.As(err, &me) {
		return err
	}
	switch {
	case me.Kind == models.KindInvalid && len(me.Fields) > 0:
		f.err, f.problems = "Please change this and try again:", sortedValues(me.Fields)
		return s.renderRegister(c, http.StatusUnprocessableEntity, f)
	case me.Code == models.CodeSlugTaken:
		if f.companySlug == "" {
			f.companySlug = identity.DeriveSlug(f.companyName)
		}
		f.err = "Another organisation already uses the short name " + f.companySlug + ". Choose another short name below."
		return s.renderRegister(c, http.StatusConflict, f)
	case me.Kind == models.KindForbidden:
		if me.Code == models.CodeCompanySignupDisabled {
			f.mode = "join"
		}
		f.err = me.Msg
		return s.renderRegister(c, http.StatusForbidden, f)
	case me.Kind == models.KindRateLimited:
		f.err = "Too many sign-ups from your network. Wait a while, then try again."
		return s.renderRegister(c, http.StatusTooManyRequests, f)
	}
	return err
}
