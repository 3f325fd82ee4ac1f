package webhook

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"

	"github.com/identityd/identityd/events"
	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/metrics"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
)

// Defaults of the jobs' tunables (a zero field takes these).
const (
	DefaultInterval     = time.Second
	DefaultBatch        = 100
	DefaultTimeout      = 10 * time.Second
	DefaultBackoffBase  = 30 * time.Second
	DefaultBackoffCap   = time.Hour
	DefaultMaxAge       = 24 * time.Hour
	DefaultDisableAfter = 50
	DefaultRetention    = 30 * 24 * time.Hour
	DefaultConcurrency  = 8
	// DispatchLease names the dispatcher's job lease (one instance fans
	// events out at a time).
	DispatchLease = "webhook-dispatch"
)

// DispatchStore is what the Dispatcher needs from storage.
type DispatchStore interface {
	HoldLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	DispatchWebhookEvents(ctx context.Context, limit int) (events, deliveries int, err error)
	PruneWebhookDeliveries(ctx context.Context, cutoff time.Time, batch int) (int64, error)
}

// Dispatcher fans outbox events out into deliveries, under a job lease.
type Dispatcher struct {
	Store  DispatchStore
	Holder string
	// Interval is the poll interval, Batch the events per transaction,
	// Retention how long finished deliveries are kept (pruned hourly).
	Interval  time.Duration
	Batch     int
	Retention time.Duration
	Log       *slog.Logger

	lastPrune time.Time
}

// RunOnce fans out every undispatched event if this instance holds (or
// takes) the lease, and prunes old deliveries once an hour. It returns how
// many deliveries it created.
func (d *Dispatcher) RunOnce(ctx context.Context) (int, error) {
	interval := or(d.Interval, DefaultInterval)
	won, err := d.Store.HoldLease(ctx, DispatchLease, d.Holder, max(10*interval, 30*time.Second))
	if err != nil || !won {
		return 0, err
	}
	batch := d.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	total := 0
	for ctx.Err() == nil {
		events, deliveries, err := d.Store.DispatchWebhookEvents(ctx, batch)
		total += deliveries
		if err != nil {
			return total, err
		}
		if events < batch {
			break
		}
	}
	if time.Since(d.lastPrune) > time.Hour {
		d.lastPrune = time.Now()
		if _, err := d.Store.PruneWebhookDeliveries(ctx, time.Now().Add(-or(d.Retention, DefaultRetention)), 1000); err != nil {
			return total, err
		}
	}
	return total, nil
}

