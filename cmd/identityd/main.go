// Command identityd is the Identity server: a multi-tenant OAuth 2.0 and
// OpenID Connect authorization server and identity service.
//
//	identityd serve | migrate
//	identityd tenants create --slug S --name N
//	identityd tenants deletions | tenants restore --slug S
//	identityd clients create --tenant S [--id ID] [--secret SECRET] --grant-types a,b --scopes a,b [--redirect-uris u,v] [--public] [--skip-consent] [--name N]
//	identityd users create --tenant S --email E --password P [--name N]
//	identityd keys rotate
//	identityd audit prune | tokens prune
//
// Configuration comes from the environment (see the README). Every create
// prints JSON on stdout.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/models"
)

const usage = `usage: identityd <command>

commands:
  serve [--no-worker]        run the server (migrates the database first) with the background
                             worker in-process; --no-worker serves HTTP only
  worker                     run the background work only: the event relay, webhook deliveries,
                             the mail queue, pruning and the OTP request queue
  migrate                    apply database migrations and exit
  tenants create --slug S --name N
  tenants deletions          list the tenants whose own deletion is pending (IDENTITY_TENANT_DELETION_GRACE)
  tenants restore --slug S   cancel a tenant's pending deletion
  clients create --tenant S [--id ID] [--secret SECRET] --grant-types a,b --scopes a,b
                 [--redirect-uris u,v] [--audience a,b] [--public] [--skip-consent] [--name N]
                 [--token-endpoint-auth-method M] [--access-token-format opaque|jwt]
                 [--post-logout-redirect-uris u,v] [--introspect-all-tenants]
  users create --tenant S --email E --password P [--name N] [--system-admin] [--role R]
  keys rotate                add a signing key; older keys stay published until their tokens expire
  audit prune [--batch N]    delete audit rows older than their tenant's retention (AUDIT_RETENTION_DAYS)
  tokens prune [--batch N]   delete expired tokens, codes, challenges and ended sessions, in batches

configuration is read from the environment; see README.md.
`

// errUsage marks a command-line mistake (exit status 2).
type errUsage struct{ msg string }

