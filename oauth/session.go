package oauth

import (
	"maps"
	"time"

	"github.com/mohae/deepcopy"
	"github.com/ory/fosite"
	"github.com/ory/fosite/handler/openid"
	"github.com/ory/fosite/token/jwt"
)

// Principal kinds a Session can stand for.
const (
	KindUser   = "user"
	KindClient = "client"
)

// Session is the one session type of every grant. It embeds fosite's OpenID
// Connect session (ID token claims, expiry per token type, subject) and adds
// the tenant, which introspection and userinfo report as tenant_id. It is
// stored as JSON and must round-trip.
type Session struct {
	*openid.DefaultSession `json:"oidc"`
	TenantID               string `json:"tenant_id"`
	ClientID               string `json:"client_id"`
	Kind                   string `json:"kind"`
	// SessionID is the login session (device session) the grant belongs to.
	SessionID string         `json:"sid,omitempty"`
	Extra     map[string]any `json:"extra,omitempty"`
}

var (
	_ fosite.Session            = (*Session)(nil)
	_ openid.Session            = (*Session)(nil)
	_ fosite.ExtraClaimsSession = (*Session)(nil)
)

// NewSession returns an empty session, ready to be filled by storage.
func NewSession() *Session {
	return &Session{DefaultSession: &openid.DefaultSession{
		Claims:  &jwt.IDTokenClaims{Extra: map[string]any{}},
		Headers: &jwt.Headers{Extra: map[string]any{}},
	}}
}

// NewUserSession returns the session of a user who authenticated at authTime
// for an authorization request first seen at requestedAt.
func NewUserSession(issuer, tenantID, userID, clientID string, authTime, requestedAt time.Time) *Session {
	s := NewSession()
	s.Kind = KindUser
	s.TenantID = tenantID
	s.ClientID = clientID
	s.Subject = userID
	s.Claims.Subject = userID
	s.Claims.Issuer = issuer
	s.Claims.AuthTime = authTime.UTC().Truncate(time.Second)
	s.Claims.RequestedAt = requestedAt.UTC().Truncate(time.Second)
	s.Claims.Extra["tenant_id"] = tenantID
	return s
}

// NewClientSession returns the session of a client acting for itself
// (client credentials): the subject is the client id. It is the session the
// token endpoint issues (Provider.GrantClientCredentials) and the one tests
// build. The issuer is set as in every user session, though no ID token is
// ever signed from a client's session.
func NewClientSession(issuer, tenantID, clientID string) *Session {
	s := NewSession()
	s.Kind = KindClient
	s.TenantID = tenantID
	s.ClientID = clientID
	s.Subject = clientID
	s.Claims.Subject = clientID
	s.Claims.Issuer = issuer
	return s
}

// GetTenantID returns the tenant of the principal.
func (s *Session) GetTenantID() string { return s.TenantID }

// GetSessionID returns the login session the grant belongs to.
func (s *Session) GetSessionID() string { return s.SessionID }

// GetExtraClaims is what introspection adds to its response (RFC 7662 §2.2
// allows extensions): tenant_id, the principal kind, and any extra claims.
func (s *Session) GetExtraClaims() map[string]any {
	out := make(map[string]any, len(s.Extra)+2)
	maps.Copy(out, s.Extra)
	if s.TenantID != "" {
		out["tenant_id"] = s.TenantID
	}
	if s.Kind != "" {
		out["principal_type"] = s.Kind
	}
	if s.Kind == KindUser && s.DefaultSession != nil && s.Claims != nil {
		if s.Claims.AuthenticationContextClassReference != "" {
			out["acr"] = s.Claims.AuthenticationContextClassReference
		}
		if len(s.Claims.AuthenticationMethodsReferences) > 0 {
			out["amr"] = s.Claims.AuthenticationMethodsReferences
		}
		if !s.Claims.AuthTime.IsZero() {
			out["auth_time"] = s.Claims.AuthTime.Unix()
		}
	}
	return out
}

// Clone returns a deep copy.
func (s *Session) Clone() fosite.Session {
	if s == nil {
		return nil
	}
	c := *s
	if s.DefaultSession != nil {
		c.DefaultSession = s.DefaultSession.Clone().(*openid.DefaultSession)
	}
	if s.Extra != nil {
		// Extra holds JSON-shaped values (nested maps and slices): copy them
		// too, so a change through the clone never reaches the original.
		c.Extra = deepcopy.Copy(s.Extra).(map[string]any)
	}
	return &c
}

// Authentication context classes this server asserts (RFC 9470 acr).
const (
	ACRPassword    = "urn:identity:acr:pwd"
	ACRMultiFactor = "urn:identity:acr:mfa"
)

// AMRAndACR turns a login's methods into the RFC 8176 amr values of an ID
// token (pwd, otp, pin, and mfa when a second factor was used) and its acr.
func AMRAndACR(methods []string) ([]string, string) {
	var amr []string
	mfa := false
	for _, m := range methods {
		switch m {
		case "pwd", "pin":
			amr = append(amr, m)
		case "otp":
			amr = append(amr, m)
			mfa = true
		}
	}
	if len(amr) == 0 {
		amr = []string{"pwd"}
	}
	if mfa {
		return append(amr, "mfa"), ACRMultiFactor
	}
	return amr, ACRPassword
}
