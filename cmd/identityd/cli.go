package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"sort"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"golang.org/x/term"
	"sigs.k8s.io/yaml"

	"github.com/identityd/identityd/handlers"
	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
)

// Exit statuses (docs/cli.md).
const (
	exitOK       = 0
	exitError    = 1
	exitUsage    = 2
	exitNotFound = 3
	exitConflict = 4
)

// errUsage marks a command-line mistake (exit status 2).
type errUsage struct{ msg string }

func (e errUsage) Error() string { return e.msg }

// errExit is an error with its exit status: the API's 404 is 3, its 409 is 4.
type errExit struct {
	code int
	msg  string
}

func (e errExit) Error() string { return e.msg }

// exitCode is the process status for err (nil is 0).
func exitCode(err error) int {
	var ue errUsage
	var ee errExit
	switch {
	case err == nil:
		return exitOK
	case errors.As(err, &ue):
		return exitUsage
	case errors.As(err, &ee):
		return ee.code
	}
	return exitError
}

// cli is one run of the command line: where it writes, the environment,
// and how it reaches the admin API (in-process over the database, or a
// remote server with a token).
type cli struct {
	ctx            context.Context
	getenv         func(string) string
	stdin          io.Reader
	stdout, stderr io.Writer
	stdoutTTY      bool

	// Global flags.
	output    string
	endpoint  string
	token     string
	tokenFile string
	tenant    string
	timeout   time.Duration

	local   *app.App // built on first use, closed by run
	started func()   // called when a command's own code starts
}

// remote reports whether the command talks to a server over HTTP.
func (c *cli) remote() bool { return c.endpointURL() != "" }

func (c *cli) endpointURL() string {
	if c.endpoint != "" {
		return strings.TrimRight(c.endpoint, "/")
	}
	return strings.TrimRight(strings.TrimSpace(c.getenv("IDENTITY_ENDPOINT")), "/")
}

// app builds the application over the configured database (the local
// mode, and the commands that only run there: serve, migrate, prune…).
func (c *cli) app() (*app.App, error) {
	if c.local != nil {
		return c.local, nil
	}
	cfg, err := app.LoadConfig(app.WithDefaults(c.getenv))
	if err != nil {
		return nil, err
	}
	a, err := app.Build(c.ctx, cfg, app.NewLogger(cfg, c.stderr))
	if err != nil {
		return nil, err
	}
	c.local = a
	return a, nil
}

// localOnly refuses a command that works on the database itself when
// --endpoint is set.
func (c *cli) localOnly(name string) error {
	if c.remote() {
		return errUsage{name + " works on the database directly; it cannot run against --endpoint (unset IDENTITY_ENDPOINT)"}
	}
	return nil
}

// apiCall is one admin API request.
type apiCall struct {
	method string
	path   string // with the query
	body   any    // JSON-encoded when not nil
	// system: the call acts across tenants (tenants, system admin); the
	// local principal then has no tenant and --tenant is not needed.
	system bool
	raw    bool // stream the answer's body as it is (exports)
}

// apiAnswer is what the API answered.
type apiAnswer struct {
	status int
	header http.Header
	body   []byte
}

// call sends one request to the admin API, in-process or remote, and turns
// an error answer into one line with the exit status it maps to.
func (c *cli) call(ac apiCall) (*apiAnswer, error) {
	var body io.Reader = http.NoBody
	if ac.body != nil {
		raw, err := json.Marshal(ac.body)
		if err != nil {
			return nil, fmt.Errorf("encode request: %w", err)
		}
		body = bytes.NewReader(raw)
	}
	ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
	defer cancel()
	var ans *apiAnswer
	var err error
	if c.remote() {
		ans, err = c.callRemote(ctx, ac, body)
	} else {
		ans, err = c.callLocal(ctx, ac, body)
	}
	if err != nil {
		return nil, err
	}
	if ans.status >= 400 {
		return nil, apiError(ans)
	}
	return ans, nil
}

func (c *cli) callLocal(ctx context.Context, ac apiCall, body io.Reader) (*apiAnswer, error) {
	if c.token != "" || c.tokenFile != "" {
		return nil, errUsage{"--token and --token-file need --endpoint (IDENTITY_ENDPOINT); without one the command line acts on the database itself"}
	}
	a, err := c.app()
	if err != nil {
		return nil, err
	}
	tenantID := ""
	if !ac.system || c.tenant != "" {
		if strings.TrimSpace(c.tenant) == "" {
			return nil, errUsage{"--tenant is required: the slug of the tenant to act in"}
		}
		t, err := a.Store.GetTenantBySlug(ctx, strings.TrimSpace(c.tenant))
		if err != nil {
			return nil, errExit{exitNotFound, fmt.Sprintf("no tenant %q", strings.TrimSpace(c.tenant))}
		}
		tenantID = t.ID
	}
	req := httptest.NewRequestWithContext(handlers.WithCommandLinePrincipal(ctx, identity.SystemPrincipal(tenantID)), ac.method, ac.path, body)
	req.RemoteAddr = "127.0.0.1:0"
	req.Header.Set("User-Agent", identity.SystemMeta().UserAgent)
	req.Header.Set("Accept", "application/json")
	if ac.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	a.Echo.ServeHTTP(rec, req)
	return &apiAnswer{status: rec.Code, header: rec.Header(), body: rec.Body.Bytes()}, nil
}

