package models

import (
	"time"
)

// Token formats a client may choose for its access tokens.
const (
	AccessTokenOpaque = "opaque"
	AccessTokenJWT    = "jwt"
)

// JWS algorithms of the signing keys, and so of the ID tokens a client may
// register (id_token_signed_response_alg, OpenID Connect Dynamic Client
// Registration 1.0 §2). RS256 is the default and signs JWT access tokens.
const (
	SigningAlgRS256 = "RS256"
	SigningAlgES256 = "ES256"
)

// SigningAlgs are the algorithms the keyring holds a key of, the default first.
var SigningAlgs = []string{SigningAlgRS256, SigningAlgES256}

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
	// IDTokenSignedResponseAlg is the JWS algorithm of the client's ID
	// tokens: SigningAlgRS256 (also when empty) or SigningAlgES256.
	IDTokenSignedResponseAlg string `gorm:"column:id_token_signed_response_alg"`
	// ServiceAccountID makes client-credentials tokens act as that account.
	ServiceAccountID *string
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// TableName keeps the table name explicit.
func (Client) TableName() string { return "oauth_clients" }

// IDTokenAlg is the algorithm the client's ID tokens are signed with.
func (c *Client) IDTokenAlg() string {
	if c.IDTokenSignedResponseAlg == "" {
		return SigningAlgRS256
	}
	return c.IDTokenSignedResponseAlg
}

// SigningKey is one asymmetric key used to sign ID tokens and JWT access
// tokens, of one Algorithm (SigningAlgs): each algorithm has one key that
// signs. The private part is AES-256-GCM sealed; RetiredAt marks a key that
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

// TableName is the table of every algorithm's keys. (signing_keys, the
// table's name before ES256, is on PostgreSQL a view of its RS256 keys for
// instances of the previous release during a rolling upgrade.)
func (SigningKey) TableName() string { return "jwk_signing_keys" }

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

// ConsentListing is a consent with the name of its client, as the user's
// list of allowed applications shows it.
type ConsentListing struct {
	Consent
	ClientName string
}

// FirstPartyClientPrefix starts the id of every tenant's first-party client
// (FirstPartyClientPrefix + tenant id): the client the login API issues
// tokens to. Such clients are neither listed nor changed by the clients
// API, and the account API takes only their tokens.
const FirstPartyClientPrefix = "first-party-"
