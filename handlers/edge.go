package handlers

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
	"go.opentelemetry.io/otel/trace"

	"github.com/identityd/identityd/models"
)

// Edge hardening: the middleware every request passes before it reaches a
// route. New installs it in this order:
//
//	denyIPs (echo Pre: before routing, before anything else)
//	→ requestContext (X-Request-Id, W3C traceparent)
//	→ securityHeaders → cors (when origins are configured)
//	→ logRequests → recoverPanics → limitBody → route middleware → handler

// corsMaxAge is how long a browser may cache a preflight answer (seconds).
const corsMaxAge = 7200

// ipExtractor returns how c.RealIP() finds the client: the connection's
// remote address, unless trusted proxies are configured, in which case
// X-Forwarded-For is read from the right and every hop in a trusted range is
// skipped. Loopback, link-local and private ranges are not trusted unless
// listed: a forwarded header from anyone else is ignored.
func ipExtractor(trusted []*net.IPNet) echo.IPExtractor {
	if len(trusted) == 0 {
		return echo.ExtractIPDirect()
	}
	opts := []echo.TrustOption{echo.TrustLoopback(false), echo.TrustLinkLocal(false), echo.TrustPrivateNet(false)}
	for _, n := range trusted {
		opts = append(opts, echo.TrustIPRange(n))
	}
	return echo.ExtractIPFromXFFHeader(opts...)
}

// denyIPs answers 403 in the API's JSON error shape to any client address in
// the deny list. It runs as echo Pre middleware: before routing, request ids,
// logging or any handler.
func (s *Server) denyIPs(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		ip := net.ParseIP(c.RealIP())
		for _, n := range s.IPDenyList {
			if ip != nil && n.Contains(ip) {
				h := c.Response().Header()
				h.Set(echo.HeaderXContentTypeOptions, "nosniff")
				h.Set(echo.HeaderContentSecurityPolicy, jsonCSP)
				h.Set("Cache-Control", "no-store")
				s.Logger.LogAttrs(c.Request().Context(), slog.LevelInfo, "request denied by IP deny list",
					slog.String("remote_ip", ip.String()), slog.String("method", c.Request().Method))
				return c.JSON(http.StatusForbidden, apiError{Error: models.CodeIPDenied, Message: "Requests from your network address are not accepted."})
			}
		}
		return next(c)
	}
}

type ctxKey int

const (
	requestIDKey ctxKey = iota
	traceIDKey
)

// RequestID returns the request id of ctx, if any.
func RequestID(ctx context.Context) string {
	v, _ := ctx.Value(requestIDKey).(string)
	return v
}

// TraceID returns the W3C trace id of ctx, if any.
func TraceID(ctx context.Context) string {
	v, _ := ctx.Value(traceIDKey).(string)
	return v
}

