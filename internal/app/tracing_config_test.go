package app

import (
	"strings"
	"testing"
)

// A bad OTEL_* value stops start with a line naming the variable; a good
// endpoint turns tracing on.
func TestLoadConfigTracing(t *testing.T) {
	base := map[string]string{"IDENTITY_DATA_DIR": t.TempDir()}
	load := func(extra map[string]string) (*Config, error) {
		return LoadConfig(func(k string) string {
			if v, ok := extra[k]; ok {
				return v
			}
			return base[k]
		})
	}
	c, err := load(nil)
	if err != nil {
		t.Fatal(err)
	}
	if c.Tracing.Enabled {
		t.Fatal("tracing on with no OTEL_* variable")
	}
	c, err = load(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318"})
	if err != nil || !c.Tracing.Enabled || c.Tracing.Endpoint != "http://127.0.0.1:4318/v1/traces" {
		t.Fatalf("endpoint set: %+v, %v", c, err)
	}
	_, err = load(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://127.0.0.1:4318", "OTEL_TRACES_SAMPLER": "often"})
	if err == nil || !strings.Contains(err.Error(), "OTEL_TRACES_SAMPLER: ") || strings.Contains(err.Error(), "\n") {
		t.Fatalf("bad sampler: %v", err)
	}
}