func (c *cli) callRemote(ctx context.Context, ac apiCall, body io.Reader) (*apiAnswer, error) {
	if c.tenant != "" {
		return nil, errUsage{"--tenant cannot be given with --endpoint: the tenant is the token's"}
	}
	token, err := c.bearer()
	if err != nil {
		return nil, err
	}
	return c.send(ctx, ac.method, ac.path, body, ac.body != nil, token, 256<<20)
}

// send makes one HTTP request to the remote server (with a bearer token
// when one is given) and reads at most limit bytes of its answer.
func (c *cli) send(ctx context.Context, method, path string, body io.Reader, jsonBody bool, token string, limit int64) (*apiAnswer, error) {
	req, err := http.NewRequestWithContext(ctx, method, c.endpointURL()+path, body)
	if err != nil {
		return nil, errUsage{fmt.Sprintf("--endpoint: %v", err)}
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	req.Header.Set("User-Agent", "identityd-cli")
	req.Header.Set("Accept", "application/json")
	if jsonBody {
		req.Header.Set("Content-Type", "application/json")
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		if ctx.Err() != nil {
			return nil, fmt.Errorf("%s %s: no answer within --timeout %s", method, c.endpointURL(), c.timeout)
		}
		return nil, fmt.Errorf("%s %s: %w", method, c.endpointURL(), errors.Unwrap(err))
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, limit))
	if err != nil {
		return nil, fmt.Errorf("read the answer: %w", err)
	}
	return &apiAnswer{status: res.StatusCode, header: res.Header, body: raw}, nil
}

// bearer is the remote API token: --token, --token-file (or - for stdin),
// or IDENTITY_TOKEN.
func (c *cli) bearer() (string, error) {
	t := c.token
	if c.tokenFile != "" {
		v, err := readSecretFile(c.tokenFile, c.stdin)
		if err != nil {
			return "", errUsage{"--token-file: " + err.Error()}
		}
		t = v
	}
	if t == "" {
		t = c.getenv("IDENTITY_TOKEN")
	}
	t = strings.TrimSpace(t)
	if t == "" {
		return "", errUsage{"--endpoint needs a token: --token, --token-file or IDENTITY_TOKEN (an administrator's access token or an API key)"}
	}
	if identity.BadText(t, false) {
		return "", errUsage{"the token contains a control character or invalid text"}
	}
	return t, nil
}

// apiError is an error answer as one line: the message and each field's
// problem, with the exit status of its kind.
func apiError(ans *apiAnswer) error {
	var e struct {
		Error   string            `json:"error"`
		Message string            `json:"message"`
		Desc    string            `json:"error_description"`
		Fields  map[string]string `json:"fields"`
	}
	_ = json.Unmarshal(ans.body, &e)
	msg := e.Message
	if msg == "" {
		msg = e.Desc
	}
	if msg == "" {
		msg = http.StatusText(ans.status)
	}
	names := make([]string, 0, len(e.Fields))
	for f := range e.Fields {
		names = append(names, f)
	}
	sort.Strings(names)
	for _, f := range names {
		msg += " " + f + ": " + e.Fields[f]
	}
	msg = strings.Join(strings.Fields(msg), " ")
	if e.Error != "" {
		msg += " (" + e.Error + ")"
	}
	code := exitError
	switch ans.status {
	case http.StatusNotFound:
		code = exitNotFound
	case http.StatusConflict:
		code = exitConflict
	}
	return errExit{code, msg}
}

// readSecretFile reads a secret from a file, or from stdin for "-"; one
// trailing newline is dropped.
func readSecretFile(path string, stdin io.Reader) (string, error) {
	var raw []byte
	var err error
	if path == "-" {
		raw, err = io.ReadAll(io.LimitReader(stdin, 64<<10))
	} else {
		raw, err = os.ReadFile(path)
	}
	if err != nil {
		return "", fmt.Errorf("cannot read the secret: %w", err)
	}
	return strings.TrimRight(string(raw), "\r\n"), nil
}

// print writes v (a decoded JSON answer) in the chosen --output format.
func (c *cli) print(v any) error {
	switch c.format() {
	case "yaml":
		raw, err := json.Marshal(v)
		if err != nil {
			return fmt.Errorf("encode: %w", err)
		}
		y, err := yaml.JSONToYAML(raw)
		if err != nil {
			return fmt.Errorf("encode yaml: %w", err)
		}
		_, err = c.stdout.Write(y)
		return err
	case "table":
		return printTable(c.stdout, v)
	}
	return printJSON(c.stdout, v)
}

