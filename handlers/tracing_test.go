package handlers_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"go.opentelemetry.io/otel"
	"go.opentelemetry.io/otel/attribute"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/identityd/identityd/handlers"
	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/storage"
)

// Issue 11 §7: a token request's trace, from the HTTP server span down to
// the database (and Redis) calls, with a span recorder injected into a
// real server (no global provider: tests may run side by side).

const (
	testTraceID  = "4bf92f3577b34da6a3ce929d0e0e4736"
	testParentID = "00f067aa0ba902b7"
)

// tracedServer starts a server whose spans go to the returned recorder.
func tracedServer(t *testing.T, b apptest.Backend) (*apptest.Env, *tracetest.SpanRecorder) {
	t.Helper()
	rec := tracetest.NewSpanRecorder()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSpanProcessor(rec))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })
	e := apptest.NewEnv(t, b, func(c *app.Config) { c.TracerProvider = tp })
	return e, rec
}

// postToken asks for a client-credentials token, sending traceparent when set.
func postToken(t *testing.T, base string, cc *apptest.CreatedClient, traceparent string) *apptest.Result {
	t.Helper()
	form := url.Values{"grant_type": {"client_credentials"}, "scope": {"orders.read"}}
	req, err := http.NewRequest(http.MethodPost, base+"/api/oauth/token", strings.NewReader(form.Encode()))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.SetBasicAuth(url.QueryEscape(cc.Client.ID), url.QueryEscape(cc.Secret))
	if traceparent != "" {
		req.Header.Set("traceparent", traceparent)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	return apptest.ReadResult(t, resp)
}

// spansOf returns the ended spans of trace tid.
func spansOf(rec *tracetest.SpanRecorder, tid trace.TraceID) []sdktrace.ReadOnlySpan {
	var out []sdktrace.ReadOnlySpan
	for _, s := range rec.Ended() {
		if s.SpanContext().TraceID() == tid {
			out = append(out, s)
		}
	}
	return out
}

// reaches reports whether s's chain of parents within spans reaches root.
func reaches(s sdktrace.ReadOnlySpan, root trace.SpanID, spans []sdktrace.ReadOnlySpan) bool {
	byID := map[trace.SpanID]sdktrace.ReadOnlySpan{}
	for _, x := range spans {
		byID[x.SpanContext().SpanID()] = x
	}
	for range len(spans) + 1 {
		p := s.Parent().SpanID()
		if p == root {
			return true
		}
		next, ok := byID[p]
		if !ok {
			return false
		}
		s = next
	}
	return false
}

func attr(s sdktrace.ReadOnlySpan, key attribute.Key) string {
	for _, a := range s.Attributes() {
		if a.Key == key {
			return a.Value.Emit()
		}
	}
	return ""
}

func TestTracingTokenRequestDownToTheDatabase(t *testing.T) {
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e, rec := tracedServer(t, b)
		svc := e.ServiceClient(t, nil)
		res := postToken(t, e.URL, svc, "00-"+testTraceID+"-"+testParentID+"-01")
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		token := res.Str("access_token")
		require.NotEmpty(t, token)
		// The answer's traceparent names our server span in the caller's trace.
		tp := res.Header.Get("traceparent")
		require.True(t, strings.HasPrefix(tp, "00-"+testTraceID+"-"), "traceparent answered: %q", tp)

		tid, err := trace.TraceIDFromHex(testTraceID)
		require.NoError(t, err)
		var spans []sdktrace.ReadOnlySpan
		var server sdktrace.ReadOnlySpan
		// The server span ends after the answer is written: wait for it.
		require.Eventually(t, func() bool {
			spans = spansOf(rec, tid)
			for _, s := range spans {
				if s.Name() == "POST /api/oauth/token" {
					server = s
					return true
				}
			}
			return false
		}, 30*time.Second, 10*time.Millisecond)
		require.Equal(t, trace.SpanKindServer, server.SpanKind())
		require.Equal(t, testParentID, server.Parent().SpanID().String(), "the caller's span is the parent")
		require.True(t, server.Parent().IsRemote())
		require.Equal(t, "200", attr(server, "http.response.status_code"))
		require.Equal(t, "/api/oauth/token", attr(server, "http.route"))
		require.Equal(t, server.SpanContext().SpanID().String(), strings.Split(tp, "-")[2])

		var db, inserts, redis int
		for _, s := range spans {
			if sys := attr(s, "db.system.name"); sys != "" {
				require.True(t, reaches(s, server.SpanContext().SpanID(), spans), "db span %q is not under the server span", s.Name())
				require.Equal(t, trace.SpanKindClient, s.SpanKind())
				want := "sqlite"
				if b.Name == "postgres" {
					want = "postgresql"
				}
				require.Equal(t, want, sys)
				require.NotEmpty(t, attr(s, "db.query.text"))
				db++
				if strings.HasPrefix(s.Name(), "INSERT") {
					inserts++
				}
			}
			if strings.HasPrefix(s.InstrumentationScope().Name, "github.com/redis/go-redis") {
				require.True(t, reaches(s, server.SpanContext().SpanID(), spans), "redis span %q is not under the server span", s.Name())
				redis++
			}
		}
		require.Positive(t, db, "database spans in the trace")
		require.Positive(t, inserts, "the access token's insert is traced")
		if b.RedisURL != "" {
			require.Positive(t, redis, "redis spans in the trace")
		}
		// Never a secret, a token or a value in an attribute.
		for _, s := range rec.Ended() {
			for _, a := range s.Attributes() {
				v := a.Value.Emit()
				require.NotContains(t, v, svc.Secret, "span %q attribute %s", s.Name(), a.Key)
				require.NotContains(t, v, token, "span %q attribute %s", s.Name(), a.Key)
				require.NotContains(t, v, svc.Client.ID, "span %q attribute %s", s.Name(), a.Key)
			}
		}
	})
}

