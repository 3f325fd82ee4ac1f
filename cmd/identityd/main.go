// Command identityd is the Identity server: a multi-tenant OAuth 2.0 and
// OpenID Connect authorization server and identity service, and its
// command line.
//
//	identityd serve | worker | migrate [up|status] | version | health
//	identityd tenants|users|clients|roles|policies|service-accounts|api-keys|identity-providers|webhooks create|get|list|update|delete
//	identityd users invite|unlock · clients rotate-secret · keys list|rotate · audit list|export|prune · tokens prune
//	identityd perform client-credentials|authorization-code · introspect TOKEN · revoke TOKEN
//
// Every admin command is a call of the admin API: in-process over the
// configured database as the system principal (--tenant names the tenant),
// or against a running server (--endpoint, IDENTITY_ENDPOINT, with
// IDENTITY_TOKEN), with the same output either way. docs/cli.md is the
// reference, generated from these commands.
package main

import (
	"context"
	"encoding/json"
	"errors"
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

	"github.com/spf13/cobra"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/buildinfo"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := runWith(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	if err == nil {
		return
	}
	fmt.Fprintln(os.Stderr, "identityd:", oneLine(err.Error()))
	var ue errUsage
	if errors.As(err, &ue) {
		fmt.Fprintln(os.Stderr, "Run 'identityd --help' (or any command with --help) for usage.")
	}
	os.Exit(exitCode(err))
}

// oneLine folds an error onto one line (errors go to stderr in one line).
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }

// run is the command line with an empty stdin (the tests' entry point).
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return runWith(ctx, args, getenv, strings.NewReader(""), stdout, stderr)
}

func runWith(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	c := &cli{ctx: ctx, getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr, stdoutTTY: isTerminal(stdout)}
	defer func() {
		if c.local != nil {
			c.local.Close()
		}
	}()
	root := c.rootCommand()
	root.SetArgs(args)
	root.SetIn(stdin)
	root.SetOut(stdout)
	root.SetErr(stderr)
	if len(args) == 0 {
		return errUsage{"no command given"}
	}
	ran := false
	c.started = func() { ran = true }
	_, err := root.ExecuteContextC(ctx)
	if err != nil && !ran {
		// cobra's own errors: an unknown command or flag, a bad value.
		var ue errUsage
		if !errors.As(err, &ue) {
			return errUsage{oneLine(err.Error())}
		}
	}
	return err
}

// rootCommand is the whole command tree.
func (c *cli) rootCommand() *cobra.Command {
	root := &cobra.Command{
		Use:   "identityd",
		Short: "Identity: an OAuth 2.0 and OpenID Connect server, and its command line",
		Long: `identityd runs the Identity server (serve, worker) and manages it.

Admin commands call the admin API. Without --endpoint they act in-process on the
database the environment configures (DATABASE_URL, IDENTITY_DATA_DIR), as the system
principal, in the tenant --tenant names. With --endpoint (or IDENTITY_ENDPOINT) they call a
running server with a bearer token (--token, --token-file or IDENTITY_TOKEN: an
administrator's access token or an API key); the tenant is then the token's. The output
is the same either way.

Output is JSON when stdout is not a terminal and a table when it is; --output chooses.
Exit status: 0 ok, 1 error, 2 usage, 3 not found, 4 conflict. Errors go to stderr in one line.
Configuration is read from the environment; see README.md.`,
		SilenceErrors:     true,
		SilenceUsage:      true,
		CompletionOptions: cobra.CompletionOptions{HiddenDefaultCmd: false},
		Args:              noArgsOrUnknown,
		RunE:              func(cmd *cobra.Command, args []string) error { return errUsage{"no command given"} },
	}
	pf := root.PersistentFlags()
	pf.StringVarP(&c.output, "output", "o", "", "output format: json, table or yaml (default: json when stdout is not a terminal, table when it is)")
	pf.StringVar(&c.endpoint, "endpoint", "", "call this server's admin API instead of the database (default $IDENTITY_ENDPOINT), e.g. https://id.example.com")
	pf.StringVar(&c.token, "token", "", "the bearer token for --endpoint (default $IDENTITY_TOKEN; --token-file keeps it out of the process list)")
	pf.StringVar(&c.tokenFile, "token-file", "", "read the bearer token for --endpoint from this file (- for stdin)")
	pf.StringVar(&c.tenant, "tenant", "", "the tenant's slug to act in (without --endpoint)")
	pf.DurationVar(&c.timeout, "timeout", 30*time.Second, "give up on an API call after this long")
	root.PersistentPreRunE = func(cmd *cobra.Command, args []string) error {
		switch c.output {
		case "", "json", "table", "yaml":
		default:
			return errUsage{"--output must be json, table or yaml"}
		}
		if c.timeout <= 0 {
			return errUsage{"--timeout must be positive"}
		}
		return checkArgsText(cmd, args)
	}

	root.AddCommand(c.serveCommand(), c.workerCommand(), c.migrateCommand(), c.versionCommand(), c.healthCommand())
	for _, r := range resources {
		g := c.resourceCommand(r)
		switch r.name {
		case "tenants":
			c.addTenantLocalCommands(g)
		case "users":
			g.AddCommand(c.usersInviteCommand())
		case "clients":
			g.AddCommand(c.clientsRotateCommand())
		}
		root.AddCommand(g)
	}
	root.AddCommand(c.keysCommand(), c.auditCommand(), c.tokensCommand())
	root.AddCommand(c.protocolCommands()...)
	// cobra's completion command, made now so that an unknown shell is a
	// usage error like any unknown subcommand (and docs/cli.md lists it);
	// it keeps the writer set at this point.
	if c.stdout != nil {
		root.SetOut(c.stdout)
	}
	root.InitDefaultCompletionCmd()
	for _, sub := range root.Commands() {
		if sub.Name() == "completion" {
			sub.Args = noArgsOrUnknown
			sub.RunE = c.group("completion", "").RunE
			for _, sh := range sub.Commands() {
				sh.Example = "  source <(identityd completion " + sh.Name() + ")"
			}
		}
	}
	return root
}

