package events

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/google/uuid"
	amqp "github.com/rabbitmq/amqp091-go"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/metrics"
	"github.com/identityd/identityd/models"
)

// DefaultOTPQueue is the OTP request queue of seed 001.
const DefaultOTPQueue = "identity.otp.requests"

// AttemptsHeader counts how often an OTP request was put back on the queue
// after a transient failure.
const AttemptsHeader = "x-identity-attempts"

// OTPRequest is one message of the OTP request queue: send user_id of
// tenant_id a one-time code for purpose (docs/otp-queue.md).
type OTPRequest struct {
	TenantID string `json:"tenant_id"`
	UserID   string `json:"user_id"`
	Purpose  string `json:"purpose"`
}

// ParseOTPRequest reads a message body strictly: one JSON object with
// exactly tenant_id and user_id (UUIDs) and purpose (as
// POST /api/otp/generate takes it); anything else is an error.
func ParseOTPRequest(body []byte) (OTPRequest, error) {
	var r OTPRequest
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return r, fmt.Errorf("not a JSON object of tenant_id, user_id and purpose: %w", err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return r, errors.New("data after the JSON object")
	}
	if _, err := uuid.Parse(r.TenantID); err != nil {
		return r, errors.New("tenant_id is not a UUID")
	}
	if _, err := uuid.Parse(r.UserID); err != nil {
		return r, errors.New("user_id is not a UUID")
	}
	if !identity.ValidOTPPurpose(r.Purpose) {
		return r, errors.New("purpose must be 1 to 64 of a-z 0-9 _ . : -")
	}
	return r, nil
}

// DeclareOTPQueue declares the OTP request queue name on ch with its
// dead-letter exchange "<name>.dlx" (fanout) and dead-letter queue
// "<name>.dead", all durable. A message rejected without requeue goes to
// the dead-letter queue.
func DeclareOTPQueue(ch *amqp.Channel, name string) error {
	dlx, dead := name+".dlx", name+".dead"
	if err := ch.ExchangeDeclare(dlx, amqp.ExchangeFanout, true, false, false, false, nil); err != nil {
		return fmt.Errorf("events: declare exchange %s: %w", dlx, err)
	}
	if _, err := ch.QueueDeclare(dead, true, false, false, false, nil); err != nil {
		return fmt.Errorf("events: declare queue %s: %w", dead, err)
	}
	if err := ch.QueueBind(dead, "", dlx, false, nil); err != nil {
		return fmt.Errorf("events: bind %s to %s: %w", dead, dlx, err)
	}
	if _, err := ch.QueueDeclare(name, true, false, false, false, amqp.Table{"x-dead-letter-exchange": dlx}); err != nil {
		return fmt.Errorf("events: declare queue %s: %w", name, err)
	}
	return nil
}

// OTPGenerator is the use case a request runs: identity.OneTimeCodes, as
// POST /api/otp/generate calls it.
type OTPGenerator interface {
	Generate(ctx context.Context, a identity.Actor, in identity.GenerateOTP) (*identity.IssuedOTP, error)
}

// OTPQueueActorID is the actor the audit log names for codes the queue
// asked for.
const OTPQueueActorID = "system:otp-queue"

// OTPActor is who a queued request acts as: a service of the request's
// tenant holding identity.otp.send, as a service account calling
// POST /api/otp/generate would be (the broker's credentials stand for the
// caller; the use case's rules, rate limits and audit apply unchanged).
func OTPActor(tenantID string) identity.Actor {
	return identity.Actor{
		Principal: identity.Principal{Kind: models.PrincipalServiceAccount, TenantID: tenantID, UserID: OTPQueueActorID},
		Perms:     identity.PermissionSet{identity.PermOTPSend},
		Meta:      identity.Meta{UserAgent: "identityd (OTP request queue)"},
	}
}

