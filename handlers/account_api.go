package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// AccountService is a signed-in user's profile (identity.Account).
type AccountService interface {
	// Me returns the principal's user and, when known, its session.
	Me(ctx context.Context, p identity.Principal) (*models.User, *models.Session, error)
	// UpdateMe applies a partial profile change and returns the user.
	UpdateMe(ctx context.Context, p identity.Principal, ch identity.ProfileChange, meta identity.Meta) (*models.User, error)
	// VerifyPhone checks the code sent to the user's phone number.
	VerifyPhone(ctx context.Context, p identity.Principal, code string, meta identity.Meta) (*models.User, error)
	// ResendPhoneCode sends a fresh code to the unverified phone number.
	ResendPhoneCode(ctx context.Context, p identity.Principal) error
	// Activity returns one page of the user's audit events, newest first.
	Activity(ctx context.Context, p identity.Principal, limit int, cursor string) (*identity.AuditPage, error)
}

// PasswordService changes and resets passwords (identity.Password).
type PasswordService interface {
	// Change changes the password (the current one required).
	Change(ctx context.Context, p identity.Principal, current, newPassword string, meta identity.Meta) error
	// Forgot queues a reset code; it answers nil whether or not the
	// account exists.
	Forgot(ctx context.Context, tenant, email string, meta identity.Meta) error
	// Reset sets a new password with an e-mailed reset code.
	Reset(ctx context.Context, tenant, email, code, newPassword string, meta identity.Meta) error
}

// TwoFactorService is a signed-in user's second factor (identity.TwoFactor).
type TwoFactorService interface {
	SetupTOTP(ctx context.Context, p identity.Principal, password string, meta identity.Meta) (*identity.TOTPSetup, error)
	// EnableTOTP, EnableEmail and RegenerateRecoveryCodes return the new
	// recovery codes, shown once.
	EnableTOTP(ctx context.Context, p identity.Principal, code, password string, meta identity.Meta) ([]string, error)
	EnableEmail(ctx context.Context, p identity.Principal, password string, meta identity.Meta) ([]string, error)
	RegenerateRecoveryCodes(ctx context.Context, p identity.Principal, password string, meta identity.Meta) ([]string, error)
	Disable(ctx context.Context, p identity.Principal, password, code, recovery string, meta identity.Meta) error
}

// PINService is a signed-in user's PIN (identity.PIN).
type PINService interface {
	Set(ctx context.Context, p identity.Principal, pin, password string, meta identity.Meta) error
	Verify(ctx context.Context, p identity.Principal, pin string, meta identity.Meta) error
	Unlock(ctx context.Context, p identity.Principal, password string, meta identity.Meta) error
}

// SessionService is a signed-in user's sessions and devices
// (identity.Sessions). An id that is not the user's is NotFound.
type SessionService interface {
	// Logout ends the principal's own session; LogoutAll every session
	// and OAuth grant of the user, returning how many sessions ended.
	Logout(ctx context.Context, p identity.Principal, meta identity.Meta) error
	LogoutAll(ctx context.Context, p identity.Principal, meta identity.Meta) (int, error)
	// List, Revoke and Untrust are the sessions (session.revoked leaves the
	// device); ListDevices, RevokeDevice and UntrustDevice the devices
	// (device.revoked ends every session on it).
	List(ctx context.Context, p identity.Principal) ([]identity.SessionView, error)
	Revoke(ctx context.Context, p identity.Principal, id string, meta identity.Meta) error
	Untrust(ctx context.Context, p identity.Principal, id string, meta identity.Meta) error
	ListDevices(ctx context.Context, p identity.Principal) ([]identity.DeviceView, error)
	RevokeDevice(ctx context.Context, p identity.Principal, deviceID string, meta identity.Meta) error
	UntrustDevice(ctx context.Context, p identity.Principal, deviceID string, meta identity.Meta) error
	// Touch records activity on a session, at most once per interval.
	Touch(ctx context.Context, sessionID string) error
}

// deviceHeader carries the device token of API clients; pages use a cookie.
const deviceHeader = "X-Device-Token"

type userView struct {
	ID                  string     `json:"id"`
	TenantID            string     `json:"tenant_id"`
	Email               string     `json:"email"`
	Name                string     `json:"name"`
	EmailVerified       bool       `json:"email_verified"`
	TwoFactorEnabled    bool       `json:"two_factor_enabled"`
	TwoFactorMethod     string     `json:"two_factor_method,omitempty"`
	PINSet              bool       `json:"pin_set"`
	PasswordChangedAt   *time.Time `json:"password_changed_at,omitempty"`
	ForcePasswordChange bool       `json:"force_password_change"`
}

