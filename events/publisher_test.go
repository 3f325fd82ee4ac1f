package events_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/identityd/identityd/events"
	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

// Each publish is a producer span, a child of the change's traceparent
// when the row carries one; the message carries the traceparent too.
func TestPublishSpan(t *testing.T) {
	brokerURL := apptest.RabbitMQURL(t)
	rec := tracetest.NewSpanRecorder()
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec)))
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) })

	broker, err := events.NewBroker(events.BrokerConfig{URLs: []string{brokerURL}})
	require.NoError(t, err)
	t.Cleanup(func() { _ = broker.Close() })
	pub := events.NewPublisher(broker, 5*time.Second)

	tenant := uuid.NewString()
	got := collect(t, brokerURL, tenant)
	const tp = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
	row := &models.OutboxEvent{Seq: 1, ID: uuid.NewString(), TenantID: &tenant, Type: identity.EventSessionCreated,
		Source: "test", Subject: "u", Time: time.Now().UTC(), Data: `{}`, TraceParent: tp}
	require.NoError(t, pub.Publish(context.Background(), row))

	spans := rec.Ended()
	require.Len(t, spans, 1)
	s := spans[0]
	require.Equal(t, trace.SpanKindProducer, s.SpanKind())
	require.Equal(t, "4bf92f3577b34da6a3ce929d0e0e4736", s.SpanContext().TraceID().String())
	require.Equal(t, "00f067aa0ba902b7", s.Parent().SpanID().String())

	msgs := got.waitFor(t, "the message", func(ms []received) bool { return len(ms) == 1 })
	require.Equal(t, tp, msgs[0].Delivery.Headers[events.TraceHeader])
	require.Equal(t, tp, msgs[0].str("traceparent"))
	require.Equal(t, identity.ExchangeSessionManager, msgs[0].Exchange)
}

// The URLs are tried in order: a dead first broker fails over to the
// next; with none reachable a publish fails within its deadline.
func TestBrokerFailover(t *testing.T) {
	brokerURL := apptest.RabbitMQURL(t)
	dead := "amqp://guest:guest@127.0.0.1:1/"
	b, err := events.NewBroker(events.BrokerConfig{URLs: []string{dead, brokerURL}, Timeout: time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	require.NoError(t, b.Ping(t.Context()))

	none, err := events.NewBroker(events.BrokerConfig{URLs: []string{dead}, Timeout: time.Second})
	require.NoError(t, err)
	t.Cleanup(func() { _ = none.Close() })
	start := time.Now()
	err = events.NewPublisher(none, time.Second).Publish(t.Context(), &models.OutboxEvent{ID: uuid.NewString(),
		Type: identity.EventUserCreated, Time: time.Now(), Data: `{}`})
	require.Error(t, err)
	require.NotContains(t, err.Error(), "guest:guest")
	require.Less(t, time.Since(start), 5*time.Second)
	require.Error(t, none.Ping(t.Context()))
}
