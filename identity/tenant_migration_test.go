package identity_test

import (
	"context"
	"encoding/json"
	"io/fs"
	"slices"
	"strings"
	"testing"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/migrations"
	"github.com/identityd/identityd/storage/storagetest"
)

// TestTenantReadMigration: migration 00012 gives an existing tenant's Admin
// role identity.tenants.read, once, on both databases, and leaves the other
// roles alone (the role update of the file is run against an Admin role
// seeded without it).
func TestTenantReadMigration(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			fsys := map[string]fs.FS{"sqlite": migrations.SQLite, "postgres": migrations.Postgres}[b.Name]
			raw, err := fs.ReadFile(fsys, b.Name+"/00012_tenant_self.sql")
			if err != nil {
				t.Fatal(err)
			}
			up, _, _ := strings.Cut(string(raw), "-- +goose Down")
			_, update, _ := strings.Cut(up, "UPDATE roles")
			update = "UPDATE roles" + update // only the role change: the columns exist already
			_, st := adminOn(t, b)
			ctx := context.Background()
			db, err := st.SQLDB()
			if err != nil {
				t.Fatal(err)
			}
			roles := identity.SystemRoles()
			var old []string
			for _, p := range roles[identity.RoleAdmin] {
				if p != identity.PermTenantsRead {
					old = append(old, p)
				}
			}
			if len(old) != len(roles[identity.RoleAdmin])-1 {
				t.Fatalf("the Admin role is seeded without %s", identity.PermTenantsRead)
			}
			oldJSON, _ := json.Marshal(old)
			if _, err := db.ExecContext(ctx, "UPDATE roles SET permissions = $1 WHERE name = $2", string(oldJSON), identity.RoleAdmin); err != nil {
				t.Fatal(err)
			}
			read := func(name string) []string {
				var got string
				if err := db.QueryRowContext(ctx, "SELECT permissions FROM roles WHERE name = $1 AND tenant_id IS NOT NULL", name).Scan(&got); err != nil {
					t.Fatal(err)
				}
				var perms []string
				if err := json.Unmarshal([]byte(got), &perms); err != nil {
					t.Fatalf("permissions %q: %v", got, err)
				}
				return perms
			}
			manager := read(identity.RoleManager)
			for range 2 { // twice: the second run changes nothing
				if _, err := db.ExecContext(ctx, update); err != nil {
					t.Fatalf("migration: %v", err)
				}
			}
			if got := read(identity.RoleAdmin); !slices.Equal(got, append(old, identity.PermTenantsRead)) {
				t.Errorf("Admin after the migration: %v", got)
			}
			if got := read(identity.RoleManager); !slices.Equal(got, manager) || slices.Contains(got, identity.PermTenantsRead) {
				t.Errorf("Manager after the migration: %v", got)
			}
		})
	}
}
