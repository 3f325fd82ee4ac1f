// Command identity-bench is a load generator for OAuth 2.0 / OpenID Connect
// servers: it measures client-credentials issuance, RFC 7662 introspection,
// refresh-token rotation, the whole authorization-code flow through
// identityd's login form, identityd's login API, any GET route, and a
// weighted mix of these. Endpoints and client credentials come from flags, so
// it measures any standards-compliant server (Ory Hydra, Keycloak) the same
// way as identityd, and -compare-url drives a second server interleaved with
// the first. Usage and the output fields: README.md beside this file.
//
//	identity-bench -url http://127.0.0.1:8000 -scenario client-credentials \
//	    -client-id svc -client-secret S -c 32 -d 30s
//
// It prints requests per second, latency percentiles (p50, p90, p95, p99,
// max), errors by kind and, with -pid, the server's CPU per request, with a
// live progress line; -format json prints the result as JSON on stdout.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return // -h: the usage is printed
		}
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

// Options are the command-line flags for one target.
type Options struct {
	Label         string // "A" or "B" in comparisons
	URL           string
	Scenario      string
	Mix           []mixEntry // -scenario mix
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
	PIDs                   []int  // processes whose CPU time is measured
	Concurrency            int
	Duration               time.Duration
	Count                  int
	Warmup                 time.Duration
	Timeout                time.Duration
	Progress               bool
}

// Config is the whole command line: target A, optionally target B, and how
// to run and print.
type Config struct {
	A, B   *Options // B is nil without -compare-url
	Rounds int
	Format string // "table" or "json"
	// Summary: print rounds and medians (a Comparison), set by -compare-url
	// or by giving -rounds at all, even -rounds 1.
	Summary bool
}

var scenarios = []string{"client-credentials", "introspect", "introspect-fresh", "refresh", "auth-code", "login-api", "get", "mix"}

