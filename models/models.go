package models

import "time"

// Tenant is an isolated organisation: its users, clients and grants never
// mix with another tenant's.
type Tenant struct {
	ID   string `gorm:"primaryKey"`
	Slug string
	Name string
	// SuspendedAt set: every login and token of the tenant is refused.
	SuspendedAt *time.Time
	// AuditRetentionDays overrides the global retention (0: the default).
	AuditRetentionDays int
	CreatedAt          time.Time
	UpdatedAt          time.Time
}

// User is a person who signs in within one tenant. Email is stored
// lower-cased and is unique per tenant.
type User struct {
	ID            string `gorm:"primaryKey"`
	TenantID      string
	Email         string
	PasswordHash  string `json:"-"`
	Name          string
	EmailVerified bool
	IsActive      bool
	// IsSystemAdmin is set only through the system-admin endpoint and the CLI.
	IsSystemAdmin bool
	// FailedLogins and LockedUntil change only in one atomic UPDATE each.
	FailedLogins        int
	LockedUntil         *time.Time
	PasswordChangedAt   *time.Time
	ForcePasswordChange bool
	// TOTP: the confirmed secret and a pending one, both AES-256-GCM sealed;
	// TOTPLastStep is the last accepted time step (replay guard).
	TOTPEnabled       bool       `gorm:"column:totp_enabled"`
	TOTPSecretSealed  []byte     `gorm:"column:totp_secret_sealed" json:"-"`
	TOTPPendingSealed []byte     `gorm:"column:totp_pending_sealed" json:"-"`
	TOTPLastStep      int64      `gorm:"column:totp_last_step"`
	Email2FAEnabled   bool       `gorm:"column:email_2fa_enabled"`
	PINHash           string     `gorm:"column:pin_hash" json:"-"`
	PINFailed         int        `gorm:"column:pin_failed"`
	PINLockedUntil    *time.Time `gorm:"column:pin_locked_until"`
	// The device session that enrolled each factor ("" when unknown or
	// enrolled before this was recorded): such a factor cannot step up the
	// session that enrolled it.
	TOTPSessionID     string `gorm:"column:totp_session_id;default:null" json:"-"`
	Email2FASessionID string `gorm:"column:email_2fa_session_id;default:null" json:"-"`
	PINSessionID      string `gorm:"column:pin_session_id;default:null" json:"-"`
	CreatedAt         time.Time
	UpdatedAt         time.Time
}

// TwoFactorEnabled reports whether a login needs a second factor.
func (u *User) TwoFactorEnabled() bool { return u.TOTPEnabled || u.Email2FAEnabled }

// Locked reports whether the account is locked at now.
func (u *User) Locked(now time.Time) bool { return u.LockedUntil != nil && now.Before(*u.LockedUntil) }

// Token formats a client may choose for its access tokens.
const (
	AccessTokenOpaque = "opaque"
	AccessTokenJWT    = "jwt"
)

// Client is an OAuth 2.0 client of one tenant. List fields are stored as
// JSON arrays. SecretHash is an algorithm-prefixed hash; a rotated secret's
// previous hash stays valid until RotatedSecretExpiresAt.
type Client struct {
	ID                     string `gorm:"primaryKey"`
	TenantID               string
	Name                   string
	SecretHash             string
	RotatedSecretHash      string
	RotatedSecretExpiresAt *time.Time
	RedirectURIs           StringList `gorm:"column:redirect_uris;type:text"`
	GrantTypes             StringList `gorm:"type:text"`
	ResponseTypes          StringList `gorm:"type:text"`
	Scopes                 StringList `gorm:"type:text"`
	Audience               StringList `gorm:"type:text"`
	// PostLogoutRedirectURIs are where RP-initiated logout may return the
	// browser (matched exactly, like redirect URIs).
	PostLogoutRedirectURIs StringList `gorm:"column:post_logout_redirect_uris;type:text"`
	// TokenEndpointAuthMethod is the client's registered method (RFC 7591);
	// TokenEndpointAuthMethods every method it may use (empty: that one alone).
	TokenEndpointAuthMethod  string
	TokenEndpointAuthMethods StringList `gorm:"type:text"`
	// IntrospectAllTenants lets a system-level resource server introspect
	// tokens of every tenant; any other client sees only its own tenant's.
	IntrospectAllTenants bool
	Public               bool
	SkipConsent          bool
	AccessTokenFormat    string
	// ServiceAccountID makes client-credentials tokens act as that account.
	ServiceAccountID *string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// TableName keeps the table name explicit.
func (Client) TableName() string { return "oauth_clients" }

// SigningKey is one asymmetric key used to sign ID tokens and JWT access
// tokens. The private part is AES-256-GCM sealed; RetiredAt marks a key that
// no longer signs, and it leaves the JWKS at PublishUntil.
type SigningKey struct {
	ID            string `gorm:"primaryKey"`
	Algorithm     string
	PublicJWK     string
	PrivateSealed []byte
	CreatedAt     time.Time
	RetiredAt     *time.Time
	PublishUntil  *time.Time
}

// Consent records the scopes a user granted to a client.
type Consent struct {
	ID        string `gorm:"primaryKey"`
	TenantID  string
	UserID    string
	ClientID  string
	Scopes    StringList `gorm:"type:text"`
	CreatedAt time.Time
	UpdatedAt time.Time
}

// LoginSession is a browser's signed-in state at this server: the cookie
// carries a random token whose SHA-256 is TokenHash.
type LoginSession struct {
	ID        string `gorm:"primaryKey"`
	TokenHash string
	TenantID  string
	UserID    string
	AuthTime  time.Time
	Remember  bool
	ExpiresAt time.Time
	CreatedAt time.Time
	// SessionID is the device session this browser login belongs to.
	SessionID *string
}