func viewUser(u *models.User) userView {
	v := userView{ID: u.ID, TenantID: u.TenantID, Email: u.Email, Name: u.Name, EmailVerified: u.EmailVerified,
		TwoFactorEnabled: u.HasSecondFactor(), TwoFactorMethod: twoFactorMethod(u), PINSet: u.PINHash != "", PasswordChangedAt: u.PasswordChangedAt,
		ForcePasswordChange: u.ForcePasswordChange}
	return v
}

// twoFactorMethod names the user's main second factor for the API's
// two_factor_method: totp, email, webauthn (passkeys only), or "".
func twoFactorMethod(u *models.User) string {
	switch {
	case u.TOTPEnabled:
		return "totp"
	case u.Email2FAEnabled:
		return "email"
	case u.Passkeys > 0:
		return "webauthn"
	}
	return ""
}

// meView is the signed-in user's own account, with the profile they edit.
type meView struct {
	userView
	GivenName                  string     `json:"given_name"`
	FamilyName                 string     `json:"family_name"`
	Locale                     string     `json:"locale"`
	Zoneinfo                   string     `json:"zoneinfo"`
	Picture                    string     `json:"picture"`
	PhoneNumber                string     `json:"phone_number"`
	PhoneNumberVerified        bool       `json:"phone_number_verified"`
	MarketingEmails            bool       `json:"marketing_emails"`
	ProfileVisibleToColleagues bool       `json:"profile_visible_to_colleagues"`
	ProfileUpdatedAt           *time.Time `json:"profile_updated_at,omitempty"`
}

func viewMe(u *models.User) meView {
	return meView{userView: viewUser(u), GivenName: u.GivenName, FamilyName: u.FamilyName, Locale: u.Locale,
		Zoneinfo: u.Zoneinfo, Picture: u.Picture, PhoneNumber: u.PhoneNumber, PhoneNumberVerified: u.PhoneNumberVerified,
		MarketingEmails: u.MarketingEmails, ProfileVisibleToColleagues: u.ProfileVisibleToColleagues, ProfileUpdatedAt: u.ProfileUpdatedAt}
}

// loginResponse renders a login result: the token, or the next step.
func loginResponse(c echo.Context, res *identity.LoginResult) error {
	switch res.ChallengeKind {
	case models.ChallengeTwoFactor:
		return c.JSON(http.StatusOK, map[string]any{"two_factor_required": true, "challenge": res.Challenge, "methods": res.Methods})
	case models.ChallengePasswordChange:
		return c.JSON(http.StatusOK, map[string]any{"password_change_required": true, "challenge": res.Challenge})
	case models.ChallengeTwoFactorEnrolment:
		return c.JSON(http.StatusOK, map[string]any{"two_factor_enrolment_required": true, "challenge": res.Challenge, "methods": res.Methods})
	}
	body := map[string]any{
		"access_token": res.AccessToken,
		"token_type":   "Bearer",
		"expires_in":   int64(time.Until(res.ExpiresAt).Seconds()),
		"user":         viewUser(res.User),
		"session_id":   res.Session.ID,
	}
	if res.DeviceToken != "" {
		body["device_token"] = res.DeviceToken
	}
	if res.RecoveryCodes != nil {
		body["recovery_codes"] = res.RecoveryCodes
	}
	if res.RefreshToken != "" {
		body["refresh_token"] = res.RefreshToken
	}
	if res.BrowserToken != "" {
		// The browser session travels only as the HttpOnly cookie
		// (setLoginCookies); the body says it was started.
		body["browser_session"] = true
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, body)
}

// apiLoginAnswer renders an API login that finished or goes on, setting the
// browser session's cookie when the login asked for one ("session": true,
// same-origin only) and finished.
func (s *Server) apiLoginAnswer(c echo.Context, res *identity.LoginResult) error {
	if res.ChallengeKind == "" && res.BrowserToken != "" {
		s.setLoginCookies(c, res)
	}
	return loginResponse(c, res)
}

// loginMeta is meta(c) with whether the request may start a browser
// session (sameOriginJSON), for the routes that finish a login.
func (s *Server) loginMeta(c echo.Context) identity.Meta {
	m := meta(c)
	m.SameOrigin = s.sameOriginJSON(c)
	return m
}