func parseFlags(args []string, stderr io.Writer) (*Config, error) {
	o := &Options{Label: "A"}
	var (
		tokenPath, introspectPath, mix, pids, format string
		jsonOut                                      bool
		b                                            = struct {
			url, tokenURL, introspectURL, tokenPath, introspectPath, clientID, clientSecret string
			introspectClientID, introspectClientSecret, scope, token, path, pids            string
		}{}
		rounds int
	)
	fs := flag.NewFlagSet("identity-bench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8000", "base URL of the server")
	fs.StringVar(&o.Scenario, "scenario", "client-credentials", "one of: "+strings.Join(scenarios, ", "))
	fs.StringVar(&mix, "mix", "", "mix: operation weights, e.g. client-credentials=70,introspect=20,refresh=5,login-api=5")
	fs.StringVar(&tokenPath, "token-path", "/api/oauth/token", "token endpoint path under -url")
	fs.StringVar(&introspectPath, "introspect-path", "/api/oauth/introspect", "introspection endpoint path under -url")
	fs.StringVar(&o.TokenURL, "token-url", "", "token endpoint as a full URL (overrides -token-path)")
	fs.StringVar(&o.IntrospectURL, "introspect-url", "", "introspection endpoint as a full URL (overrides -introspect-path; Hydra: its admin port)")
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
	fs.StringVar(&pids, "pid", "", "process ids (comma-separated: server, database…) whose CPU time /proc/PID/stat reports")
	fs.IntVar(&o.Concurrency, "c", 8, "concurrent workers")
	fs.DurationVar(&o.Duration, "d", 10*time.Second, "how long to run, per round and target (ignored with -n)")
	fs.IntVar(&o.Count, "n", 0, "stop after this many requests (0: run for -d)")
	fs.DurationVar(&o.Warmup, "warmup", 2*time.Second, "requests during this time are not counted (every round)")
	fs.DurationVar(&o.Timeout, "timeout", 10*time.Second, "per-request timeout")
	fs.StringVar(&format, "format", "table", "output: table or json")
	fs.BoolVar(&jsonOut, "json", false, "the same as -format json")
	fs.BoolVar(&o.Progress, "progress", true, "print a live progress line on stderr")
	fs.IntVar(&rounds, "rounds", 1, "run this many rounds (A then B in each with -compare-url) and print them with the medians (given at all, even 1: that summary's format)")
	fs.StringVar(&b.url, "compare-url", "", "compare with this second server (target B), driven interleaved with -url")
	fs.StringVar(&b.tokenPath, "compare-token-path", "", "B's token endpoint path (default: -token-path)")
	fs.StringVar(&b.introspectPath, "compare-introspect-path", "", "B's introspection path (default: -introspect-path)")
	fs.StringVar(&b.tokenURL, "compare-token-url", "", "B's token endpoint as a full URL")
	fs.StringVar(&b.introspectURL, "compare-introspect-url", "", "B's introspection endpoint as a full URL")
	fs.StringVar(&b.clientID, "compare-client-id", "", "B's client id (default: -client-id)")
	fs.StringVar(&b.clientSecret, "compare-client-secret", "", "B's client secret (default: -client-secret)")
	fs.StringVar(&b.introspectClientID, "compare-introspect-client-id", "", "B's introspection caller (default: B's client)")
	fs.StringVar(&b.introspectClientSecret, "compare-introspect-client-secret", "", "its secret")
	fs.StringVar(&b.scope, "compare-scope", "", "B's scope (default: -scope)")
	fs.StringVar(&b.token, "compare-token", "", "B's token to introspect (default: one fetched from B)")
	fs.StringVar(&b.path, "compare-path", "", "get: B's path (default: -path)")
	fs.StringVar(&b.pids, "compare-pid", "", "B's process ids, as -pid")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil, err
		}
		return nil, usageError{err.Error()}
	}
	if fs.NArg() > 0 {
		return nil, usageError{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	cfg := &Config{A: o, Rounds: rounds, Format: format}
	fs.Visit(func(f *flag.Flag) { cfg.Summary = cfg.Summary || f.Name == "rounds" })
	if jsonOut {
		cfg.Format = "json"
	}
	if cfg.Format != "table" && cfg.Format != "json" {
		return nil, usageError{fmt.Sprintf("-format %q: use table or json", format)}
	}
	if rounds < 1 || rounds > 1000 {
		return nil, usageError{"-rounds must be 1..1000"}
	}
	known := false
	for _, s := range scenarios {
		known = known || s == o.Scenario
	}
	if !known {
		return nil, usageError{fmt.Sprintf("unknown -scenario %q (use %s)", o.Scenario, strings.Join(scenarios, ", "))}
	}
	var err error
	switch {
	case o.Scenario == "mix" && mix == "":
		return nil, usageError{"-scenario mix needs -mix, e.g. -mix client-credentials=70,introspect=30"}
	case o.Scenario != "mix" && mix != "":
		return nil, usageError{"-mix needs -scenario mix"}
	case mix != "":
		if o.Mix, err = parseMix(mix); err != nil {
			return nil, usageError{err.Error()}
		}
	}
	if o.Concurrency < 1 || o.Concurrency > 10000 {
		return nil, usageError{"-c must be 1..10000"}
	}
	if o.Count < 0 || (o.Count == 0 && o.Duration <= 0) {
		return nil, usageError{"give -n > 0 or -d > 0"}
	}
	if o.PIDs, err = parsePIDs(pids); err != nil {
		return nil, usageError{"-pid: " + err.Error()}
	}
	if o.IntrospectClientID == "" {
		o.IntrospectClientID, o.IntrospectClientSecret = o.ClientID, o.ClientSecret
	}
	if b.url != "" {
		ob := *o
		ob.Label, ob.URL, ob.TokenURL, ob.IntrospectURL, ob.AuthorizeURL = "B", b.url, b.tokenURL, b.introspectURL, ""
		ob.Mix = append([]mixEntry(nil), o.Mix...)
		set := func(dst *string, v string) {
			if v != "" {
				*dst = v
			}
		}
		set(&ob.ClientID, b.clientID)
		set(&ob.ClientSecret, b.clientSecret)
		if b.introspectClientID != "" {
			ob.IntrospectClientID, ob.IntrospectClientSecret = b.introspectClientID, b.introspectClientSecret
		} else if b.clientID != "" || b.clientSecret != "" {
			ob.IntrospectClientID, ob.IntrospectClientSecret = ob.ClientID, ob.ClientSecret
		}
		set(&ob.Scope, b.scope)
		ob.Token = b.token
		set(&ob.Path, b.path)
		if ob.PIDs, err = parsePIDs(b.pids); err != nil {
			return nil, usageError{"-compare-pid: " + err.Error()}
		}
		bt, bi := tokenPath, introspectPath
		set(&bt, b.tokenPath)
		set(&bi, b.introspectPath)
		fillURLs(&ob, bt, bi)
		cfg.B = &ob
		cfg.Summary = true
	} else {
		var stray []string
		fs.Visit(func(f *flag.Flag) {
			if strings.HasPrefix(f.Name, "compare-") {
				stray = append(stray, "-"+f.Name)
			}
		})
		if len(stray) > 0 {
			return nil, usageError{strings.Join(stray, ", ") + " need -compare-url"}
		}
	}
	fillURLs(o, tokenPath, introspectPath)
	for _, t := range []*Options{cfg.A, cfg.B} {
		if t == nil {
			continue
		}
		if err := checkNeeds(t); err != nil {
			return nil, usageError{err.Error()}
		}
	}
	return cfg, nil
}

func fillURLs(o *Options, tokenPath, introspectPath string) {
	base := strings.TrimRight(o.URL, "/")
	if o.TokenURL == "" {
		o.TokenURL = base + tokenPath
	}
	if o.IntrospectURL == "" {
		o.IntrospectURL = base + introspectPath
	}
	if o.AuthorizeURL == "" {
		o.AuthorizeURL = base + "/api/oauth/authorize"
	}
}

// checkNeeds reports the flags the scenario (every operation of a mix)
// needs and lacks.
func checkNeeds(o *Options) error {
	ops := []string{o.Scenario}
	if o.Scenario == "mix" {
		ops = ops[:0]
		for _, m := range o.Mix {
			ops = append(ops, m.Op)
		}
	}
	var errs []error
	seen := map[string]bool{}
	need := func(op, name, v string) {
		if v == "" && !seen[name] {
			seen[name] = true
			errs = append(errs, fmt.Errorf("-scenario %s needs %s (target %s)", op, name, o.Label))
		}
	}
	for _, op := range ops {
		switch op {
		case "client-credentials", "introspect", "introspect-fresh":
			need(op, "-client-id", o.ClientID)
			need(op, "-client-secret", o.ClientSecret)
		case "refresh", "auth-code":
			need(op, "-client-id", o.ClientID)
			need(op, "-tenant", o.Tenant)
			need(op, "-email", o.Email)
			need(op, "-password", o.Password)
		case "login-api":
			need(op, "-tenant", o.Tenant)
			need(op, "-email", o.Email)
			need(op, "-password", o.Password)
		}
	}
	return errors.Join(errs...)
}

// parsePIDs reads "123" or "123,456".
func parsePIDs(s string) ([]int, error) {
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n <= 0 {
			return nil, fmt.Errorf("%q is not a process id", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	cfg, err := parseFlags(args, stderr)
	if err != nil {
		return err
	}
	if !cfg.Summary {
		res, err := Run(ctx, cfg.A, stderr)
		if err != nil {
			return err
		}
		if cfg.Format == "json" {
			return writeJSON(stdout, res)
		}
		res.WriteText(stdout)
		return nil
	}
	cmp, err := Compare(ctx, cfg, stderr)
	if err != nil {
		return err
	}
	if cfg.Format == "json" {
		return writeJSON(stdout, cmp)
	}
	cmp.WriteText(stdout)
	return nil
}
