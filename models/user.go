package models

import (
	"time"
)

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
	TOTPEnabled       bool   `gorm:"column:totp_enabled"`
	TOTPSecretSealed  []byte `gorm:"column:totp_secret_sealed" json:"-"`
	TOTPPendingSealed []byte `gorm:"column:totp_pending_sealed" json:"-"`
	TOTPLastStep      int64  `gorm:"column:totp_last_step"`
	Email2FAEnabled   bool   `gorm:"column:email_2fa_enabled"`
	// Passkeys counts the user's usable passkeys; storage keeps it with
	// every add, disable and delete of one (never written by UpdateUser).
	Passkeys       int        `gorm:"column:passkeys;<-:false"`
	PINHash        string     `gorm:"column:pin_hash" json:"-"`
	PINFailed      int        `gorm:"column:pin_failed"`
	PINLockedUntil *time.Time `gorm:"column:pin_locked_until"`
	// The device session that enrolled each factor ("" when unknown or
	// enrolled before this was recorded): such a factor cannot step up the
	// session that enrolled it.
	TOTPSessionID     string `gorm:"column:totp_session_id;default:null" json:"-"`
	Email2FASessionID string `gorm:"column:email_2fa_session_id;default:null" json:"-"`
	PINSessionID      string `gorm:"column:pin_session_id;default:null" json:"-"`
	// The profile the user edits themself, released as OpenID Connect
	// standard claims (Core §5.1) per scope: "" is unset. Locale is a
	// canonical BCP 47 tag, Zoneinfo an IANA zone name, PhoneNumber E.164
	// ("+" and digits), verified by a code sent to it; Picture an https URL.
	GivenName   string
	FamilyName  string
	Locale      string
	Zoneinfo    string
	Picture     string
	PhoneNumber string
	// PhoneNumberVerified is true only after the code sent to PhoneNumber
	// came back; changing the number clears it.
	PhoneNumberVerified bool
	// Privacy preferences, both off until the user turns them on (privacy
	// by default, GDPR Art. 25).
	MarketingEmails            bool
	ProfileVisibleToColleagues bool
	// ProfileUpdatedAt is when a profile field last changed (the claim
	// updated_at); nil until the first change.
	ProfileUpdatedAt *time.Time
	CreatedAt        time.Time
	UpdatedAt        time.Time
}

// TwoFactorEnabled reports whether a login needs a second factor.
func (u *User) TwoFactorEnabled() bool { return u.TOTPEnabled || u.Email2FAEnabled }

// HasSecondFactor is the one rule of whether the user has a second
// factor: TOTP or e-mail codes on (TwoFactorEnabled), or a usable passkey.
// Sign-in (the second step, trusted devices, a tenant's required second
// factor), recovery codes and every view of the user read it.
// TwoFactorEnabled alone says whether TOTP or e-mail codes are configured.
func (u *User) HasSecondFactor() bool { return u.TwoFactorEnabled() || u.Passkeys > 0 }

// Locked reports whether the account is locked at now.
func (u *User) Locked(now time.Time) bool { return u.LockedUntil != nil && now.Before(*u.LockedUntil) }

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

// FailureResult is what one counted failure (a wrong password or PIN) did.
type FailureResult struct {
	Failures int
	// JustLocked is true for exactly one failure per lock: the one that
	// reached the limit.
	JustLocked  bool
	LockedUntil *time.Time
}

// UserFilter selects a page of a tenant's users. Nil booleans do not
// filter; Role is a role id or name; Query matches e-mail or name.
type UserFilter struct {
	TenantID  string
	Query     string
	Active    *bool
	Locked    *bool
	TwoFactor *bool
	Role      string
	Offset    int
	Limit     int
}
