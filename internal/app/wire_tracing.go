package app

import (
	"context"

	"github.com/identityd/identityd/mailer"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/telemetry"
)

// buildTracing wires issue 11 §7: with a TracerProvider (the one a test
// injected, else the OTLP one telemetry.Setup builds from the OTEL_*
// variables) every request gets a server span (handlers), every database
// and Redis call made inside a trace a client span, every SMTP send a
// span, and the mail deliveries and prune runs a span each. With tracing
// off it installs nothing.
func (a *App) buildTracing(ctx context.Context) error {
	tp := a.Config.TracerProvider
	if tp == nil {
		t, err := telemetry.Setup(ctx, a.Config.Tracing, a.Log)
		if err != nil || t == nil {
			return err
		}
		flush := context.WithoutCancel(ctx)
		a.closers = append(a.closers, func() error { return t.Shutdown(flush) })
		tp = t.Provider
		a.Log.Info("tracing on: exporting spans over OTLP", "tracing", a.Config.Tracing)
	}
	a.TracerProvider = tp
	// Database, Redis and SMTP spans only inside a trace: an idle poll of
	// the worker is not a trace of its own.
	inner := telemetry.RequireParent(tp)
	if err := a.Store.EnableTracing(inner); err != nil {
		return err
	}
	if rc, ok := a.Cache.(*storage.RedisCache); ok {
		if err := rc.EnableTracing(inner); err != nil {
			return err
		}
	}
	if m, ok := a.Mailer.(*mailer.SMTP); ok {
		m.Tracer = inner.Tracer("identityd/mailer")
	}
	jobs := tp.Tracer("identityd/worker")
	a.MailQueue.Tracer = jobs
	a.Pruner.Tracer = jobs
	return nil
}
