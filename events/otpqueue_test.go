package events_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/events"
	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

// otpQueue declares a queue of the test's own (with its dead-letter
// queue), deleted at the end, and returns its name and a channel to it.
func otpQueue(t *testing.T, brokerURL string) (string, *amqp.Channel) {
	t.Helper()
	name := "identity.otp.requests.test-" + apptest.RandomID(t, 10)
	ch, err := apptest.RabbitMQ(t, brokerURL).Channel()
	require.NoError(t, err)
	require.NoError(t, events.DeclareOTPQueue(ch, name))
	t.Cleanup(func() {
		_, _ = ch.QueueDelete(name, false, false, false)
		_, _ = ch.QueueDelete(name+".dead", false, false, false)
		_ = ch.ExchangeDelete(name+".dlx", false, false)
	})
	return name, ch
}

func publish(t *testing.T, ch *amqp.Channel, queue string, body []byte) {
	t.Helper()
	require.NoError(t, ch.PublishWithContext(t.Context(), "", queue, false, false,
		amqp.Publishing{ContentType: "application/json", DeliveryMode: amqp.Persistent, Body: body}))
}

func request(t *testing.T, tenantID, userID, purpose string) []byte {
	t.Helper()
	b, err := json.Marshal(map[string]string{"tenant_id": tenantID, "user_id": userID, "purpose": purpose})
	require.NoError(t, err)
	return b
}

// deadLetters polls the dead-letter queue until it holds n messages (at
// most 30 s) and returns their bodies.
func deadLetters(t *testing.T, ch *amqp.Channel, queue string, n int) []string {
	t.Helper()
	var bodies []string
	deadline := time.Now().Add(30 * time.Second)
	for len(bodies) < n {
		d, ok, err := ch.Get(queue+".dead", true)
		require.NoError(t, err)
		if ok {
			bodies = append(bodies, string(d.Body))
			continue
		}
		if time.Now().After(deadline) {
			t.Fatalf("dead-letter queue: %d of %d messages: %q", len(bodies), n, bodies)
		}
		time.Sleep(20 * time.Millisecond)
	}
	return bodies
}

// An OTP request on the queue mails the user a code that
// POST /api/otp/verify accepts, audited as the queue's doing; malformed
// requests, and ones for an unknown tenant or user, land in the
// dead-letter queue, each once.
func TestOTPQueue(t *testing.T) {
	broker := apptest.RabbitMQURL(t)
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		queue, ch := otpQueue(t, broker)
		smtp := apptest.StartSMTP(t)
		srv := apptest.New(t, b, relayConfig(broker, func(c *app.Config) {
			c.SMTPURL = smtp.URL()
			c.OTPQueue = queue
		}))
		srv.StartJobs(t, app.JobOTPQueue)
		e := apptest.Seed(t, srv)

		publish(t, ch, queue, request(t, e.Tenant.ID, e.User.ID, "payment.confirm"))
		var mail string
		waitUntil(t, "the code by e-mail", func() bool {
			for _, m := range smtp.Messages() {
				if len(m.To) == 1 && strings.EqualFold(m.To[0], e.User.Email) {
					mail = string(m.Data)
					return true
				}
			}
			return false
		})
		require.Contains(t, mail, "payment.confirm")
		code := apptest.CodeIn(t, mail)
		tok := srv.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
		res := srv.Call(t, http.MethodPost, "/api/otp/verify", tok, map[string]any{"purpose": "payment.confirm", "code": code})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		require.Equal(t, events.OTPQueueActorID,
			srv.Scalar(t, "SELECT actor_id FROM audit_logs WHERE action = ? AND user_id = ?", identity.AuditOTPGenerated, e.User.ID))

		bad := []string{
			`{not json`,
			`{"tenant_id":"` + e.Tenant.ID + `","user_id":"` + e.User.ID + `","purpose":"payment.confirm","channel":"sms"}`,
			string(request(t, e.Tenant.ID, e.User.ID, "Not A Purpose!")),
			string(request(t, e.Tenant.ID, uuid.NewString(), "payment.confirm")),
			string(request(t, uuid.NewString(), e.User.ID, "payment.confirm")),
			`{"tenant_id":"` + e.Tenant.ID + `","user_id":"` + e.User.ID + `","purpose":"payment.confirm"} trailing`,
		}
		for _, body := range bad {
			publish(t, ch, queue, []byte(body))
		}
		require.ElementsMatch(t, bad, deadLetters(t, ch, queue, len(bad)))
		require.Equal(t, 1.0, testutil.ToFloat64(srv.Metrics.OTPQueueMessages.WithLabelValues("sent")))
		require.Equal(t, float64(len(bad)), testutil.ToFloat64(srv.Metrics.OTPQueueMessages.WithLabelValues("rejected")))
		require.Len(t, smtp.Messages(), 1, "no code for a rejected request")
		// Nothing is left on the queue, nothing more in the dead letters.
		time.Sleep(200 * time.Millisecond)
		q, err := ch.QueueDeclarePassive(queue, true, false, false, false, amqp.Table{"x-dead-letter-exchange": queue + ".dlx"})
		require.NoError(t, err)
		require.Zero(t, q.Messages)
		_, ok, err := ch.Get(queue+".dead", true)
		require.NoError(t, err)
		require.False(t, ok)
	})
}

