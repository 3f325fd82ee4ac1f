// Package metrics holds identityd's Prometheus metrics: one Metrics per
// server (its own registry, so two servers in one test process never share
// a counter), served at GET /metrics. No label carries a user, an e-mail,
// a token or any other unbounded value: routes are echo's patterns, and
// every other label takes a value from a short fixed list.
//
// Every method is safe on a nil *Metrics (it does nothing), so a part
// built without metrics (a unit test) needs no stand-in.
package metrics

import (
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics is the registry and every metric identityd records.
type Metrics struct {
	Registry *prometheus.Registry

	// HTTP, by echo route pattern ("/api/users/:id"), method and status.
	HTTPRequests *prometheus.CounterVec
	HTTPDuration *prometheus.HistogramVec

	// Tokens issued, by grant type and client kind (confidential, public,
	// first_party); introspections by result (active, inactive, error).
	TokensIssued   *prometheus.CounterVec
	Introspections *prometheus.CounterVec

	// Logins by outcome (success, failure, locked, rate_limited,
	// two_factor); lockouts; rate-limit refusals by limit; step-ups by
	// outcome (success, failure).
	Logins      *prometheus.CounterVec
	Lockouts    prometheus.Counter
	RateLimited *prometheus.CounterVec
	StepUps     *prometheus.CounterVec

	// Cache lookups by cache (lookup, secret, ...) and result (hit, miss).
	CacheLookups *prometheus.CounterVec

	// Database and Redis call latencies by operation (create, query,
	// update, delete, row, raw / the Redis command name).
	DBCallDuration    *prometheus.HistogramVec
	RedisCallDuration *prometheus.HistogramVec

	// The event relay: messages by exchange and outcome (published,
	// failed); webhook deliveries by outcome (delivered, failed,
	// disabled, refused); mail sent by outcome (sent, failed, dropped);
	// OTP queue messages by outcome (sent, rejected).
	RelayMessages     *prometheus.CounterVec
	WebhookDeliveries *prometheus.CounterVec
	WebhookLatency    prometheus.Histogram
	MailSent          *prometheus.CounterVec
	OTPQueueMessages  *prometheus.CounterVec
}

// New builds the metrics on a fresh registry with the Go runtime and
// process collectors.
func New() *Metrics {
	r := prometheus.NewRegistry()
	m := &Metrics{
		Registry: r,
		HTTPRequests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "identity_http_requests_total",
			Help: "HTTP requests by route pattern, method and status code."}, []string{"route", "method", "status"}),
		HTTPDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "identity_http_request_duration_seconds",
			Help: "HTTP request latency by route pattern and method.", Buckets: prometheus.DefBuckets}, []string{"route", "method"}),
		TokensIssued: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "identity_tokens_issued_total",
			Help: "Access tokens issued, by grant type and client kind."}, []string{"grant_type", "client_kind"}),
		Introspections: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "identity_introspections_total",
			Help: "Token introspections by result (active, inactive, error)."}, []string{"result"}),
		Logins: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "identity_logins_total",
			Help: "Sign-ins by outcome (success, failure, locked, rate_limited, two_factor)."}, []string{"outcome"}),
		Lockouts: prometheus.NewCounter(prometheus.CounterOpts{Name: "identity_lockouts_total",
			Help: "Accounts locked after repeated failures."}),
		RateLimited: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "identity_rate_limited_total",
			Help: "Requests refused by a rate limit, by limit."}, []string{"limit"}),
		StepUps: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "identity_step_ups_total",
			Help: "Step-up re-authentications by outcome."}, []string{"outcome"}),
		CacheLookups: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "identity_cache_lookups_total",
			Help: "Cache lookups by cache and result (hit, miss)."}, []string{"cache", "result"}),
		DBCallDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "identity_db_call_duration_seconds",
			Help: "Database call latency by operation.", Buckets: dbBuckets}, []string{"operation"}),
		RedisCallDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "identity_redis_call_duration_seconds",
			Help: "Redis call latency by command.", Buckets: dbBuckets}, []string{"command"}),
		RelayMessages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "identity_relay_messages_total",
			Help: "Outbox events relayed to RabbitMQ, by exchange and outcome (published, failed)."}, []string{"exchange", "outcome"}),
		WebhookDeliveries: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "identity_webhook_deliveries_total",
			Help: "Webhook delivery attempts by outcome (delivered, failed, refused, disabled)."}, []string{"outcome"}),
		WebhookLatency: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "identity_webhook_delivery_duration_seconds",
			Help: "Webhook delivery latency.", Buckets: prometheus.DefBuckets}),
		MailSent: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "identity_mail_sent_total",
			Help: "Queued e-mail delivery attempts by outcome (sent, failed, dropped)."}, []string{"outcome"}),
		OTPQueueMessages: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "identity_otp_queue_messages_total",
			Help: "OTP request queue messages by outcome (sent, rejected)."}, []string{"outcome"}),
	}
	r.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.HTTPRequests, m.HTTPDuration, m.TokensIssued, m.Introspections, m.Logins, m.Lockouts, m.RateLimited,
		m.StepUps, m.CacheLookups, m.DBCallDuration, m.RedisCallDuration, m.RelayMessages, m.WebhookDeliveries,
		m.WebhookLatency, m.MailSent, m.OTPQueueMessages)
	return m
}

var dbBuckets = []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5}

// Handler serves the registry in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{})
}

// Inc adds one to c with labels, doing nothing on a nil Metrics or vec.
func (m *Metrics) Inc(c *prometheus.CounterVec, labels ...string) {
	if m == nil || c == nil {
		return
	}
	c.WithLabelValues(labels...).Inc()
}

// Observe records d in h with labels, doing nothing on a nil Metrics or vec.
func (m *Metrics) Observe(h *prometheus.HistogramVec, d time.Duration, labels ...string) {
	if m == nil || h == nil {
		return
	}
	h.WithLabelValues(labels...).Observe(d.Seconds())
}

// Relay counts one relayed message.
func (m *Metrics) Relay(exchange, outcome string) {
	if m == nil {
		return
	}
	m.RelayMessages.WithLabelValues(exchange, outcome).Inc()
}

// Webhook counts one delivery attempt and its latency.
func (m *Metrics) Webhook(outcome string, d time.Duration) {
	if m == nil {
		return
	}
	m.WebhookDeliveries.WithLabelValues(outcome).Inc()
	if d > 0 {
		m.WebhookLatency.Observe(d.Seconds())
	}
}

// Mail counts one queued mail delivery attempt.
func (m *Metrics) Mail(outcome string) {
	if m == nil {
		return
	}
	m.MailSent.WithLabelValues(outcome).Inc()
}

// OTPQueue counts one OTP request queue message.
func (m *Metrics) OTPQueue(outcome string) {
	if m == nil {
		return
	}
	m.OTPQueueMessages.WithLabelValues(outcome).Inc()
}
