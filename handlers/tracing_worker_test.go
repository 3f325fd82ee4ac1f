package handlers_test

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
)

// The worker's mail delivery is a span of its own, with the delivery's
// database calls and the SMTP send (to a real SMTP server) under it; the
// SMTP span names the server, never the recipient.
func TestTracingMailDeliverySpans(t *testing.T) {
	mail := apptest.StartSMTP(t)
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	e := apptest.NewEnv(t, apptest.SQLite(t), func(c *app.Config) {
		c.TracerProvider = tp
		c.SMTPURL = mail.URL()
	})
	res := e.Do(t, apptest.Request{Path: "/api/auth/password/forgot", Body: map[string]any{"tenant": e.Tenant.Slug, "email": e.User.Email}})
	require.Less(t, res.Status, 300, "%s", res.Body)

	var deliver, smtp sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		for _, s := range rec.Ended() {
			switch s.Name() {
			case "mail deliver":
				if attr(s, "mail.sent") == "true" {
					deliver = s
				}
			case "smtp send":
				smtp = s
			}
		}
		return deliver != nil && smtp != nil
	}, 30*time.Second, 20*time.Millisecond)
	require.Len(t, mail.Messages(), 1)
	spans := spansOf(rec, deliver.SpanContext().TraceID())
	require.Equal(t, deliver.SpanContext().SpanID(), smtp.Parent().SpanID(), "the SMTP send is under the delivery")
	require.Equal(t, trace.SpanKindClient, smtp.SpanKind())
	require.Equal(t, "127.0.0.1", attr(smtp, "server.address"))
	var db int
	for _, s := range spans {
		if attr(s, "db.system.name") != "" {
			require.True(t, reaches(s, deliver.SpanContext().SpanID(), spans))
			db++
		}
	}
	require.Positive(t, db, "the delivery's database calls are in its trace")
	// The worker's idle polls are no trace of their own: every database
	// span has a parent.
	for _, s := range rec.Ended() {
		if attr(s, "db.system.name") != "" {
			require.True(t, s.Parent().IsValid(), "root database span %q", s.Name())
		}
		for _, a := range s.Attributes() {
			require.NotContains(t, strings.ToLower(a.Value.Emit()), strings.ToLower(e.User.Email), "span %q attribute %s", s.Name(), a.Key)
		}
	}
}
