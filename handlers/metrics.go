package handlers

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/ory/fosite"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/metrics"
	"github.com/identityd/identityd/models"
)

// The HTTP layer's metrics (issue 11 §6). Every label value comes from a
// fixed list: a route pattern of the route table (or "unmatched"), a
// method, a status code, a grant type, a client kind, an outcome.

// unmatchedRoute labels requests no route of the table answered.
const unmatchedRoute = "unmatched"

// recordRequests counts every request by route pattern, method and status
// and observes its latency. An error is handled here (as logRequests
// does), so the status recorded is the one sent.
func (s *Server) recordRequests(next echo.HandlerFunc) echo.HandlerFunc {
	m := s.Metrics
	return func(c echo.Context) error {
		start := time.Now()
		if err := next(c); err != nil {
			c.Error(err)
		}
		route := c.Path()
		if !s.knownRoutes[route] {
			route = unmatchedRoute
		}
		method := boundedMethod(c.Request().Method)
		m.HTTPRequests.WithLabelValues(route, method, strconv.Itoa(c.Response().Status)).Inc()
		m.HTTPDuration.WithLabelValues(route, method).Observe(time.Since(start).Seconds())
		return nil
	}
}

// boundedMethod is the request's method when it is a standard one, else OTHER.
func boundedMethod(m string) string {
	switch m {
	case http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch,
		http.MethodDelete, http.MethodOptions:
		return m
	}
	return "OTHER"
}

// serveMetrics is GET /metrics on the main listener: the registry in the
// Prometheus text format, behind MetricsToken when set. It answers 404
// when recording is off or IDENTITY_METRICS_ADDR serves it elsewhere.
func (s *Server) serveMetrics(c echo.Context) error {
	if s.Metrics == nil || s.MetricsSeparate {
		return echo.ErrNotFound
	}
	return metricsEndpoint(s.Metrics, s.MetricsToken)(c)
}

// metricsEndpoint serves m, requiring "Authorization: Bearer <token>" when
// token is set (compared in constant time over digests, so neither the
// token nor its length leaks through timing).
func metricsEndpoint(m *metrics.Metrics, token string) echo.HandlerFunc {
	h := m.Handler()
	want := sha256.Sum256([]byte(token))
	return func(c echo.Context) error {
		if token != "" {
			got, ok := strings.CutPrefix(c.Request().Header.Get(echo.HeaderAuthorization), "Bearer ")
			sum := sha256.Sum256([]byte(got))
			if !ok || subtle.ConstantTimeCompare(sum[:], want[:]) != 1 {
				c.Response().Header().Set(echo.HeaderWWWAuthenticate, `Bearer realm="metrics"`)
				return c.JSON(http.StatusUnauthorized, map[string]string{"error": models.CodeUnauthenticated,
					"message": "GET /metrics needs the metrics token as Authorization: Bearer."})
			}
		}
		c.Response().Header().Set("Cache-Control", "no-store")
		h.ServeHTTP(c.Response(), c.Request())
		return nil
	}
}

// grantTypes are the grant types the token endpoint labels by name.
var grantTypes = map[string]bool{
	"authorization_code": true, "client_credentials": true, "refresh_token": true,
	"urn:ietf:params:oauth:grant-type:jwt-bearer":     true,
	"urn:ietf:params:oauth:grant-type:device_code":    true,
	"urn:ietf:params:oauth:grant-type:token-exchange": true,
}

// countToken counts one access token issued at the token endpoint, by
// grant type and client kind (first_party, public, confidential).
func (s *Server) countToken(ar fosite.AccessRequester) {
	if s.Metrics == nil {
		return
	}
	grant := "other"
	if g := ar.GetGrantTypes(); len(g) == 1 && grantTypes[g[0]] {
		grant = g[0]
	}
	s.Metrics.TokensIssued.WithLabelValues(grant, clientKind(ar.GetClient())).Inc()
}

// clientKind is a bounded description of a client: its tenant's
// first-party client, a public client (no secret) or a confidential one.
func clientKind(c fosite.Client) string {
	switch {
	case c == nil:
		return "unknown"
	case strings.HasPrefix(c.GetID(), models.FirstPartyClientPrefix):
		return "first_party"
	case c.IsPublic():
		return "public"
	default:
		return "confidential"
	}
}

// countIntrospection counts one introspection by what the caller was told:
// active, inactive (fosite's {"active":false}) or error (the caller was
// refused, the request malformed, or a dependency down).
func (s *Server) countIntrospection(active bool, err error) {
	if s.Metrics == nil {
		return
	}
	result := "active"
	switch {
	case err != nil && (unavailable(err) || !errors.Is(err, fosite.ErrInactiveToken) &&
		(errors.Is(err, fosite.ErrInvalidRequest) || errors.Is(err, fosite.ErrRequestUnauthorized))):
		result = "error"
	case err != nil || !active:
		result = "inactive"
	}
	s.Metrics.Introspections.WithLabelValues(result).Inc()
}

