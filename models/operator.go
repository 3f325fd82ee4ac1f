package models

import "time"

// AuditFilter selects audit rows. TenantID "" means every tenant (the
// system-admin view); the tenant-scoped API always sets it.
type AuditFilter struct {
	TenantID string
	// Actor matches the row's user_id or actor_id.
	Actor  string
	Action string
	From   time.Time // inclusive; zero: unbounded
	To     time.Time // exclusive; zero: unbounded
	// BeforeTime and BeforeID are the keyset cursor: rows strictly older
	// than (BeforeTime, BeforeID) in (created_at DESC, id DESC) order.
	BeforeTime time.Time
	BeforeID   string
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