// Run dispatches every Interval until ctx ends.
func (d *Dispatcher) Run(ctx context.Context) {
	tick := time.NewTicker(or(d.Interval, DefaultInterval))
	defer tick.Stop()
	for {
		if _, err := d.RunOnce(ctx); err != nil && ctx.Err() == nil {
			logger(d.Log).ErrorContext(ctx, "webhook dispatch", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// DeliveryStore is what the Deliverer needs from storage.
type DeliveryStore interface {
	ClaimDueWebhookDeliveries(ctx context.Context, limit int, lease time.Duration) ([]models.WebhookDelivery, error)
	GetWebhook(ctx context.Context, tenantID, id string) (*models.Webhook, error)
	RecordWebhookAttempt(ctx context.Context, d *models.WebhookDelivery, r storage.WebhookAttemptResult) (int, error)
}

// Opener opens sealed secrets (keyring.Keyring).
type Opener interface {
	Open(sealed, additional []byte) ([]byte, error)
}

// Disabler turns a failing webhook off with its audit row and mail
// (identity.Webhooks).
type Disabler interface {
	DisableForFailures(ctx context.Context, tenantID, id string, failures int) (bool, error)
}

// Deliverer sends due deliveries; any number of instances may run, each
// delivery is claimed by one.
type Deliverer struct {
	Store    DeliveryStore
	Secrets  Opener
	Disabler Disabler
	// Client is the HTTP client (NewClient: the SSRF-checking dialer).
	Client  *http.Client
	Metrics *metrics.Metrics
	Log     *slog.Logger
	// Interval is the poll interval and Batch the deliveries claimed at
	// once, Concurrency how many are sent at once. Timeout bounds one
	// attempt (the claim's lease covers it). A failed attempt is retried
	// after BackoffBase·2^(attempt-1), capped at BackoffCap, half of it
	// random (jitter), until MaxAge after the delivery was created, then
	// given up. DisableAfter consecutive failed attempts disable the
	// webhook.
	Interval     time.Duration
	Batch        int
	Concurrency  int
	Timeout      time.Duration
	BackoffBase  time.Duration
	BackoffCap   time.Duration
	MaxAge       time.Duration
	DisableAfter int
}

// Run delivers every Interval until ctx ends.
func (d *Deliverer) Run(ctx context.Context) {
	tick := time.NewTicker(or(d.Interval, DefaultInterval))
	defer tick.Stop()
	for {
		for ctx.Err() == nil {
			n, err := d.RunOnce(ctx)
			if err != nil && ctx.Err() == nil {
				logger(d.Log).ErrorContext(ctx, "webhook deliveries", "err", err)
			}
			if err != nil || n == 0 {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
}

// RunOnce claims the due deliveries and sends them, Concurrency at a time;
// it returns how many it tried.
func (d *Deliverer) RunOnce(ctx context.Context) (int, error) {
	batch := d.Batch
	if batch <= 0 {
		batch = DefaultBatch
	}
	timeout := or(d.Timeout, DefaultTimeout)
	due, err := d.Store.ClaimDueWebhookDeliveries(ctx, batch, 2*timeout+30*time.Second)
	if err != nil {
		return 0, err
	}
	conc := d.Concurrency
	if conc <= 0 {
		conc = DefaultConcurrency
	}
	sem := make(chan struct{}, conc)
	var wg sync.WaitGroup
	var mu sync.Mutex
	var firstErr error
	for i := range due {
		sem <- struct{}{}
		wg.Add(1)
		go func(row *models.WebhookDelivery) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := d.deliver(ctx, row); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		}(&due[i])
	}
	wg.Wait()
	return len(due), firstErr
}

// Envelope is the CloudEvent of delivery row: the same structured-mode
// JSON the relay publishes to RabbitMQ (events.CloudEvent), built from the
// event the delivery carries.
func Envelope(row *models.WebhookDelivery) ([]byte, error) {
	tenant := row.TenantID
	return events.CloudEvent(&models.OutboxEvent{ID: row.EventID, Source: row.EventSource, Type: row.EventType,
		Time: row.EventTime, Subject: row.EventSubject, TenantID: &tenant, Data: row.Data, TraceParent: row.TraceParent})
}

// Sign is the Standard Webhooks signature of body: "v1," and the base64
// HMAC-SHA256, keyed with key, of msgID "." timestamp "." body.
func Sign(key []byte, msgID string, timestamp int64, body []byte) string {
	mac := hmac.New(sha256.New, key)
	mac.Write([]byte(msgID + "." + strconv.FormatInt(timestamp, 10) + "."))
	mac.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(mac.Sum(nil))
}

// Verify checks a webhook-signature header (space-separated signatures,
// any of which may match) against body, with the secret "whsec_…" from
// the API, and the timestamp within tolerance of now: what a receiver
// does (docs/webhooks.md).
func Verify(secret, msgID, timestamp, signatures string, body []byte, now time.Time, tolerance time.Duration) error {
	key, err := identity.WebhookKey(secret)
	if err != nil {
		return err
	}
	ts, err := strconv.ParseInt(timestamp, 10, 64)
	if err != nil {
		return errors.New("webhook: bad timestamp")
	}
	if d := now.Sub(time.Unix(ts, 0)); d > tolerance || d < -tolerance {
		return errors.New("webhook: timestamp outside the tolerance")
	}
	want := Sign(key, msgID, ts, body)
	for _, s := range bytes.Fields([]byte(signatures)) {
		if hmac.Equal(s, []byte(want)) {
			return nil
		}
	}
	return errors.New("webhook: no signature matches")
}

var tracer = otel.Tracer("identityd/webhook")

// deliver makes one attempt of row and records it.
func (d *Deliverer) deliver(ctx context.Context, row *models.WebhookDelivery) error {
	w, err := d.Store.GetWebhook(ctx, row.TenantID, row.WebhookID)
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			return nil // deleted meanwhile: its deliveries went with it
		}
		return err
	}
	res := storage.WebhookAttemptResult{}
	key, err := d.key(w)
	if err != nil {
		// A secret that does not open (the root secret changed): nothing
		// to sign with, so the delivery fails for good.
		res.Status = models.DeliveryFailed
		res.Attempt = models.WebhookAttempt{Outcome: "failed", Error: "The webhook's secret cannot be opened; rotate it."}
		logger(d.Log).ErrorContext(ctx, "webhook secret", "webhook_id", w.ID, "err", err)
		_, err := d.Store.RecordWebhookAttempt(ctx, row, res)
		return err
	}
	body, err := Envelope(row)
	if err != nil {
		return fmt.Errorf("webhook envelope: %w", err)
	}

	carrier := propagation.MapCarrier{"traceparent": row.TraceParent}
	parent := otel.GetTextMapPropagator().Extract(ctx, carrier)
	if !trace.SpanContextFromContext(parent).IsValid() {
		// No global propagator set (tracing off): the stored value is
		// W3C trace context either way.
		parent = propagation.TraceContext{}.Extract(ctx, carrier)
	}
	sctx, span := tracer.Start(parent, "webhook deliver", trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(attribute.String("webhook.id", w.ID), attribute.String("cloudevents.event_type", row.EventType),
			attribute.String("cloudevents.event_id", row.EventID), attribute.Int("webhook.attempt", row.Attempts)))
	defer span.End()

	timeout := or(d.Timeout, DefaultTimeout)
	rctx, cancel := context.WithTimeout(sctx, timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(rctx, http.MethodPost, w.URL, bytes.NewReader(body))
	if err != nil {
		res.Status = models.DeliveryFailed
		res.Attempt = models.WebhookAttempt{Outcome: "failed", Error: "The webhook's URL is not valid."}
		_, err := d.Store.RecordWebhookAttempt(ctx, row, res)
		return err
	}
	ts := time.Now().Unix()
	req.Header.Set("Content-Type", "application/cloudevents+json")
	req.Header.Set("User-Agent", "identityd-webhook/1")
	req.Header.Set("webhook-id", row.ID)
	req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
	req.Header.Set("webhook-signature", Sign(key, row.ID, ts, body))
	otel.GetTextMapPropagator().Inject(sctx, propagation.HeaderCarrier(req.Header))
	if req.Header.Get("traceparent") == "" && row.TraceParent != "" {
		req.Header.Set("traceparent", row.TraceParent)
	}

	start := time.Now()
	resp, err := d.client().Do(req)
	latency := time.Since(start)
	res.Attempt.LatencyMS = latency.Milliseconds()
	outcome := "failed"
	switch {
	case err != nil && errors.Is(err, ErrForbiddenAddress):
		outcome, res.Status = "refused", models.DeliveryRefused
		res.Attempt.Error = "The target resolves to a private, loopback or link-local address: the connection was refused."
	case err != nil:
		res.Attempt.Error = transportError(err, timeout)
	default:
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		_ = resp.Body.Close()
		res.Attempt.StatusCode = resp.StatusCode
		span.SetAttributes(attribute.Int("http.response.status_code", resp.StatusCode))
		switch {
		case resp.StatusCode >= 200 && resp.StatusCode < 300:
			outcome, res.Status = "delivered", models.DeliveryDelivered
		case resp.StatusCode >= 300 && resp.StatusCode < 400:
			res.Attempt.Error = fmt.Sprintf("The receiver answered %d; redirects are not followed.", resp.StatusCode)
		default:
			res.Attempt.Error = fmt.Sprintf("The receiver answered %d.", resp.StatusCode)
		}
	}
	res.Attempt.Outcome = outcome
	if outcome == "failed" {
		if time.Since(row.CreatedAt) >= or(d.MaxAge, DefaultMaxAge) {
			res.Status = models.DeliveryGaveUp
		} else {
			res.Status = models.DeliveryPending
			res.NextAttemptAt = time.Now().Add(d.Backoff(row.Attempts))
		}
	}
	if outcome != "delivered" {
		span.SetStatus(codes.Error, res.Attempt.Error)
	}
	d.Metrics.Webhook(outcome, latency)
	failures, err := d.Store.RecordWebhookAttempt(ctx, row, res)
	if err != nil {
		return err
	}
	limit := d.DisableAfter
	if limit <= 0 {
		limit = DefaultDisableAfter
	}
	if outcome != "delivered" && failures >= limit && d.Disabler != nil {
		disabled, err := d.Disabler.DisableForFailures(ctx, w.TenantID, w.ID, failures)
		if err != nil {
			return err
		}
		if disabled {
			d.Metrics.Webhook("disabled", 0)
			logger(d.Log).WarnContext(ctx, "webhook disabled after failures", "webhook_id", w.ID, "tenant_id", w.TenantID, "failures", failures)
		}
	}
	return nil
}

// Backoff is the wait after the attempt-th failed attempt: base·2^(n-1)
// capped at cap, of which the first half is fixed and the second random
// ("equal jitter"): retries of many deliveries spread out, and each wait
// is at least as long as the one before (until the cap).
func (d *Deliverer) Backoff(attempt int) time.Duration {
	base, ceiling := or(d.BackoffBase, DefaultBackoffBase), or(d.BackoffCap, DefaultBackoffCap)
	x := base
	for i := 1; i < attempt && x < ceiling; i++ {
		x *= 2
	}
	x = min(x, ceiling)
	half := x / 2
	if half <= 0 {
		return x
	}
	return half + rand.N(half+1)
}

// key opens the webhook's secret into its HMAC key.
func (d *Deliverer) key(w *models.Webhook) ([]byte, error) {
	secret, err := d.Secrets.Open(w.SecretSealed, identity.WebhookSecretAAD(w.ID))
	if err != nil {
		return nil, err
	}
	return identity.WebhookKey(string(secret))
}

func (d *Deliverer) client() *http.Client {
	if d.Client != nil {
		return d.Client
	}
	return NewClient(or(d.Timeout, DefaultTimeout), false)
}

// transportError is the safe sentence of a failed request.
func transportError(err error, timeout time.Duration) string {
	var dnsErr *net.DNSError
	var netErr net.Error
	switch {
	case errors.As(err, &dnsErr):
		return "The host name could not be resolved."
	case errors.As(err, &netErr) && netErr.Timeout(), errors.Is(err, context.DeadlineExceeded):
		return fmt.Sprintf("No answer within %s.", timeout)
	case errors.Is(err, errConnRefused):
		return "The receiver refused the connection."
	default:
		return "The request failed before the receiver answered."
	}
}

func or(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}

func logger(l *slog.Logger) *slog.Logger {
	if l == nil {
		return slog.New(slog.DiscardHandler)
	}
	return l
}
