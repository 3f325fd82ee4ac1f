package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
)

// OneTimeCodeService generates and verifies one-time codes for other
// services (identity.OneTimeCodes).
type OneTimeCodeService interface {
	Generate(ctx context.Context, a identity.Actor, in identity.GenerateOTP) (*identity.IssuedOTP, error)
	Verify(ctx context.Context, a identity.Actor, in identity.VerifyOTP) error
}

// apiGenerateOTP is POST /api/otp/generate: a user for themself, or a
// service account with identity.otp.send for a user of its tenant. The
// code goes to the user by e-mail; the answer never holds it.
func (s *Server) apiGenerateOTP(c echo.Context) error {
	var in struct {
		Purpose string `json:"purpose"`
		UserID  string `json:"user_id"`
		Channel string `json:"channel"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	out, err := s.OneTimeCodes.Generate(c.Request().Context(), a, identity.GenerateOTP{Purpose: in.Purpose, UserID: in.UserID, Channel: in.Channel})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusAccepted, map[string]any{
		"user_id": out.UserID, "purpose": out.Purpose, "channel": out.Channel,
		"expires_at": out.ExpiresAt, "expires_in": int(out.TTL / time.Second),
	})
}

// apiVerifyOTP is POST /api/otp/verify: 200 {"verified": true}, or 401
// invalid_code for a wrong, expired, used or exhausted code alike.
func (s *Server) apiVerifyOTP(c echo.Context) error {
	var in struct {
		Purpose string `json:"purpose"`
		Code    string `json:"code"`
		UserID  string `json:"user_id"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	if err := s.OneTimeCodes.Verify(c.Request().Context(), a, identity.VerifyOTP{Purpose: in.Purpose, Code: in.Code, UserID: in.UserID}); err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{"verified": true})
}
