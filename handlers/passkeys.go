package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// PasskeyService is what the passkey routes need (identity.Passkeys).
type PasskeyService interface {
	Available() bool
	RegisterBegin(ctx context.Context, p identity.Principal, password string, meta identity.Meta) (*identity.PasskeyOptions, error)
	RegisterFinish(ctx context.Context, p identity.Principal, name string, credential json.RawMessage, meta identity.Meta) (*identity.PasskeyRegistration, error)
	List(ctx context.Context, p identity.Principal) ([]models.WebAuthnCredential, error)
	Rename(ctx context.Context, p identity.Principal, id, name string, meta identity.Meta) (*models.WebAuthnCredential, error)
	Delete(ctx context.Context, p identity.Principal, id, password string, meta identity.Meta) error
	SecondFactorBegin(ctx context.Context, challenge string, meta identity.Meta) (*identity.PasskeyOptions, error)
	SecondFactorFinish(ctx context.Context, challenge string, credential json.RawMessage, trust bool, meta identity.Meta) (*identity.LoginResult, error)
	StepUpBegin(ctx context.Context, p identity.Principal, meta identity.Meta) (*identity.PasskeyOptions, error)
	StepUpFinish(ctx context.Context, p identity.Principal, credential json.RawMessage, reason string, meta identity.Meta) (time.Time, error)
	PasswordlessBegin(ctx context.Context, tenant string, meta identity.Meta) (*identity.PasskeyOptions, error)
	PasswordlessFinish(ctx context.Context, in identity.PasswordlessInput) (*identity.LoginResult, error)
}

// passkeyView is a passkey as the API shows it: never its credential id
// bytes or public key.
type passkeyView struct {
	ID             string     `json:"id"`
	Name           string     `json:"name"`
	CreatedAt      time.Time  `json:"created_at"`
	LastUsedAt     *time.Time `json:"last_used_at"`
	Disabled       bool       `json:"disabled"`
	UserVerified   bool       `json:"user_verified"`
	BackupEligible bool       `json:"backup_eligible"`
	BackupState    bool       `json:"backup_state"`
	Transports     []string   `json:"transports"`
}

func viewPasskey(c models.WebAuthnCredential) passkeyView {
	tr := []string(c.Transports)
	if tr == nil {
		tr = []string{}
	}
	return passkeyView{ID: c.ID, Name: c.Name, CreatedAt: c.CreatedAt, LastUsedAt: c.LastUsedAt, Disabled: c.Disabled,
		UserVerified: c.UserVerified, BackupEligible: c.BackupEligible, BackupState: c.BackupState, Transports: tr}
}

// passkeyOptions answers a begin step: the options for
// navigator.credentials.create or .get, as {"publicKey": {...}}.
func passkeyOptions(c echo.Context, o *identity.PasskeyOptions) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSONBlob(http.StatusOK, o.Options)
}

func (s *Server) apiPasskeyRegisterBegin(c echo.Context) error {
	var in struct {
		Password string `json:"password"`
	}
	if err := bindOptional(c, &in); err != nil {
		return err
	}
	o, err := s.Passkeys.RegisterBegin(c.Request().Context(), principal(c), in.Password, meta(c))
	if err != nil {
		return err
	}
	return passkeyOptions(c, o)
}

