package apptest

import (
	"context"
	"net"
	"net/url"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"
)

// RabbitMQURL returns IDENTITY_TEST_RABBITMQ_URL, the broker the RabbitMQ
// tests use: the test skips when it is unset and fails when it is set but
// no broker answers there (CI sets it).
func RabbitMQURL(t testing.TB) string {
	t.Helper()
	u := strings.TrimSpace(os.Getenv("IDENTITY_TEST_RABBITMQ_URL"))
	if u == "" {
		t.Skip("IDENTITY_TEST_RABBITMQ_URL is not set: no RabbitMQ to test against")
	}
	conn, err := amqp.DialConfig(u, amqp.Config{Dial: amqp.DefaultDial(10 * time.Second)})
	if err != nil {
		t.Fatalf("IDENTITY_TEST_RABBITMQ_URL is set but RabbitMQ is unreachable: %v", err)
	}
	_ = conn.Close()
	return u
}

// RabbitMQ is a client connection of a test to the broker, closed at the
// end of the test.
func RabbitMQ(t testing.TB, rawURL string) *amqp.Connection {
	t.Helper()
	conn, err := amqp.DialConfig(rawURL, amqp.Config{Dial: amqp.DefaultDial(10 * time.Second)})
	require.NoError(t, err, "dial RabbitMQ")
	t.Cleanup(func() { _ = conn.Close() })
	return conn
}

// BrokerAddr is the host:port of an AMQP URL.
func BrokerAddr(t testing.TB, rawURL string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	if u.Port() == "" {
		return net.JoinHostPort(u.Hostname(), "5672")
	}
	return u.Host
}

// WithBrokerAddr is rawURL pointed at addr (a proxy in front of the broker).
func WithBrokerAddr(t testing.TB, rawURL, addr string) string {
	t.Helper()
	u, err := url.Parse(rawURL)
	require.NoError(t, err)
	u.Host = addr
	return u.String()
}

// StartJobs runs the server's worker jobs of these names (WorkerJobs) until
// the test ends or stop is called (it waits for them to return); it fails
// the test when one of them is missing.
func (s *Server) StartJobs(t testing.TB, names ...string) (stop func()) {
	t.Helper()
	jobs := map[string]func(context.Context){}
	for _, j := range s.WorkerJobs() {
		jobs[j.Name] = j.Run
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for _, n := range names {
		run, ok := jobs[n]
		require.True(t, ok, "no worker job %q", n)
		wg.Add(1)
		go func() { defer wg.Done(); run(ctx) }()
	}
	stop = func() { cancel(); wg.Wait() }
	t.Cleanup(stop)
	return stop
}
