package models

import "time"

// Invitation states. Expired is computed from ExpiresAt, never stored.
const (
	InvitationPending  = "pending"
	InvitationAccepted = "accepted"
	InvitationExpired  = "expired"
	InvitationRevoked  = "revoked"
)

// Invitation asks a person (by e-mail) to join a tenant with some roles.
// The link's token is stored only as a keyed hash (TokenHash), never
// rendered.
type Invitation struct {
	ID        string `gorm:"primaryKey"`
	TenantID  string
	Email     string
	Roles     StringList // role ids
	Message   string
	InviterID *string
	TokenHash string `json:"-"`
	ExpiresAt time.Time
	// AcceptedAt and AcceptedUserID are set by the one accept that claimed it.
	AcceptedAt     *time.Time
	AcceptedUserID *string
	RevokedAt      *time.Time
	CreatedAt      time.Time
	UpdatedAt      time.Time
}

// Status is the invitation's state at now.
func (i *Invitation) Status(now time.Time) string {
	switch {
	case i.AcceptedAt != nil:
		return InvitationAccepted
	case i.RevokedAt != nil:
		return InvitationRevoked
	case !now.Before(i.ExpiresAt):
		return InvitationExpired
	}
	return InvitationPending
}

// InvitationFilter selects a page of a tenant's invitations: Status ("" for
// all) is the state at Now; newest first.
type InvitationFilter struct {
	TenantID string
	Status   string
	Now      time.Time
	Offset   int
	Limit    int
}