// requestIDRE is what an incoming X-Request-Id must look like to be kept
// (a load balancer's id); anything else is replaced, so a client cannot put
// arbitrary text into log lines.
var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{8,128}$`)

// requestContext gives every request an id (kept from a well-formed incoming
// X-Request-Id, else generated) and a W3C trace context: a valid incoming
// traceparent keeps its trace id and flags; otherwise a new trace starts
// (not sampled). Both go into the request's context, so every log line
// written with it carries request_id and trace_id, and back to the caller:
// X-Request-Id, and traceparent with our own, new parent id (W3C Trace
// Context §3.2).
func requestContext(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		rid := r.Header.Get(echo.HeaderXRequestID)
		if !requestIDRE.MatchString(rid) {
			rid = randomHex(16)
		}
		traceID, flags, ok := parseTraceparent(r.Header.Get("traceparent"))
		if !ok {
			traceID, flags = randomHex(16), "00"
		}
		ctx := context.WithValue(r.Context(), requestIDKey, rid)
		ctx = context.WithValue(ctx, traceIDKey, traceID)
		if ok {
			// The caller's trace reaches the outbox events of the request
			// (identity's traceParent) even with tracing off.
			ctx = withRemoteParent(ctx, r.Header.Get("traceparent"))
		}
		c.SetRequest(r.WithContext(ctx))
		h := c.Response().Header()
		h.Set(echo.HeaderXRequestID, rid)
		h.Set("traceparent", "00-"+traceID+"-"+randomHex(8)+"-"+flags)
		return next(c)
	}
}

// parseTraceparent validates a traceparent header (W3C Trace Context §3.2):
// version-traceid-parentid-flags in lower-case hex; version ff, an all-zero
// trace id or parent id are invalid. A future version may append fields
// after the flags; version 00 may not.
func parseTraceparent(v string) (traceID, flags string, ok bool) {
	parts := strings.Split(v, "-")
	if len(parts) < 4 {
		return "", "", false
	}
	version, tid, pid, fl := parts[0], parts[1], parts[2], parts[3]
	if !isLowerHex(version, 2) || version == "ff" || (version == "00" && len(parts) != 4) {
		return "", "", false
	}
	if !isLowerHex(tid, 32) || tid == strings.Repeat("0", 32) || !isLowerHex(pid, 16) || pid == strings.Repeat("0", 16) || !isLowerHex(fl, 2) {
		return "", "", false
	}
	return tid, fl, true
}

func isLowerHex(s string, n int) bool {
	if len(s) != n {
		return false
	}
	for _, r := range s {
		if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f') {
			return false
		}
	}
	return true
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// contextHandler adds request_id and trace_id from the context to every
// record logged with one of the …Context methods.
type contextHandler struct{ slog.Handler }

func (h contextHandler) Handle(ctx context.Context, r slog.Record) error {
	if ctx != nil {
		if id := RequestID(ctx); id != "" {
			r.AddAttrs(slog.String("request_id", id))
		}
		// The trace id of the span in ctx when there is one (tracing on: the
		// request's server span, a worker job's span), so a log line and
		// its exported trace match; else the request's own.
		if sc := trace.SpanContextFromContext(ctx); sc.IsValid() {
			r.AddAttrs(slog.String("trace_id", sc.TraceID().String()))
		} else if id := TraceID(ctx); id != "" {
			r.AddAttrs(slog.String("trace_id", id))
		}
	}
	return h.Handler.Handle(ctx, r)
}

func (h contextHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return contextHandler{h.Handler.WithAttrs(as)}
}

func (h contextHandler) WithGroup(name string) slog.Handler {
	return contextHandler{h.Handler.WithGroup(name)}
}

// WithRequestContext returns a logger whose records carry the request id and
// trace id of the context they are logged with. Wrapping twice is harmless.
func WithRequestContext(l *slog.Logger) *slog.Logger {
	if _, ok := l.Handler().(contextHandler); ok {
		return l
	}
	return slog.New(contextHandler{l.Handler()})
}

// jsonCSP is the Content-Security-Policy of every response that is not a
// page (pages set their own in renderPage): nothing may load, nothing may
// frame it.
const jsonCSP = "default-src 'none'; frame-ancestors 'none'"

// securityHeaders sets the headers every response carries. Pages replace the
// CSP with their own default-deny policy.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		if s.secure {
			h.Set(echo.HeaderStrictTransportSecurity, "max-age=63072000; includeSubDomains")
		}
		h.Set(echo.HeaderXFrameOptions, "DENY")
		h.Set(echo.HeaderXContentTypeOptions, "nosniff")
		h.Set(echo.HeaderReferrerPolicy, "strict-origin-when-cross-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set(echo.HeaderContentSecurityPolicy, jsonCSP)
		return next(c)
	}
}

// cors answers cross-origin requests from the configured origins only:
// methods GET, POST, PUT, PATCH (the API updates with PATCH) and DELETE,
// request headers Authorization and Content-Type, preflight cached for two
// hours. No credentials mode: the API authenticates with bearer tokens, not
// cookies. Nil when no origin is configured (no CORS headers at all).
func (s *Server) cors() echo.MiddlewareFunc {
	if len(s.CORSOrigins) == 0 {
		return nil
	}
	return middleware.CORSWithConfig(middleware.CORSConfig{
		AllowOriginFunc: func(origin string) (bool, error) { return OriginAllowed(s.CORSOrigins, origin), nil },
		AllowMethods:    []string{http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete},
		AllowHeaders:    []string{echo.HeaderAuthorization, echo.HeaderContentType},
		ExposeHeaders:   []string{echo.HeaderXRequestID},
		MaxAge:          corsMaxAge,
	})
}

// OriginAllowed reports whether origin (scheme://host[:port]) matches one
// of the patterns. A pattern is an exact origin, or one whose host starts
// with "*." and then matches any subdomain of the rest, at any depth
// (https://*.example.com matches https://a.example.com and
// https://a.b.example.com), never the bare domain itself
// (https://example.com) nor another scheme or port. Comparison ignores
// case; a default port is the same as none.
func OriginAllowed(patterns []string, origin string) bool {
	o, ok := parseOrigin(origin)
	if !ok {
		return false
	}
	for _, raw := range patterns {
		wild := strings.Contains(raw, "://*.")
		p, ok := parseOrigin(strings.Replace(raw, "://*.", "://", 1))
		if !ok || p.scheme != o.scheme || p.port != o.port {
			continue
		}
		if !wild && p.host == o.host {
			return true
		}
		if wild && strings.HasSuffix(o.host, "."+p.host) && !strings.HasPrefix(o.host, ".") {
			return true
		}
	}
	return false
}

type origin struct{ scheme, host, port string }

// parseOrigin splits scheme://host[:port] with nothing after it.
func parseOrigin(raw string) (origin, bool) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
		(u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return origin{}, false
	}
	o := origin{scheme: strings.ToLower(u.Scheme), host: strings.ToLower(u.Hostname()), port: u.Port()}
	if o.host == "" || strings.Contains(o.host, "..") {
		return origin{}, false
	}
	if (o.scheme == "https" && o.port == "443") || (o.scheme == "http" && o.port == "80") {
		o.port = ""
	}
	return o, true
}

// originOf returns the origin of an absolute http(s) URL, or "".
func originOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil {
		return ""
	}
	return u.Scheme + "://" + u.Host
}

// localPath reports whether target is a path on this server ("/account",
// never "//host" or "/\host", which browsers read as another origin).
func localPath(target string) bool {
	if !strings.HasPrefix(target, "/") || strings.HasPrefix(target, "//") || strings.HasPrefix(target, "/\\") {
		return false
	}
	u, err := url.Parse(target)
	return err == nil && u.Scheme == "" && u.Host == "" && !strings.ContainsAny(target, "\r\n\t")
}

// allowedRedirect reports whether a post-login or post-logout redirect may
// go to target: a path on this server, or an absolute URL whose origin is in
// IDENTITY_REDIRECT_ALLOWED_ORIGINS (or among extra, exact origins).
func (s *Server) allowedRedirect(target string, extra []string) bool {
	if target == "" || len(target) > 2048 {
		return false
	}
	if localPath(target) {
		return true
	}
	o := originOf(target)
	if o == "" {
		return false
	}
	return OriginAllowed(s.RedirectOrigins, o) || OriginAllowed(extra, o)
}
