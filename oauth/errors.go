package oauth

import (
	"net/http"

	"github.com/ory/fosite"
)

// The RFC 6749 errors fosite does not define. Each is a function returning
// a fresh value: fosite's builders (WithHint, WithWrap) copy, but Wrap and
// WithTrace mutate their receiver, so a shared *RFC6749Error could be
// changed by any caller.

// ErrUnmetAuthenticationRequirements answers an acr_values the user's
// account cannot satisfy (OpenID Connect Core 1.0 errata, RFC 9470 §3).
func ErrUnmetAuthenticationRequirements() *fosite.RFC6749Error {
	return &fosite.RFC6749Error{
		ErrorField:       "unmet_authentication_requirements",
		DescriptionField: "The authentication requirements of the request (acr_values) cannot be met for this account.",
		CodeField:        http.StatusBadRequest,
	}
}

// errWrongPrefix answers a token without the prefix of its kind.
func errWrongPrefix() *fosite.RFC6749Error {
	return fosite.ErrInvalidTokenFormat.WithHint("The token does not have the expected prefix.")
}