// runE marks that a command's own code ran (so its errors are not usage
// errors unless it says so) and checks it has a tenant when it needs one.
func (c *cli) runE(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		if c.started != nil {
			c.started()
		}
		return f(cmd, args)
	}
}

// group is a command that only holds subcommands.
func (c *cli) group(name, short string) *cobra.Command {
	return &cobra.Command{Use: name, Short: short, Args: noArgsOrUnknown,
		RunE: func(cmd *cobra.Command, args []string) error {
			names := []string{}
			for _, s := range cmd.Commands() {
				if s.IsAvailableCommand() {
					names = append(names, s.Name())
				}
			}
			return errUsage{cmd.CommandPath() + " needs a subcommand: " + strings.Join(names, ", ")}
		}}
}

// noArgsOrUnknown names an unknown subcommand as a usage error.
func noArgsOrUnknown(cmd *cobra.Command, args []string) error {
	if len(args) > 0 {
		return errUsage{fmt.Sprintf("unknown command %q for %q", args[0], cmd.CommandPath())}
	}
	return nil
}

func (c *cli) serveCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "serve", Short: "Run the server (migrates the database first), with the background worker in-process",
		Long: `serve runs the HTTP server on IDENTITY_ADDR. It applies the database migrations first, and runs the
background worker (event relay, webhook deliveries, mail queue, pruning, OTP queue) in the same
process unless --no-worker is given (then run "identityd worker" beside it). SIGINT or SIGTERM
drain the in-flight requests within IDENTITY_SHUTDOWN_GRACE.`,
		Example: "  IDENTITY_ISSUER=https://id.example.com DATABASE_URL=postgres://… identityd serve --no-worker",
		Args:    cobra.NoArgs}
	noWorker := cmd.Flags().Bool("no-worker", false, "serve HTTP only; run the background work with `identityd worker`")
	cmd.RunE = c.runE(func(cmd *cobra.Command, _ []string) error {
		if err := c.localOnly("serve"); err != nil {
			return err
		}
		start := time.Now()
		a, err := c.app()
		if err != nil {
			return err
		}
		return serve(c.ctx, a, start, !*noWorker)
	})
	return cmd
}

func (c *cli) workerCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "worker", Short: "Run the background work only: event relay, webhooks, mail queue, pruning, OTP queue",
		Example: "  identityd worker", Args: cobra.NoArgs}
	cmd.RunE = c.runE(func(cmd *cobra.Command, _ []string) error {
		if err := c.localOnly("worker"); err != nil {
			return err
		}
		start := time.Now()
		a, err := c.app()
		if err != nil {
			return err
		}
		return work(c.ctx, a, start)
	})
	return cmd
}

