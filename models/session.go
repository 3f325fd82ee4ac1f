package models

import (
	"time"
)

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
	// ChallengeTwoFactorEnrolment: the tenant requires a second factor for
	// one of the user's roles and the user has none; it is enrolled before
	// the login completes.
	ChallengeTwoFactorEnrolment = "2fa_enrolment"
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
