package oauthcli

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// DefaultTimeout bounds each non-interactive call whose ctx has no deadline.
const DefaultTimeout = 30 * time.Second

// maxBody caps what is read of any answer.
const maxBody = 1 << 20

// Endpoint is the authorization server the functions talk to.
type Endpoint struct {
	// Issuer is the server's issuer URL (its base URL for identityd,
	// e.g. https://id.example.com), exactly as its discovery document
	// names it.
	Issuer string
	// HTTPClient makes every request; nil uses a client with a 60 second
	// backstop timeout.
	HTTPClient *http.Client
	// Timeout bounds each call of Introspect, Revoke and
	// PerformClientCredentials whose ctx has no deadline, and each network
	// step (discovery, code exchange, key fetch) of
	// PerformAuthorizationCode; zero is DefaultTimeout.
	Timeout time.Duration
}

// defaultHTTPClient backs Endpoint.HTTPClient nil. The Timeout is a
// backstop for requests that outlive their ctx (go-oidc refreshes keys in
// the background).
var defaultHTTPClient = &http.Client{Timeout: 60 * time.Second}

func (ep Endpoint) client() *http.Client {
	if ep.HTTPClient != nil {
		return ep.HTTPClient
	}
	return defaultHTTPClient
}

// withDeadline gives ctx the endpoint's timeout unless it has a deadline.
func (ep Endpoint) withDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	if _, ok := ctx.Deadline(); ok {
		return context.WithCancel(ctx)
	}
	d := ep.Timeout
	if d <= 0 {
		d = DefaultTimeout
	}
	return context.WithTimeout(ctx, d)
}

// stepDeadline bounds one network step of the authorization code flow,
// whose ctx is sized for a person: the endpoint's timeout, or ctx's deadline
// when that comes first.
func (ep Endpoint) stepDeadline(ctx context.Context) (context.Context, context.CancelFunc) {
	d := ep.Timeout
	if d <= 0 {
		d = DefaultTimeout
	}
	return context.WithTimeout(ctx, d)
}

// clientContext is ctx carrying the endpoint's HTTP client for x/oauth2 and
// go-oidc.
func (ep Endpoint) clientContext(ctx context.Context) context.Context {
	return oidc.ClientContext(context.WithValue(ctx, oauth2.HTTPClient, ep.client()), ep.client())
}

// metadata is what the functions need of the discovery document.
type metadata struct {
	provider *oidc.Provider
	issuer   string
	// The endpoints of OpenID Connect Discovery 1.0 §3 and RFC 8414 §2.
	AuthorizationEndpoint string `json:"authorization_endpoint"`
	TokenEndpoint         string `json:"token_endpoint"`
	IntrospectionEndpoint string `json:"introspection_endpoint"`
	RevocationEndpoint    string `json:"revocation_endpoint"`
	// IssParameter: the server puts iss in every authorization response
	// (RFC 9207 §3).
	IssParameter bool `json:"authorization_response_iss_parameter_supported"`
}

// discover reads the issuer's discovery document with go-oidc, which also
// checks that the document names the same issuer (Discovery §4.3).
func discover(ctx context.Context, ep Endpoint) (*metadata, error) {
	if ep.Issuer == "" {
		return nil, errors.New("oauthcli: discovery: no issuer")
	}
	issuer := strings.TrimSuffix(ep.Issuer, "/")
	p, err := oidc.NewProvider(ep.clientContext(ctx), issuer)
	if err != nil {
		return nil, fmt.Errorf("oauthcli: discovery of %s: %w", issuer, err)
	}
	m := &metadata{provider: p, issuer: issuer}
	if err := p.Claims(m); err != nil {
		return nil, fmt.Errorf("oauthcli: discovery of %s: %w", issuer, err)
	}
	return m, nil
}

// Error is an OAuth 2.0 error answer: of the token endpoint (RFC 6749
// §5.2), introspection (RFC 7662 §2.3), revocation (RFC 7009 §2.2.1), or
// an authorization error sent to the redirect URI (RFC 6749 §4.1.2.1).
// It carries what the server said, never what was sent to it.
type Error struct {
	// Op is the endpoint: "token", "authorize", "introspect" or "revoke".
	Op string `json:"-"`
	// StatusCode is the HTTP status (0 for an authorization redirect).
	StatusCode int `json:"-"`
	// Code is the error field, e.g. invalid_client or access_denied ("" when
	// the answer was not an OAuth error document).
	Code        string `json:"error"`
	Description string `json:"error_description,omitempty"`
	URI         string `json:"error_uri,omitempty"`
}

// Error reads "oauthcli: token: invalid_client: <description> (HTTP 401)".
// The server's words are stripped of control characters, so a hostile
// server cannot write terminal escapes through it.
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("oauthcli: " + e.Op + ": ")
	if e.Code != "" {
		b.WriteString(printable(e.Code))
	} else {
		b.WriteString("unexpected answer")
	}
	if e.Description != "" {
		b.WriteString(": " + printable(e.Description))
	}
	if e.StatusCode != 0 {
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	}
	return b.String()
}

// printable drops control characters and caps the length.
func printable(s string) string {
	s = strings.Map(func(r rune) rune {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return -1
		}
		return r
	}, s)
	if len(s) > 300 {
		s = s[:300] + "…"
	}
	return s
}

// errorFromResponse reads an OAuth error answer (whatever its status).
func errorFromResponse(op string, resp *http.Response) *Error {
	e := &Error{Op: op, StatusCode: resp.StatusCode}
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxBody))
	_ = json.Unmarshal(body, e) // a non-JSON answer leaves Code empty
	return e
}

// fromRetrieveError turns x/oauth2's token endpoint error into an *Error;
// any other error is wrapped as it is.
func fromRetrieveError(err error) error {
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		return fmt.Errorf("oauthcli: token: %w", err)
	}
	e := &Error{Op: "token", Code: re.ErrorCode, Description: re.ErrorDescription, URI: re.ErrorURI}
	if re.Response != nil {
		e.StatusCode = re.Response.StatusCode
	}
	return e
}
