package events

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// Exchanges are the durable topic exchanges the relay publishes to
// (identity.ExchangeOf picks one per event type).
var Exchanges = []string{identity.ExchangeIdentityEvents, identity.ExchangeSessionManager}

// DeclareExchanges declares the relay's exchanges on ch: durable topic
// exchanges, idempotent when they exist with the same kind.
func DeclareExchanges(ch *amqp.Channel) error {
	for _, x := range Exchanges {
		if err := ch.ExchangeDeclare(x, amqp.ExchangeTopic, true, false, false, false, nil); err != nil {
			return fmt.Errorf("events: declare exchange %s: %w", x, err)
		}
	}
	return nil
}

// TraceHeader is the AMQP header that carries the W3C traceparent of the
// change an event reports (when it was traced).
const TraceHeader = "traceparent"

// Publisher publishes outbox rows to RabbitMQ, one at a time, each waited
// for: persistent messages on a channel in confirm mode, routing key = the
// event type, exchange = identity.ExchangeOf(type). Publish returns nil
// only once the broker acknowledged the message; a nack, a closed channel
// or no answer within the timeout is an error, and the row is to be sent
// again (at least once: consumers de-duplicate by the message id, the
// event id).
type Publisher struct {
	broker  *Broker
	timeout time.Duration
	tracer  trace.Tracer

	mu sync.Mutex
	ch *amqp.Channel
}

// NewPublisher publishes through b; timeout bounds each publish and its
// confirm (default 5 s).
func NewPublisher(b *Broker, timeout time.Duration) *Publisher {
	if timeout <= 0 {
		timeout = 5 * time.Second
	}
	return &Publisher{broker: b, timeout: timeout, tracer: otel.Tracer("identityd/events")}
}

// channel returns the publisher's confirm-mode channel, opening one (and
// declaring the exchanges) when there is none or it closed.
func (p *Publisher) channel(ctx context.Context) (*amqp.Channel, error) {
	if p.ch != nil && !p.ch.IsClosed() {
		return p.ch, nil
	}
	p.ch = nil
	ch, err := p.broker.Channel(ctx)
	if err != nil {
		return nil, err
	}
	if err := ch.Confirm(false); err != nil {
		_ = ch.Close()
		return nil, fmt.Errorf("events: confirm mode: %w", err)
	}
	if err := DeclareExchanges(ch); err != nil {
		_ = ch.Close()
		return nil, err
	}
	p.ch = ch
	return ch, nil
}

// reset drops the channel after a failure: its state (pending confirms)
// is unknown, and a fresh one starts clean.
func (p *Publisher) reset() {
	if p.ch != nil {
		ch := p.ch
		go func() { _ = ch.Close() }()
	}
	p.ch = nil
}

// Publish sends e and waits for the broker's confirm. It runs in a
// producer span parented on e's traceparent when e has one.
func (p *Publisher) Publish(ctx context.Context, e *models.OutboxEvent) (err error) {
	exchange := identity.ExchangeOf(e.Type)
	if e.TraceParent != "" {
		ctx = otel.GetTextMapPropagator().Extract(ctx, propagation.MapCarrier{TraceHeader: e.TraceParent})
	}
	ctx, span := p.tracer.Start(ctx, exchange+" publish", trace.WithSpanKind(trace.SpanKindProducer),
		trace.WithAttributes(attribute.String("messaging.system", "rabbitmq"),
			attribute.String("messaging.operation.type", "publish"),
			attribute.String("messaging.destination.name", exchange),
			attribute.String("messaging.rabbitmq.destination.routing_key", e.Type),
			attribute.String("messaging.message.id", e.ID)))
	defer func() {
		if err != nil {
			span.RecordError(err)
			span.SetStatus(codes.Error, "publish failed")
		}
		span.End()
	}()

	body, err := CloudEvent(e)
	if err != nil {
		return err
	}
	msg := amqp.Publishing{
		ContentType:  ContentType,
		DeliveryMode: amqp.Persistent,
		MessageId:    e.ID,
		Type:         e.Type,
		Timestamp:    e.Time.UTC(),
		AppId:        "identityd",
		Body:         body,
	}
	if e.TraceParent != "" {
		msg.Headers = amqp.Table{TraceHeader: e.TraceParent}
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	ctx, cancel := context.WithTimeout(ctx, p.timeout)
	defer cancel()
	ch, err := p.channel(ctx)
	if err != nil {
		return err
	}
	dc, err := ch.PublishWithDeferredConfirmWithContext(ctx, exchange, e.Type, false, false, msg)
	if err != nil {
		p.reset()
		return fmt.Errorf("events: publish %s to %s: %w", e.ID, exchange, err)
	}
	if dc == nil {
		p.reset()
		return fmt.Errorf("events: publish %s to %s: channel not in confirm mode", e.ID, exchange)
	}
	ok, err := dc.WaitContext(ctx)
	if err != nil {
		p.reset()
		return fmt.Errorf("events: publish %s to %s: no confirm: %w", e.ID, exchange, err)
	}
	if !ok {
		p.reset()
		return fmt.Errorf("events: publish %s to %s: %w", e.ID, exchange, ErrNacked)
	}
	return nil
}

// ErrNacked is the broker refusing a message (a nack), or the channel
// closing before it confirmed.
var ErrNacked = errors.New("not confirmed by the broker")
