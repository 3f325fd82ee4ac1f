package handlers

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"
)

// The probes (issue 11 §8). /api/health is the full breakdown (every
// check, and the outbox backlog); /api/health/live answers 200 while the
// process serves, calling nothing; /api/health/ready answers 200 only when
// every readiness check passes within its deadline, else 503 naming what
// failed. All three are public and never shed (shedLoad).

// Backlog is the outbox backlog /api/health reports: events waiting for
// the broker (only meaningful with one) and for the webhook fan-out, and
// queued e-mail, with the age of the oldest of each in seconds. It is
// information, never a failure by itself.
type Backlog struct {
	Unpublished               int64   `json:"unpublished"`
	OldestUnpublishedSeconds  float64 `json:"oldest_unpublished_seconds"`
	Undispatched              int64   `json:"undispatched"`
	OldestUndispatchedSeconds float64 `json:"oldest_undispatched_seconds"`
	MailQueued                int64   `json:"mail_queued"`
	OldestMailSeconds         float64 `json:"oldest_mail_seconds"`
}

type checkResult struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	Millis int64  `json:"duration_ms"`
}

// healthTimeout is each check's deadline.
func (s *Server) healthTimeout() time.Duration {
	if s.HealthTimeout > 0 {
		return s.HealthTimeout
	}
	return time.Second
}

// runChecks runs checks concurrently, each under its own deadline, so the
// answer comes within one deadline and names only what failed: a frozen
// database does not also starve the Redis check. Check errors are
// summarised, never raw driver text. It returns the breakdown and the
// names of the failed checks.
func (s *Server) runChecks(parent context.Context, checks []HealthCheck) (map[string]checkResult, []string) {
	timeout := s.healthTimeout()
	results := make([]checkResult, len(checks))
	var wg sync.WaitGroup
	for i, hc := range checks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(parent, timeout)
			defer cancel()
			start := time.Now()
			done := make(chan error, 1)
			go func() { done <- hc.Check(ctx) }()
			var err error
			select {
			case err = <-done:
			case <-ctx.Done():
				err = ctx.Err() // a check that ignores its context does not hold the answer
			}
			r := checkResult{Status: "ok"}
			if err != nil {
				s.Logger.WarnContext(parent, "health check failed", "check", hc.Name, "err", err)
				r = checkResult{Status: "fail", Error: hc.Name + " check failed"}
			}
			r.Millis = time.Since(start).Milliseconds()
			results[i] = r
		}()
	}
	wg.Wait()
	out := make(map[string]checkResult, len(checks))
	var failed []string
	for i, hc := range checks {
		out[hc.Name] = results[i]
		if results[i].Status != "ok" {
			failed = append(failed, hc.Name)
		}
	}
	return out, failed
}

// health runs every check with a deadline: 200 when all pass, else 503, with
// a per-check breakdown and the outbox backlog (when Backlog is set; a
// backlog that cannot be counted is reported, not failed).
func (s *Server) health(c echo.Context) error {
	parent := c.Request().Context()
	out, failed := s.runChecks(parent, s.Health)
	status, code := "ok", http.StatusOK
	if len(failed) > 0 {
		status, code = "fail", http.StatusServiceUnavailable
	}
	body := map[string]any{"status": status, "checks": out}
	if s.Backlog != nil {
		ctx, cancel := context.WithTimeout(parent, s.healthTimeout())
		b, err := s.Backlog(ctx)
		cancel()
		if err != nil {
			s.Logger.WarnContext(parent, "health: outbox backlog", "err", err)
			body["outbox"] = map[string]string{"error": "outbox backlog unavailable"}
		} else {
			body["outbox"] = b
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(code, body)
}

// healthLive is the liveness probe: the process answers HTTP.
func (s *Server) healthLive(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(http.StatusOK, map[string]string{"status": "ok"})
}

// healthReady is the readiness probe: 200 when every readiness check
// (database, Redis when configured, migrations applied, the worker when
// this process runs one) passes within its deadline; 503 naming the
// failing ones otherwise.
func (s *Server) healthReady(c echo.Context) error {
	var checks []HealthCheck
	if s.Readiness != nil {
		checks = s.Readiness()
	}
	out, failed := s.runChecks(c.Request().Context(), checks)
	c.Response().Header().Set("Cache-Control", "no-store")
	if len(failed) > 0 {
		return c.JSON(http.StatusServiceUnavailable, map[string]any{"status": "fail", "failing": failed, "checks": out})
	}
	return c.JSON(http.StatusOK, map[string]any{"status": "ok", "checks": out})
}
