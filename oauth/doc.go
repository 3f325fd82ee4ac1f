// Package oauth composes the fosite OAuth 2.0 / OpenID Connect provider: its
// configuration, the Session type, the token strategy (prefixed opaque HMAC
// tokens, or RFC 9068 JWT access tokens per client), the client-secret Hasher
// with its verified-secret cache, the signing-key manager and JWKS, and the
// discovery document. It knows nothing of HTTP routing or of GORM: storage is
// reached through fosite's interfaces and small ones declared here.
package oauth
