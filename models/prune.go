package models

import (
	"time"
)

// JobLease lets one instance at a time run a periodic job.
type JobLease struct {
	Name        string `gorm:"primaryKey"`
	Holder      string
	LeasedUntil time.Time
}

// PruneOptions say how expired rows are pruned.
type PruneOptions struct {
	// Batch is the most rows one DELETE statement removes (0: 1000).
	Batch int
	// SessionRetention keeps revoked and expired device sessions this long
	// after they ended (0: DefaultSessionRetention), so recent sign-ins stay
	// explainable.
	SessionRetention time.Duration
	// InvitationRetention keeps invitations this long after they ended
	// (accepted, revoked or expired; 0: DefaultInvitationRetention), so an
	// administrator still sees what became of a recent one.
	InvitationRetention time.Duration
}

// AuditPruneOptions say how audit rows are pruned: a tenant's own
// retention (tenants.audit_retention_days), never below MinDays, or
// DefaultDays where it has none (and for rows of no tenant).
type AuditPruneOptions struct {
	DefaultDays int
	MinDays     int
	// Batch is the most rows one DELETE statement removes (0: 1000).
	Batch int
}

// DefaultSessionRetention is how long ended device sessions are kept.
const DefaultSessionRetention = 30 * 24 * time.Hour

// DefaultInvitationRetention is how long ended invitations are kept: as
// long as ended sessions.
const DefaultInvitationRetention = DefaultSessionRetention
