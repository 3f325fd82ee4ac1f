package handlers_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/trace/noop"
	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	"google.golang.org/protobuf/proto"

	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/telemetry"
)

// otlpReceiver is an in-process OTLP/HTTP trace receiver: it decodes
// every POST /v1/traces and keeps the span names by service.name.
type otlpReceiver struct {
	mu       sync.Mutex
	paths    []string
	services map[string][]string
}

func (r *otlpReceiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	body, err := io.ReadAll(req.Body)
	var msg collectortrace.ExportTraceServiceRequest
	if err == nil {
		err = proto.Unmarshal(body, &msg)
	}
	if err != nil || req.Method != http.MethodPost || req.Header.Get("Content-Type") != "application/x-protobuf" {
		http.Error(w, "bad export", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.paths = append(r.paths, req.URL.Path)
	for _, rs := range msg.GetResourceSpans() {
		service := ""
		for _, a := range rs.GetResource().GetAttributes() {
			if a.GetKey() == "service.name" {
				service = a.GetValue().GetStringValue()
			}
		}
		for _, ss := range rs.GetScopeSpans() {
			for _, s := range ss.GetSpans() {
				r.services[service] = append(r.services[service], s.GetName())
			}
		}
	}
	out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
	w.Header().Set("Content-Type", "application/x-protobuf")
	_, _ = w.Write(out)
}

func (r *otlpReceiver) has(service, span string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.services[service] {
		if n == span {
			return true
		}
	}
	return false
}

// The standard variables turn tracing on: OTEL_EXPORTER_OTLP_ENDPOINT
// pointing at an in-process OTLP/HTTP receiver gets the token request's
// spans, under OTEL_SERVICE_NAME, at /v1/traces.
func TestTracingExportsOverOTLPWhenTheEndpointIsSet(t *testing.T) {
	recv := &otlpReceiver{services: map[string][]string{}}
	collector := httptest.NewServer(recv)
	t.Cleanup(collector.Close)
	// Setup installs the provider globally (for the relay's and webhooks'
	// otel.Tracer): put a no-op one back afterwards.
	t.Cleanup(func() { otel.SetTracerProvider(noop.NewTracerProvider()) })
	env := map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL,
		"OTEL_SERVICE_NAME":           "identityd-test",
		"OTEL_TRACES_SAMPLER":         "always_on",
	}
	e := apptest.NewEnv(t, apptest.SQLite(t), func(c *app.Config) {
		s, err := telemetry.FromEnv(func(k string) string { return env[k] })
		require.NoError(t, err)
		require.True(t, s.Enabled)
		c.Tracing = s
	})
	sdk, ok := e.App.TracerProvider.(*sdktrace.TracerProvider)
	require.True(t, ok, "an SDK provider: %T", e.App.TracerProvider)
	require.Same(t, sdk, otel.GetTracerProvider(), "the provider is the global one")
	require.True(t, e.Store.Traced())

	svc := e.ServiceClient(t, nil)
	res := postToken(t, e.URL, svc, "")
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	require.Eventually(t, func() bool {
		// The batch processor exports every few seconds; flush now.
		_ = sdk.ForceFlush(t.Context())
		return recv.has("identityd-test", "POST /api/oauth/token") && recv.has("identityd-test", "INSERT oauth_access_tokens")
	}, 30*time.Second, 100*time.Millisecond, "exported: %v", recv.services)
	recv.mu.Lock()
	defer recv.mu.Unlock()
	for _, p := range recv.paths {
		require.Equal(t, "/v1/traces", p)
	}
}
