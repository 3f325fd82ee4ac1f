package handlers

import (
	"context"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
)

// Every /api route that acts on a tenant's objects goes through one chain:
// authenticate (401) → system-admin bypass → permission (403 forbidden with
// required_permission) → step-up gate (403 step_up_required) → the handler,
// which takes the tenant from the principal and never from the request.

// MachineAuth resolves service-account principals.
type MachineAuth interface {
	// AuthenticateAPIKey returns the principal of a live API key.
	AuthenticateAPIKey(ctx context.Context, key string) (identity.Principal, error)
	// ServiceAccountForClient returns the service account holding a
	// client-credentials client, if any.
	ServiceAccountForClient(ctx context.Context, tenantID, clientID string) (identity.Principal, bool, error)
}

// APIKeyPrefix starts every API key, so the bearer lookup knows which store to ask.
const APIKeyPrefix = "idk_"

const permsKey = "identity.permissions"

// authenticate resolves the bearer credential into a principal: an API key,
// a first-party user token, or a client-credentials token of a client held
// by a service account. Anything else is 401 (or 403 for tokens of
// third-party clients).
func (s *Server) authenticate(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		p, err := s.resolvePrincipal(c)
		if err != nil {
			return err
		}
		c.Set(principalKey, p)
		if p.ActorID != "" {
			// Every audit row written for this request names the admin as
			// actor and the user as subject (identity.WriteAudit).
			c.SetRequest(c.Request().WithContext(identity.WithImpersonation(c.Request().Context(), p.ActorID, p.UserID)))
		}
		if p.Kind != models.PrincipalServiceAccount {
			s.touch(c.Request().Context(), p.SessionID)
		}
		return next(c)
	}
}

func errUnauthenticated() error {
	return models.NewError(models.KindUnauthenticated, "unauthenticated", "Sign in first: send an access token or API key as Authorization: Bearer.", nil)
}

func (s *Server) resolvePrincipal(c echo.Context) (identity.Principal, error) {
	ctx := c.Request().Context()
	token := bearerToken(c.Request())
	if token == "" {
		return identity.Principal{}, errUnauthenticated()
	}
	if strings.HasPrefix(token, APIKeyPrefix) {
		if s.Machines == nil {
			return identity.Principal{}, errUnauthenticated()
		}
		p, err := s.Machines.AuthenticateAPIKey(ctx, token)
		if unavailable(err) {
			return identity.Principal{}, models.ErrUnavailable("api key lookup", err)
		}
		if err != nil {
			return identity.Principal{}, models.NewError(models.KindUnauthenticated, "invalid_token", "The API key is not valid.", nil)
		}
		return p, nil
	}
	ar, sess, err := s.Provider.IntrospectAccessToken(ctx, token)
	if unavailable(err) {
		// The token may well be valid: 503, never a false 401.
		return identity.Principal{}, models.ErrUnavailable("token lookup", err)
	}
	if err != nil {
		return identity.Principal{}, models.NewError(models.KindUnauthenticated, "invalid_token", "The access token is not active.", nil)
	}
	clientID := ar.GetClient().GetID()
	switch sess.Kind {
	case oauth.KindUser:
		if clientID != oauth.FirstPartyClientID(sess.TenantID) {
			return identity.Principal{}, models.NewError(models.KindForbidden, "first_party_token_required", "This API needs a token from /api/auth/login.", nil)
		}
		p := identity.Principal{Kind: models.PrincipalUser, TenantID: sess.TenantID, UserID: sess.Subject, SessionID: sess.SessionID, ClientID: clientID, Token: token}
		if sess.Claims != nil {
			p.AuthTime, p.AMR = sess.Claims.AuthTime, sess.Claims.AuthenticationMethodsReferences
		}
		if act, ok := sess.Extra["act"].(map[string]any); ok {
			p.ActorID, _ = act["sub"].(string)
		}
		// The user must still be active in a live tenant. System
		// administration is read from the user row on every request (never
		// from the token), and an impersonation token never carries it.
		if s.Accounts != nil {
			u, err := s.Accounts.ActiveUser(ctx, p.TenantID, p.UserID)
			if err != nil {
				if models.IsKind(err, models.KindInternal) {
					return identity.Principal{}, err
				}
				return identity.Principal{}, models.NewError(models.KindUnauthenticated, "invalid_token", "The user of this token is not active.", nil)
			}
			p.SystemAdmin = u.IsSystemAdmin && p.ActorID == ""
		}
		return p, nil
	case oauth.KindClient:
		if s.Machines != nil {
			p, ok, err := s.Machines.ServiceAccountForClient(ctx, sess.TenantID, clientID)
			if err != nil {
				return identity.Principal{}, err
			}
			if ok {
				p.Token = token
				return p, nil
			}
		}
	}
	return identity.Principal{}, models.NewError(models.KindForbidden, "principal_not_allowed", "This token cannot use this API.", nil)
}

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
				return &models.Error{Kind: models.KindStepUpRequired, Code: "step_up_required",
					Msg: "This action needs a recent re-authentication.", RequiredPermission: permission,
					StepUp: &models.StepUpInfo{RequestEndpoint: "/api/auth/step-up", StatusEndpoint: "/api/auth/step-up/status",
						TTLSeconds: int(s.Authorizer.StepUpTTL.Seconds())}}
			}
			if !d.Allowed {
				return &models.Error{Kind: models.KindForbidden, Code: "forbidden",
					Msg: "You do not have the permission this action needs.", RequiredPermission: permission}
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
	until, err := s.Authorizer.StepUp(c.Request().Context(), principal(c), identity.StepUpInput{
		Password: in.Password, PIN: in.PIN, Code: in.Code, Reason: in.Reason, Meta: meta(c)})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"elevated": true, "expires_at": until, "ttl_seconds": int(s.Authorizer.StepUpTTL.Seconds())})
}

func (s *Server) apiStepUpStatus(c echo.Context) error {
	ok, until, err := s.Authorizer.StepUpStatus(c.Request().Context(), principal(c))
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
	if err := s.Authorizer.EndStepUp(c.Request().Context(), principal(c)); err != nil {
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