// flaky is an OTPGenerator failing transiently (an Internal error, as a
// database outage is) its first failures calls, then succeeding.
type flaky struct {
	failures int32
	calls    atomic.Int32
}

func (f *flaky) Generate(context.Context, identity.Actor, identity.GenerateOTP) (*identity.IssuedOTP, error) {
	if n := f.calls.Add(1); n <= f.failures {
		return nil, models.ErrInternal(context.DeadlineExceeded)
	}
	return &identity.IssuedOTP{}, nil
}

// A transient failure puts the request back on the queue a bounded number
// of times: it succeeds on a later try, or, failing every try, is
// dead-lettered with its attempts counted, never retried forever.
func TestOTPQueueTransientFailures(t *testing.T) {
	brokerURL := apptest.RabbitMQURL(t)
	tests := []struct {
		name      string
		failures  int32
		wantCalls int32
		wantDead  bool
	}{
		{name: "recovers", failures: 1, wantCalls: 2},
		{name: "gives up", failures: 100, wantCalls: 3, wantDead: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			queue, ch := otpQueue(t, brokerURL)
			broker, err := events.NewBroker(events.BrokerConfig{URLs: []string{brokerURL}})
			require.NoError(t, err)
			t.Cleanup(func() { _ = broker.Close() })
			gen := &flaky{failures: tt.failures}
			c, err := events.NewOTPConsumer(events.OTPConsumerDeps{Broker: broker, Codes: gen,
				Config: events.OTPConsumerConfig{Queue: queue, MaxRetries: 2, RetryDelay: 10 * time.Millisecond}})
			require.NoError(t, err)
			ctx, cancel := context.WithCancel(context.Background())
			done := make(chan struct{})
			go func() { defer close(done); c.Run(ctx) }()
			t.Cleanup(func() { cancel(); <-done })

			publish(t, ch, queue, request(t, uuid.NewString(), uuid.NewString(), "payment.confirm"))
			waitUntil(t, "the tries", func() bool { return gen.calls.Load() >= tt.wantCalls })
			if tt.wantDead {
				d := deadLetters(t, ch, queue, 1)
				require.Len(t, d, 1)
			}
			time.Sleep(300 * time.Millisecond) // no further try comes
			require.Equal(t, tt.wantCalls, gen.calls.Load())
			_, ok, err := ch.Get(queue+".dead", true)
			require.NoError(t, err)
			require.False(t, ok, "nothing (more) dead-lettered")
		})
	}
}
