// Package telemetry sets up OpenTelemetry tracing (issue 11 §7): an SDK
// TracerProvider exporting over OTLP when the standard
// OTEL_EXPORTER_OTLP_ENDPOINT (or OTEL_EXPORTER_OTLP_TRACES_ENDPOINT) is
// set, and nothing at all otherwise: with tracing off the global provider
// stays OpenTelemetry's no-op one and no middleware, GORM plugin or Redis
// hook is installed, so tracing that is off costs nothing.
//
// The HTTP middleware lives in handlers (tracing.go), the GORM and Redis
// instrumentation in storage (tracing.go), the SMTP span in mailer; they
// all take the trace.TracerProvider this package builds (or one a test
// injects), never the global.
package telemetry