// format is --output, or json when stdout is not a terminal and table
// when it is.
func (c *cli) format() string {
	if c.output != "" {
		return c.output
	}
	if c.stdoutTTY {
		return "table"
	}
	return "json"
}

// printAnswer prints an API answer's JSON body (nothing for 204).
func (c *cli) printAnswer(ans *apiAnswer) error {
	if len(bytes.TrimSpace(ans.body)) == 0 {
		return nil
	}
	var v any
	dec := json.NewDecoder(bytes.NewReader(ans.body))
	dec.UseNumber()
	if err := dec.Decode(&v); err != nil {
		return fmt.Errorf("the answer is not JSON: %w", err)
	}
	return c.print(v)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// printTable prints a list (an object with one array of objects, or an
// array) as rows with a column per scalar field of the first row, and a
// single object as field/value lines.
func printTable(w io.Writer, v any) error {
	tw := tabwriter.NewWriter(w, 0, 4, 2, ' ', 0)
	rows, ok := listRows(v)
	if !ok {
		obj, isObj := v.(map[string]any)
		if !isObj {
			fmt.Fprintln(tw, cell(v))
			return tw.Flush()
		}
		for _, k := range sortedKeys(obj) {
			fmt.Fprintf(tw, "%s\t%s\n", strings.ToUpper(k), cell(obj[k]))
		}
		return tw.Flush()
	}
	if len(rows) == 0 {
		fmt.Fprintln(tw, "(none)")
		return tw.Flush()
	}
	var cols []string
	for _, k := range sortedKeys(rows[0]) {
		switch rows[0][k].(type) {
		case map[string]any:
		default:
			cols = append(cols, k)
		}
	}
	// The identifying columns first.
	sort.SliceStable(cols, func(i, j int) bool { return colRank(cols[i]) < colRank(cols[j]) })
	head := make([]string, len(cols))
	for i, k := range cols {
		head[i] = strings.ToUpper(k)
	}
	fmt.Fprintln(tw, strings.Join(head, "\t"))
	for _, r := range rows {
		line := make([]string, len(cols))
		for i, k := range cols {
			line[i] = cell(r[k])
		}
		fmt.Fprintln(tw, strings.Join(line, "\t"))
	}
	return tw.Flush()
}

func colRank(k string) int {
	switch k {
	case "id", "client_id":
		return 0
	case "slug", "email", "name", "url", "action":
		return 1
	}
	return 2
}

// listRows finds the rows of a list answer.
func listRows(v any) ([]map[string]any, bool) {
	var arr []any
	switch t := v.(type) {
	case []any:
		arr = t
	case map[string]any:
		n := 0
		for _, x := range t {
			if a, ok := x.([]any); ok {
				arr, n = a, n+1
			}
		}
		if n != 1 {
			return nil, false
		}
	default:
		return nil, false
	}
	rows := make([]map[string]any, 0, len(arr))
	for _, x := range arr {
		m, ok := x.(map[string]any)
		if !ok {
			return nil, false
		}
		rows = append(rows, m)
	}
	return rows, true
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func cell(v any) string {
	switch t := v.(type) {
	case nil:
		return "-"
	case string:
		if t == "" {
			return "-"
		}
		return t
	case []any:
		parts := make([]string, 0, len(t))
		for _, x := range t {
			if m, ok := x.(map[string]any); ok {
				if n, ok := m["name"]; ok {
					x = n
				}
			}
			parts = append(parts, cell(x))
		}
		return strings.Join(parts, ",")
	case map[string]any:
		raw, _ := json.Marshal(t)
		return string(raw)
	}
	return fmt.Sprint(v)
}

// isTerminal reports whether w is a terminal (for the default --output).
func isTerminal(w io.Writer) bool {
	f, ok := w.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// pathID escapes an id for a path segment.
func pathID(id string) string { return url.PathEscape(id) }

// checkArgsText refuses control characters and invalid UTF-8 in every
// flag and argument (the rule every HTTP input follows too), before
// anything runs.
func checkArgsText(cmd *cobra.Command, args []string) error {
	var bad string
	cmd.Flags().Visit(func(f *pflagFlag) {
		if bad == "" && identity.BadText(f.Value.String(), false) {
			bad = "--" + f.Name
		}
	})
	for i, a := range args {
		if bad == "" && identity.BadText(a, false) {
			bad = fmt.Sprintf("argument %d", i+1)
		}
	}
	if bad != "" {
		return errUsage{cmd.CommandPath() + ": " + bad + " contains a control character or invalid text"}
	}
	return nil
}
