package models

import (
	"time"
)

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

// ErasedValue replaces a personal value in the audit metadata of an
// erased person.
const ErasedValue = "[erased]"

// AuditErasure says how an erased person's audit trail is rewritten.
type AuditErasure struct {
	// UserID is the erased person's id; Pseudonym replaces it in user_id,
	// actor_id and any metadata value (a UUID, as user_id is one).
	UserID, Pseudonym string
	// Identifiers are the person's e-mail address, names and phone number:
	// no row may keep them, whoever's row it is.
	Identifiers []string
	// PersonalKeys are metadata keys whose value is personal on a row
	// whose subject (user_id) is the person (email, name, …): replaced by
	// ErasedValue.
	PersonalKeys []string
}
