package models

import "time"

// OutboxEvent is one CloudEvent in the transactional outbox (the events
// table). It is written in the transaction of the change it reports, so it
// exists if and only if that change committed; the relay (RabbitMQ) and the
// webhook dispatcher read it from here.
//
// Seq orders the outbox: the relay and the dispatcher take rows in Seq
// order, so the events of one aggregate leave in the order they were
// written. ID is the CloudEvent id (a UUID), the consumers' de-duplication
// key. Data is the event's JSON body; it never holds a secret, a code, a
// hash or a token.
type OutboxEvent struct {
	Seq      int64  `gorm:"primaryKey;autoIncrement"`
	ID       string `gorm:"uniqueIndex"`
	TenantID *string
	// Type is the CloudEvent type, "identity.user.created".
	Type string
	// Source is the CloudEvent source: the issuer URL.
	Source string
	// Subject is the id of the aggregate the event is about (a user, a
	// client, a tenant...): the CloudEvent subject.
	Subject string
	Time    time.Time
	Data    string
	// TraceParent is the W3C traceparent of the request that made the
	// change ("" when tracing is off), carried into the message headers.
	TraceParent string
	// PublishedAt is when the broker confirmed the event (nil: not yet, or
	// no broker configured). DispatchedAt is when the webhook dispatcher
	// fanned it out to the tenant's webhooks.
	PublishedAt  *time.Time
	DispatchedAt *time.Time
	CreatedAt    time.Time
}

// TableName keeps the table name explicit.
func (OutboxEvent) TableName() string { return "events" }
