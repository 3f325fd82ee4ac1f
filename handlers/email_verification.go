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

// EmailVerificationService proves addresses and changes them
// (identity.EmailVerification).
type EmailVerificationService interface {
	// Verify completes a verification by a link's token, or by tenant,
	// address and code.
	Verify(ctx context.Context, in identity.VerifyEmailInput) (*identity.VerifiedEmail, error)
	// Lookup describes a link's verification without using it.
	Lookup(ctx context.Context, token string) (*identity.EmailVerificationLookup, error)
	// ResendMine mails the signed-in user a new message (false: already verified).
	ResendMine(ctx context.Context, p identity.Principal, meta identity.Meta) (bool, error)
	// Resend mails a new message to an unverified address of the tenant;
	// nil whatever the address.
	Resend(ctx context.Context, tenant, email string, meta identity.Meta) error
	// RequestChange starts a change of the signed-in user's address.
	RequestChange(ctx context.Context, p identity.Principal, email, password string, meta identity.Meta) error
}

// resendAnswer is the one answer of a public resend, whatever the address.
const resendAnswer = "If this address belongs to an account that is not verified yet, a new link and code are on their way."

// apiVerifyEmail is public: {token} (the link's), or {tenant, email, code}
// for apps, where email is the address the message went to (for a change,
// the new one). A wrong, used or expired code is one answer (401
// invalid_code); a used or expired link says so (409).
func (s *Server) apiVerifyEmail(c echo.Context) error {
	var in struct {
		Token  string `json:"token"`
		Tenant string `json:"tenant"`
		Email  string `json:"email"`
		Code   string `json:"code"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	res, err := s.EmailVerification.Verify(c.Request().Context(), identity.VerifyEmailInput{
		Token: in.Token, Tenant: in.Tenant, Email: in.Email, Code: in.Code, Meta: meta(c)})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"email_verified": true, "email": res.User.Email, "purpose": res.Purpose})
}

// apiResendEmailVerification mails a new link and code. With a first-party
// bearer token it is the signed-in user's own address (and says when it is
// already verified); without one, {tenant, email}, answered the same
// whatever the address.
func (s *Server) apiResendEmailVerification(c echo.Context) error {
	ctx := c.Request().Context()
	if bearer := bearerToken(c.Request()); bearer != "" {
		p, err := s.Authenticator.Resolve(ctx, bearer)
		if err != nil {
			return err
		}
		if err := accountUser(c, p); err != nil {
			return err
		}
		sent, err := s.EmailVerification.ResendMine(ctx, p, meta(c))
		if err != nil {
			return err
		}
		if !sent {
			return c.JSON(http.StatusOK, map[string]any{"sent": false, "email_verified": true})
		}
		return c.JSON(http.StatusAccepted, map[string]any{"sent": true, "email_verified": false})
	}
	var in struct {
		Tenant string `json:"tenant"`
		Email  string `json:"email"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if err := s.EmailVerification.Resend(ctx, in.Tenant, in.Email, meta(c)); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]any{"message": resendAnswer})
}

