package events

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"sync"
	"time"

	amqp "github.com/rabbitmq/amqp091-go"
)

// CheckURL reports whether u is an AMQP URL the broker can dial
// (amqp:// or amqps://, a host). The error never repeats the URL, which
// may hold a password.
func CheckURL(u string) error {
	if _, err := amqp.ParseURI(u); err != nil {
		p, perr := url.Parse(u)
		switch {
		case perr != nil:
			return errors.New("is not a URL (a reserved character in the user name or password must be percent-encoded)")
		case p.Scheme != "amqp" && p.Scheme != "amqps":
			return errors.New("must start with amqp:// or amqps://")
		default:
			return errors.New("is not an AMQP URL (amqp://user:pass@host:port/vhost)")
		}
	}
	return nil
}

// Redact returns u with its password replaced, for log lines and errors.
func Redact(u string) string {
	p, err := url.Parse(u)
	if err != nil {
		return "[unparsable URL]"
	}
	return p.Redacted()
}

// BrokerConfig configures a Broker.
type BrokerConfig struct {
	// URLs are the brokers, tried in order on every (re)connection: the
	// first that answers is used until its connection breaks.
	URLs []string
	// Timeout bounds one dial (TCP and the AMQP handshake) and one
	// channel opening (default 5 s).
	Timeout time.Duration
	Log     *slog.Logger
}

// Broker is the connection manager: one AMQP connection, dialled lazily
// on the first use, to the first of URLs that answers, and dialled again
// (from the first URL) on the next use after it broke. It never retries
// by itself: the relay and the OTP consumer back off between their
// attempts, so a broker outage costs each of them one failed dial per
// backoff step, never a hang.
type Broker struct {
	urls    []string
	timeout time.Duration
	log     *slog.Logger

	mu     sync.Mutex
	conn   *amqp.Connection
	closed bool
}

// NewBroker checks cfg and returns the broker (not yet connected).
func NewBroker(cfg BrokerConfig) (*Broker, error) {
	if len(cfg.URLs) == 0 {
		return nil, errors.New("events: broker: no URL")
	}
	for i, u := range cfg.URLs {
		if err := CheckURL(u); err != nil {
			return nil, fmt.Errorf("events: broker URL %d %s", i+1, err)
		}
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 5 * time.Second
	}
	if cfg.Log == nil {
		cfg.Log = slog.New(slog.DiscardHandler)
	}
	return &Broker{urls: append([]string(nil), cfg.URLs...), timeout: cfg.Timeout, log: cfg.Log}, nil
}

// ErrClosed is returned once the broker was closed.
var ErrClosed = errors.New("events: broker closed")

// connection returns the open connection, dialling URLs in order when
// there is none (or it broke).
func (b *Broker) connection(ctx context.Context) (*amqp.Connection, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return nil, ErrClosed
	}
	if b.conn != nil && !b.conn.IsClosed() {
		return b.conn, nil
	}
	b.conn = nil
	var errs []string
	for _, u := range b.urls {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		c, err := b.dial(ctx, u)
		if err != nil {
			// The library's errors name the address, never the password.
			errs = append(errs, Redact(u)+": "+err.Error())
			continue
		}
		b.log.InfoContext(ctx, "rabbitmq connected", "url", Redact(u))
		b.conn = c
		return c, nil
	}
	return nil, fmt.Errorf("events: no broker reachable: %s", strings.Join(errs, "; "))
}

// dial opens one connection to u within the timeout (and ctx).
func (b *Broker) dial(ctx context.Context, u string) (*amqp.Connection, error) {
	deadline := time.Now().Add(b.timeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	return amqp.DialConfig(u, amqp.Config{
		Locale:     "en_US",
		Heartbeat:  10 * time.Second,
		Properties: amqp.Table{"connection_name": "identityd"},
		Dial: func(network, addr string) (net.Conn, error) {
			d := net.Dialer{Deadline: deadline}
			conn, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			// The AMQP handshake has the same deadline; the library
			// clears it once the connection is open.
			if err := conn.SetDeadline(deadline); err != nil {
				_ = conn.Close()
				return nil, err
			}
			return conn, nil
		},
	})
}

// Channel opens a new channel on the connection, (re)connecting first when
// needed; a connection that cannot open a channel in time is dropped, so
// the next call dials afresh.
func (b *Broker) Channel(ctx context.Context) (*amqp.Channel, error) {
	conn, err := b.connection(ctx)
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, b.timeout)
	defer cancel()
	type result struct {
		ch  *amqp.Channel
		err error
	}
	done := make(chan result, 1)
	go func() {
		ch, err := conn.Channel()
		done <- result{ch, err}
	}()
	select {
	case r := <-done:
		if r.err != nil {
			b.drop(conn)
			return nil, fmt.Errorf("events: open channel: %w", r.err)
		}
		return r.ch, nil
	case <-ctx.Done():
		b.drop(conn)
		go func() {
			if r := <-done; r.ch != nil {
				_ = r.ch.Close()
			}
		}()
		return nil, fmt.Errorf("events: open channel: %w", ctx.Err())
	}
}

// drop forgets conn (when it is still the current one) and closes it
// without waiting for the broker.
func (b *Broker) drop(conn *amqp.Connection) {
	b.mu.Lock()
	if b.conn == conn {
		b.conn = nil
	}
	b.mu.Unlock()
	go func() { _ = conn.CloseDeadline(time.Now().Add(b.timeout)) }()
}

// Ping reports whether a broker answers: a channel opened and closed on
// the connection (dialled if needed), within ctx and the broker's timeout.
// It is the "rabbitmq" health check.
func (b *Broker) Ping(ctx context.Context) error {
	ch, err := b.Channel(ctx)
	if err != nil {
		return err
	}
	go func() { _ = ch.Close() }()
	return nil
}

// Close closes the connection; every later call fails with ErrClosed.
func (b *Broker) Close() error {
	b.mu.Lock()
	conn := b.conn
	b.conn, b.closed = nil, true
	b.mu.Unlock()
	if conn != nil && !conn.IsClosed() {
		return conn.CloseDeadline(time.Now().Add(b.timeout))
	}
	return nil
}
