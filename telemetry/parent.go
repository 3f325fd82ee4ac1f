package telemetry

import (
	"context"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/embedded"
)

// RequireParent wraps tp so that a span starts only inside a trace: with
// no span in the context, Start returns the context unchanged and a
// non-recording span. The database and Redis instrumentation use it, so a
// worker's idle poll (every second) or the start-up migration is not a
// trace of its own, while every call made for a request or a job span is.
func RequireParent(tp trace.TracerProvider) trace.TracerProvider {
	return parentOnly{tp: tp}
}

type parentOnly struct {
	embedded.TracerProvider
	tp trace.TracerProvider
}

func (p parentOnly) Tracer(name string, opts ...trace.TracerOption) trace.Tracer {
	return parentOnlyTracer{t: p.tp.Tracer(name, opts...)}
}

type parentOnlyTracer struct {
	embedded.Tracer
	t trace.Tracer
}

func (t parentOnlyTracer) Start(ctx context.Context, name string, opts ...trace.SpanStartOption) (context.Context, trace.Span) {
	if !trace.SpanContextFromContext(ctx).IsValid() {
		return ctx, trace.SpanFromContext(ctx)
	}
	return t.t.Start(ctx, name, opts...)
}
