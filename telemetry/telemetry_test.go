package telemetry_test

import (
	"context"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"
	"go.opentelemetry.io/otel/trace/noop"

	"github.com/identityd/identityd/telemetry"
)

func env(m map[string]string) func(string) string { return func(k string) string { return m[k] } }

func TestFromEnv(t *testing.T) {
	tests := []struct {
		name    string
		env     map[string]string
		want    telemetry.Settings
		wantErr string
	}{
		{name: "nothing set: off", env: nil, want: telemetry.Settings{ServiceName: "identityd", Protocol: telemetry.ProtocolHTTP}},
		{name: "base endpoint gets the signal path", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318/"},
			want: telemetry.Settings{Enabled: true, Endpoint: "http://collector:4318/v1/traces", Protocol: telemetry.ProtocolHTTP, ServiceName: "identityd"}},
		{name: "traces endpoint as it is, wins over the base", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://a:4318",
			"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "https://b/custom"},
			want: telemetry.Settings{Enabled: true, Endpoint: "https://b/custom", Protocol: telemetry.ProtocolHTTP, ServiceName: "identityd"}},
		{name: "grpc keeps the base", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "grpc",
			"OTEL_SERVICE_NAME": "id-eu"},
			want: telemetry.Settings{Enabled: true, Endpoint: "http://collector:4317", Protocol: telemetry.ProtocolGRPC, ServiceName: "id-eu"}},
		{name: "traces protocol wins", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4317", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/protobuf",
			"OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"},
			want: telemetry.Settings{Enabled: true, Endpoint: "http://c:4317", Protocol: telemetry.ProtocolGRPC, ServiceName: "identityd"}},
		{name: "sampler with ratio", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_SAMPLER": "ParentBased_TraceIdRatio",
			"OTEL_TRACES_SAMPLER_ARG": "0.25"},
			want: telemetry.Settings{Enabled: true, Endpoint: "http://c:4318/v1/traces", Protocol: telemetry.ProtocolHTTP, ServiceName: "identityd",
				Sampler: "parentbased_traceidratio", SamplerArg: 0.25}},
		{name: "SDK disabled", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_SDK_DISABLED": "true"}},
		{name: "bad protocol", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_EXPORTER_OTLP_PROTOCOL": "http/json"},
			wantErr: "OTEL_EXPORTER_OTLP_PROTOCOL: "},
		{name: "bad endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, wantErr: "OTEL_EXPORTER_OTLP_ENDPOINT: "},
		{name: "bad traces endpoint", env: map[string]string{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "ftp://x"}, wantErr: "OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: "},
		{name: "bad sampler", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_SAMPLER": "sometimes"},
			wantErr: "OTEL_TRACES_SAMPLER: "},
		{name: "bad ratio", env: map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://c:4318", "OTEL_TRACES_SAMPLER": "traceidratio",
			"OTEL_TRACES_SAMPLER_ARG": "2"}, wantErr: "OTEL_TRACES_SAMPLER_ARG: "},
		{name: "bad disabled", env: map[string]string{"OTEL_SDK_DISABLED": "yes"}, wantErr: "OTEL_SDK_DISABLED: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := telemetry.FromEnv(env(tt.env))
			if tt.wantErr != "" {
				require.Error(t, err)
				require.True(t, strings.HasPrefix(err.Error(), tt.wantErr), "error %q", err)
				require.NotContains(t, err.Error(), "\n")
				return
			}
			require.NoError(t, err)
			require.Equal(t, tt.want, got)
		})
	}
}

// Off: Setup builds nothing and leaves the global provider alone.
func TestSetupOff(t *testing.T) {
	before := otel.GetTracerProvider()
	tr, err := telemetry.Setup(t.Context(), telemetry.Settings{}, nil)
	require.NoError(t, err)
	require.Nil(t, tr)
	require.Equal(t, before, otel.GetTracerProvider())
}

// On, with either protocol: an SDK provider, installed globally with the
// W3C propagator, that shuts down cleanly (nothing listens: the exporter
// connects lazily and Shutdown gives up within its deadline).
func TestSetupOn(t *testing.T) {
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	for _, proto := range []string{"http/protobuf", "grpc"} {
		t.Run(proto, func(t *testing.T) {
			s, err := telemetry.FromEnv(env(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:1", "OTEL_EXPORTER_OTLP_PROTOCOL": proto,
				"OTEL_TRACES_SAMPLER": "always_off"}))
			require.NoError(t, err)
			tr, err := telemetry.Setup(t.Context(), s, nil)
			require.NoError(t, err)
			require.NotNil(t, tr)
			require.Same(t, tr.Provider, otel.GetTracerProvider())
			fields := otel.GetTextMapPropagator().Fields()
			require.Contains(t, fields, "traceparent")
			require.Contains(t, fields, "baggage")
			// always_off: nothing sampled, nothing to export.
			_, span := tr.Provider.Tracer("t").Start(t.Context(), "x")
			require.False(t, span.IsRecording())
			span.End()
			require.NoError(t, tr.Shutdown(t.Context()))
		})
	}
}

// RequireParent starts spans only inside a trace.
func TestRequireParent(t *testing.T) {
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	inner := telemetry.RequireParent(tp).Tracer("inner")

	ctx, span := inner.Start(context.Background(), "orphan")
	require.False(t, span.IsRecording())
	require.False(t, trace.SpanContextFromContext(ctx).IsValid())
	span.End()

	pctx, parent := tp.Tracer("outer").Start(context.Background(), "parent")
	_, child := inner.Start(pctx, "child")
	require.True(t, child.IsRecording())
	child.End()
	parent.End()
	ended := rec.Ended()
	require.Len(t, ended, 2)
	require.Equal(t, "child", ended[0].Name())
	require.Equal(t, parent.SpanContext().SpanID(), ended[0].Parent().SpanID())
}
