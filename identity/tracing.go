package identity

import (
	"context"

	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"
)

// jobSpan starts a span of a background job's unit of work (issue 11 §7):
// a mail delivery, a prune run. With no tracer (tracing off) it is a
// no-op and ctx is returned unchanged.
func jobSpan(t trace.Tracer, ctx context.Context, name string) (context.Context, trace.Span) {
	if t == nil {
		return ctx, noop.Span{}
	}
	return t.Start(ctx, name, trace.WithSpanKind(trace.SpanKindInternal))
}
