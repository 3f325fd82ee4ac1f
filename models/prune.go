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
}

// DefaultSessionRetention is how long ended device sessions are kept.
const DefaultSessionRetention = 30 * 24 * time.Hour
