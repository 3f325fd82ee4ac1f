package models

import "time"

// Kinds of pending WebAuthn ceremony (WebAuthnCeremony.Kind).
const (
	CeremonyRegister     = "register"
	CeremonySecond       = "2fa"
	CeremonyStepUp       = "stepup"
	CeremonyPasswordless = "login"
)

// WebAuthnCeremony is a begun WebAuthn ceremony awaiting its finish step
// (issue 12 §2): the relying party's session data (Data, JSON) found by
// the SHA-256 of its challenge, single-use and short-lived. UserID is nil
// for a passwordless sign-in, which begins before anyone is known. Ref
// binds the ceremony to what began it: the login challenge's id of a
// second factor, the session id of a registration or step-up.
type WebAuthnCeremony struct {
	ID            string `gorm:"primaryKey"`
	ChallengeHash string
	TenantID      string
	UserID        *string
	Kind          string
	Ref           string
	Data          string
	ExpiresAt     time.Time
	ConsumedAt    *time.Time
	CreatedAt     time.Time
}

// TableName keeps the table name explicit.
func (WebAuthnCeremony) TableName() string { return "webauthn_ceremonies" }
