package handlers

import (
	"context"
	"html/template"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"github.com/ory/fosite"
	"go.opentelemetry.io/otel/trace"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/metrics"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
	"github.com/identityd/identityd/templates"
)

// ClientStore finds OAuth clients.
type ClientStore interface {
	GetClient(ctx context.Context, id string) (fosite.Client, error)
}

// TenantStore finds tenants.
type TenantStore interface {
	GetTenant(ctx context.Context, id string) (*models.Tenant, error)
}

// HealthCheck is one named check of /api/health.
type HealthCheck struct {
	Name  string
	Check func(ctx context.Context) error
}

// Deps are what the HTTP layer needs. Every service is required: New
// names a missing one.
type Deps struct {
	Issuer   string
	Provider *oauth.Provider
	// The account side: login, self-service, step-up and permissions
	// (required: New names a missing one).
	Login      LoginService
	Account    AccountService
	Password   PasswordService
	TwoFactor  TwoFactorService
	PIN        PINService
	Sessions   SessionService
	StepUp     StepUpService
	Authorizer PermissionService
	ClientAuth ClientAuthLimiter
	// Authenticator resolves every /api bearer credential.
	Authenticator PrincipalResolver
	// The administration API, one service per aggregate (required: New
	// names a missing one).
	Users           UserService
	Memberships     MembershipService
	Roles           RoleService
	Policies        PolicyService
	ClientRegistry  ClientService
	ServiceAccounts ServiceAccountService
	APIKeys         APIKeyService
	TenantRegistry  TenantService
	Impersonation   Impersonator
	AuditLog        AuditLogService
	PushDevices     PushDeviceService
	Invitations     InvitationService
	ConsentRegistry ConsentService
	Privacy         PrivacyService
	Activity        ActivityCache
	Clients         ClientStore
	Consents        oauth.ConsentStore
	Tenants         TenantStore
	Ring            *keyring.Keyring
	Health          []HealthCheck
	Logger          *slog.Logger
	Now             func() time.Time
	// RequestContext, when set, prepares each request's context (storage's
	// lookup snapshot: one cache-generation read per request).
	RequestContext func(context.Context) context.Context

	// MaxInFlight bounds the requests served at once; the rest wait briefly,
	// then answer 503 (0: no bound).
	MaxInFlight int
	// HealthTimeout is each health check's deadline (0: 1s).
	HealthTimeout time.Duration

	// CORSOrigins are the origins CORS allows (https://*.example.com: any
	// subdomain); empty: no CORS headers.
	CORSOrigins []string
	// IPDenyList is refused with 403 before anything else runs.
	IPDenyList []*net.IPNet
	// TrustedProxies are the proxies whose X-Forwarded-For is believed;
	// empty: the client is the connection's remote address.
	TrustedProxies []*net.IPNet
	// RedirectOrigins are where post-login and post-logout redirects may go.
	RedirectOrigins []string

	// OneTimeCodes generates and verifies codes for other services
	// (issue 10 §6; required).
	OneTimeCodes OneTimeCodeService
	// Registration is sign-up (issue 10 §1; required).
	Registration RegistrationService

	// EmailVerification proves addresses and changes them (issue 10 §2;
	// required).
	EmailVerification EmailVerificationService

	// Webhooks manages the tenants' webhooks (issue 11 §3; required).
	Webhooks WebhookService
	// Issue 12 §1 (identity providers, admin and account side; required):
	// the tenant's upstream providers, and the signed-in person's linked
	// identities.
	IdentityProviders IdentityProviderService
	LinkedIdentities  LinkedIdentityService

	// Passkeys registers and verifies WebAuthn credentials (issue 12 §2,
	// passkeys; required).
	Passkeys PasskeyService

	// Federation is the sign-in through a tenant's upstream identity
	// provider (issue 12 §1). Optional: nil hides the providers' buttons
	// and the federation routes answer 404.
	Federation FederationService
	// TracerProvider, when set, gives every request a server span
	// (handlers/tracing.go; issue 11 §7). Nil: tracing off, no middleware.
	TracerProvider trace.TracerProvider
	// Issue 11 §6 and §8: metrics and probes. Metrics records requests,
	// tokens, introspections, logins and step-ups (nil: nothing is
	// recorded and /metrics answers 404). MetricsSeparate: /metrics is
	// served on IDENTITY_METRICS_ADDR (NewOps), not here. MetricsToken,
	// when set, is the bearer /metrics requires. Readiness returns the
	// checks of /api/health/ready; Backlog adds the outbox backlog to
	// /api/health.
	Metrics         *metrics.Metrics
	MetricsSeparate bool
	MetricsToken    string
	Readiness       func() []HealthCheck
	Backlog         func(ctx context.Context) (*Backlog, error)
}

