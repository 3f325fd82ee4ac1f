package events

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/identityd/identityd/models"
)

// ContentType is the content type of a message body: a CloudEvent in the
// structured JSON mode (CloudEvents JSON format §3).
const ContentType = "application/cloudevents+json"

// envelope is a CloudEvent 1.0 in its JSON format: the required
// attributes, the optional ones this service sets, and two extensions,
// tenantid and traceparent (the distributed-tracing extension).
type envelope struct {
	SpecVersion     string          `json:"specversion"`
	ID              string          `json:"id"`
	Source          string          `json:"source"`
	Type            string          `json:"type"`
	Time            string          `json:"time"`
	Subject         string          `json:"subject,omitempty"`
	TenantID        string          `json:"tenantid,omitempty"`
	DataContentType string          `json:"datacontenttype"`
	TraceParent     string          `json:"traceparent,omitempty"`
	Data            json.RawMessage `json:"data"`
}

// CloudEvent is the envelope of an outbox row as it leaves the service
// (the RabbitMQ message body, the webhook request body): CloudEvents 1.0
// structured JSON with specversion "1.0", id, source, type, time (RFC 3339 to the nanosecond,
// UTC), subject (when the row names one), the tenantid extension (when the
// event belongs to a tenant), datacontenttype "application/json", the
// traceparent extension (when the change was traced) and data, the row's
// JSON as stored. A row whose data is not JSON is an error.
func CloudEvent(e *models.OutboxEvent) ([]byte, error) {
	data := json.RawMessage(e.Data)
	if !json.Valid(data) {
		return nil, fmt.Errorf("events: event %s (seq %d): data is not JSON", e.ID, e.Seq)
	}
	env := envelope{SpecVersion: "1.0", ID: e.ID, Source: e.Source, Type: e.Type, Time: e.Time.UTC().Format(time.RFC3339Nano),
		Subject: e.Subject, DataContentType: "application/json", TraceParent: e.TraceParent, Data: data}
	if e.TenantID != nil {
		env.TenantID = *e.TenantID
	}
	b, err := json.Marshal(env)
	if err != nil {
		return nil, fmt.Errorf("events: event %s: %w", e.ID, err)
	}
	return b, nil
}
