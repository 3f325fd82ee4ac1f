package webhook

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/netip"
	"syscall"
	"time"

	"github.com/identityd/identityd/identity"
)

// ErrForbiddenAddress is the error of a connection the SSRF rule refused:
// the target resolved to a private, loopback, link-local or otherwise
// forbidden address (identity.ForbiddenWebhookAddr).
var ErrForbiddenAddress = errors.New("webhook target resolves to a forbidden address")

// control is the dialer's Control function: it runs after the name was
// resolved, on the very address about to be connected to, so a name that
// resolves (or re-resolves, DNS rebinding) to a forbidden address is
// refused whatever it said at creation.
func control(allowPrivate bool) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		if allowPrivate {
			return nil
		}
		host, _, err := net.SplitHostPort(address)
		if err != nil {
			return fmt.Errorf("%w: %s", ErrForbiddenAddress, address)
		}
		ip, err := netip.ParseAddr(host)
		if err != nil || identity.ForbiddenWebhookAddr(ip) {
			return fmt.Errorf("%w: %s", ErrForbiddenAddress, host)
		}
		return nil
	}
}

// NewClient is the HTTP client of the deliveries: the SSRF-checking dialer,
// no proxy from the environment (a proxy would make the connect-time check
// meaningless), no redirects followed (a 3xx is a failed attempt), and
// timeout for the whole request.
func NewClient(timeout time.Duration, allowPrivate bool) *http.Client {
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	dialer := &net.Dialer{Timeout: timeout, KeepAlive: 30 * time.Second, Control: control(allowPrivate)}
	transport := &http.Transport{
		Proxy:                 nil,
		DialContext:           dialer.DialContext,
		ForceAttemptHTTP2:     true,
		MaxIdleConns:          100,
		MaxIdleConnsPerHost:   4,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   timeout,
		ResponseHeaderTimeout: timeout,
		ExpectContinueTimeout: time.Second,
	}
	return &http.Client{
		Transport: transport,
		Timeout:   timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// errConnRefused is ECONNREFUSED, for the delivery log's sentence.
var errConnRefused = syscall.ECONNREFUSED