func (c *cli) migrateCommand() *cobra.Command {
	up := func(cmd *cobra.Command, _ []string) error {
		if err := c.localOnly("migrate"); err != nil {
			return err
		}
		a, err := c.app() // Build applies the migrations
		if err != nil {
			return err
		}
		current, newest, err := a.Store.MigrationStatus(c.ctx)
		if err != nil {
			return err
		}
		return c.print(map[string]any{"migrated": true, "dialect": string(a.Store.Dialect()), "version": current, "newest": newest})
	}
	cmd := &cobra.Command{Use: "migrate", Short: "Apply the database migrations and exit (the same as migrate up)",
		Example: "  DATABASE_URL=postgres://… identityd migrate\n  identityd migrate status", Args: noArgsOrUnknown, RunE: c.runE(up)}
	cmd.AddCommand(&cobra.Command{Use: "up", Short: "Apply the database migrations and exit", Args: cobra.NoArgs,
		Example: "  identityd migrate up", RunE: c.runE(up)})
	cmd.AddCommand(&cobra.Command{Use: "status", Short: "Show the database's migration version and the newest this binary has, without migrating",
		Example: "  identityd migrate status", Args: cobra.NoArgs,
		RunE: c.runE(func(cmd *cobra.Command, _ []string) error {
			if err := c.localOnly("migrate status"); err != nil {
				return err
			}
			cfg, err := app.LoadConfig(app.WithDefaults(c.getenv))
			if err != nil {
				return err
			}
			st, err := storage.Open(c.ctx, storage.Options{DatabaseURL: string(cfg.DatabaseURL), QueryTimeout: cfg.DBTimeout})
			if err != nil {
				return fmt.Errorf("DATABASE_URL: %w", err)
			}
			defer st.Close()
			current, newest, err := st.MigrationStatus(c.ctx)
			if err != nil {
				return err
			}
			return c.print(map[string]any{"dialect": string(st.Dialect()), "version": current, "newest": newest, "pending": newest - current})
		})})
	return cmd
}

// addTenantLocalCommands: the pending self-service deletions, which only
// the database knows across tenants.
func (c *cli) addTenantLocalCommands(g *cobra.Command) {
	g.AddCommand(&cobra.Command{Use: "deletions", Short: "List the tenants whose own deletion is pending (IDENTITY_TENANT_DELETION_GRACE), soonest first",
		Example: "  identityd tenants deletions", Args: cobra.NoArgs,
		RunE: c.runE(func(cmd *cobra.Command, _ []string) error {
			if err := c.localOnly("tenants deletions"); err != nil {
				return err
			}
			a, err := c.app()
			if err != nil {
				return err
			}
			list, err := a.Tenants.ListDeletions(c.ctx)
			if err != nil {
				return err
			}
			out := make([]map[string]any, 0, len(list))
			for _, t := range list {
				out = append(out, map[string]any{"id": t.ID, "slug": t.Slug, "name": t.Name,
					"deletion_scheduled_at": t.DeletionScheduledAt, "deletes_at": t.DeletesAt})
			}
			return c.printValue(map[string]any{"tenants": out})
		})})
	restore := &cobra.Command{Use: "restore", Short: "Cancel a tenant's pending deletion (audited as tenant.deletion_cancelled)",
		Example: "  identityd tenants restore --slug acme", Args: cobra.NoArgs}
	slug := restore.Flags().String("slug", "", "the tenant's slug (required)")
	restore.RunE = c.runE(func(cmd *cobra.Command, _ []string) error {
		if err := c.localOnly("tenants restore"); err != nil {
			return err
		}
		if strings.TrimSpace(*slug) == "" {
			return errUsage{"tenants restore: missing --slug"}
		}
		a, err := c.app()
		if err != nil {
			return err
		}
		t, err := a.Tenants.Restore(c.ctx, identity.SystemActor(""), strings.TrimSpace(*slug))
		if err != nil {
			return describe(err)
		}
		return c.print(map[string]any{"id": t.ID, "slug": t.Slug, "restored": true})
	})
	g.AddCommand(restore)
}

// jsonRoundTrip is v as its JSON decodes (so every format prints the
// JSON field names).
func jsonRoundTrip(v any) (any, error) {
	raw, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("encode: %w", err)
	}
	var out any
	if err := json.Unmarshal(raw, &out); err != nil {
		return nil, fmt.Errorf("decode: %w", err)
	}
	return out, nil
}

// printValue prints a Go value the way an API answer is printed.
func (c *cli) printValue(v any) error {
	raw, err := jsonRoundTrip(v)
	if err != nil {
		return err
	}
	return c.print(raw)
}

