// Command identity-bench is a load generator for OAuth 2.0 / OpenID Connect
// servers: it measures client-credentials issuance, RFC 7662 introspection,
// refresh-token rotation, the whole authorization-code flow through
// identityd's login form, and identityd's login API. Endpoints and client
// credentials come from flags, so it measures any standards-compliant server
// (Ory Hydra, Keycloak) the same way as identityd.
//
//	identity-bench -url http://127.0.0.1:8000 -scenario client-credentials \
//	    -client-id svc -client-secret S -c 32 -d 30s
//
// It prints requests per second, latency percentiles (p50, p95, p99, max)
// and errors by kind, with a live progress line; -json prints the result as
// JSON on stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "identity-bench:", err)
		var ue usageError
		if errors.As(err, &ue) {
			os.Exit(2)
		}
		os.Exit(1)
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// Options are the command-line flags.
type Options struct {
	URL           string
	Scenario      string
	TokenURL      string
	IntrospectURL string
	AuthorizeURL  string
	ClientID      string
	ClientSecret  string
	Scope         string
	// Introspection caller (defaults to the client above).
	IntrospectClientID     string
	IntrospectClientSecret string
	Token                  string // introspect this token instead of fetching one
	RedirectURI            string
	Tenant                 string
	Email                  string
	Password               string
	Path                   string // the "get" scenario: any GET path, e.g. /api/ping
	Concurrency            int
	Duration               time.Duration
	Count                  int
	Warmup                 time.Duration
	Timeout                time.Duration
	JSON                   bool
	Progress               bool
}

var scenarios = []string{"client-credentials", "introspect", "refresh", "auth-code", "login-api", "get"}

func parseFlags(args []string, stderr io.Writer) (*Options, error) {
	o := &Options{}
	fs := flag.NewFlagSet("identity-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8000", "base URL of the server")
	fs.StringVar(&o.Scenario, "scenario", "client-credentials", "one of: "+strings.Join(scenarios, ", "))
	fs.StringVar(&o.TokenURL, "token-url", "", "token endpoint (default: URL + /api/oauth/token)")
	fs.StringVar(&o.IntrospectURL, "introspect-url", "", "introspection endpoint (default: URL + /api/oauth/introspect)")
	fs.StringVar(&o.AuthorizeURL, "authorize-url", "", "authorization endpoint (default: URL + /api/oauth/authorize)")
	fs.StringVar(&o.ClientID, "client-id", "", "OAuth client id")
	fs.StringVar(&o.ClientSecret, "client-secret", "", "OAuth client secret (HTTP Basic)")
	fs.StringVar(&o.Scope, "scope", "", "scope to request")
	fs.StringVar(&o.IntrospectClientID, "introspect-client-id", "", "client that calls introspection (default: -client-id)")
	fs.StringVar(&o.IntrospectClientSecret, "introspect-client-secret", "", "its secret (default: -client-secret)")
	fs.StringVar(&o.Token, "token", "", "introspect: the token to introspect (default: one fetched with client credentials)")
	fs.StringVar(&o.RedirectURI, "redirect-uri", "http://127.0.0.1:9/cb", "auth-code, refresh: the client's registered redirect URI")
	fs.StringVar(&o.Tenant, "tenant", "", "auth-code, refresh, login-api: tenant slug")
	fs.StringVar(&o.Email, "email", "", "auth-code, refresh, login-api: user e-mail")
	fs.StringVar(&o.Password, "password", "", "auth-code, refresh, login-api: user password")
	fs.StringVar(&o.Path, "path", "/api/ping", "get: the path to GET")
	fs.IntVar(&o.Concurrency, "c", 8, "concurrent workers")
	fs.DurationVar(&o.Duration, "d", 10*time.Second, "how long to run (ignored with -n)")
	fs.IntVar(&o.Count, "n", 0, "stop after this many requests (0: run for -d)")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "requests during this time are not counted")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.BoolVar(&o.JSON, "json", false, "print the result as JSON on stdout")
	fs.BoolVar(&o.Progress, "progress", true, "print a live progress line on stderr")
	if err := fs.Parse(args); err != nil {
		return nil, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	known := false
	for _, s := range scenarios {
		known = known || s == o.Scenario
	}
	if !known {
		return nil, usageError{fmt.Sprintf("unknown -scenario %q (use %s)", o.Scenario, strings.Join(scenarios, ", "))}
	}
	if o.Concurrency < 1 || o.Concurrency > 10000 {
		return nil, usageError{"-c must be 1..10000"}
	}
	if o.Count < 0 || (o.Count == 0 && o.Duration <= 0) {
		return nil, usageError{"give -n > 0 or -d > 0"}
	}
	base := strings.TrimRight(o.URL, "/")
	if o.TokenURL == "" {
		o.TokenURL = base + "/api/oauth/token"
	}
	if o.IntrospectURL == "" {
		o.IntrospectURL = base + "/api/oauth/introspect"
	}
	if o.AuthorizeURL == "" {
		o.AuthorizeURL = base + "/api/oauth/authorize"
	}
	if o.IntrospectClientID == "" {
		o.IntrospectClientID, o.IntrospectClientSecret = o.ClientID, o.ClientSecret
	}
	need := func(name, v string) error {
		if v == "" {
			return usageError{fmt.Sprintf("-scenario %s needs %s", o.Scenario, name)}
		}
		return nil
	}
	var err error
	switch o.Scenario {
	case "client-credentials", "introspect":
		err = errors.Join(need("-client-id", o.ClientID), need("-client-secret", o.ClientSecret))
	case "refresh", "auth-code":
		err = errors.Join(need("-client-id", o.ClientID), need("-tenant", o.Tenant), need("-email", o.Email), need("-password", o.Password))
	case "login-api":
		err = errors.Join(need("-tenant", o.Tenant), need("-email", o.Email), need("-password", o.Password))
	}
	if err != nil {
		return nil, usageError{err.Error()}
	}
	return o, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	o, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	res, err := Run(ctx, o, stderr)
	if err != nil {
		return err
	}
	if o.JSON {
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(res)
	}
	res.WriteText(stdout)
	return nil
}
