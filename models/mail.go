package models

import (
	"time"
)

// OutboxMail is one e-mail waiting for the mail worker. Sealed holds the
// message (recipient, subject, text) encrypted, since it may carry a
// one-time code; the row is deleted once delivered. LeasedUntil is the
// claim of the worker sending it; NextAttemptAt backs off after failures.
// TenantID, UserID and RecipientHash name the person the message is for.
type OutboxMail struct {
	ID       string `gorm:"primaryKey"`
	TenantID *string
	// UserID is the user the message is for (nil when it is for an
	// address without one); RecipientHash a keyed hash of the address.
	// Erasing the person deletes the rows they name.
	UserID        *string
	RecipientHash string
	Sealed        []byte
	Attempts      int
	NextAttemptAt time.Time
	LeasedUntil   *time.Time
	LastError     string
	CreatedAt     time.Time
}

// TableName keeps the table name explicit.
func (OutboxMail) TableName() string { return "mail_outbox" }
