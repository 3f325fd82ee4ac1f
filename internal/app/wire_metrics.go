package app

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/identityd/identityd/handlers"
	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/metrics"
	"github.com/identityd/identityd/storage"
)

// Issue 11 §6 (metrics) and §8 (health probes): the hooks that feed
// App.Metrics, the readiness checks, and the operations listener.

// scrapeTimeout bounds the outbox backlog count a scrape runs.
const scrapeTimeout = 2 * time.Second

// wireMetrics connects App.Metrics to the parts built so far (the store,
// Redis, the Hasher, the limiter, the mail queue, the Auditor). With
// IDENTITY_METRICS_ENABLED=0 it sets App.Metrics to nil instead: nothing
// is recorded (every metrics helper is nil-safe) and /metrics answers 404.
func (a *App) wireMetrics() error {
	if !a.Config.MetricsEnabled {
		a.Metrics = nil
		return nil
	}
	m := a.Metrics
	if err := a.Store.ObserveCalls(m.Registry, m.DBCallDuration); err != nil {
		return err
	}
	if err := m.Registry.Register(a.Store.NewBacklogCollector(scrapeTimeout)); err != nil {
		return err
	}
	if rc, ok := a.Cache.(*storage.RedisCache); ok {
		if err := rc.ObserveCommands(m.Registry, m.RedisCallDuration); err != nil {
			return err
		}
	}
	lookup := func(cache string, hit bool) {
		result := "miss"
		if hit {
			result = "hit"
		}
		m.CacheLookups.WithLabelValues(cache, result).Inc()
	}
	a.Store.ObserveLookups(lookup)
	a.Hasher.OnCacheLookup = func(hit bool) { lookup("verified_secret", hit) }
	a.Limiter = countingLimiter{Limiter: a.Limiter, m: m}
	a.MailQueue.Observe = m.Mail
	a.Auditor.Observe = func(action string) {
		if action == identity.AuditLocked {
			m.Lockouts.Inc()
		}
	}
	return nil
}

// metricsDeps adds the metrics and the probes to the HTTP layer's deps.
func (a *App) metricsDeps(d handlers.Deps) handlers.Deps {
	d.Metrics = a.Metrics
	d.MetricsSeparate = a.Config.MetricsAddr != ""
	d.MetricsToken = string(a.Config.MetricsToken)
	d.Readiness = a.readinessChecks
	d.Backlog = a.backlog
	return d
}

// readinessChecks are /api/health/ready's checks: the database answers,
// Redis answers (when configured), every migration is applied, and the
// worker's jobs run (when this process started one).
func (a *App) readinessChecks() []handlers.HealthCheck {
	checks := []handlers.HealthCheck{
		{Name: "database", Check: a.Store.Ping},
		{Name: "migrations", Check: a.Store.MigrationsApplied},
	}
	if rc, ok := a.Cache.(*storage.RedisCache); ok {
		checks = append(checks, handlers.HealthCheck{Name: "redis", Check: rc.Ping})
	}
	if w := a.worker.Load(); w != nil {
		checks = append(checks, handlers.HealthCheck{Name: "worker", Check: func(context.Context) error {
			if !w.Healthy() {
				return errors.New("a worker job has stopped")
			}
			return nil
		}})
	}
	return checks
}

// backlog is the outbox backlog /api/health reports.
func (a *App) backlog(ctx context.Context) (*handlers.Backlog, error) {
	b, err := a.Store.OutboxBacklog(ctx)
	if err != nil {
		return nil, err
	}
	return &handlers.Backlog{
		Unpublished: b.Unpublished, OldestUnpublishedSeconds: b.OldestUnpublished.Seconds(),
		Undispatched: b.Undispatched, OldestUndispatchedSeconds: b.OldestUndispatched.Seconds(),
		MailQueued: b.MailQueued, OldestMailSeconds: b.OldestMail.Seconds(),
	}, nil
}

// OpsHandler serves the operations listener (IDENTITY_METRICS_ADDR):
// GET /metrics and /api/health, /api/health/live, /api/health/ready.
func (a *App) OpsHandler() http.Handler {
	return handlers.NewOps(handlers.Ops{
		Metrics: a.Metrics, Token: string(a.Config.MetricsToken),
		Health: a.health, Readiness: a.readinessChecks, Backlog: a.backlog, Logger: a.Log,
	})
}

// rateLimitNames are the limits identityd names (identity's defaults and
// the configuration's); any other name is counted as "other", so the
// label stays bounded whatever a future limit is called.
var rateLimitNames = map[string]bool{
	"login": true, "2fa": true, "pin": true, "forgot": true, "ipfail": true, "client_auth": true,
	"otp_generate": true, "otp_caller": true, "otp_verify": true, "register": true, "register_notice": true,
	"email_verification_send": true, "email_verification_verify": true, "phone_code": true,
}

// countingLimiter counts refusals in Metrics.RateLimited by limit name. A
// refusal is a Peek or an Allow that answers "not allowed", except an
// Allow under a failure budget (ipfail, client_auth): those Allows only
// count a failure that already happened, and their refusal is the Peek
// that comes before the next attempt.
type countingLimiter struct {
	identity.Limiter
	m *metrics.Metrics
}

func (l countingLimiter) Allow(ctx context.Context, key string, lim identity.Limit) (bool, time.Duration, error) {
	ok, retry, err := l.Limiter.Allow(ctx, key, lim)
	if err == nil && !ok && !failureBudget(lim.Name) {
		l.m.RateLimited.WithLabelValues(limitLabel(lim.Name)).Inc()
	}
	return ok, retry, err
}

func (l countingLimiter) Peek(ctx context.Context, key string, lim identity.Limit) (bool, time.Duration, error) {
	ok, retry, err := l.Limiter.Peek(ctx, key, lim)
	if err == nil && !ok {
		l.m.RateLimited.WithLabelValues(limitLabel(lim.Name)).Inc()
	}
	return ok, retry, err
}

func failureBudget(name string) bool { return name == "ipfail" || name == "client_auth" }

func limitLabel(name string) string {
	if rateLimitNames[strings.ToLower(name)] {
		return strings.ToLower(name)
	}
	return "other"
}