// Server holds the handlers' dependencies.
type Server struct {
	Deps
	pages  map[string]*template.Template
	secure bool
	// assets serves the pages' static files (templates/static).
	assets echo.HandlerFunc
	// consent decides authorization requests and records consents.
	consent *oauth.ConsentStrategy
	// knownRoutes are the route table's patterns (the metrics' route label).
	knownRoutes map[string]bool
}

// maxFormBytes bounds the body of every form and OAuth request.
const maxFormBytes = 64 << 10

// New builds the echo instance with every route of the route table
// (routes.go).
func New(d Deps) (*echo.Echo, error) {
	if err := d.checkServices(); err != nil {
		return nil, err
	}
	if d.Logger == nil {
		d.Logger = slog.New(slog.DiscardHandler)
	}
	d.Logger = WithRequestContext(d.Logger)
	if d.Now == nil {
		d.Now = time.Now
	}
	d.instrument()
	s := &Server{Deps: d, secure: strings.HasPrefix(d.Issuer, "https://")}
	s.consent = &oauth.ConsentStrategy{Issuer: d.Issuer, Ring: d.Ring, Consents: d.Consents, Logins: d.Login}
	if err := s.loadPages(); err != nil {
		return nil, err
	}
	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	e.HTTPErrorHandler = s.errorHandler
	e.IPExtractor = ipExtractor(d.TrustedProxies)
	// Edge order (handlers/edge.go): deny list before routing and anything
	// else, then request id and trace context, security headers, CORS,
	// logging.
	e.Pre(s.denyIPs)
	if d.Metrics != nil {
		s.knownRoutes = map[string]bool{}
		for _, r := range s.routes() {
			s.knownRoutes[r.path] = true
		}
		e.Use(s.recordRequests)
	}
	e.Use(requestContext)
	if d.TracerProvider != nil {
		e.Use(traceRequests(d.TracerProvider))
	}
	e.Use(s.securityHeaders)
	if cors := s.cors(); cors != nil {
		e.Use(cors)
	}
	if d.RequestContext != nil {
		e.Use(func(next echo.HandlerFunc) echo.HandlerFunc {
			return func(c echo.Context) error {
				c.SetRequest(c.Request().WithContext(d.RequestContext(c.Request().Context())))
				return next(c)
			}
		})
	}
	e.Use(s.logRequests)
	if d.MaxInFlight > 0 {
		e.Use(s.shedLoad(d.MaxInFlight))
		identity.SetInFlight(inFlight.Load)
	}
	e.Use(s.recoverPanics)
	e.Use(limitBody)
	// One input check for every route: no control character or invalid
	// UTF-8 in the path, query, form or JSON body (handlers/inputcheck.go).
	e.Use(s.rejectControlChars)

	static, err := fs.Sub(templates.FS, "static")
	if err != nil {
		return nil, err
	}
	s.assets = echo.WrapHandler(http.StripPrefix("/assets/", http.FileServer(http.FS(static))))
	// CSRF guards the pages route by route (routes.go): a group with
	// middleware would register a catch-all that runs it on every unknown
	// path (a POST to an unknown /api route would get the HTML "Request
	// expired" page, not 404).
	csrf := middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup:    "form:csrf",
		CookieName:     "identity_csrf",
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSecure:   s.secure,
		CookieSameSite: http.SameSiteLaxMode,
		ErrorHandler: func(err error, c echo.Context) error {
			return s.renderMessage(c, http.StatusForbidden, "Request expired", "This form has expired. Go back, reload the page and try again.", true)
		},
	})
	s.register(e, csrf)
	return e, nil
}

// limitBody caps request bodies; an oversize body reads as an error, which
// fosite answers as invalid_request and the JSON API as 413.
func limitBody(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		if r.Body != nil {
			r.Body = http.MaxBytesReader(c.Response(), r.Body, maxFormBytes)
		}
		return next(c)
	}
}

// logRequests writes one line per request: never the query string or body,
// where codes, tokens and passwords travel.
func (s *Server) logRequests(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		start := time.Now()
		err := next(c)
		if err != nil {
			c.Error(err)
		}
		r := c.Request()
		// request_id and trace_id come from the context (WithRequestContext).
		s.Logger.LogAttrs(r.Context(), slog.LevelInfo, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", c.Response().Status),
			slog.Int64("duration_us", time.Since(start).Microseconds()),
			slog.String("remote_ip", c.RealIP()),
		)
		return nil
	}
}

// recoverPanics turns a panic into a logged internal error, never a trace.
func (s *Server) recoverPanics(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) (err error) {
		defer func() {
			if p := recover(); p != nil {
				if p == http.ErrAbortHandler {
					panic(p)
				}
				s.Logger.ErrorContext(c.Request().Context(), "panic in handler", "path", c.Request().URL.Path, "panic", p)
				err = models.ErrInternal(nil)
			}
		}()
		return next(c)
	}
}