func (s *Server) apiPasskeyRegisterFinish(c echo.Context) error {
	var in struct {
		Name       string          `json:"name"`
		Credential json.RawMessage `json:"credential"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	reg, err := s.Passkeys.RegisterFinish(c.Request().Context(), principal(c), in.Name, in.Credential, meta(c))
	if err != nil {
		return err
	}
	body := struct {
		passkeyView
		// RecoveryCodes: the first passkey of a user without recovery
		// codes comes with them, shown once.
		RecoveryCodes []string `json:"recovery_codes,omitempty"`
	}{viewPasskey(*reg.Credential), reg.RecoveryCodes}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusCreated, body)
}

func (s *Server) apiPasskeyList(c echo.Context) error {
	list, err := s.Passkeys.List(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	out := make([]passkeyView, 0, len(list))
	for _, p := range list {
		out = append(out, viewPasskey(p))
	}
	return c.JSON(http.StatusOK, map[string]any{"credentials": out, "available": s.Passkeys.Available()})
}

func (s *Server) apiPasskeyRename(c echo.Context) error {
	var in struct {
		Name string `json:"name"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	cred, err := s.Passkeys.Rename(c.Request().Context(), principal(c), c.Param("id"), in.Name, meta(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, viewPasskey(*cred))
}

func (s *Server) apiPasskeyDelete(c echo.Context) error {
	var in struct {
		Password string `json:"password"`
	}
	if err := bindOptional(c, &in); err != nil {
		return err
	}
	if err := s.Passkeys.Delete(c.Request().Context(), principal(c), c.Param("id"), in.Password, meta(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiPasskey2FABegin(c echo.Context) error {
	var in struct {
		Challenge string `json:"challenge"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	o, err := s.Passkeys.SecondFactorBegin(c.Request().Context(), in.Challenge, meta(c))
	if err != nil {
		return err
	}
	return passkeyOptions(c, o)
}

func (s *Server) apiPasskey2FAFinish(c echo.Context) error {
	var in struct {
		Challenge   string          `json:"challenge"`
		Credential  json.RawMessage `json:"credential"`
		TrustDevice bool            `json:"trust_device"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if in.Challenge == "" {
		return models.ErrInvalid(map[string]string{"challenge": "Required."})
	}
	res, err := s.Passkeys.SecondFactorFinish(c.Request().Context(), in.Challenge, in.Credential, in.TrustDevice, s.loginMeta(c))
	if err != nil {
		return err
	}
	return s.apiLoginAnswer(c, res)
}

func (s *Server) apiPasskeyStepUpBegin(c echo.Context) error {
	o, err := s.Passkeys.StepUpBegin(c.Request().Context(), principal(c), meta(c))
	if err != nil {
		return err
	}
	return passkeyOptions(c, o)
}

func (s *Server) apiPasskeyStepUpFinish(c echo.Context) error {
	var in struct {
		Credential json.RawMessage `json:"credential"`
		Reason     string          `json:"reason"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	until, err := s.Passkeys.StepUpFinish(c.Request().Context(), principal(c), in.Credential, in.Reason, meta(c))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"elevated": true, "expires_at": until, "ttl_seconds": int(s.StepUp.TTL().Seconds())})
}

func (s *Server) apiPasskeyLoginBegin(c echo.Context) error {
	var in struct {
		Tenant string `json:"tenant"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if in.Tenant == "" {
		return models.ErrInvalid(map[string]string{"tenant": "Required."})
	}
	o, err := s.Passkeys.PasswordlessBegin(c.Request().Context(), in.Tenant, meta(c))
	if err != nil {
		return err
	}
	return passkeyOptions(c, o)
}

func (s *Server) apiPasskeyLoginFinish(c echo.Context) error {
	var in struct {
		Credential json.RawMessage `json:"credential"`
		DeviceName string          `json:"device_name"`
		Remember   bool            `json:"remember"`
		// Session (or web_session) also starts the browser session, as
		// /api/auth/login's "session" does (same origin only).
		Session    bool `json:"session"`
		WebSession bool `json:"web_session"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	m := s.loginMeta(c)
	web := in.Session || in.WebSession
	if web && !m.SameOrigin {
		return models.ErrSameOriginRequired()
	}
	res, err := s.Passkeys.PasswordlessFinish(c.Request().Context(), identity.PasswordlessInput{
		Credential: in.Credential, DeviceName: in.DeviceName, Remember: in.Remember, WebSession: web,
		DeviceToken: c.Request().Header.Get(deviceHeader), Meta: m})
	if err != nil {
		return err
	}
	return s.apiLoginAnswer(c, res)
}

// bindOptional binds a JSON body that may be absent (a DELETE, a begin
// step with nothing to say).
func bindOptional(c echo.Context, v any) error {
	if c.Request().ContentLength == 0 {
		return nil
	}
	return bind(c, v)
}
