package app

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// RabbitMQ configuration (issue 11 §2, §4): RABBITMQ_URL then
// RABBITMQ_URIS, in order, duplicates dropped; the defaults of the
// tunables; a bad URL named by its variable without its password.
func TestRabbitMQConfig(t *testing.T) {
	cfg, err := LoadConfig(WithDefaults(cfgEnv(nil)))
	if err != nil {
		t.Fatal(err)
	}
	if len(cfg.RabbitMQURLs) != 0 || cfg.OTPQueue != "identity.otp.requests" || cfg.RelayBatch != 100 ||
		cfg.RelayInterval != time.Second || cfg.RabbitMQTimeout != 5*time.Second || cfg.OTPQueueRetries != 5 {
		t.Fatalf("defaults: %+v %q %d %s %s %d", cfg.RabbitMQURLs, cfg.OTPQueue, cfg.RelayBatch, cfg.RelayInterval, cfg.RabbitMQTimeout, cfg.OTPQueueRetries)
	}

	cfg, err = LoadConfig(WithDefaults(cfgEnv(map[string]string{
		"RABBITMQ_URL":  "amqp://u:p@a:5672/",
		"RABBITMQ_URIS": "amqp://u:p@b:5672/, amqp://u:p@a:5672/ ,amqps://u:p@c/vh",
	})))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, u := range cfg.RabbitMQURLs {
		got = append(got, string(u))
	}
	if want := "amqp://u:p@a:5672/ amqp://u:p@b:5672/ amqps://u:p@c/vh"; strings.Join(got, " ") != want {
		t.Fatalf("URLs %q, want %q", got, want)
	}

	tests := []struct {
		env  map[string]string
		name string
	}{
		{map[string]string{"RABBITMQ_URL": "http://guest:hunter2@host/"}, "RABBITMQ_URL"},
		{map[string]string{"RABBITMQ_URIS": "amqp://guest:hunter2@a/,redis://guest:hunter2@b/"}, "RABBITMQ_URIS: URL 2"},
		{map[string]string{"RABBITMQ_URL": "amqp://guest:hunter2@host:notaport/"}, "RABBITMQ_URL"},
		{map[string]string{"IDENTITY_RELAY_BATCH": "0"}, "IDENTITY_RELAY_BATCH"},
		{map[string]string{"IDENTITY_RELAY_INTERVAL": "1ms"}, "IDENTITY_RELAY_INTERVAL"},
		{map[string]string{"IDENTITY_OTP_QUEUE": "amq.otp"}, "IDENTITY_OTP_QUEUE"},
		{map[string]string{"IDENTITY_OTP_QUEUE_RETRIES": "-1"}, "IDENTITY_OTP_QUEUE_RETRIES"},
	}
	for _, tt := range tests {
		_, err := LoadConfig(WithDefaults(cfgEnv(tt.env)))
		if err == nil || !strings.Contains(err.Error(), tt.name) {
			t.Errorf("%v: error %v does not name %s", tt.env, err, tt.name)
			continue
		}
		if strings.Contains(err.Error(), "hunter2") {
			t.Errorf("%v: error %q shows the password", tt.env, err)
		}
	}
}

// Configured, the relay and the OTP queue are worker jobs and the health
// list has a rabbitmq check; a broker that is down does not stop the
// start, and its check fails within the deadline rather than hanging.
func TestRabbitMQWiring(t *testing.T) {
	env := map[string]string{"IDENTITY_DATA_DIR": t.TempDir(), "RABBITMQ_URL": "amqp://guest:secret@127.0.0.1:1/",
		"IDENTITY_RABBITMQ_TIMEOUT": "500ms", "IDENTITY_BCRYPT_COST": "10"}
	cfg, err := LoadConfig(WithDefaults(cfgEnv(env)))
	if err != nil {
		t.Fatal(err)
	}
	a, err := Build(context.Background(), cfg, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	names := map[string]bool{}
	for _, j := range a.WorkerJobs() {
		names[j.Name] = true
	}
	if !names[JobEventRelay] || !names[JobOTPQueue] {
		t.Fatalf("jobs %v", names)
	}
	start := time.Now()
	rec := httptest.NewRecorder()
	a.Echo.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/health", nil))
	if time.Since(start) > 3*time.Second {
		t.Fatalf("the health check took %s", time.Since(start))
	}
	var body struct {
		Checks map[string]struct{ Status string } `json:"checks"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &body); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusServiceUnavailable || body.Checks["rabbitmq"].Status != "fail" || body.Checks["database"].Status != "ok" {
		t.Fatalf("health %d %s", rec.Code, rec.Body)
	}
	if strings.Contains(rec.Body.String(), "secret") {
		t.Fatalf("health shows the password: %s", rec.Body)
	}
}
