// Package oauthcli is the client side of identityd's command line: the
// calls behind `identityd perform client-credentials`, `identityd perform
// authorization-code`, `identityd introspect` and `identityd revoke`, in the
// spirit of Ory Hydra's `hydra perform …`, `hydra introspect token` and
// `hydra revoke token`.
//
// It is a library: it parses no flags, never exits and prints nothing,
// except the authorization URL PerformAuthorizationCode writes to
// AuthorizationCode.Out for the user to open. Every function starts from an
// Endpoint (the issuer's base URL) and finds the server's endpoints by OpenID
// Connect Discovery (/.well-known/openid-configuration), as any relying
// party would, so it talks to identityd or any other conforming server.
//
// The protocol work is done by the usual clients: golang.org/x/oauth2 (its
// clientcredentials package, PKCE S256) for the token endpoint and
// github.com/coreos/go-oidc/v3 for discovery and ID token verification.
// Introspection (RFC 7662) and revocation (RFC 7009) are plain form POSTs
// with client authentication.
//
// Errors: an OAuth error answer of the server (RFC 6749 §5.2, §4.1.2.1) is
// an *Error carrying its error and error_description; ErrStateMismatch,
// ErrIssuerMismatch and ErrNoCallbackCode are the loopback redirect's
// failures. No error, and
// nothing written to Out, ever contains a client secret or a token.
//
// Every network call runs under ctx; a ctx without a deadline gets
// Endpoint.Timeout (DefaultTimeout when zero), so nothing hangs when the
// server is down or stops answering. PerformAuthorizationCode waits for a
// person: that wait is bounded by ctx or AuthorizationCode.Timeout, and each
// of its network steps by Endpoint.Timeout as well.
package oauthcli
