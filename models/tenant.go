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
	// The tenant's own presentation (issue 10 §3), set by its Owner
	// through PATCH /api/tenant; "" when unset.
	Description   string
	Website       string
	LogoURL       string `gorm:"column:logo_url"`
	PrimaryColour string `gorm:"column:primary_colour"`
	DefaultLocale string
	// Settings is the tenant's own settings as a JSON object
	// (identity.TenantSettings; "{}" holds the defaults).
	Settings string
	// DeletionScheduledAt and DeletesAt are set while the tenant's own
	// deletion is pending (DELETE /api/tenant): until DeletesAt only its
	// Owners may sign in (to restore it); then the pruner deletes it.
	DeletionScheduledAt *time.Time
	DeletesAt           *time.Time
	CreatedAt           time.Time
	UpdatedAt           time.Time
}
