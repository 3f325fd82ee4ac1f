package webhook_test

import (
	"context"
	"encoding/base64"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/propagation"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
	"github.com/identityd/identityd/webhook"
)

// TestDeliverySpanFollowsTraceparent: the delivery's span is a child of
// the event's traceparent, and the request carries the span's context.
func TestDeliverySpanFollowsTraceparent(t *testing.T) {
	exp := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(exp))
	prevTP, prevProp := otel.GetTracerProvider(), otel.GetTextMapPropagator()
	otel.SetTracerProvider(tp)
	otel.SetTextMapPropagator(propagation.TraceContext{})
	t.Cleanup(func() { otel.SetTracerProvider(prevTP); otel.SetTextMapPropagator(prevProp) })

	ctx := context.Background()
	st := storagetest.OpenStore(t, storagetest.SQLiteBackend(t), storage.Options{})
	ring, err := keyring.New([]byte("test-secret-test-secret-test-secret-0123456789"))
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var header string
	rcv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		header = r.Header.Get("traceparent")
		mu.Unlock()
	}))
	defer rcv.Close()
	tenant := &models.Tenant{Slug: "trace", Name: "T"}
	if err := st.CreateTenant(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	hook := &models.Webhook{ID: "1b2c3d4e-5f60-4718-8a9b-0c1d2e3f4a5b", TenantID: tenant.ID, URL: rcv.URL, Enabled: true}
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef"))
	if hook.SecretSealed, err = ring.Seal([]byte(secret), identity.WebhookSecretAAD(hook.ID)); err != nil {
		t.Fatal(err)
	}
	if err := st.CreateWebhook(ctx, hook); err != nil {
		t.Fatal(err)
	}
	const traceID, parentSpan = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	if err := st.CreateWebhookDelivery(ctx, &models.WebhookDelivery{WebhookID: hook.ID, TenantID: tenant.ID, EventID: "e1",
		EventType: identity.EventWebhookTest, EventSource: "http://test", EventTime: time.Now(), Data: `{}`,
		TraceParent: "00-" + traceID + "-" + parentSpan + "-01"}); err != nil {
		t.Fatal(err)
	}
	d := &webhook.Deliverer{Store: st, Secrets: ring, Client: webhook.NewClient(5*time.Second, true)}
	if n, err := d.RunOnce(ctx); err != nil || n != 1 {
		t.Fatalf("deliver: %d, %v", n, err)
	}
	spans := exp.GetSpans()
	if len(spans) != 1 {
		t.Fatalf("%d spans, want the delivery's", len(spans))
	}
	s := spans[0]
	if s.Name != "webhook deliver" || s.SpanContext.TraceID().String() != traceID || s.Parent.SpanID().String() != parentSpan {
		t.Fatalf("span %s trace %s parent %s", s.Name, s.SpanContext.TraceID(), s.Parent.SpanID())
	}
	mu.Lock()
	defer mu.Unlock()
	if !strings.Contains(header, traceID) || !strings.Contains(header, s.SpanContext.SpanID().String()) {
		t.Fatalf("traceparent header %q does not carry the delivery span", header)
	}
}
