package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"math"
	"net/http"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/identityd/identityd/models"
)

// unavailable reports an error caused by a dependency that could not be
// reached or did not answer in time (storage marks those with a models error
// of KindUnavailable; fosite's revocation handler reports them as
// temporarily_unavailable without the cause; a deadline anywhere in the
// chain is a dependency too slow to answer).
func unavailable(err error) bool {
	return err != nil && (models.IsUnavailable(err) || errors.Is(err, fosite.ErrTemporarilyUnavailable) ||
		errors.Is(err, context.DeadlineExceeded))
}

// retryAfter sets the Retry-After header a 503 carries.
func retryAfter(h http.Header) {
	h.Set("Retry-After", strconv.Itoa(int(math.Ceil(models.UnavailableRetryAfter.Seconds()))))
}

// writeOAuthUnavailable answers an OAuth endpoint's request that failed
// because a dependency is down: 503 temporarily_unavailable in RFC 6749
// form with Retry-After (RFC 7009 §2.2.1 for revocation), never a false
// "invalid" or "inactive". It reports whether it answered.
func (s *Server) writeOAuthUnavailable(ctx context.Context, w http.ResponseWriter, err error) bool {
	if !unavailable(err) {
		return false
	}
	s.Logger.ErrorContext(ctx, "dependency unavailable", "status", http.StatusServiceUnavailable, "err", err)
	h := w.Header()
	h.Set("Content-Type", "application/json;charset=UTF-8")
	h.Set("Cache-Control", "no-store")
	h.Set("Pragma", "no-cache")
	retryAfter(h)
	w.WriteHeader(http.StatusServiceUnavailable)
	_ = json.NewEncoder(w).Encode(map[string]string{
		"error":             "temporarily_unavailable",
		"error_description": "The authorization server is temporarily unavailable. Retry after the delay in Retry-After.",
	})
	return true
}

// logOAuth5xx logs a server error an OAuth writer is about to answer, with
// its cause: fosite writes it without a log line of its own.
func (s *Server) logOAuth5xx(ctx context.Context, err error) {
	if err == nil {
		return
	}
	rfc := fosite.ErrorToRFC6749Error(err)
	if rfc.StatusCode() < 500 {
		return
	}
	if ctx.Err() != nil {
		// The client went away (or its deadline passed) mid-request: the
		// failure is its, and nobody reads the answer; no server error.
		s.Logger.InfoContext(ctx, "oauth request abandoned by the client", "err", err)
		return
	}
	s.Logger.ErrorContext(ctx, "oauth server error", "status", rfc.StatusCode(), "err", err, "cause", rfc.Cause())
}

// writeAccessError is WriteAccessError with outages answered as 503 and
// every 5xx logged.
func (s *Server) writeAccessError(ctx context.Context, c echo.Context, ar fosite.AccessRequester, err error) {
	if s.writeOAuthUnavailable(ctx, c.Response(), err) {
		return
	}
	s.logOAuth5xx(ctx, err)
	setClientChallenge(c.Response(), c.Request(), err)
	s.Provider.WriteAccessError(ctx, c.Response(), ar, pendingDeletionNamed(err))
}

// pendingDeletionNamed answers a client of a tenant whose deletion is
// pending (storage GetClient wraps models.ErrTenantPendingDeletion) as
// invalid_client whose description names tenant_pending_deletion.
func pendingDeletionNamed(err error) error {
	var me *models.Error
	if errors.As(err, &me) && me.Code == models.CodeTenantPendingDeletion {
		return fosite.ErrInvalidClient.WithHint("The client's organisation is scheduled for deletion (tenant_pending_deletion).").WithWrap(err)
	}
	return err
}

// inflightWait is how long a request waits for a free slot before it is shed.
const inflightWait = time.Second

// shedLoad bounds the requests served at once (Deps.MaxInFlight): when the
// database is frozen or its pool exhausted, requests would otherwise pile up
// without bound, each holding a socket and memory until its deadline. A
// request that finds no slot within inflightWait answers 503 with
// Retry-After. Health (and the probes), ping, /metrics and static assets
// are never shed.
// inFlight counts the requests past the load gate, across the process's
// servers: password hashing takes fewer cores while other work waits
// (identity.SetInFlight).
var inFlight atomic.Int64

func (s *Server) shedLoad(limit int) echo.MiddlewareFunc {
	slots := make(chan struct{}, limit)
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			p := c.Request().URL.Path
			if p == "/api/health" || p == "/api/ping" || strings.HasPrefix(p, "/assets/") ||
				p == "/api/health/live" || p == "/api/health/ready" || p == "/metrics" {
				return next(c)
			}
			select {
			case slots <- struct{}{}:
			default:
				t := time.NewTimer(inflightWait)
				select {
				case slots <- struct{}{}:
					t.Stop()
				case <-t.C:
					return s.shed(c)
				case <-c.Request().Context().Done():
					t.Stop()
					return s.shed(c)
				}
			}
			inFlight.Add(1)
			defer func() { inFlight.Add(-1); <-slots }()
			return next(c)
		}
	}
}

// shed answers a request that found no free slot.
func (s *Server) shed(c echo.Context) error {
	err := models.ErrUnavailable("server", errors.New("too many requests in flight: load shed"))
	if strings.HasPrefix(c.Request().URL.Path, "/api/oauth/") && c.Request().URL.Path != "/api/oauth/authorize" {
		s.writeOAuthUnavailable(c.Request().Context(), c.Response(), err)
		return nil
	}
	return err
}
