package models

import (
	"strings"
	"time"
)

// Webhook is a tenant's HTTP receiver of its CloudEvents (issue 11 §3).
// SecretSealed is the signing secret, AES-256-GCM sealed under the
// keyring (the HMAC needs the raw secret, so it cannot be hashed); it is
// shown once, at creation and at each rotation, never again.
//
// EventTypes selects the events (empty: every event): each entry is an
// event type ("identity.user.created") or a prefix pattern ending in ".*"
// ("identity.user.*"). Enabled is false when an administrator turned the
// webhook off or when the delivery worker disabled it after
// ConsecutiveFailures failed attempts in a row (DisabledReason says which).
type Webhook struct {
	ID                  string `gorm:"primaryKey"`
	TenantID            string
	URL                 string
	Description         string
	EventTypes          StringList
	SecretSealed        []byte
	Enabled             bool
	DisabledReason      string
	DisabledAt          *time.Time
	ConsecutiveFailures int
	CreatedAt           time.Time
	UpdatedAt           time.Time
}

// TableName keeps the table name explicit.
func (Webhook) TableName() string { return "webhooks" }

// Subscribes reports whether the webhook wants events of eventType: every
// event when EventTypes is empty, else an exact entry or a ".*" prefix
// pattern that covers it. The test event always goes to the webhook it
// was asked for, whatever it subscribes to.
func (w *Webhook) Subscribes(eventType string) bool {
	if len(w.EventTypes) == 0 {
		return true
	}
	for _, t := range w.EventTypes {
		if t == eventType || t == "*" {
			return true
		}
		if p, ok := strings.CutSuffix(t, "*"); ok && strings.HasSuffix(p, ".") && strings.HasPrefix(eventType, p) {
			return true
		}
	}
	return false
}

// Delivery states. Pending deliveries are tried (again) at NextAttemptAt;
// the other states are final.
const (
	DeliveryPending   = "pending"
	DeliveryDelivered = "delivered"
	// DeliveryFailed: a delivery that failed for good without retrying
	// (its webhook is gone).
	DeliveryFailed = "failed"
	// DeliveryGaveUp: retried for the whole retry window without a 2xx.
	DeliveryGaveUp = "gave_up"
	// DeliveryRefused: the target resolved to an address the SSRF rule
	// forbids; the connection was never made.
	DeliveryRefused = "refused"
)

// WebhookDelivery is one event on its way to one webhook. The event's
// CloudEvent attributes are copied in when the dispatcher creates it, so
// the delivery outlives the outbox row; Data is the CloudEvent data (JSON).
// LastError is a safe sentence, never the receiver's body.
type WebhookDelivery struct {
	ID             string `gorm:"primaryKey"`
	WebhookID      string
	TenantID       string
	EventID        string
	EventType      string
	EventSource    string
	EventSubject   string
	EventTime      time.Time
	Data           string
	TraceParent    string
	Status         string
	Attempts       int
	NextAttemptAt  time.Time
	LeasedUntil    *time.Time
	LastStatusCode int
	LastError      string
	LastLatencyMS  int64
	CreatedAt      time.Time
	DeliveredAt    *time.Time
}

// TableName keeps the table name explicit.
func (WebhookDelivery) TableName() string { return "webhook_deliveries" }

// WebhookAttempt is one HTTP attempt of a delivery: the delivery log.
// Outcome is delivered, failed or refused; StatusCode is 0 when no answer
// came (a timeout, a refused connection).
type WebhookAttempt struct {
	ID         string `gorm:"primaryKey"`
	DeliveryID string
	WebhookID  string
	TenantID   string
	Attempt    int
	Outcome    string
	StatusCode int
	Error      string
	LatencyMS  int64
	CreatedAt  time.Time
}

// TableName keeps the table name explicit.
func (WebhookAttempt) TableName() string { return "webhook_attempts" }
