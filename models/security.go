package models

import "time"

// PasswordHistory keeps previous password hashes (bcrypt) to refuse reuse.
type PasswordHistory struct {
	ID        string `gorm:"primaryKey"`
	TenantID  string
	UserID    string
	Hash      string
	CreatedAt time.Time
}

// TableName keeps the table name explicit.
func (PasswordHistory) TableName() string { return "password_history" }

// RecoveryCode is one single-use 2FA recovery code, stored as a keyed hash.
type RecoveryCode struct {
	ID        string `gorm:"primaryKey"`
	TenantID  string
	UserID    string
	CodeHash  string
	UsedAt    *time.Time
	CreatedAt time.Time
}

// EmailCode is a one-time code sent by e-mail, stored as a keyed hash;
// Attempts is claimed atomically before each comparison.
type EmailCode struct {
	ID         string `gorm:"primaryKey"`
	TenantID   string
	UserID     string
	Purpose    string
	CodeHash   string
	Attempts   int
	ExpiresAt  time.Time
	ConsumedAt *time.Time
	CreatedAt  time.Time
}

// Device is a browser or app a user signed in from with the password. Its
// token travels in a cookie or header and is stored as SHA-256. A trusted
// device skips the second factor until TrustedUntil.
type Device struct {
	ID           string `gorm:"primaryKey"`
	TenantID     string
	UserID       string
	TokenHash    string `json:"-"`
	Name         string
	Browser      string
	OS           string `gorm:"column:os"`
	TrustedUntil *time.Time
	RevokedAt    *time.Time
	CreatedAt    time.Time
	LastSeenAt   time.Time
}

// Trusted reports whether the device skips 2FA at now.
func (d *Device) Trusted(now time.Time) bool {
	return d.RevokedAt == nil && d.TrustedUntil != nil && now.Before(*d.TrustedUntil)
}

// Session kinds.
const (
	SessionAPI     = "api"
	SessionBrowser = "browser"
)

// Session is one login (API or browser) with its device information. Every
// token issued under it carries its id, so revoking it revokes them.
type Session struct {
	ID           string `gorm:"primaryKey"`
	TenantID     string
	UserID       string
	DeviceID     *string
	Kind         string
	DeviceName   string
	Browser      string
	OS           string `gorm:"column:os"`
	IPAddress    string
	UserAgent    string
	AuthMethods  StringList `gorm:"type:text"`
	CreatedAt    time.Time
	LastActiveAt time.Time
	ExpiresAt    time.Time
	RevokedAt    *time.Time
}

// Challenge kinds.
const (
	ChallengeTwoFactor      = "2fa"
	ChallengePasswordChange = "password_change"
)

// AuthChallenge is a pending second step of a login; its token is shown
// once and stored as SHA-256. Data holds the login's context as JSON.
type AuthChallenge struct {
	ID         string `gorm:"primaryKey"`
	TokenHash  string
	TenantID   string
	UserID     string
	Kind       string
	Data       string
	Attempts   int
	ExpiresAt  time.Time
	ConsumedAt *time.Time
	CreatedAt  time.Time
}

// AuditLog is one security-relevant event. Metadata never holds a secret.
type AuditLog struct {
	ID        string    `gorm:"primaryKey" json:"id"`
	TenantID  *string   `json:"tenant_id"`
	UserID    *string   `json:"user_id"`
	ActorID   string    `json:"actor_id,omitempty"`
	Action    string    `json:"action"`
	IPAddress string    `json:"ip_address"`
	UserAgent string    `json:"user_agent"`
	Metadata  string    `json:"-"`
	CreatedAt time.Time `json:"created_at"`
}

// FailureResult is what one counted failure (a wrong password or PIN) did.
type FailureResult struct {
	Failures int
	// JustLocked is true for exactly one failure per lock: the one that
	// reached the limit.
	JustLocked  bool
	LockedUntil *time.Time
}

// RateLimit is one rate limit: Rate events per Period, keyed by Name.
type RateLimit struct {
	Name   string
	Rate   int
	Period time.Duration
}

// OutboxMail is one e-mail waiting for the mail worker. Sealed holds the
// message (recipient, subject, text) encrypted, since it may carry a
// one-time code; the row is deleted once delivered. LeasedUntil is the
// claim of the worker sending it; NextAttemptAt backs off after failures.
type OutboxMail struct {
	ID            string `gorm:"primaryKey"`
	TenantID      *string
	Sealed        []byte
	Attempts      int
	NextAttemptAt time.Time
	LeasedUntil   *time.Time
	LastError     string
	CreatedAt     time.Time
}

// TableName keeps the table name explicit.
func (OutboxMail) TableName() string { return "mail_outbox" }
