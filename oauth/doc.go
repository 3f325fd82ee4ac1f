// Package oauth composes the fosite OAuth 2.0 / OpenID Connect provider: its
// configuration (provider.go), the Session type (session.go), the token
// strategy (prefixed opaque HMAC tokens, or RFC 9068 JWT access tokens per
// client), client authentication and the client-secret Hasher with its
// verified-secret cache, the signing-key manager and JWKS, and the discovery
// document.
//
// It also holds the protocol decisions the HTTP layer acts on: the login
// and consent decision of the authorization endpoint (consent.go,
// ConsentStrategy.Decide, Hydra's consent strategy at this scale), the
// claims a user's scopes release to the ID token and userinfo alike
// (claims.go, UserClaims), the session of a client-credentials grant
// (Provider.GrantClientCredentials, built by NewClientSession), the
// first-party tokens of the login API (firstparty.go), and the RFC 6749
// errors fosite lacks, as constructors (errors.go).
//
// It knows nothing of HTTP routing, of identity's services or of GORM:
// storage is reached through fosite's interfaces and small ones declared
// here (ConsentStore, LoginMethods, FirstPartyClients).
package oauth
