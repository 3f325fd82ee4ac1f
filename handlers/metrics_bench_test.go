package handlers_test

import (
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/identityd/identityd/handlers"
	"github.com/identityd/identityd/metrics"
)

// BenchmarkPingMetrics is the HTTP middleware's cost per request: GET
// /api/ping through the whole edge chain with and without Metrics (the
// difference is what IDENTITY_METRICS_ENABLED=0 saves per request).
func BenchmarkPingMetrics(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "off"
		d := fullDeps()
		if on {
			name, d.Metrics = "on", metrics.New()
		}
		b.Run(name, func(b *testing.B) {
			e, err := handlers.New(d)
			if err != nil {
				b.Fatal(err)
			}
			req := httptest.NewRequest(http.MethodGet, "/api/ping", nil)
			b.ReportAllocs()
			for b.Loop() {
				w := httptest.NewRecorder()
				e.ServeHTTP(w, req)
				if w.Code != http.StatusNoContent {
					b.Fatal(w.Code)
				}
			}
		})
	}
}