// sameOriginJSON reports a JSON request that a browser sent from this
// server's own origin: the only kind of API login that may set the sign-in
// cookie, so a page elsewhere cannot sign a visitor's browser in to an
// account of its choosing (login CSRF). It needs all three: Content-Type
// application/json (a cross-site form cannot send it, and a cross-site
// fetch that does needs a CORS preflight, which runs without credentials
// here, so no cookie could be set anyway); an Origin header equal to the
// issuer's origin (browsers send it on every POST, and a page cannot forge
// it); and, when the browser sends Sec-Fetch-Site, "same-origin".
func (s *Server) sameOriginJSON(c echo.Context) bool {
	r := c.Request()
	ct := strings.ToLower(strings.TrimSpace(strings.SplitN(r.Header.Get(echo.HeaderContentType), ";", 2)[0]))
	if ct != echo.MIMEApplicationJSON {
		return false
	}
	if site := r.Header.Get("Sec-Fetch-Site"); site != "" && site != "same-origin" {
		return false
	}
	origin := r.Header.Get(echo.HeaderOrigin)
	return origin != "" && originOf(s.Issuer) != "" && origin == originOf(s.Issuer)
}

func (s *Server) apiLogin(c echo.Context) error {
	var in struct {
		Tenant     string `json:"tenant"`
		Email      string `json:"email"`
		Password   string `json:"password"`
		DeviceName string `json:"device_name"`
		Remember   bool   `json:"remember"`
		Session    bool   `json:"session"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	m := s.loginMeta(c)
	if in.Session && !m.SameOrigin {
		return models.ErrSameOriginRequired()
	}
	fields := map[string]string{}
	if in.Tenant == "" {
		fields["tenant"] = "Required."
	}
	if in.Email == "" {
		fields["email"] = "Required."
	}
	if in.Password == "" {
		fields["password"] = "Required."
	}
	if len(fields) > 0 {
		return models.ErrInvalid(fields)
	}
	res, err := s.Login.WithPassword(c.Request().Context(), identity.LoginInput{
		Tenant: in.Tenant, Email: in.Email, Password: in.Password, DeviceName: in.DeviceName, Remember: in.Remember,
		WebSession: in.Session, DeviceToken: c.Request().Header.Get(deviceHeader), Meta: m,
	})
	if err != nil {
		return err
	}
	return s.apiLoginAnswer(c, res)
}

// apiRefresh rotates the refresh token of a remembered first-party login
// (issue 10 §10). It is public: the first-party client has no secret, and
// the refresh token is the credential. The rule is the token endpoint's
// (identity.Login.Refresh).
func (s *Server) apiRefresh(c echo.Context) error {
	var in struct {
		RefreshToken string `json:"refresh_token"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if in.RefreshToken == "" {
		return models.ErrInvalid(map[string]string{"refresh_token": "Required."})
	}
	// The request's origin travels in ctx to the audit row of a detected
	// reuse, which storage records from inside fosite (as at the token endpoint).
	res, err := s.Login.Refresh(identity.WithMeta(c.Request().Context(), meta(c)), in.RefreshToken)
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{
		"access_token":  res.AccessToken,
		"token_type":    "Bearer",
		"expires_in":    int64(time.Until(res.ExpiresAt).Seconds()),
		"refresh_token": res.RefreshToken,
		"session_id":    res.Session.ID,
	})
}

func (s *Server) apiVerify2FA(c echo.Context) error {
	var in struct {
		Challenge    string `json:"challenge"`
		Code         string `json:"code"`
		RecoveryCode string `json:"recovery_code"`
		TrustDevice  bool   `json:"trust_device"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if in.Challenge == "" || (in.Code == "" && in.RecoveryCode == "") {
		return models.ErrInvalid(map[string]string{"code": "Send the challenge and a code or a recovery code."})
	}
	res, err := s.Login.VerifySecondFactor(c.Request().Context(), identity.VerifyInput{
		Challenge: in.Challenge, Code: in.Code, RecoveryCode: in.RecoveryCode, TrustDevice: in.TrustDevice, Meta: s.loginMeta(c),
	})
	if err != nil {
		return err
	}
	return s.apiLoginAnswer(c, res)
}

func (s *Server) apiResend2FA(c echo.Context) error {
	var in struct {
		Challenge string `json:"challenge"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if err := s.Login.ResendEmailCode(c.Request().Context(), in.Challenge, meta(c)); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]any{"sent": true})
}

