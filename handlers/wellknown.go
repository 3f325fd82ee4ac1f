package handlers

import (
	"context"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identity/identity/oauth"
)

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
func (s *Server) health(c echo.Context) error {
	ctx, cancel := context.WithTimeout(c.Request().Context(), 3*time.Second)
	defer cancel()
	out := map[string]checkResult{}
	status, code := "ok", http.StatusOK
	for _, hc := range s.Health {
		start := time.Now()
		r := checkResult{Status: "ok"}
		if err := hc.Check(ctx); err != nil {
			s.Logger.WarnContext(ctx, "health check failed", "check", hc.Name, "err", err)
			r = checkResult{Status: "fail", Error: hc.Name + " check failed"}
			status, code = "fail", http.StatusServiceUnavailable
		}
		r.Millis = time.Since(start).Milliseconds()
		out[hc.Name] = r
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.JSON(code, map[string]any{"status": status, "checks": out})
}
