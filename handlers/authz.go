package handlers

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// Every /api route that acts on a tenant's objects goes through one chain:
// authenticate (401) → system-admin bypass → permission (403 forbidden with
// required_permission) → step-up gate (403 step_up_required) → the handler,
// which takes the tenant from the principal and never from the request.

const permsKey = "identity.permissions"

// permissions resolves the principal's grants once per request.
func (s *Server) permissions(c echo.Context, p identity.Principal) (identity.PermissionSet, error) {
	if v, ok := c.Get(permsKey).(identity.PermissionSet); ok {
		return v, nil
	}
	perms, err := s.Authorizer.Permissions(c.Request().Context(), p)
	if err != nil {
		return nil, err
	}
	c.Set(permsKey, perms)
	return perms, nil
}

// require checks one permission (and the step-up gate for danger actions).
func (s *Server) require(permission string) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p := principal(c)
			if p.ActorID != "" && impersonationRefusedPermission(permission) {
				return identity.ErrImpersonationForbidden()
			}
			perms, err := s.permissions(c, p)
			if err != nil {
				return err
			}
			d, err := s.Authorizer.Decide(c.Request().Context(), p, perms, permission)
			if err != nil {
				return err
			}
			if d.StepUpRequired {
				// errorHandler adds the step-up TTL to every step-up answer.
				return models.ErrStepUpRequired(permission)
			}
			if !d.Allowed {
				return models.ErrForbidden(permission)
			}
			return next(c)
		}
	}
}

func (s *Server) apiStepUp(c echo.Context) error {
	var in struct {
		Password string `json:"password"`
		PIN      string `json:"pin"`
		Code     string `json:"code"`
		Reason   string `json:"reason"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	until, err := s.StepUp.Elevate(c.Request().Context(), principal(c), identity.StepUpInput{
		Password: in.Password, PIN: in.PIN, Code: in.Code, Reason: in.Reason, Meta: meta(c)})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"elevated": true, "expires_at": until, "ttl_seconds": int(s.StepUp.TTL().Seconds())})
}

func (s *Server) apiStepUpStatus(c echo.Context) error {
	ok, until, err := s.StepUp.Status(c.Request().Context(), principal(c))
	if err != nil {
		return err
	}
	body := map[string]any{"elevated": ok}
	if ok {
		body["expires_at"] = until
		body["remaining_seconds"] = int(until.Sub(s.Now()).Seconds())
	}
	return c.JSON(http.StatusOK, body)
}

func (s *Server) apiEndStepUp(c echo.Context) error {
	if err := s.StepUp.End(c.Request().Context(), principal(c)); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

// apiCheck answers other services: may the caller do {permission}?
func (s *Server) apiCheck(c echo.Context) error {
	var in struct {
		Permission string `json:"permission"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if !identity.ValidPermission(in.Permission) || strings.Contains(in.Permission, "*") {
		return models.ErrInvalid(map[string]string{"permission": "Send one dotted permission, without wildcards."})
	}
	p := principal(c)
	perms, err := s.permissions(c, p)
	if err != nil {
		return err
	}
	d, err := s.Authorizer.Decide(c.Request().Context(), p, perms, in.Permission)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, d)
}

// actor is the principal with its permissions, resolved once per
// request, and a way to ask whether it has stepped up (the grant rules ask
// only when a danger action is at stake).
func (s *Server) actor(c echo.Context) (identity.Actor, error) {
	p := principal(c)
	perms, err := s.permissions(c, p)
	if err != nil {
		return identity.Actor{}, err
	}
	return identity.Actor{Principal: p, Perms: perms, Meta: meta(c), Elevated: func(ctx context.Context) (bool, error) {
		ok, _, err := s.StepUp.Status(ctx, p)
		return ok, err
	}}, nil
}
