package identity

import "time"

// Principal is an authenticated caller as the API sees it: a user (Kind
// "" or models.PrincipalUser) or a service account (UserID then holds the
// service account's id).
type Principal struct {
	Kind        string
	SystemAdmin bool
	// ActorID is the system admin acting through an impersonation token.
	ActorID   string
	TenantID  string
	UserID    string
	SessionID string
	ClientID  string
	Token     string
	AuthTime  time.Time
	AMR       []string
}

// Meta is where a request came from, for sessions and the audit log.
type Meta struct {
	IP        string
	UserAgent string
	// SameOrigin: a JSON request a browser sent from the server's own
	// origin, the only kind that may start a browser session from an API
	// login (login CSRF); set by the routes that finish a login.
	SameOrigin bool
}
