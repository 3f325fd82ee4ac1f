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

// The forgotten-password pages (issue 10 part 11): /forgot-password asks for
// a reset code (identity.Password.Forgot, the same answer whether or not the
// account exists) and /reset-password sets a new password with it
// (identity.Password.Reset). Every state links back to sign-in.

// pageURL is path with the non-empty query values.
func pageURL(path string, kv ...string) string {
	q := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] != "" {
			q.Set(kv[i], kv[i+1])
		}
	}
	if len(q) == 0 {
		return path
	}
	return path + "?" + q.Encode()
}

func (s *Server) renderForgot(c echo.Context, status int, tenant, email, errMsg string, sent bool) error {
	return s.render(c, status, "forgot_password", map[string]any{
		"Title": "Forgot your password?", "CSRF": csrfToken(c), "Tenant": tenant, "Email": email,
		"Error": errMsg, "Sent": sent, "LoginURL": pageURL("/login", "tenant", tenant),
		"ForgotURL": pageURL("/forgot-password", "tenant", tenant, "email", email),
	})
}

func (s *Server) forgotPasswordPage(c echo.Context) error {
	return s.renderForgot(c, http.StatusOK, strings.TrimSpace(c.QueryParam("tenant")), strings.TrimSpace(c.QueryParam("email")), "", false)
}

// forgotPasswordSubmit answers every well-formed request with the same page,
// as the API answers 202 whatever the account; only the rate limit speaks.
func (s *Server) forgotPasswordSubmit(c echo.Context) error {
	tenant, email := strings.TrimSpace(c.FormValue("tenant")), strings.TrimSpace(c.FormValue("email"))
	if tenant == "" || email == "" {
		return s.renderForgot(c, http.StatusUnprocessableEntity, tenant, email, "Enter your organisation and your e-mail address.", false)
	}
	if err := s.Password.Forgot(c.Request().Context(), tenant, email, meta(c)); err != nil {
		var me *models.Error
		if errors.As(err, &me) && me.Kind == models.KindRateLimited {
			return s.renderForgot(c, http.StatusTooManyRequests, tenant, email, "You asked for too many codes. Wait a while, then try again.", false)
		}
		return err
	}
	return s.renderForgot(c, http.StatusOK, tenant, email, "", true)
}

// resetForm is what the reset page shows besides the form's values.
type resetForm struct {
	tenant, email, code string
	err, codeErr        string
	confirmErr          string
	passwordErrs        []string
	done                bool
}

func (s *Server) renderReset(c echo.Context, status int, f resetForm) error {
	// The page's URL may carry the code: no Referer leaves it.
	c.Response().Header().Set("Referrer-Policy", "no-referrer")
	return s.render(c, status, "reset_password", map[string]any{
		"Title": "Choose a new password", "CSRF": csrfToken(c), "Tenant": f.tenant, "Email": f.email, "Code": f.code,
		"Error": f.err, "CodeError": f.codeErr, "ConfirmError": f.confirmErr, "PasswordErrors": f.passwordErrs,
		"Rules": identity.PasswordRules, "Done": f.done,
		"LoginURL":  pageURL("/login", "tenant", f.tenant),
		"ForgotURL": pageURL("/forgot-password", "tenant", f.tenant, "email", f.email),
	})
}

func (s *Server) resetPasswordPage(c echo.Context) error {
	return s.renderReset(c, http.StatusOK, resetForm{tenant: strings.TrimSpace(c.QueryParam("tenant")),
		email: strings.TrimSpace(c.QueryParam("email")), code: strings.TrimSpace(c.QueryParam("code"))})
}

// resetPasswordSubmit runs identity.Password.Reset: a wrong, used or expired
// code (or an unknown account) is one answer at the code field; the policy
// speaks, rule by rule at the password field, only once the code is right.
func (s *Server) resetPasswordSubmit(c echo.Context) error {
	f := resetForm{tenant: strings.TrimSpace(c.FormValue("tenant")), email: strings.TrimSpace(c.FormValue("email")),
		code: strings.TrimSpace(c.FormValue("code"))}
	pw := c.FormValue("new_password")
	if pw != c.FormValue("confirm_password") {
		f.confirmErr = "The two passwords differ. Type the same new password twice."
		return s.renderReset(c, http.StatusUnprocessableEntity, f)
	}
	err := s.Password.Reset(c.Request().Context(), f.tenant, f.email, f.code, pw, meta(c))
	if err == nil {
		return s.renderReset(c, http.StatusOK, resetForm{tenant: f.tenant, done: true})
	}
	var me *models.Error
	if !errors.As(err, &me) {
		return err
	}
	switch {
	case me.Code == models.CodeInvalidCode:
		f.code, f.codeErr = "", "This code is not correct, was already used, or has expired."
		return s.renderReset(c, http.StatusUnauthorized, f)
	case me.Kind == models.KindInvalid && len(me.Fields) > 0:
		f.err, f.passwordErrs = "Your new password needs a change:", sortedValues(me.Fields)
		return s.renderReset(c, http.StatusUnprocessableEntity, f)
	case me.Kind == models.KindRateLimited || me.Kind == models.KindLocked:
		f.err = "Too many tries. Wait a while, then try again."
		return s.renderReset(c, http.StatusTooManyRequests, f)
	}
	return err
}