func (e errUsage) Error() string { return e.msg }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "identityd:", err)
	var ue errUsage
	if errors.As(err, &ue) {
		fmt.Fprint(os.Stderr, "\n"+usage)
		os.Exit(2)
	}
	os.Exit(1)
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return errUsage{"no command given"}
	}
	cmd := args[0]
	if len(args) >= 2 && (cmd == "tenants" || cmd == "clients" || cmd == "users" || cmd == "keys" || cmd == "audit" || cmd == "tokens") {
		cmd += " " + args[1]
		args = args[1:]
	}
	args = args[1:]
	switch cmd {
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	case "serve", "worker", "migrate", "tenants create", "clients create", "users create", "keys rotate", "audit prune", "tokens prune",
		"tenants deletions", "tenants restore":
	default:
		return errUsage{fmt.Sprintf("unknown command %q", strings.Join(strings.Fields(cmd), " "))}
	}
	fs := flag.NewFlagSet(cmd, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	var c cliFlags
	c.register(cmd, fs)
	if err := fs.Parse(args); err != nil {
		return errUsage{err.Error()}
	}
	if fs.NArg() > 0 {
		return errUsage{fmt.Sprintf("unexpected argument %q", fs.Arg(0))}
	}
	if f := badFlag(fs); f != "" {
		return errUsage{cmd + ": " + f + " contains a control character or invalid text"}
	}
	if err := c.validate(cmd); err != nil {
		return err
	}

	cfg, err := app.LoadConfig(app.WithDefaults(getenv))
	if err != nil {
		return err
	}
	log := app.NewLogger(cfg, stderr)
	start := time.Now()
	app, err := app.Build(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer app.Close()

	switch cmd {
	case "serve":
		return serve(ctx, app, start, !c.noWorker)
	case "worker":
		return work(ctx, app, start)
	case "audit prune":
		res, err := app.Pruner.PruneAudit(ctx, c.batch)
		if err != nil {
			return err
		}
		return printJSON(stdout, res)
	case "tokens prune":
		res, err := app.Pruner.PruneTokens(ctx, c.batch)
		if err != nil {
			return err
		}
		return printJSON(stdout, res)
	case "migrate":
		return printJSON(stdout, map[string]any{"migrated": true, "dialect": string(app.Store.Dialect())})
	case "keys rotate":
		if err := app.Keys.Rotate(ctx); err != nil {
			return err
		}
		kid, _, err := app.Keys.Signer(ctx)
		if err != nil {
			return err
		}
		return printJSON(stdout, map[string]any{"kid": kid, "algorithm": "RS256"})
	case "tenants create":
		// The command line is the system principal: the API's service
		// methods, validation and audit (identity.SystemPrincipal).
		t, err := app.Tenants.Create(ctx, identity.SystemActor(""), strings.TrimSpace(c.slug), c.name)
		if err != nil {
			return describe(err)
		}
		return printJSON(stdout, map[string]any{"id": t.ID, "slug": t.Slug, "name": t.Name})
	case "tenants deletions":
		list, err := app.Tenants.ListDeletions(ctx)
		if err != nil {
			return err
		}
		out := make([]map[string]any, 0, len(list))
		for _, t := range list {
			out = append(out, map[string]any{"id": t.ID, "slug": t.Slug, "name": t.Name,
				"deletion_scheduled_at": t.DeletionScheduledAt, "deletes_at": t.DeletesAt})
		}
		return printJSON(stdout, map[string]any{"tenants": out})
	case "tenants restore":
		t, err := app.Tenants.Restore(ctx, identity.SystemActor(""), c.slug)
		if err != nil {
			return describe(err)
		}
		return printJSON(stdout, map[string]any{"id": t.ID, "slug": t.Slug, "restored": true})
	case "users create":
		u, err := createUser(ctx, app, c)
		if err != nil {
			return describe(err)
		}
		return printJSON(stdout, map[string]any{"id": u.ID, "tenant_id": u.TenantID, "email": u.Email, "name": u.Name, "is_system_admin": u.IsSystemAdmin, "role": c.role})
	case "clients create":
		t, err := app.Store.GetTenantBySlug(ctx, strings.TrimSpace(c.tenant))
		if err != nil {
			return describe(err)
		}
		in := identity.NewClient{
			ID: c.id, Secret: c.secret, Name: c.name,
			GrantTypes: splitComma(c.grantTypes), Scopes: splitComma(c.scopes),
			RedirectURIs: splitComma(c.redirectURIs), Audience: splitComma(c.audience),
			Public: c.public, SkipConsent: c.skipConsent,
			AccessTokenFormat: c.tokenFormat, PostLogoutRedirectURIs: splitComma(c.postLogoutRedirectURIs),
			IntrospectAllTenants: c.introspectAllTenants,
		}
		// One method restricts the client to it; a list accepts each; none
		// named accepts client_secret_basic and client_secret_post.
		if methods := splitComma(c.authMethod); len(methods) > 1 {
			in.AuthMethods = methods
		} else {
			in.AuthMethod = strings.TrimSpace(c.authMethod)
		}
		out, err := app.Clients.Create(ctx, identity.SystemActor(t.ID), in)
		if err != nil {
			return describe(err)
		}
		cl := out.Client
		return printJSON(stdout, map[string]any{
			"client_id": cl.ID, "client_secret": out.Secret, "tenant_id": cl.TenantID, "name": cl.Name,
			"grant_types": cl.GrantTypes, "scopes": cl.Scopes, "redirect_uris": cl.RedirectURIs,
			"audience": cl.Audience, "public": cl.Public, "skip_consent": cl.SkipConsent,
			"token_endpoint_auth_method": cl.TokenEndpointAuthMethod, "access_token_format": cl.AccessTokenFormat,
			"token_endpoint_auth_methods": cl.TokenEndpointAuthMethods, "post_logout_redirect_uris": cl.PostLogoutRedirectURIs,
			"introspect_all_tenants": cl.IntrospectAllTenants,
		})
	}
	return nil
}

// createUser is `users create`: the API's Users.Create (password
// policy, role rules, user.created audit row) acting as the system
// principal, and --system-admin through the audited SetSystemAdmin, in one
// transaction.
func createUser(ctx context.Context, app *app.App, c cliFlags) (*models.User, error) {
	t, err := app.Store.GetTenantBySlug(ctx, strings.TrimSpace(c.tenant))
	if err != nil {
		return nil, err
	}
	actor := identity.SystemActor(t.ID)
	in := identity.NewUser{Email: c.email, Name: c.name, Password: c.password}
	if c.role != "" {
		in.Roles = []string{c.role}
	}
	var id string
	err = app.Store.InTx(ctx, func(ctx context.Context) error {
		created, err := app.Users.Create(ctx, actor, in)
		if err != nil {
			return err
		}
		id = created.User.ID
		if c.systemAdmin {
			_, err = app.Users.SetSystemAdmin(ctx, actor, t.ID, id, true)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	return app.Store.GetUser(ctx, t.ID, id)
}

// splitComma splits a comma-separated flag (run's variable app shadows the
// package there).
var splitComma = app.SplitComma

// badFlag names the first flag whose value holds a control character or
// invalid UTF-8 (the rule every HTTP input follows too).
func badFlag(fs *flag.FlagSet) string {
	var name string
	fs.Visit(func(f *flag.Flag) {
		if name == "" && identity.BadText(f.Value.String(), false) {
			name = "--" + f.Name
		}
	})
	return name
}

type cliFlags struct {
	slug, name, tenant, id, secret, grantTypes, scopes, redirectURIs, audience string
	authMethod, tokenFormat, email, password                                   string
	role                                                                       string
	postLogoutRedirectURIs                                                     string
	public, skipConsent, systemAdmin, introspectAllTenants                     bool
	noWorker                                                                   bool
	batch                                                                      int
}

func (c *cliFlags) register(cmd string, fs *flag.FlagSet) {
	switch cmd {
	case "serve":
		fs.BoolVar(&c.noWorker, "no-worker", false, "serve HTTP only; run the background work with `identityd worker`")
	case "tenants create":
		fs.StringVar(&c.slug, "slug", "", "tenant slug")
		fs.StringVar(&c.name, "name", "", "tenant name")
	case "clients create":
		fs.StringVar(&c.tenant, "tenant", "", "tenant slug")
		fs.StringVar(&c.id, "id", "", "client id (generated when empty)")
		fs.StringVar(&c.secret, "secret", "", "client secret (generated when empty)")
		fs.StringVar(&c.grantTypes, "grant-types", "", "comma-separated grant types")
		fs.StringVar(&c.scopes, "scopes", "", "comma-separated scopes")
		fs.StringVar(&c.redirectURIs, "redirect-uris", "", "comma-separated redirect URIs")
		fs.StringVar(&c.audience, "audience", "", "comma-separated audiences")
		fs.BoolVar(&c.public, "public", false, "public client (no secret, PKCE required)")
		fs.BoolVar(&c.skipConsent, "skip-consent", false, "skip the consent page")
		fs.StringVar(&c.name, "name", "", "display name")
		fs.StringVar(&c.authMethod, "token-endpoint-auth-method", "", "client_secret_basic, client_secret_post, both comma-separated, or none (default: both for a confidential client)")
		fs.StringVar(&c.tokenFormat, "access-token-format", "", "opaque (default) or jwt")
		fs.StringVar(&c.postLogoutRedirectURIs, "post-logout-redirect-uris", "", "comma-separated URIs RP-initiated logout may return to (exact match)")
		fs.BoolVar(&c.introspectAllTenants, "introspect-all-tenants", false, "a system-level resource server that may introspect every tenant's tokens")
	case "tenants restore":
		fs.StringVar(&c.slug, "slug", "", "tenant slug")
	case "audit prune", "tokens prune":
		fs.IntVar(&c.batch, "batch", 0, "rows per DELETE statement (default 5000 for audit, 1000 for tokens)")
	case "users create":
		fs.StringVar(&c.tenant, "tenant", "", "tenant slug")
		fs.StringVar(&c.email, "email", "", "e-mail address")
		fs.StringVar(&c.password, "password", "", "password")
		fs.StringVar(&c.name, "name", "", "display name")
		fs.BoolVar(&c.systemAdmin, "system-admin", false, "make the user a system administrator")
		fs.StringVar(&c.role, "role", "", "assign this role of the tenant (Owner, Admin, Manager, Member or a custom one)")
	}
}

func (c *cliFlags) validate(cmd string) error {
	var missing []string
	need := func(flagName, v string) {
		if strings.TrimSpace(v) == "" {
			missing = append(missing, "--"+flagName)
		}
	}
	switch cmd {
	case "tenants create":
		need("slug", c.slug)
		need("name", c.name)
	case "tenants restore":
		need("slug", c.slug)
	case "clients create":
		need("tenant", c.tenant)
		need("grant-types", c.grantTypes)
	case "users create":
		need("tenant", c.tenant)
		need("email", c.email)
		need("password", c.password)
	}
	if len(missing) > 0 {
		return errUsage{cmd + ": missing " + strings.Join(missing, ", ")}
	}
	if c.batch < 0 {
		return errUsage{cmd + ": --batch must be a positive number"}
	}
	return nil
}

// describe turns a service error into one readable line, with the fields.
func describe(err error) error {
	var me *models.Error
	if !errors.As(err, &me) {
		return err
	}
	if me.Kind == models.KindInternal {
		return err
	}
	msg := me.Msg
	for f, m := range me.Fields {
		msg += " " + f + ": " + m
	}
	return errors.New(msg)
}

func printJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

// serve runs the HTTP server until ctx ends, then drains (shutdown).
func serve(ctx context.Context, app *app.App, start time.Time, withWorker bool) error {
	d := &drainer{next: app.Echo}
	srv := &http.Server{
		Addr:              app.Config.Addr,
		Handler:           d,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
	// Bind first: "identityd ready" means the port accepts connections, and
	// a port already taken stops the process with a clear error.
	bound, err := net.Listen("tcp", app.Config.Addr)
	if err != nil {
		return fmt.Errorf("IDENTITY_ADDR: cannot listen on %s: %w", app.Config.Addr, err)
	}
	// shutdown closes the listener first (no new connections while the
	// in-flight ones drain), then http.Server.Shutdown closes it again:
	// only the first close may report an error.
	ln := &closeOnce{Listener: bound}
	// IDENTITY_METRICS_ADDR: /metrics and the probes on a listener of their own.
	stopOps, err := startOps(app)
	if err != nil {
		_ = ln.Close()
		return err
	}
	defer stopOps()
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()
	// The background worker (prune, mail queue, event relay, webhooks, OTP
	// request queue) runs in-process unless --no-worker; it stops with the
	// server, after the HTTP drain.
	if withWorker {
		w := app.StartWorker(ctx)
		defer w.Stop(app.Config.ShutdownGrace)
	}
	app.Log.Info("identityd ready", "addr", app.Config.Addr, "issuer", app.Config.Issuer,
		"database", string(app.Store.Dialect()), "redis", app.Config.RedisURL != "",
		"startup_ms", time.Since(start).Milliseconds(), "worker", withWorker)
	select {
	case err := <-errc:
		return fmt.Errorf("IDENTITY_ADDR: %w", err)
	case <-ctx.Done():
	}
	return shutdown(ctx, srv, ln, d, app)
}

// work runs the background worker alone until ctx ends (SIGINT, SIGTERM),
// then stops its jobs within IDENTITY_SHUTDOWN_GRACE.
func work(ctx context.Context, app *app.App, start time.Time) error {
	w := app.StartWorker(ctx)
	// The worker has no main listener: with IDENTITY_METRICS_ADDR it serves
	// /metrics and /api/health/live|ready there (the Kubernetes probes).
	stopOps, err := startOps(app)
	if err != nil {
		w.Stop(app.Config.ShutdownGrace)
		return err
	}
	defer stopOps()
	app.Log.Info("identityd worker ready", "database", string(app.Store.Dialect()),
		"startup_ms", time.Since(start).Milliseconds())
	<-ctx.Done()
	app.Log.Info("worker shutting down", "grace", app.Config.ShutdownGrace.String())
	w.Stop(app.Config.ShutdownGrace)
	return nil
}

// drainer counts the requests in flight and, once shutdown has begun, asks
// every client to close its connection after the response (Connection:
// close), so keep-alive connections end cleanly after their last answer
// instead of being cut while a request is on its way.
type drainer struct {
	next    http.Handler
	closing atomic.Bool
	active  atomic.Int64
	lastEnd atomic.Int64 // unix nanoseconds
}

func (d *drainer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	d.active.Add(1)
	defer func() {
		d.lastEnd.Store(time.Now().UnixNano())
		d.active.Add(-1)
	}()
	if d.closing.Load() {
		w.Header().Set("Connection", "close")
	}
	d.next.ServeHTTP(w, r)
}

// shutdown stops the server gracefully within IDENTITY_SHUTDOWN_GRACE:
//  1. the listener closes at once (nothing new is accepted);
//  2. every response from now on carries Connection: close, and we wait
//     until no request is in flight and none has ended for a moment (so
//     clients on keep-alive connections have had their last answer);
//  3. http.Server.Shutdown closes the idle connections and waits for any
//     straggler; only then are the pools closed (run's deferred App.Close).
//
// Past the grace, remaining connections are cut and serve reports it (exit 1).
func shutdown(ctx context.Context, srv *http.Server, ln net.Listener, d *drainer, app *app.App) error {
	grace := app.Config.ShutdownGrace
	app.Log.Info("shutting down", "grace", grace.String(), "in_flight", d.active.Load())
	deadline := time.Now().Add(grace)
	_ = ln.Close()
	d.closing.Store(true)
	const quiet = 200 * time.Millisecond
	for drainUntil := time.Now().Add(grace / 2); time.Now().Before(drainUntil); time.Sleep(10 * time.Millisecond) {
		if d.active.Load() == 0 && time.Since(time.Unix(0, d.lastEnd.Load())) >= quiet {
			break
		}
	}
	shutdownCtx, cancel := context.WithDeadline(context.WithoutCancel(ctx), deadline)
	defer cancel()
	if err := srv.Shutdown(shutdownCtx); err != nil {
		_ = srv.Close()
		return fmt.Errorf("shutdown: in-flight requests still running after IDENTITY_SHUTDOWN_GRACE (%s): %w", grace, err)
	}
	app.Log.Info("shut down: every in-flight request finished")
	return nil
}

// closeOnce is a listener whose Close runs once; later calls return the
// first call's result instead of "use of closed network connection".
type closeOnce struct {
	net.Listener
	once sync.Once
	err  error
}

// Close closes the listener the first time it is called.
func (l *closeOnce) Close() error {
	l.once.Do(func() { l.err = l.Listener.Close() })
	return l.err
}

// startOps starts the operations listener on IDENTITY_METRICS_ADDR, when
// set: GET /metrics, /api/health, /api/health/live and /api/health/ready.
// The returned func stops it (after the main listener has drained).
func startOps(app *app.App) (func(), error) {
	addr := app.Config.MetricsAddr
	if addr == "" {
		return func() {}, nil
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("IDENTITY_METRICS_ADDR: cannot listen on %s: %w", addr, err)
	}
	srv := &http.Server{
		Handler:           app.OpsHandler(),
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    32 << 10,
	}
	go func() {
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			app.Log.Error("metrics listener stopped", "addr", addr, "err", err)
		}
	}()
	app.Log.Info("metrics listener ready", "addr", addr)
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		if err := srv.Shutdown(ctx); err != nil {
			_ = srv.Close()
		}
	}, nil
}
