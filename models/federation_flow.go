package models

import "time"

// FederationState is one started sign-in through an upstream identity
// provider (issue 12 §1): what the callback needs to finish it. It is found
// by StateHash, the keyed hash of the random state sent upstream (the
// state itself is never stored), and consumed exactly once.
// PKCEVerifierSealed is the PKCE code verifier sealed under the keyring
// bound to the row id. ReturnTo is where the browser goes once signed in
// (a signed authorization return_to or an allowed next URL, checked again
// at the callback). LinkUserID is set when the flow links the provider to
// an account that is already signed in.
type FederationState struct {
	ID                 string `gorm:"primaryKey"`
	TenantID           string
	ProviderID         string
	StateHash          string
	Nonce              string
	PKCEVerifierSealed []byte
	ReturnTo           string
	Browser            bool
	Remember           bool
	// ForceSecondFactor: the authorization request asked for multi-factor.
	ForceSecondFactor bool
	LinkUserID        *string
	ExpiresAt         time.Time
	ConsumedAt        *time.Time
	CreatedAt         time.Time
}

// TableName keeps the table name explicit.
func (FederationState) TableName() string { return "federation_states" }

// FederationRoleGrant records that a provider's group mapping gave a user a
// role, so that only what the mapping gave is taken back when the group is
// gone upstream.
type FederationRoleGrant struct {
	TenantID   string
	UserID     string `gorm:"primaryKey"`
	ProviderID string `gorm:"primaryKey"`
	RoleID     string `gorm:"primaryKey"`
	CreatedAt  time.Time
}

// TableName keeps the table name explicit.
func (FederationRoleGrant) TableName() string { return "federation_role_grants" }

// FederationLogin is the upstream side of a federated session: which
// provider signed it in and that provider's ID token, sealed under the
// keyring bound to the session id, kept only to send it back as the
// id_token_hint of the upstream logout. It ends with its session.
type FederationLogin struct {
	SessionID     string `gorm:"primaryKey"`
	TenantID      string
	UserID        string
	ProviderID    string
	IDTokenSealed []byte
	CreatedAt     time.Time
	ExpiresAt     time.Time
}

// TableName keeps the table name explicit.
func (FederationLogin) TableName() string { return "federation_logins" }
