package models

import (
	"database/sql/driver"
	"encoding/json"
	"fmt"
	"time"
)

// Kinds of upstream identity provider.
const (
	// ProviderOIDC speaks OpenID Connect: discovery from Issuer, a signed
	// ID token validated against the provider's JWKS.
	ProviderOIDC = "oidc"
	// ProviderOAuth2 speaks plain OAuth 2.0: AuthorizationURL, TokenURL
	// and UserinfoURL configured, the person read from userinfo.
	ProviderOAuth2 = "oauth2"
)

// How this service authenticates to a provider's token endpoint.
const (
	ProviderAuthSecretBasic = "client_secret_basic"
	ProviderAuthSecretPost  = "client_secret_post"
	ProviderAuthPrivateKey  = "private_key_jwt"
)

// IdentityProvider is a tenant's upstream identity provider (issue 12):
// enterprise SSO (OpenAM, Entra ID, Okta, Google Workspace, another
// Identity) or a social provider. ClientSecretSealed is the client secret
// AES-256-GCM sealed under the keyring, bound to the provider's id; it is
// never returned. Enabled false hides it from the sign-in page and refuses
// its callbacks.
type IdentityProvider struct {
	ID          string `gorm:"primaryKey"`
	TenantID    string
	Kind        string
	Name        string
	ButtonLabel string
	// Issuer is an OIDC provider's issuer (discovery at
	// Issuer/.well-known/openid-configuration).
	Issuer string
	// AuthorizationURL, TokenURL and UserinfoURL: a plain OAuth 2.0
	// provider's endpoints (an OIDC provider's come from discovery; a
	// UserinfoURL set on one overrides discovery's).
	AuthorizationURL   string
	TokenURL           string
	UserinfoURL        string
	ClientID           string
	ClientSecretSealed []byte
	// ClientAuthMethod is one of ProviderAuth*.
	ClientAuthMethod string
	Scopes           StringList
	Claims           ClaimMapping
	// GroupRoles maps an upstream group to the tenant's role names it
	// grants on every sign-in.
	GroupRoles GroupRoleMap
	// JITProvisioning creates an account at the first sign-in of a
	// person with a verified e-mail and no account.
	JITProvisioning bool
	// AllowedDomains limits the e-mail domains accepted from the provider
	// (empty: any) and are the domains it claims for discovery on the
	// sign-in page.
	AllowedDomains StringList
	Enabled        bool
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// TableName keeps the table name explicit.
func (IdentityProvider) TableName() string { return "identity_providers" }

// ClaimMapping names the upstream claims (ID token or userinfo fields;
// a dotted path reaches into objects) that carry the person's
// attributes. Empty fields take the OIDC defaults: sub, email,
// email_verified, name, groups.
type ClaimMapping struct {
	Subject       string `json:"subject,omitempty"`
	Email         string `json:"email,omitempty"`
	EmailVerified string `json:"email_verified,omitempty"`
	Name          string `json:"name,omitempty"`
	Groups        string `json:"groups,omitempty"`
}

// Value implements driver.Valuer.
func (c ClaimMapping) Value() (driver.Value, error) { return jsonValue("claim mapping", c) }

// Scan implements sql.Scanner.
func (c *ClaimMapping) Scan(src any) error { return jsonScan("claim mapping", src, c) }

// GroupRoleMap maps an upstream group to role names.
type GroupRoleMap map[string]StringList

// Value implements driver.Valuer.
func (g GroupRoleMap) Value() (driver.Value, error) {
	if g == nil {
		return "{}", nil
	}
	return jsonValue("group roles", map[string]StringList(g))
}

// Scan implements sql.Scanner.
func (g *GroupRoleMap) Scan(src any) error { return jsonScan("group roles", src, g) }

// UserIdentity is an upstream identity linked to an account: the person
// the provider calls Subject. A (provider, subject) pair is linked to at
// most one account.
type UserIdentity struct {
	ID          string `gorm:"primaryKey"`
	TenantID    string
	UserID      string
	ProviderID  string
	Subject     string
	Email       string
	CreatedAt   time.Time
	LastLoginAt *time.Time
}

// TableName keeps the table name explicit.
func (UserIdentity) TableName() string { return "user_identities" }

// WebAuthnCredential is a passkey (issue 12 §2): a WebAuthn public-key
// credential registered by a user. CredentialID is the authenticator's
// credential id, PublicKey the COSE key; neither is a secret, but
// neither is sent back beyond what WebAuthn needs. Disabled is set when a
// sign counter went backwards (a cloned authenticator): such a passkey
// signs nobody in until it is removed and registered again.
type WebAuthnCredential struct {
	ID              string `gorm:"primaryKey"`
	TenantID        string
	UserID          string
	Name            string
	CredentialID    []byte
	PublicKey       []byte
	AttestationType string
	AAGUID          []byte `gorm:"column:aaguid"`
	SignCount       uint32
	Transports      StringList
	// UserVerified: the authenticator verified the person at
	// registration; BackupEligible/BackupState are the flags it reported.
	UserVerified   bool
	BackupEligible bool
	BackupState    bool
	Disabled       bool
	CreatedAt      time.Time
	LastUsedAt     *time.Time
}

// TableName keeps the table name explicit.
func (WebAuthnCredential) TableName() string { return "webauthn_credentials" }

func jsonValue(what string, v any) (driver.Value, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", what, err)
	}
	return string(b), nil
}

func jsonScan(what string, src, dst any) error {
	var b []byte
	switch v := src.(type) {
	case nil:
		return nil
	case string:
		b = []byte(v)
	case []byte:
		b = v
	default:
		return fmt.Errorf("%s: cannot scan %T", what, src)
	}
	if len(b) == 0 {
		return nil
	}
	if err := json.Unmarshal(b, dst); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}