// OTPConsumer consumes the OTP request queue. A request runs the same use
// case as POST /api/otp/generate (the code goes by e-mail through the
// outbox) and is acknowledged only once the code is queued. A message
// that can never succeed (malformed JSON, unknown fields, a bad purpose,
// an unknown tenant or user, an inactive user, a refused rate limit) is
// rejected without requeue, into the dead-letter queue. A transient
// failure (the database unavailable) puts the message back on the queue
// with AttemptsHeader counted up, after a pause, at most MaxRetries times;
// then it is dead-lettered too.
type OTPConsumer struct {
	broker  *Broker
	codes   OTPGenerator
	cfg     OTPConsumerConfig
	metrics *metrics.Metrics
	log     *slog.Logger
}

// OTPConsumerConfig tunes the consumer; zero values take the defaults.
type OTPConsumerConfig struct {
	// Queue is the queue's name (default identity.otp.requests).
	Queue string
	// MaxRetries bounds the requeues after transient failures (default 5;
	// negative: none).
	MaxRetries int
	// Timeout bounds one request's work and each republish (default 10 s).
	Timeout time.Duration
	// RetryDelay is the pause before a requeue, doubled per attempt and
	// capped at MaxBackoff (defaults 500 ms and 5 s); MaxBackoff also caps
	// the wait between reconnections.
	RetryDelay time.Duration
	MaxBackoff time.Duration
}

// OTPConsumerDeps are what NewOTPConsumer needs; Metrics and Log are
// optional.
type OTPConsumerDeps struct {
	Broker  *Broker
	Codes   OTPGenerator
	Config  OTPConsumerConfig
	Metrics *metrics.Metrics
	Log     *slog.Logger
}

// NewOTPConsumer checks d and returns the consumer.
func NewOTPConsumer(d OTPConsumerDeps) (*OTPConsumer, error) {
	if d.Broker == nil || d.Codes == nil {
		return nil, errors.New("events: OTP consumer needs a Broker and Codes")
	}
	c := d.Config
	if c.Queue == "" {
		c.Queue = DefaultOTPQueue
	}
	if c.MaxRetries == 0 {
		c.MaxRetries = 5
	}
	if c.Timeout <= 0 {
		c.Timeout = 10 * time.Second
	}
	if c.RetryDelay <= 0 {
		c.RetryDelay = 500 * time.Millisecond
	}
	if c.MaxBackoff <= 0 {
		c.MaxBackoff = 5 * time.Second
	}
	log := d.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &OTPConsumer{broker: d.Broker, codes: d.Codes, cfg: c, metrics: d.Metrics, log: log}, nil
}

// Run consumes until ctx ends, reconnecting with capped backoff.
func (c *OTPConsumer) Run(ctx context.Context) {
	backoff := newBackoff(100*time.Millisecond, c.cfg.MaxBackoff)
	for ctx.Err() == nil {
		err := c.consume(ctx, backoff.reset)
		if ctx.Err() != nil {
			return
		}
		d := backoff.next()
		c.log.WarnContext(ctx, "otp queue: consumer stopped; reconnecting", "queue", c.cfg.Queue, "err", err, "retry_in", d.String())
		sleep(ctx, d)
	}
}

// consume runs one channel's consumer until it closes or ctx ends;
// started is called once the consumer is registered.
func (c *OTPConsumer) consume(ctx context.Context, started func()) error {
	ch, err := c.broker.Channel(ctx)
	if err != nil {
		return err
	}
	defer func() { go func() { _ = ch.Close() }() }()
	if err := DeclareOTPQueue(ch, c.cfg.Queue); err != nil {
		return err
	}
	if err := ch.Qos(4, 0, false); err != nil {
		return fmt.Errorf("events: qos: %w", err)
	}
	// Confirm mode for the requeue's republish.
	if err := ch.Confirm(false); err != nil {
		return fmt.Errorf("events: confirm mode: %w", err)
	}
	deliveries, err := ch.ConsumeWithContext(ctx, c.cfg.Queue, "", false, false, false, false, nil)
	if err != nil {
		return fmt.Errorf("events: consume %s: %w", c.cfg.Queue, err)
	}
	started()
	for {
		select {
		case <-ctx.Done():
			return nil
		case d, ok := <-deliveries:
			if !ok {
				return errors.New("events: consumer channel closed")
			}
			c.handle(ctx, ch, d)
		}
	}
}

