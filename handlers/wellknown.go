package handlers

import (
	"context"
	"net/http"
	"sync"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/oauth"
)

// ping is a no-op route: the baseline the load tool compares hot paths with.
func (s *Server) ping(c echo.Context) error { return c.NoContent(http.StatusNoContent) }

// discovery serves the OpenID Provider Metadata (OpenID Connect Discovery
// 1.0 §4).
func (s *Server) discovery(c echo.Context) error {
	c.Response().Header().Set("Cache-Control", "public, max-age=300")
	return c.JSON(http.StatusOK, oauth.NewDiscovery(s.Issuer))
}

// jwks publishes the signing keys. They are read from the database on each
// request, so a rotation on another instance shows at once; relying parties
// may cache for a minute and refetch on an unknown kid.
func (s *Server) jwks(c echo.Context) error {
	set, err := s.Provider.Keys.JWKS(c.Request().Context())
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "public, max-age=60")
	return c.JSON(http.StatusOK, set)
}

type checkResult struct {
	Status string `json:"status"`
	Error  string `json:"error,omitempty"`
	Millis int64  `json:"duration_ms"`
}

// health runs every check with a deadline: 200 when all pass, else 503, with
// a per-check breakdown. Check errors are summarised, never raw driver text.
//
// The checks run concurrently, each under its own deadline (HealthTimeout),
// so the answer comes within one deadline and names only what failed: a
// frozen database does not also starve the Redis check.
func (s *Server) health(c echo.Context) error {
	timeout := s.HealthTimeout
	if timeout <= 0 {
		timeout = time.Second
	}
	parent := c.Request().Context()
	results := make([]checkResult, len(s.Health))
	var wg sync.WaitGroup
	for i, hc := range s.Health {
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
	out := map[string]checkResult{}
	status, code := "ok", http.StatusOK
	for i, hc := range s.Health {
		out[hc.Name] = results[i]
		if results[i].Status != "ok" {
			status, code = "fail", http.StatusServiceUnavailable
		}
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(code, map[string]any{"status": status, "checks": out})
}