func (s *Server) apiChangeRequiredPassword(c echo.Context) error {
	var in struct {
		Challenge   string `json:"challenge"`
		NewPassword string `json:"new_password"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	res, err := s.Login.ChangeRequiredPassword(c.Request().Context(), in.Challenge, in.NewPassword, s.loginMeta(c))
	if err != nil {
		return err
	}
	return s.apiLoginAnswer(c, res)
}

func (s *Server) apiForgotPassword(c echo.Context) error {
	var in struct {
		Tenant string `json:"tenant"`
		Email  string `json:"email"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if err := s.Password.Forgot(c.Request().Context(), in.Tenant, in.Email, meta(c)); err != nil {
		return err
	}
	return c.JSON(http.StatusAccepted, map[string]any{"message": "If the account exists, a reset code is on its way."})
}

func (s *Server) apiResetPassword(c echo.Context) error {
	var in struct {
		Tenant      string `json:"tenant"`
		Email       string `json:"email"`
		Code        string `json:"code"`
		NewPassword string `json:"new_password"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if err := s.Password.Reset(c.Request().Context(), in.Tenant, in.Email, in.Code, in.NewPassword, meta(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// apiLogout ends the token's login session: its other tokens (a refresh
// token's whole grant included) and the browser session started with it
// end too. A browser that sent the sign-in cookie gets it cleared.
func (s *Server) apiLogout(c echo.Context) error {
	if err := s.Sessions.Logout(c.Request().Context(), principal(c), meta(c)); err != nil {
		return err
	}
	s.clearSessionCookie(c)
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiLogoutAll(c echo.Context) error {
	n, err := s.Sessions.LogoutAll(c.Request().Context(), principal(c), meta(c))
	if err != nil {
		return err
	}
	s.clearSessionCookie(c)
	return c.JSON(http.StatusOK, map[string]any{"sessions_revoked": n})
}

// clearSessionCookie expires the sign-in cookie the request carried, if
// any (its session is already ended on the server).
func (s *Server) clearSessionCookie(c echo.Context) {
	if _, err := c.Cookie(sessionCookie); err == nil {
		c.SetCookie(&http.Cookie{Name: sessionCookie, Value: "", Path: "/", MaxAge: -1, HttpOnly: true, Secure: s.secure, SameSite: http.SameSiteLaxMode})
	}
}

func (s *Server) apiMe(c echo.Context) error {
	u, sess, err := s.Account.Me(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	body := map[string]any{"user": viewMe(u)}
	if sess != nil {
		body["session"] = viewSession(identity.SessionView{Session: *sess, Current: true})
	}
	return c.JSON(http.StatusOK, body)
}

// apiUpdateMe is a partial update (RFC 7396 merge-patch semantics): an
// absent member is left alone, null clears a text field; every bad field
// is reported at once.
func (s *Server) apiUpdateMe(c echo.Context) error {
	var raw map[string]json.RawMessage
	if err := bind(c, &raw); err != nil {
		return err
	}
	ch, bad := profileChange(raw)
	if len(bad) > 0 {
		return models.ErrInvalid(bad)
	}
	u, err := s.Account.UpdateMe(c.Request().Context(), principal(c), ch, meta(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"user": viewMe(u)})
}

// profileChange reads the PATCH body's members into a ProfileChange;
// unknown members and wrong types are field errors.
func profileChange(raw map[string]json.RawMessage) (identity.ProfileChange, map[string]string) {
	var ch identity.ProfileChange
	bad := map[string]string{}
	texts := map[string]**string{"name": &ch.Name, "given_name": &ch.GivenName, "family_name": &ch.FamilyName,
		"locale": &ch.Locale, "zoneinfo": &ch.Zoneinfo, "picture": &ch.Picture, "phone_number": &ch.PhoneNumber}
	bools := map[string]**bool{"marketing_emails": &ch.MarketingEmails, "profile_visible_to_colleagues": &ch.ProfileVisibleToColleagues}
	for k, v := range raw {
		null := string(v) == "null"
		if dst, ok := texts[k]; ok {
			var str string
			if !null && json.Unmarshal(v, &str) != nil {
				bad[k] = "Use a string, or null to clear it."
				continue
			}
			*dst = &str
			continue
		}
		if dst, ok := bools[k]; ok {
			var b bool
			if null || json.Unmarshal(v, &b) != nil {
				bad[k] = "Use true or false."
				continue
			}
			*dst = &b
			continue
		}
		if k == "email" {
			// The address changes only once the new one is proved.
			bad[k] = "The e-mail address cannot be changed here: use POST /api/auth/me/email (with your password), which confirms the new address first."
			continue
		}
		bad[k] = "This field does not exist or cannot be changed here."
	}
	if len(bad) == 0 && len(raw) == 0 {
		bad["name"] = "Send at least one field to change."
	}
	return ch, bad
}

func (s *Server) apiVerifyPhone(c echo.Context) error {
	var in struct {
		Code string `json:"code"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	u, err := s.Account.VerifyPhone(c.Request().Context(), principal(c), in.Code, meta(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"user": viewMe(u)})
}

func (s *Server) apiResendPhoneCode(c echo.Context) error {
	if err := s.Account.ResendPhoneCode(c.Request().Context(), principal(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusAccepted)
}

func (s *Server) apiChangePassword(c echo.Context) error {
	var in struct {
		CurrentPassword string `json:"current_password"`
		NewPassword     string `json:"new_password"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if err := s.Password.Change(c.Request().Context(), principal(c), in.CurrentPassword, in.NewPassword, meta(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) api2FASetup(c echo.Context) error {
	var in struct {
		Password string `json:"password"`
	}
	if c.Request().ContentLength != 0 {
		if err := bind(c, &in); err != nil {
			return err
		}
	}
	setup, err := s.TwoFactor.SetupTOTP(c.Request().Context(), principal(c), in.Password, meta(c))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, setup)
}

func (s *Server) api2FAEnable(c echo.Context) error {
	var in struct {
		Code     string `json:"code"`
		Password string `json:"password"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	codes, err := s.TwoFactor.EnableTOTP(c.Request().Context(), principal(c), in.Code, in.Password, meta(c))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"enabled": true, "recovery_codes": codes})
}

func (s *Server) api2FAEmailEnable(c echo.Context) error {
	var in struct {
		Password string `json:"password"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	codes, err := s.TwoFactor.EnableEmail(c.Request().Context(), principal(c), in.Password, meta(c))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"enabled": true, "method": "email", "recovery_codes": codes})
}

func (s *Server) api2FADisable(c echo.Context) error {
	var in struct {
		Password     string `json:"password"`
		Code         string `json:"code"`
		RecoveryCode string `json:"recovery_code"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if err := s.TwoFactor.Disable(c.Request().Context(), principal(c), in.Password, in.Code, in.RecoveryCode, meta(c)); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"enabled": false})
}

func (s *Server) api2FARecoveryCodes(c echo.Context) error {
	var in struct {
		Password string `json:"password"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	codes, err := s.TwoFactor.RegenerateRecoveryCodes(c.Request().Context(), principal(c), in.Password, meta(c))
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"recovery_codes": codes})
}

func (s *Server) apiSetPIN(c echo.Context) error {
	var in struct {
		PIN      string `json:"pin"`
		Password string `json:"password"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if err := s.PIN.Set(c.Request().Context(), principal(c), in.PIN, in.Password, meta(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiVerifyPIN(c echo.Context) error {
	var in struct {
		PIN string `json:"pin"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if err := s.PIN.Verify(c.Request().Context(), principal(c), in.PIN, meta(c)); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"verified": true})
}

func (s *Server) apiPINLogin(c echo.Context) error {
	var in struct {
		Tenant   string `json:"tenant"`
		Email    string `json:"email"`
		PIN      string `json:"pin"`
		Remember bool   `json:"remember"`
		Session  bool   `json:"session"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	m := s.loginMeta(c)
	if in.Session && !m.SameOrigin {
		return models.ErrSameOriginRequired()
	}
	res, err := s.Login.WithPIN(c.Request().Context(), identity.PINLoginInput{
		Tenant: in.Tenant, Email: in.Email, PIN: in.PIN, Remember: in.Remember, WebSession: in.Session,
		DeviceToken: c.Request().Header.Get(deviceHeader), Meta: m,
	})
	if err != nil {
		return err
	}
	return s.apiLoginAnswer(c, res)
}

func (s *Server) apiUnlockPIN(c echo.Context) error {
	var in struct {
		Password string `json:"password"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if err := s.PIN.Unlock(c.Request().Context(), principal(c), in.Password, meta(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type sessionView struct {
	ID           string     `json:"id"`
	DeviceID     string     `json:"device_id,omitempty"`
	Kind         string     `json:"kind"`
	DeviceName   string     `json:"device_name"`
	Browser      string     `json:"browser"`
	OS           string     `json:"os"`
	IPAddress    string     `json:"ip_address"`
	CreatedAt    time.Time  `json:"created_at"`
	LastActiveAt time.Time  `json:"last_active_at"`
	ExpiresAt    time.Time  `json:"expires_at"`
	Current      bool       `json:"current"`
	Trusted      bool       `json:"trusted"`
	TrustedUntil *time.Time `json:"trusted_until,omitempty"`
	AuthMethods  []string   `json:"auth_methods"`
}

func viewSession(v identity.SessionView) sessionView {
	out := sessionView{ID: v.ID, Kind: v.Kind, DeviceName: v.DeviceName, Browser: v.Browser, OS: v.OS, IPAddress: v.IPAddress,
		CreatedAt: v.CreatedAt, LastActiveAt: v.LastActiveAt, ExpiresAt: v.ExpiresAt, Current: v.Current,
		Trusted: v.Trusted, TrustedUntil: v.TrustedUntil, AuthMethods: v.AuthMethods}
	if v.DeviceID != nil {
		out.DeviceID = *v.DeviceID
	}
	if out.AuthMethods == nil {
		out.AuthMethods = []string{}
	}
	return out
}

func (s *Server) apiSessions(c echo.Context) error {
	list, err := s.Sessions.List(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	out := make([]sessionView, 0, len(list))
	for _, v := range list {
		out = append(out, viewSession(v))
	}
	return c.JSON(http.StatusOK, map[string]any{"sessions": out})
}

// apiRevokeSession ends one session (session.revoked); the device it ran
// on, and the device's other sessions, stay.
func (s *Server) apiRevokeSession(c echo.Context) error {
	if err := s.Sessions.Revoke(c.Request().Context(), principal(c), c.Param("id"), meta(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type deviceView struct {
	ID           string     `json:"id"`
	Name         string     `json:"name"`
	Browser      string     `json:"browser"`
	OS           string     `json:"os"`
	CreatedAt    time.Time  `json:"created_at"`
	LastSeenAt   time.Time  `json:"last_seen_at"`
	Current      bool       `json:"current"`
	Trusted      bool       `json:"trusted"`
	TrustedUntil *time.Time `json:"trusted_until,omitempty"`
	Sessions     int        `json:"sessions"`
}

func (s *Server) apiDevices(c echo.Context) error {
	list, err := s.Sessions.ListDevices(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	out := make([]deviceView, 0, len(list))
	for _, d := range list {
		v := deviceView{ID: d.ID, Name: d.Name, Browser: d.Browser, OS: d.OS, CreatedAt: d.CreatedAt, LastSeenAt: d.LastSeenAt,
			Current: d.Current, Trusted: d.Trusted, Sessions: d.Sessions}
		if d.Trusted {
			v.TrustedUntil = d.TrustedUntil
		}
		out = append(out, v)
	}
	return c.JSON(http.StatusOK, map[string]any{"devices": out})
}

// apiRevokeDevice forgets a device: its trust and every session on it
// (device.revoked). The id is a device id from GET /api/devices.
func (s *Server) apiRevokeDevice(c echo.Context) error {
	if err := s.Sessions.RevokeDevice(c.Request().Context(), principal(c), c.Param("id"), meta(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiUntrustDevice(c echo.Context) error {
	if err := s.Sessions.UntrustDevice(c.Request().Context(), principal(c), c.Param("id"), meta(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

type auditView struct {
	ID        string         `json:"id"`
	Action    string         `json:"action"`
	IPAddress string         `json:"ip_address"`
	UserAgent string         `json:"user_agent"`
	Metadata  map[string]any `json:"metadata"`
	CreatedAt time.Time      `json:"created_at"`
}

func (s *Server) apiMyAudit(c echo.Context) error {
	limit := 50
	if v := c.QueryParam("limit"); v != "" {
		n, err := parseLimit(v)
		if err != nil {
			return err
		}
		limit = n
	}
	page, err := s.Account.Activity(c.Request().Context(), principal(c), limit, c.QueryParam("cursor"))
	if err != nil {
		return err
	}
	items := make([]auditView, 0, len(page.Items))
	for _, a := range page.Items {
		items = append(items, auditView{ID: a.ID, Action: a.Action, IPAddress: a.IPAddress, UserAgent: a.UserAgent, Metadata: decodeMetadata(a.Metadata), CreatedAt: a.CreatedAt})
	}
	body := map[string]any{"items": items}
	if page.NextCursor != "" {
		body["next_cursor"] = page.NextCursor
	}
	return c.JSON(http.StatusOK, body)
}
