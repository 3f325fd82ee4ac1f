package handlers

import (
	"context"
	"net/http"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// Tracing (issue 11 §7): one server span per request, installed only when
// Deps.TracerProvider is set (tracing off: no middleware at all).

// tracePropagator reads and writes W3C traceparent/tracestate and baggage.
var tracePropagator = propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})

// traceRequests starts a server span for each request, a child of the
// caller's traceparent when it sends a valid one, named "METHOD
// route-pattern" (never the path: it may carry ids), with the method,
// route, scheme and status. The query string, headers and body are never
// attributes (codes and tokens travel there). A 5xx answer marks the span
// as an error. The span is in the request's context, so every service,
// database call and outbox event of the request joins the trace, and the
// request's log lines and the traceparent answered carry its ids.
func traceRequests(tp trace.TracerProvider) echo.MiddlewareFunc {
	tracer := tp.Tracer("identityd/http")
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			r := c.Request()
			ctx := tracePropagator.Extract(r.Context(), propagation.HeaderCarrier(r.Header))
			route := c.Path()
			if route == "" {
				route = "unmatched"
			}
			scheme := "http"
			if r.TLS != nil {
				scheme = "https"
			}
			ctx, span := tracer.Start(ctx, r.Method+" "+route,
				trace.WithSpanKind(trace.SpanKindServer),
				trace.WithAttributes(
					attribute.String("http.request.method", r.Method),
					attribute.String("http.route", route),
					attribute.String("url.scheme", scheme),
					attribute.String("network.protocol.version", protocolVersion(r)),
				))
			defer span.End()
			sc := span.SpanContext()
			if sc.IsValid() {
				// The log lines' trace_id is the span's (contextHandler
				// reads the span first), and so is the answered traceparent.
				ctx = context.WithValue(ctx, traceIDKey, sc.TraceID().String())
				propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(c.Response().Header()))
			}
			c.SetRequest(r.WithContext(ctx))
			err := next(c)
			if err != nil {
				// Answer now, so the span sees the status the client gets.
				c.Error(err)
			}
			status := c.Response().Status
			span.SetAttributes(attribute.Int("http.response.status_code", status))
			if status >= http.StatusInternalServerError {
				span.SetStatus(codes.Error, http.StatusText(status))
			}
			return nil
		}
	}
}

func protocolVersion(r *http.Request) string {
	switch r.ProtoMajor {
	case 2:
		return "2"
	case 3:
		return "3"
	}
	return "1.1"
}

// withRemoteParent puts the caller's valid traceparent into ctx as the
// remote parent span context: with tracing off no span is started, yet
// the request's events still record the caller's trace.
func withRemoteParent(ctx context.Context, traceparent string) context.Context {
	return propagation.TraceContext{}.Extract(ctx, propagation.MapCarrier{"traceparent": traceparent})
}
