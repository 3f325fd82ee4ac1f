package events_test

import (
	"encoding/json"
	"io"
	"net"
	"sync"
	"testing"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/events"
	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
)

// relayConfig points a server at brokerURL, its relay polling every 20 ms.
func relayConfig(brokerURL string, mutate func(*app.Config)) func(*app.Config) {
	return func(c *app.Config) {
		c.RabbitMQURLs = []app.Secret{app.Secret(brokerURL)}
		c.RelayInterval = 20 * time.Millisecond
		c.RabbitMQTimeout = 2 * time.Second
		if mutate != nil {
			mutate(c)
		}
	}
}

// relayServer starts a server from cfg whose relay publishes to brokerURL,
// and runs the relay.
func relayServer(t *testing.T, cfg *app.Config, brokerURL string, mutate func(*app.Config)) *apptest.Server {
	t.Helper()
	srv := apptest.Start(t, cfg, relayConfig(brokerURL, mutate))
	srv.StartJobs(t, app.JobEventRelay)
	return srv
}

// received is one message a test consumer got.
type received struct {
	Exchange, RoutingKey string
	Delivery             amqp.Delivery
	Env                  map[string]any
}

func (r received) str(key string) string { s, _ := r.Env[key].(string); return s }

func (r received) data() map[string]any { d, _ := r.Env["data"].(map[string]any); return d }

// collector is a test consumer: an exclusive, auto-delete queue bound to
// every event type (#) of both exchanges, keeping the messages of one
// tenant (other tests share the broker).
type collector struct {
	mu   sync.Mutex
	msgs []received
}

func collect(t *testing.T, brokerURL, tenantID string) *collector {
	t.Helper()
	conn := apptest.RabbitMQ(t, brokerURL)
	ch, err := conn.Channel()
	require.NoError(t, err)
	require.NoError(t, events.DeclareExchanges(ch))
	q, err := ch.QueueDeclare("", false, true, true, false, nil)
	require.NoError(t, err)
	for _, x := range events.Exchanges {
		require.NoError(t, ch.QueueBind(q.Name, "#", x, false, nil))
	}
	deliveries, err := ch.Consume(q.Name, "", true, true, false, false, nil)
	require.NoError(t, err)
	c := &collector{}
	go func() {
		for d := range deliveries {
			var env map[string]any
			if json.Unmarshal(d.Body, &env) != nil || env["tenantid"] != tenantID {
				continue
			}
			c.mu.Lock()
			c.msgs = append(c.msgs, received{Exchange: d.Exchange, RoutingKey: d.RoutingKey, Delivery: d, Env: env})
			c.mu.Unlock()
		}
	}()
	return c
}

// all returns the messages so far.
func (c *collector) all() []received {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]received(nil), c.msgs...)
}

// ofType returns the messages of one event type.
func (c *collector) ofType(typ string) []received {
	var out []received
	for _, m := range c.all() {
		if m.str("type") == typ {
			out = append(out, m)
		}
	}
	return out
}

// waitFor polls until cond holds on the messages (at most 30 s).
func (c *collector) waitFor(t *testing.T, what string, cond func([]received) bool) []received {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		msgs := c.all()
		if cond(msgs) {
			return msgs
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s; got %d messages", what, len(msgs))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// waitUntil polls cond (at most 30 s).
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// admin is a signed-in Admin of the env's tenant.
func admin(t *testing.T, e *apptest.Env) string {
	t.Helper()
	email := "admin." + apptest.RandomID(t, 8) + "@example.com"
	e.AddUser(t, apptest.NewUser{TenantSlug: e.Tenant.Slug, Email: email, Password: apptest.Password, Name: "Admin", Role: identity.RoleAdmin})
	return e.Login(t, e.Tenant.Slug, email, apptest.Password)
}

// proxy is a TCP proxy between the relay and the broker that a test can
// cut (every connection closed, new ones closed on accept) and restore,
// standing for a broker outage without stopping the shared broker.
type proxy struct {
	ln     net.Listener
	target string
	mu     sync.Mutex
	up     bool
	conns  map[net.Conn]struct{}
}

func startProxy(t *testing.T, target string) *proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	p := &proxy{ln: ln, target: target, up: true, conns: map[net.Conn]struct{}{}}
	go p.serve()
	t.Cleanup(func() { _ = ln.Close(); p.Cut() })
	return p
}

func (p *proxy) Addr() string { return p.ln.Addr().String() }

func (p *proxy) serve() {
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		up := p.up
		p.mu.Unlock()
		if !up {
			_ = c.Close()
			continue
		}
		go p.pipe(c)
	}
}

func (p *proxy) pipe(c net.Conn) {
	b, err := net.DialTimeout("tcp", p.target, 5*time.Second)
	if err != nil {
		_ = c.Close()
		return
	}
	p.mu.Lock()
	if !p.up {
		p.mu.Unlock()
		_ = c.Close()
		_ = b.Close()
		return
	}
	p.conns[c], p.conns[b] = struct{}{}, struct{}{}
	p.mu.Unlock()
	done := make(chan struct{}, 2)
	go func() { _, _ = io.Copy(b, c); done <- struct{}{} }()
	go func() { _, _ = io.Copy(c, b); done <- struct{}{} }()
	<-done
	_ = c.Close()
	_ = b.Close()
	p.mu.Lock()
	delete(p.conns, c)
	delete(p.conns, b)
	p.mu.Unlock()
}

// Cut closes every connection and refuses new ones until Restore.
func (p *proxy) Cut() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = false
	for c := range p.conns {
		_ = c.Close()
	}
}

// Restore lets connections through again.
func (p *proxy) Restore() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.up = true
}
