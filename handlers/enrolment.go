package handlers

import (
	"errors"
	"html/template"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// The forced second-factor enrolment step of a login (a tenant's
// settings.require_2fa_roles): POST /api/auth/login answers
// {"two_factor_enrolment_required": true, "challenge", "methods"} like the
// other steps, and these routes, public like /api/auth/2fa/verify and
// authenticated by the challenge, enrol the factor and complete the login.

type enrolmentBody struct {
	Challenge string `json:"challenge"`
	Code      string `json:"code"`
}

func bindEnrolment(c echo.Context, needCode bool) (enrolmentBody, error) {
	var in enrolmentBody
	if err := bind(c, &in); err != nil {
		return in, err
	}
	bad := map[string]string{}
	if in.Challenge == "" {
		bad["challenge"] = "Required."
	}
	if needCode && strings.TrimSpace(in.Code) == "" {
		bad["code"] = "Required."
	}
	if len(bad) > 0 {
		return in, models.ErrInvalid(bad)
	}
	return in, nil
}

func (s *Server) apiEnrolTOTPSetup(c echo.Context) error {
	in, err := bindEnrolment(c, false)
	if err != nil {
		return err
	}
	setup, err := s.Login.EnrolmentSetupTOTP(c.Request().Context(), in.Challenge, false)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, setup)
}

func (s *Server) apiEnrolTOTP(c echo.Context) error {
	in, err := bindEnrolment(c, true)
	if err != nil {
		return err
	}
	res, err := s.Login.EnrolTOTP(c.Request().Context(), identity.EnrolmentInput{Challenge: in.Challenge, Code: in.Code, Meta: meta(c)})
	if err != nil {
		return err
	}
	return loginResponse(c, res)
}

func (s *Server) apiEnrolEmailSend(c echo.Context) error {
	in, err := bindEnrolment(c, false)
	if err != nil {
		return err
	}
	if err := s.Login.EnrolmentSendEmailCode(c.Request().Context(), in.Challenge, meta(c)); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]any{"sent": true})
}

func (s *Server) apiEnrolEmail(c echo.Context) error {
	in, err := bindEnrolment(c, true)
	if err != nil {
		return err
	}
	res, err := s.Login.EnrolEmail(c.Request().Context(), identity.EnrolmentInput{Challenge: in.Challenge, Code: in.Code, Meta: meta(c)})
	if err != nil {
		return err
	}
	return loginResponse(c, res)
}

// renderEnrolment shows the forced enrolment page: the authenticator key
// as text, its otpauth link and a QR code (a PNG data URI: no script), the
// code form, the e-mail alternative, and a way out (sign out). again keeps
// the key shown before (after a wrong code).
func (s *Server) renderEnrolment(c echo.Context, t loginTarget, challenge string, again bool, emailSent bool, errMsg string) error {
	data := map[string]any{
		"Title": "Set up two-step verification", "CSRF": csrfToken(c), "ReturnTo": t.signed, "Next": t.next,
		"Challenge": challenge, "Error": errMsg, "EmailSent": emailSent,
	}
	if !emailSent {
		setup, err := s.Login.EnrolmentSetupTOTP(c.Request().Context(), challenge, again)
		if err != nil {
			var me *models.Error
			if errors.As(err, &me) && me.Kind != models.KindInternal {
				return s.renderLogin(c, http.StatusUnauthorized, t, t.tenantSlug, "", me.Msg)
			}
			return err
		}
		data["Setup"] = setup
		// Both built here (a PNG data URI, an otpauth URI of our issuer and
		// the user's address, URL-encoded): html/template would blank
		// their schemes.
		data["SetupQR"] = template.URL(setup.QRCode)
		data["OTPAuthURL"] = template.URL(setup.OTPAuthURI)
	}
	return s.renderPage(c, http.StatusOK, "twofactor_enrol", data, t.formTargets)
}

// enrolSubmit confirms the factor of the enrolment page: the authenticator
// app's code, or (method=email) the e-mailed code; then the login goes on
// to the recovery codes and from there where it was going.
func (s *Server) enrolSubmit(c echo.Context) error {
	t := s.loginTarget(c, c.FormValue("return_to"))
	challenge := c.FormValue("challenge")
	email := c.FormValue("method") == "email"
	in := identity.EnrolmentInput{Challenge: challenge, Code: strings.TrimSpace(c.FormValue("code")), Meta: meta(c)}
	var res *identity.LoginResult
	var err error
	if email {
		res, err = s.Login.EnrolEmail(c.Request().Context(), in)
	} else {
		res, err = s.Login.EnrolTOTP(c.Request().Context(), in)
	}
	if err != nil {
		var me *models.Error
		if errors.As(err, &me) && me.Kind != models.KindInternal {
			if me.Code == models.CodeInvalidChallenge || me.Kind == models.KindForbidden || me.Kind == models.KindConflict {
				return s.renderLogin(c, http.StatusUnauthorized, t, t.tenantSlug, "", me.Msg)
			}
			return s.renderEnrolment(c, t, challenge, true, email, me.Msg)
		}
		return err
	}
	return s.loginNext(c, t, res, "")
}

// enrolEmailSubmit mails a code for the e-mail factor and shows its form.
func (s *Server) enrolEmailSubmit(c echo.Context) error {
	t := s.loginTarget(c, c.FormValue("return_to"))
	challenge := c.FormValue("challenge")
	if err := s.Login.EnrolmentSendEmailCode(c.Request().Context(), challenge, meta(c)); err != nil {
		var me *models.Error
		if errors.As(err, &me) && me.Kind != models.KindInternal {
			if me.Kind == models.KindRateLimited {
				return s.renderEnrolment(c, t, challenge, true, true, me.Msg)
			}
			return s.renderLogin(c, http.StatusUnauthorized, t, t.tenantSlug, "", me.Msg)
		}
		return err
	}
	return s.renderEnrolment(c, t, challenge, true, true, "")
}
