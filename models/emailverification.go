package models

import "time"

// The purposes of an e-mail verification.
const (
	// EmailVerificationSignup proves the user's current address.
	EmailVerificationSignup = "signup"
	// EmailVerificationChange proves a new address before it replaces the
	// user's current one.
	EmailVerificationChange = "change"
)

// EmailVerification is the pending verification of an address for a
// (tenant, user, purpose): at most one row per triple, replaced by each new
// message. NewEmail is the address being proved (the current one for
// sign-up, the new one for a change). TokenHash and CodeHash are keyed
// hashes of the link's token and the 6-digit code (neither is stored);
// Attempts counts the code's tries, UsedAt is set by the one verification
// that consumed it.
type EmailVerification struct {
	ID        string `gorm:"primaryKey"`
	TenantID  string
	UserID    string
	Purpose   string
	NewEmail  string
	TokenHash string `json:"-"`
	CodeHash  string `json:"-"`
	Attempts  int
	ExpiresAt time.Time
	UsedAt    *time.Time
	CreatedAt time.Time
}
