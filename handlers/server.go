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

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
	"github.com/identityd/identityd/templates"
)

// ClientStore finds OAuth clients.
type ClientStore interface {
	GetClient(ctx context.Context, id string) (fosite.Client, error)
}

// ConsentStore remembers what users granted to clients.
type ConsentStore interface {
	GetConsent(ctx context.Context, tenantID, userID, clientID string) (*models.Consent, error)
	GrantConsent(ctx context.Context, tenantID, userID, clientID string, scopes []string) error
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

// Deps are what the HTTP layer needs. The account services (Login through
// ClientAuth) are required: New names a missing one.
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
	Activity        ActivityCache
	Clients         ClientStore
	Consents        ConsentStore
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
}

// Server holds the handlers' dependencies.
type Server struct {
	Deps
	pages  map[string]*template.Template
	secure bool
}

// maxFormBytes bounds the body of every form and OAuth request.
const maxFormBytes = 64 << 10

// New builds the echo instance with every route.
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
	s := &Server{Deps: d, secure: strings.HasPrefix(d.Issuer, "https://")}
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
	e.Use(requestContext)
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
	}
	e.Use(s.recoverPanics)
	e.Use(limitBody)
	// One input check for every route: no control character or invalid
	// UTF-8 in the path, query, form or JSON body (handlers/inputcheck.go).
	e.Use(s.rejectControlChars)

	e.GET("/.well-known/openid-configuration", s.discovery)
	e.GET("/.well-known/jwks.json", s.jwks)
	e.GET("/api/health", s.health)
	// A no-op route: the baseline the load tool compares hot paths with.
	e.GET("/api/ping", func(c echo.Context) error { return c.NoContent(http.StatusNoContent) })
	e.GET("/api/openapi.json", s.openAPI)

	o := e.Group("/api/oauth")
	o.GET("/authorize", s.authorize)
	o.POST("/authorize", s.authorize)
	o.POST("/token", s.token, s.clientAuthGuard)
	o.POST("/introspect", s.introspect, s.clientAuthGuard)
	o.POST("/revoke", s.revoke, s.clientAuthGuard)
	o.GET("/userinfo", s.userinfo)
	o.POST("/userinfo", s.userinfo)

	a := e.Group("/api/auth")
	a.POST("/login", s.apiLogin)
	a.POST("/2fa/verify", s.apiVerify2FA)
	a.POST("/2fa/resend", s.apiResend2FA)
	a.POST("/password/change-required", s.apiChangeRequiredPassword)
	a.POST("/password/forgot", s.apiForgotPassword)
	a.POST("/password/reset", s.apiResetPassword)
	a.POST("/pin/login", s.apiPINLogin)
	// requireUser is attached route by route: a group with middleware would
	// register a catch-all that answers 401 on every unknown /api path.
	u := routeGroup{e: e, mw: s.requireUser}
	u.POST("/api/auth/logout", s.apiLogout)
	u.POST("/api/auth/logout-all", s.apiLogoutAll)
	u.GET("/api/auth/me", s.apiMe)
	u.PATCH("/api/auth/me", s.apiUpdateMe)
	u.POST("/api/auth/password", s.apiChangePassword)
	u.POST("/api/auth/2fa/setup", s.api2FASetup)
	u.POST("/api/auth/2fa/enable", s.api2FAEnable)
	u.POST("/api/auth/2fa/email/enable", s.api2FAEmailEnable)
	u.POST("/api/auth/2fa/disable", s.api2FADisable)
	u.POST("/api/auth/2fa/recovery-codes", s.api2FARecoveryCodes)
	u.PUT("/api/auth/pin", s.apiSetPIN)
	u.POST("/api/auth/pin/verify", s.apiVerifyPIN)
	u.POST("/api/auth/pin/unlock", s.apiUnlockPIN)
	u.GET("/api/devices", s.apiDevices)
	u.DELETE("/api/devices/:id", s.apiRevokeDevice)
	u.DELETE("/api/devices/:id/trust", s.apiUntrustDevice)
	u.GET("/api/sessions", s.apiSessions)
	u.DELETE("/api/sessions/:id", s.apiRevokeSession)
	u.GET("/api/audit/me", s.apiMyAudit)
	u.POST("/api/auth/step-up", s.apiStepUp)
	u.GET("/api/auth/step-up/status", s.apiStepUpStatus)
	u.DELETE("/api/auth/step-up", s.apiEndStepUp)
	e.POST("/api/authorizations/check", s.apiCheck, s.authenticate)
	s.apiRoutes(e)

	static, err := fs.Sub(templates.FS, "static")
	if err != nil {
		return nil, err
	}
	e.GET("/assets/*", echo.WrapHandler(http.StripPrefix("/assets/", http.FileServer(http.FS(static)))))

	// CSRF guards the pages route by route: a group with middleware would
	// register a catch-all that runs it on every unknown path (a POST to an
	// unknown /api route would get the HTML "Request expired" page, not 404).
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
	e.GET("/login", s.loginPage, csrf)
	e.POST("/login", s.loginSubmit, csrf)
	e.POST("/login/2fa", s.twoFactorSubmit, csrf)
	e.POST("/login/password", s.passwordChangeSubmit, csrf)
	e.GET("/consent", s.consentPage, csrf)
	e.POST("/consent", s.consentSubmit, csrf)
	s.accountRoutes(e, csrf)
	e.GET("/logout", s.logoutPage, csrf)
	e.POST("/logout", s.logoutSubmit, csrf)
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

// routeGroup registers routes on e with one middleware each, without the
// catch-all routes that an echo.Group with middleware adds.
type routeGroup struct {
	e  *echo.Echo
	mw echo.MiddlewareFunc
}

func (g routeGroup) GET(path string, h echo.HandlerFunc)    { g.e.GET(path, h, g.mw) }
func (g routeGroup) POST(path string, h echo.HandlerFunc)   { g.e.POST(path, h, g.mw) }
func (g routeGroup) PUT(path string, h echo.HandlerFunc)    { g.e.PUT(path, h, g.mw) }
func (g routeGroup) PATCH(path string, h echo.HandlerFunc)  { g.e.PATCH(path, h, g.mw) }
func (g routeGroup) DELETE(path string, h echo.HandlerFunc) { g.e.DELETE(path, h, g.mw) }