// outcome classifies a credential check's error: rate_limited, locked,
// error (a server-side failure, not the caller's) or failure.
func outcome(err error) string {
	switch {
	case models.IsKind(err, models.KindRateLimited):
		return "rate_limited"
	case models.IsKind(err, models.KindLocked):
		return "locked"
	case models.IsKind(err, models.KindInternal) || models.IsUnavailable(err) || errors.Is(err, context.DeadlineExceeded):
		return "error"
	}
	return "failure"
}

// countingLogin counts the sign-in steps' outcomes in Metrics.Logins:
// success (a login completed), two_factor (the password was right and a
// second factor is asked for), password_change (a forced change is
// asked for), failure, locked (a locked account, told to a caller who
// proved the password), rate_limited and error. Every path that
// signs a person in (API and pages) goes through LoginService.
type countingLogin struct {
	LoginService
	m *metrics.Metrics
}

func (l countingLogin) count(res *identity.LoginResult, err error) {
	o := "success"
	switch {
	case err != nil:
		o = outcome(err)
	case res == nil:
		return
	case res.ChallengeKind == models.ChallengeTwoFactor || res.ChallengeKind == models.ChallengeTwoFactorEnrolment:
		o = "two_factor"
	case res.ChallengeKind == models.ChallengePasswordChange:
		o = "password_change"
	case res.Challenge != "":
		o = "challenge"
	}
	l.m.Logins.WithLabelValues(o).Inc()
}

func (l countingLogin) WithPassword(ctx context.Context, in identity.LoginInput) (*identity.LoginResult, error) {
	res, err := l.LoginService.WithPassword(ctx, in)
	l.count(res, err)
	return res, err
}

func (l countingLogin) VerifySecondFactor(ctx context.Context, in identity.VerifyInput) (*identity.LoginResult, error) {
	res, err := l.LoginService.VerifySecondFactor(ctx, in)
	l.count(res, err)
	return res, err
}

func (l countingLogin) WithPIN(ctx context.Context, in identity.PINLoginInput) (*identity.LoginResult, error) {
	res, err := l.LoginService.WithPIN(ctx, in)
	l.count(res, err)
	return res, err
}

func (l countingLogin) ChangeRequiredPassword(ctx context.Context, challenge, newPassword string, meta identity.Meta) (*identity.LoginResult, error) {
	res, err := l.LoginService.ChangeRequiredPassword(ctx, challenge, newPassword, meta)
	l.count(res, err)
	return res, err
}

func (l countingLogin) EnrolTOTP(ctx context.Context, in identity.EnrolmentInput) (*identity.LoginResult, error) {
	res, err := l.LoginService.EnrolTOTP(ctx, in)
	l.count(res, err)
	return res, err
}

func (l countingLogin) EnrolEmail(ctx context.Context, in identity.EnrolmentInput) (*identity.LoginResult, error) {
	res, err := l.LoginService.EnrolEmail(ctx, in)
	l.count(res, err)
	return res, err
}

// countingStepUp counts step-ups by outcome (success, failure, locked,
// rate_limited, error).
type countingStepUp struct {
	StepUpService
	m *metrics.Metrics
}

func (s countingStepUp) Elevate(ctx context.Context, p identity.Principal, in identity.StepUpInput) (time.Time, error) {
	until, err := s.StepUpService.Elevate(ctx, p, in)
	o := "success"
	if err != nil {
		o = outcome(err)
	}
	s.m.StepUps.WithLabelValues(o).Inc()
	return until, err
}

// instrument wraps the services whose outcomes are counted (d.Metrics set).
func (d *Deps) instrument() {
	if d.Metrics == nil {
		return
	}
	if d.Login != nil {
		d.Login = countingLogin{LoginService: d.Login, m: d.Metrics}
	}
	if d.StepUp != nil {
		d.StepUp = countingStepUp{StepUpService: d.StepUp, m: d.Metrics}
	}
}

// Ops are what the operations listener (IDENTITY_METRICS_ADDR) serves:
// GET /metrics and the probes.
type Ops struct {
	// Metrics is served at /metrics (nil: 404); Token, when set, is the
	// bearer it requires.
	Metrics *metrics.Metrics
	Token   string
	// Health, Readiness, Backlog and HealthTimeout are as in Deps.
	Health        []HealthCheck
	Readiness     func() []HealthCheck
	Backlog       func(ctx context.Context) (*Backlog, error)
	HealthTimeout time.Duration
	Logger        *slog.Logger
}

// NewOps builds the operations listener's handler: GET /metrics,
// /api/health, /api/health/live and /api/health/ready, nothing else.
func NewOps(o Ops) http.Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Server{Deps: Deps{Health: o.Health, Readiness: o.Readiness, Backlog: o.Backlog, HealthTimeout: o.HealthTimeout,
		Logger: WithRequestContext(o.Logger)}}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.GET("/metrics", func(c echo.Context) error {
		if o.Metrics == nil {
			return echo.ErrNotFound
		}
		return metricsEndpoint(o.Metrics, o.Token)(c)
	})
	e.GET("/api/health", s.health)
	e.GET("/api/health/live", s.healthLive)
	e.GET("/api/health/ready", s.healthReady)
	return e
}
