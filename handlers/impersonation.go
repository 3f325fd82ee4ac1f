package handlers

import (
	"context"
	"net/http"
	"strings"
	"time"

	"github.com/identityd/identityd/identity"
	"github.com/labstack/echo/v4"
)

// Impersonator gives system administrators a token acting as a user
// (identity.Impersonation).
type Impersonator interface {
	Impersonate(ctx context.Context, p identity.Principal, in identity.ImpersonationInput) (*identity.ImpersonationToken, error)
}

// One rule for impersonation tokens (an admin acting as a user, RFC 8693
// "act" claim): they may read and act on the user's data, but never change
// the user's credentials or security settings, and never step up.
//
// On the account API (every route behind requireUser) the rule is a
// default deny: only the routes below answer an impersonation token, so a
// security route added later is refused until someone decides otherwise
// (TestImpersonationRefusedOnSecurityRoutes walks every route). On the
// admin API the rule is keyed on the route's permission.

// impersonationAllowed are the account-API routes an impersonation token
// may use: reading the account, editing its profile, ending this token.
var impersonationAllowed = map[string]bool{
	http.MethodGet + " /api/auth/me":             true,
	http.MethodPatch + " /api/auth/me":           true,
	http.MethodGet + " /api/devices":             true,
	http.MethodGet + " /api/sessions":            true,
	http.MethodGet + " /api/audit/me":            true,
	http.MethodGet + " /api/auth/step-up/status": true,
	http.MethodPost + " /api/auth/logout":        true,
}

func impersonationAllowedRoute(method, path string) bool {
	return impersonationAllowed[method+" "+path]
}

// impersonationRefusedActions are the permission actions (the last segment)
// that change someone's credentials or security settings; an impersonation
// token is refused them on every admin route, whatever the user holds.
var impersonationRefusedActions = map[string]bool{
	"force_password_change": true, "unlock": true, "reset_2fa": true, "rotate": true,
}

func impersonationRefusedPermission(permission string) bool {
	if strings.HasPrefix(permission, "identity.api_keys.") || strings.HasPrefix(permission, "identity.devices.") && !strings.HasSuffix(permission, ".read") {
		return true
	}
	i := strings.LastIndexByte(permission, '.')
	return impersonationRefusedActions[permission[i+1:]]
}

// bearerToken reads the bearer credential of an /api request from the
// Authorization header only: never from the query (?access_token=) or a
// form field, where it would leak into logs and Referer headers (RFC 6750
// §2.2 and §2.3 are MAYs; this server does not offer them).
func bearerToken(r *http.Request) string {
	scheme, token, ok := strings.Cut(r.Header.Get("Authorization"), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// adminImpersonate gives a system admin a token acting as a user; the
// token's introspection carries act (RFC 8693 §4.1).
func (s *Server) adminImpersonate(c echo.Context) error {
	var in struct {
		TenantID string `json:"tenant_id"`
		UserID   string `json:"user_id"`
		Reason   string `json:"reason"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	p := principal(c)
	imp, err := s.Impersonation.Impersonate(c.Request().Context(), p, identity.ImpersonationInput{
		TenantID: in.TenantID, UserID: in.UserID, Reason: in.Reason, Meta: meta(c)})
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]any{
		"access_token": imp.Token,
		"token_type":   "Bearer",
		"expires_in":   int64(time.Until(imp.ExpiresAt).Seconds()),
		"expires_at":   imp.ExpiresAt,
		"user":         viewUser(imp.User),
		"act":          map[string]any{"sub": p.UserID, "tenant_id": p.TenantID},
	})
}