// apiChangeEmail starts a change of the signed-in user's address
// {email, password}: the same answer whether or not the address is free.
func (s *Server) apiChangeEmail(c echo.Context) error {
	var in struct {
		Email    string `json:"email"`
		Password string `json:"password"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if err := s.EmailVerification.RequestChange(c.Request().Context(), principal(c), in.Email, in.Password, meta(c)); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]any{"message": "We sent a link and a code to the new address. " +
		"Your address changes once you confirm it from that message; until then it stays as it is."})
}

// The /verify-email page: GET with ?token= shows what the link confirms
// and one button (a POST with CSRF: mail scanners that open links do not
// use them up); a code form (organisation, address, code) for people who
// have the code; and a form to ask for a new message. Every state links
// back to sign-in.

type verifyForm struct {
	token, tenant, email         string
	err, notice, lookupEmail     string
	company, purpose, doneTenant string
	done, sent                   bool
}

func (s *Server) renderVerifyEmail(c echo.Context, status int, f verifyForm) error {
	c.Response().Header().Set("Referrer-Policy", "no-referrer") // the URL carries the token
	tenant := f.tenant
	if f.doneTenant != "" {
		tenant = f.doneTenant
	}
	return s.render(c, status, "verify_email", map[string]any{
		"Title": "Confirm your e-mail address", "CSRF": csrfToken(c), "Token": f.token, "Tenant": f.tenant, "Email": f.email,
		"LinkEmail": f.lookupEmail, "Company": f.company, "Change": f.purpose == models.EmailVerificationChange,
		"Error": f.err, "Notice": f.notice, "Done": f.done, "Sent": f.sent,
		"LoginURL": pageURL("/login", "tenant", tenant),
	})
}

func (s *Server) verifyEmailPage(c echo.Context) error {
	f := verifyForm{tenant: strings.TrimSpace(c.QueryParam("tenant")), email: strings.TrimSpace(c.QueryParam("email"))}
	token := strings.TrimSpace(c.QueryParam("token"))
	if token == "" {
		return s.renderVerifyEmail(c, http.StatusOK, f)
	}
	l, err := s.EmailVerification.Lookup(c.Request().Context(), token)
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			f.err = "This link is not valid. It may have been replaced by a newer one: use the latest e-mail, enter the code, or ask for a new link."
			return s.renderVerifyEmail(c, http.StatusNotFound, f)
		}
		return err
	}
	f.tenant, f.company, f.purpose, f.lookupEmail = l.TenantSlug, l.TenantName, l.Purpose, l.Email
	switch l.Status {
	case "used":
		f.err = "This link has already been used. If your address is confirmed, you can sign in."
		return s.renderVerifyEmail(c, http.StatusConflict, f)
	case "expired":
		f.err, f.email = "This link has expired. Ask for a new one below.", l.Email
		return s.renderVerifyEmail(c, http.StatusConflict, f)
	}
	f.token = token
	return s.renderVerifyEmail(c, http.StatusOK, f)
}

// verifyEmailSubmit confirms a link's token or a typed code through the
// one implementation (identity.EmailVerification.Verify).
func (s *Server) verifyEmailSubmit(c echo.Context) error {
	f := verifyForm{tenant: strings.TrimSpace(c.FormValue("tenant")), email: strings.TrimSpace(c.FormValue("email"))}
	token := strings.TrimSpace(c.FormValue("token"))
	in := identity.VerifyEmailInput{Token: token, Meta: meta(c)}
	if token == "" {
		in = identity.VerifyEmailInput{Tenant: f.tenant, Email: f.email, Code: strings.TrimSpace(c.FormValue("code")), Meta: meta(c)}
		if in.Tenant == "" || in.Email == "" || !isSixDigits(in.Code) {
			f.err = "Enter your organisation, the e-mail address the message went to, and the 6 digits of the code."
			return s.renderVerifyEmail(c, http.StatusUnprocessableEntity, f)
		}
	}
	res, err := s.EmailVerification.Verify(c.Request().Context(), in)
	if err == nil {
		f = verifyForm{done: true, doneTenant: res.TenantSlug, purpose: res.Purpose, lookupEmail: res.User.Email}
		return s.renderVerifyEmail(c, http.StatusOK, f)
	}
	var me *models.Error
	if !errors.As(err, &me) || me.Kind == models.KindInternal || me.Kind == models.KindUnavailable {
		return err
	}
	status := http.StatusUnprocessableEntity
	switch {
	case me.Kind == models.KindRateLimited:
		f.err, status = "Too many tries. Wait a while, then try again.", http.StatusTooManyRequests
	case me.Code == models.CodeInvalidCode:
		f.err, status = "This code is not correct, was already used, or has expired. Check the latest e-mail, or ask for a new one.", http.StatusUnauthorized
	case me.Code == models.CodeEmailVerificationUsed:
		f.err, status = "This link has already been used. If your address is confirmed, you can sign in.", http.StatusConflict
	case me.Code == models.CodeEmailVerificationExpired:
		f.err, status = "This link has expired. Ask for a new one below.", http.StatusConflict
	case me.Code == models.CodeEmailTaken:
		f.err, status = me.Msg, http.StatusConflict
	case me.Kind == models.KindNotFound:
		f.err, status = "This link is not valid. It may have been replaced by a newer one: use the latest e-mail, enter the code, or ask for a new link.", http.StatusNotFound
	default:
		f.err = me.Msg
	}
	return s.renderVerifyEmail(c, status, f)
}

// verifyEmailResend asks for a new message for an address: the same page
// whatever the address (only the rate limit speaks).
func (s *Server) verifyEmailResend(c echo.Context) error {
	f := verifyForm{tenant: strings.TrimSpace(c.FormValue("tenant")), email: strings.TrimSpace(c.FormValue("email"))}
	if f.tenant == "" || f.email == "" {
		f.err = "Enter your organisation and your e-mail address."
		return s.renderVerifyEmail(c, http.StatusUnprocessableEntity, f)
	}
	if err := s.EmailVerification.Resend(c.Request().Context(), f.tenant, f.email, meta(c)); err != nil {
		var me *models.Error
		if errors.As(err, &me) && me.Kind == models.KindRateLimited {
			f.err = "You asked for too many e-mails. Wait a while, then try again."
			return s.renderVerifyEmail(c, http.StatusTooManyRequests, f)
		}
		if errors.As(err, &me) && me.Kind == models.KindInvalid {
			f.err = "Enter your organisation and a valid e-mail address."
			return s.renderVerifyEmail(c, http.StatusUnprocessableEntity, f)
		}
		return err
	}
	f.sent, f.notice = true, "If "+f.email+" belongs to an account that is not confirmed yet, we have sent it a new link and code. It can take a minute to arrive."
	return s.renderVerifyEmail(c, http.StatusOK, f)
}