// A request without traceparent starts a trace of its own; its log line
// carries that trace's id.
func TestTracingLogLinesCarryTheSpansTraceID(t *testing.T) {
	e, rec := tracedServer(t, apptest.SQLite(t))
	svc := e.ServiceClient(t, nil)
	res := postToken(t, e.URL, svc, "")
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	var server sdktrace.ReadOnlySpan
	require.Eventually(t, func() bool {
		for _, s := range rec.Ended() {
			if s.Name() == "POST /api/oauth/token" {
				server = s
				return true
			}
		}
		return false
	}, 30*time.Second, 10*time.Millisecond)
	tid := server.SpanContext().TraceID().String()
	require.Contains(t, res.Header.Get("traceparent"), tid)
	var found bool
	for _, line := range strings.Split(e.Logs.String(), "\n") {
		if strings.Contains(line, `"msg":"request"`) && strings.Contains(line, `"/api/oauth/token"`) {
			require.Contains(t, line, `"trace_id":"`+tid+`"`)
			found = true
		}
	}
	require.True(t, found, "request log line: %s", e.Logs.String())
}

// An events row written during a request records the request's trace:
// with tracing on, our server span (in the caller's trace); with tracing
// off, the caller's traceparent itself.
func TestTracingEventsCarryTraceparent(t *testing.T) {
	incoming := "00-" + testTraceID + "-" + testParentID + "-01"
	login := func(t *testing.T, e *apptest.Env) string {
		t.Helper()
		res := e.PasswordLogin(t, e.Tenant.Slug, e.User.Email, apptest.Password, func(r *apptest.Request, _ map[string]any) {
			r.Header = map[string]string{"traceparent": incoming}
		})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		rows := e.Strings(t, "SELECT trace_parent FROM events WHERE type = ? AND tenant_id = ?", identity.EventLoginSucceeded, e.Tenant.ID)
		require.Len(t, rows, 1)
		return rows[0]
	}
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		t.Run("on", func(t *testing.T) {
			e, _ := tracedServer(t, b)
			got := login(t, e)
			require.True(t, strings.HasPrefix(got, "00-"+testTraceID+"-"), "trace_parent %q", got)
			require.NotEqual(t, incoming, got, "the parent is our server span, not the caller's")
		})
		t.Run("off", func(t *testing.T) {
			e := apptest.NewEnv(t, b, nil)
			require.Equal(t, incoming, login(t, e))
		})
	})
}

// With no OTEL_* variable nothing is installed: no provider, no server
// span middleware, no GORM callbacks, no Redis hook, and the global
// provider is not an SDK one.
func TestTracingOffByDefault(t *testing.T) {
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		s := apptest.New(t, b, nil)
		require.False(t, s.Config.Tracing.Enabled)
		require.Nil(t, s.App.TracerProvider)
		require.False(t, s.Store.Traced(), "GORM tracing callbacks registered with tracing off")
		if rc, ok := s.Cache.(*storage.RedisCache); ok {
			require.False(t, rc.Traced(), "Redis tracing hook added with tracing off")
		}
		_, sdk := otel.GetTracerProvider().(*sdktrace.TracerProvider)
		require.False(t, sdk, "the global provider is an SDK one with tracing off")
		require.Nil(t, s.MailQueue.Tracer)
		require.Nil(t, s.Pruner.Tracer)
		// The answered traceparent is the edge's own (a fresh trace, not
		// sampled): no span was started.
		res := s.Do(t, apptest.Request{Method: http.MethodGet, Path: "/api/health"})
		require.True(t, strings.HasSuffix(res.Header.Get("traceparent"), "-00"), "traceparent %q", res.Header.Get("traceparent"))
	})
}

// Outside a request (a worker job's span), a log line written with the
// span's context carries the span's trace id.
func TestTracingLogLineOfAJobSpan(t *testing.T) {
	var buf bytes.Buffer
	log := handlers.WithRequestContext(slog.New(slog.NewJSONHandler(&buf, nil)))
	tp := sdktrace.NewTracerProvider()
	ctx, span := tp.Tracer("t").Start(t.Context(), "job")
	defer span.End()
	log.InfoContext(ctx, "job line")
	require.Contains(t, buf.String(), `"trace_id":"`+span.SpanContext().TraceID().String()+`"`)
}
