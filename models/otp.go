package models

import "time"

// OneTimeCode is the pending one-time code of a (tenant, user, purpose):
// at most one row per triple, replaced by each new code. CodeHash is a
// keyed hash of the code (the code itself is never stored); Attempts counts
// the verifications claimed against it.
type OneTimeCode struct {
	ID         string `gorm:"primaryKey"`
	TenantID   string
	UserID     string
	Purpose    string
	CodeHash   string `json:"-"`
	Attempts   int
	ExpiresAt  time.Time
	ConsumedAt *time.Time
	CreatedAt  time.Time
}
