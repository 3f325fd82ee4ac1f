package main

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/storage/storagetest"
)

// caScalar runs a one-value query on the CLI's database.
func caScalar(t *testing.T, app *app.App, q string, args ...any) string {
	t.Helper()
	db, err := app.Store.SQLDB()
	require.NoError(t, err)
	var s string
	require.NoError(t, db.QueryRowContext(t.Context(), q, args...).Scan(&s), "%s", q)
	return s
}

// TestCLICreatesGoThroughTheServices: tenants, users and clients created at
// the command line pass the API's validation (the password policy the
// README's old quickstart password broke, control characters) and write
// the API's audit rows, with the system principal as actor; on SQLite and
// PostgreSQL.
func TestCLICreatesGoThroughTheServices(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			env := cliEnv(t)
			env["DATABASE_URL"] = b.URL
			env["IDENTITY_SECRET"] = "cli-test-secret-cli-test-secret-0123456789"
			env["IDENTITY_DEV_LOG_MAIL"] = "1"
			slug := "cli-" + strings.ToLower(apptest.RandomID(t, 6))
			tenant := cliOK(t, env, "tenants", "create", "--slug", slug, "--name", "CLI Co")
			app := cliApp(t, env)
			q := func(sql string, args ...any) string {
				t.Helper()
				return caScalar(t, app, apptest.Rebind(app.Store.Dialect(), sql), args...)
			}
			actor := func(action, tenantID string) string {
				return q("SELECT COALESCE(MAX(actor_id), '') FROM audit_logs WHERE action = ? AND tenant_id = ?", action, tenantID)
			}
			tid := tenant["id"].(string)
			require.Equal(t, identity.SystemActorID, actor(identity.AuditTenantCreated, tid), "tenants create is audited")

			// The password policy applies: the README's old example fails.
			users := q("SELECT CAST(COUNT(*) AS TEXT) FROM users")
			_, _, err := cliRun(t, env, "users", "create", "--tenant", slug, "--email", "ada@example.com", "--password", "correct horse battery staple")
			require.Error(t, err)
			require.Contains(t, err.Error(), "password")
			require.Equal(t, users, q("SELECT CAST(COUNT(*) AS TEXT) FROM users"), "no user created")

			u := cliOK(t, env, "users", "create", "--tenant", slug, "--email", "ada@example.com", "--password", "Correct-Horse-Battery-9", "--name", "Ada", "--role", "Admin", "--system-admin")
			user := u["user"].(map[string]any)
			uid := user["id"].(string)
			require.Equal(t, true, user["is_system_admin"])
			require.Equal(t, identity.SystemActorID, q("SELECT actor_id FROM audit_logs WHERE action = ? AND user_id = ?", identity.AuditUserCreated, uid), "users create is audited")
			require.Equal(t, identity.SystemActorID, q("SELECT actor_id FROM audit_logs WHERE action = ? AND user_id = ?", identity.AuditSystemAdminGranted, uid), "system admin grant is audited")
			require.Equal(t, "1", q("SELECT CAST(COUNT(*) AS TEXT) FROM role_assignments ra JOIN roles r ON r.id = ra.role_id WHERE ra.principal_id = ? AND r.name = 'Admin'", uid))
			if _, err := app.Login.WithPassword(t.Context(), identity.LoginInput{Tenant: slug, Email: "ada@example.com", Password: "Correct-Horse-Battery-9"}); err != nil {
				t.Fatalf("the created user cannot sign in: %v", err)
			}
			// An unknown role creates nothing.
			users = q("SELECT CAST(COUNT(*) AS TEXT) FROM users")
			_, _, err = cliRun(t, env, "users", "create", "--tenant", slug, "--email", "bob@example.com", "--password", "Correct-Horse-Battery-9", "--role", "Nope")
			require.Error(t, err)
			require.Equal(t, users, q("SELECT CAST(COUNT(*) AS TEXT) FROM users"), "a failed role assignment leaves no user")

			c := cliOK(t, env, "clients", "create", "--tenant", slug, "--id", "cli-billing", "--secret", "billing-secret-123456", "--grant-types", "client_credentials", "--scopes", "service")
			require.Equal(t, "cli-billing", c["client_id"])
			require.Equal(t, "billing-secret-123456", c["client_secret"])
			require.Equal(t, identity.SystemActorID, actor(identity.AuditClientCreated, tid), "clients create is audited")

			// Control characters are refused in every flag, before anything runs.
			for _, args := range [][]string{
				{"tenants", "create", "--slug", "nul-co", "--name", "Nul\x00Co"},
				{"users", "create", "--tenant", slug, "--email", "eve@example.com", "--password", "Correct-Horse-Battery-9", "--name", "E\x1bve"},
				{"users", "create", "--tenant", slug, "--email", "eve@example.com\n", "--password", "Correct-Horse-Battery-9"},
				{"clients", "create", "--tenant", slug, "--grant-types", "client_credentials", "--name", "bad\x00name"},
			} {
				_, _, err := cliRun(t, env, args...)
				require.Error(t, err, "%q", args)
				require.Contains(t, err.Error(), "control character", "%q", args)
			}
			require.Equal(t, "0", q("SELECT CAST(COUNT(*) AS TEXT) FROM tenants WHERE slug = 'nul-co'"))
			require.Equal(t, "0", q("SELECT CAST(COUNT(*) AS TEXT) FROM users WHERE email LIKE 'eve%'"))
		})
	}
}