// handle runs one request and settles its delivery.
func (c *OTPConsumer) handle(ctx context.Context, ch *amqp.Channel, d amqp.Delivery) {
	req, err := ParseOTPRequest(d.Body)
	if err != nil {
		c.reject(ctx, d, "malformed request", err)
		return
	}
	wctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	_, err = c.codes.Generate(wctx, OTPActor(req.TenantID), identity.GenerateOTP{Purpose: req.Purpose, UserID: req.UserID})
	cancel()
	var me *models.Error
	switch {
	case err == nil:
		if aerr := d.Ack(false); aerr != nil {
			// The code is queued; the broker will deliver the request
			// again (at least once), and the user gets a fresh code.
			c.log.WarnContext(ctx, "otp queue: ack", "queue", c.cfg.Queue, "err", aerr)
		}
		c.metrics.OTPQueue("sent")
	case ctx.Err() != nil:
		// Shutting down: the request goes back as it was.
		_ = d.Nack(false, true)
	case errors.As(err, &me) && me.Kind != models.KindInternal && me.Kind != models.KindUnavailable:
		// The use case refused it: it will never succeed.
		c.reject(ctx, d, "request refused", err)
	default:
		c.retry(ctx, ch, d, err)
	}
}

// reject dead-letters d.
func (c *OTPConsumer) reject(ctx context.Context, d amqp.Delivery, why string, err error) {
	c.log.WarnContext(ctx, "otp queue: "+why+"; dead-lettered", "queue", c.cfg.Queue, "message_id", d.MessageId, "err", err)
	if rerr := d.Reject(false); rerr != nil {
		c.log.WarnContext(ctx, "otp queue: reject", "queue", c.cfg.Queue, "err", rerr)
	}
	c.metrics.OTPQueue("rejected")
}

// retry puts d back at the tail of the queue with its attempts counted,
// after a pause; past MaxRetries it dead-letters d.
func (c *OTPConsumer) retry(ctx context.Context, ch *amqp.Channel, d amqp.Delivery, cause error) {
	n := Attempts(d.Headers)
	if c.cfg.MaxRetries < 0 || n >= c.cfg.MaxRetries {
		c.reject(ctx, d, fmt.Sprintf("failed after %d retries", n), cause)
		return
	}
	delay := c.cfg.RetryDelay << min(n, 10)
	delay = min(delay, c.cfg.MaxBackoff)
	c.log.WarnContext(ctx, "otp queue: transient failure; requeueing", "queue", c.cfg.Queue, "attempt", n+1, "err", cause, "retry_in", delay.String())
	if !sleep(ctx, delay) {
		_ = d.Nack(false, true)
		return
	}
	headers := amqp.Table{}
	for k, v := range d.Headers {
		headers[k] = v
	}
	headers[AttemptsHeader] = int32(n + 1)
	pctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	dc, err := ch.PublishWithDeferredConfirmWithContext(pctx, "", c.cfg.Queue, false, false, amqp.Publishing{
		Headers: headers, ContentType: d.ContentType, DeliveryMode: amqp.Persistent, MessageId: d.MessageId,
		CorrelationId: d.CorrelationId, Timestamp: d.Timestamp, Type: d.Type, AppId: d.AppId, Body: d.Body,
	})
	if err == nil && dc != nil {
		var ok bool
		if ok, err = dc.WaitContext(pctx); err == nil && !ok {
			err = ErrNacked
		}
	}
	if err != nil {
		// The copy may not be on the queue: the original goes back as it
		// was (uncounted; the broker is failing too).
		c.log.WarnContext(ctx, "otp queue: requeue", "queue", c.cfg.Queue, "err", err)
		_ = d.Nack(false, true)
		return
	}
	_ = d.Ack(false)
}

// Attempts reads AttemptsHeader (0 when absent or not a number).
func Attempts(h amqp.Table) int {
	switch v := h[AttemptsHeader].(type) {
	case int8:
		return int(v)
	case int16:
		return int(v)
	case int32:
		return int(v)
	case int64:
		return int(v)
	case int:
		return v
	case uint8:
		return int(v)
	case uint16:
		return int(v)
	case uint32:
		return int(v)
	}
	return 0
}