func (c *cli) usersInviteCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "invite EMAIL", Short: "Invite a person by e-mail (POST /api/invitations); the link is mailed to them",
		Example: "  identityd users invite --tenant acme grace@example.com --role Admin", Args: exactArgs(1)}
	fs := bindFields(cmd, []field{
		{flag: "role", json: "roles", kind: kList, help: "a role the person gets on accepting; repeat or comma-separate"},
		{flag: "message", help: "a short note included in the e-mail"},
	})
	cmd.RunE = c.runE(func(cmd *cobra.Command, args []string) error {
		body, err := fs.values(c, cmd)
		if err != nil {
			return err
		}
		body["email"] = args[0]
		ans, err := c.call(apiCall{method: http.MethodPost, path: "/api/invitations", body: body})
		if err != nil {
			return err
		}
		return c.printAnswer(ans)
	})
	return cmd
}

func (c *cli) clientsRotateCommand() *cobra.Command {
	cmd := &cobra.Command{Use: "rotate-secret CLIENT_ID", Short: "Rotate a client's secret: the new one is shown once, the old one stays valid for the rotation window",
		Example: "  identityd clients rotate-secret --tenant acme billing", Args: exactArgs(1)}
	cmd.RunE = c.runE(func(cmd *cobra.Command, args []string) error {
		ans, err := c.call(apiCall{method: http.MethodPost, path: "/api/clients/" + pathID(args[0]) + "/rotate-secret"})
		if err != nil {
			return err
		}
		return c.printAnswer(ans)
	})
	return cmd
}

func (c *cli) keysCommand() *cobra.Command {
	g := c.group("keys", "The signing keys of ID tokens and JWT access tokens")
	g.AddCommand(&cobra.Command{Use: "list", Short: "List the published signing keys (the JWKS: kid, algorithm, use)",
		Example: "  identityd keys list -o table", Args: cobra.NoArgs,
		RunE: c.runE(func(cmd *cobra.Command, _ []string) error {
			ans, err := c.callPublic(http.MethodGet, "/.well-known/jwks.json")
			if err != nil {
				return err
			}
			return c.printAnswer(ans)
		})})
	g.AddCommand(&cobra.Command{Use: "rotate", Short: "Add a signing key of each algorithm (RS256, ES256) and sign with them; older keys stay published until their tokens expire",
		Example: "  identityd keys rotate", Args: cobra.NoArgs,
		RunE: c.runE(func(cmd *cobra.Command, _ []string) error {
			if err := c.localOnly("keys rotate"); err != nil {
				return err
			}
			a, err := c.app()
			if err != nil {
				return err
			}
			if err := a.Keys.Rotate(c.ctx); err != nil {
				return err
			}
			// kid and algorithm are the RS256 key's, as before ES256; keys
			// lists every algorithm's new key.
			var keys []map[string]string
			for _, alg := range models.SigningAlgs {
				kid, _, err := a.Keys.Signer(c.ctx, alg)
				if err != nil {
					return err
				}
				keys = append(keys, map[string]string{"kid": kid, "algorithm": alg})
			}
			return c.print(map[string]any{"kid": keys[0]["kid"], "algorithm": keys[0]["algorithm"], "keys": keys})
		})})
	return g
}

func (c *cli) auditCommand() *cobra.Command {
	g := c.group("audit", "The tenant's audit log")
	filters := func() []field {
		return []field{
			{flag: "actor", help: "only events of this actor (a user or service account id)"},
			{flag: "action", help: "only this action, e.g. user.login"},
			{flag: "from", help: "only events at or after this time (RFC 3339)"},
			{flag: "to", help: "only events before this time (RFC 3339)"},
		}
	}
	list := &cobra.Command{Use: "list", Short: "List the tenant's audit events, newest first", Args: cobra.NoArgs,
		Example: "  identityd audit list --tenant acme --action user.login --limit 20 -o table"}
	lfs := bindFields(list, append(filters(), pagination...))
	list.RunE = c.runE(func(cmd *cobra.Command, _ []string) error {
		q, err := lfs.values(c, cmd)
		if err != nil {
			return err
		}
		ans, err := c.call(apiCall{method: http.MethodGet, path: "/api/audit" + query(q)})
		if err != nil {
			return err
		}
		return c.printAnswer(ans)
	})
	export := &cobra.Command{Use: "export", Short: "Export the tenant's audit log as CSV or JSON, streamed to stdout", Args: cobra.NoArgs,
		Example: "  identityd audit export --tenant acme --format csv > audit.csv"}
	efs := bindFields(export, append(filters(), field{flag: "format", help: "csv (the default) or json"}))
	export.RunE = c.runE(func(cmd *cobra.Command, _ []string) error {
		q, err := efs.values(c, cmd)
		if err != nil {
			return err
		}
		ans, err := c.call(apiCall{method: http.MethodGet, path: "/api/audit/export" + query(q), raw: true})
		if err != nil {
			return err
		}
		_, err = c.stdout.Write(ans.body)
		return err
	})
	prune := c.pruneCommand("audit prune", "Delete audit rows older than their tenant's retention (AUDIT_RETENTION_DAYS), in batches", 5000,
		func(a *app.App, batch int) (any, error) { return a.Pruner.PruneAudit(c.ctx, batch) })
	g.AddCommand(list, export, prune)
	return g
}

