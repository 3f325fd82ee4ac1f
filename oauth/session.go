package oauth

import (
	"maps"
	"slices"
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

// rfc8176 are the Authentication Method Reference values of the RFC 8176
// registry an ID token may carry. A login's own markers (trusted_device,
// recovery, fed) stay in the session and never reach a token.
var rfc8176 = map[string]bool{
	"face": true, "fpt": true, "geo": true, "hwk": true, "iris": true, "kba": true, "mca": true, "mfa": true, "otp": true,
	"pin": true, "pop": true, "pwd": true, "rba": true, "retina": true, "sc": true, "sms": true, "swk": true, "tel": true,
	"user": true, "vbm": true, "wia": true,
}

// AMRAndACR turns a login's methods into the RFC 8176 amr values of an ID
// token and its acr. The login is multi-factor (mfa, ACRMultiFactor) when
// a second factor was used (otp), when a passkey verified its user (hwk
// with user), or when an upstream provider said so (mfa). Methods outside
// the registry are dropped; a login with none left is a password's, except
// a sign-in through an upstream provider that reported none ("fed" alone):
// its ID token carries no amr rather than a password nobody typed here.
func AMRAndACR(methods []string) ([]string, string) {
	var amr []string
	mfa, hwk, user := false, false, false
	for _, m := range methods {
		if !rfc8176[m] || slices.Contains(amr, m) {
			continue
		}
		switch m {
		case "otp", "mfa":
			mfa = true
		case "hwk":
			hwk = true
		case "user":
			user = true
		}
		if m != "mfa" {
			amr = append(amr, m)
		}
	}
	if len(amr) == 0 && !slices.Contains(methods, "fed") {
		amr = []string{"pwd"} // a session from before methods were recorded
	}
	if mfa || hwk && user {
		return append(amr, "mfa"), ACRMultiFactor
	}
	return amr, ACRPassword
}
