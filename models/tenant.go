package models

import (
	"time"
)

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