func (c *cli) tokensCommand() *cobra.Command {
	g := c.group("tokens", "Stored tokens")
	prune := c.pruneCommand("tokens prune", "Delete expired tokens, codes, challenges and ended sessions, in batches", 1000,
		func(a *app.App, batch int) (any, error) { return a.Pruner.PruneTokens(c.ctx, batch) })
	g.AddCommand(prune)
	return g
}

// pruneCommand is audit prune and tokens prune: batched deletes on the
// database, printing what was deleted.
func (c *cli) pruneCommand(path, short string, defaultBatch int, prune func(a *app.App, batch int) (any, error)) *cobra.Command {
	cmd := &cobra.Command{Use: "prune", Short: short, Args: cobra.NoArgs,
		Example: fmt.Sprintf("  identityd %s --batch %d", path, defaultBatch)}
	batch := cmd.Flags().Int("batch", 0, fmt.Sprintf("rows per DELETE statement (default %d)", defaultBatch))
	cmd.RunE = c.runE(func(cmd *cobra.Command, _ []string) error {
		if err := c.localOnly(path); err != nil {
			return err
		}
		if *batch < 0 {
			return errUsage{path + ": --batch must be a positive number"}
		}
		a, err := c.app()
		if err != nil {
			return err
		}
		res, err := prune(a, *batch)
		if err != nil {
			return err
		}
		return c.printValue(res)
	})
	return cmd
}

func (c *cli) versionCommand() *cobra.Command {
	return &cobra.Command{Use: "version", Short: "Print the version, commit, Go version and build date of this binary",
		Example: "  identityd version", Args: cobra.NoArgs,
		RunE: c.runE(func(cmd *cobra.Command, _ []string) error {
			return c.printValue(buildinfo.Get())
		})}
}

func (c *cli) healthCommand() *cobra.Command {
	return &cobra.Command{Use: "health", Short: "Check the server's health and its dependencies (GET /api/health); exit 1 when unhealthy",
		Example: "  identityd health --endpoint https://id.example.com", Args: cobra.NoArgs,
		RunE: c.runE(func(cmd *cobra.Command, _ []string) error {
			ans, err := c.callPublicAnswer(http.MethodGet, "/api/health")
			if err != nil {
				return err
			}
			if err := c.printAnswer(ans); err != nil {
				return err
			}
			if ans.status != http.StatusOK {
				return errExit{exitError, fmt.Sprintf("unhealthy: the server answered %d", ans.status)}
			}
			return nil
		})}
}

// callPublic calls a public route (no tenant, no token needed).
func (c *cli) callPublic(method, path string) (*apiAnswer, error) {
	ans, err := c.callPublicAnswer(method, path)
	if err != nil {
		return nil, err
	}
	if ans.status >= 400 {
		return nil, apiError(ans)
	}
	return ans, nil
}

// callPublicAnswer is callPublic keeping an error answer (health's 503).
func (c *cli) callPublicAnswer(method, path string) (*apiAnswer, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.timeout)
	defer cancel()
	if !c.remote() {
		if c.tenant != "" {
			return nil, errUsage{"--tenant is not used by this command"}
		}
		return c.callLocal(ctx, apiCall{method: method, path: path, system: true}, http.NoBody)
	}
	return c.send(ctx, method, path, http.NoBody, false, "", 16<<20)
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
	switch me.Kind {
	case models.KindNotFound:
		return errExit{exitNotFound, msg}
	case models.KindConflict:
		return errExit{exitConflict, msg}
	}
	return errors.New(msg)
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
