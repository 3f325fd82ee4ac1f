package handlers

import (
	"net/http"
	"strings"
)

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
