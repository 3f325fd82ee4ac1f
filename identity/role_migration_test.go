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

// TestRoleGrantMigrations: each migration that gives existing tenants'
// system roles new permissions does so once, on both databases, to the
// roles it names only: its role UPDATE is run twice against roles seeded
// without the permissions, and every other system role keeps what it held.
func TestRoleGrantMigrations(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		file    string
		added   []string
		gainers []string
	}{
		{"00008_one_time_codes.sql", []string{identity.PermOTPSend, identity.PermOTPVerify},
			[]string{identity.RoleOwner, identity.RoleAdmin}},
		{"00012_tenant_self.sql", []string{identity.PermTenantsRead}, []string{identity.RoleAdmin}},
		{"00013_invitations.sql", []string{identity.PermInvitationsRead, identity.PermInvitationsCreate, identity.PermInvitationsRevoke},
			[]string{identity.RoleOwner, identity.RoleAdmin}},
	} {
		t.Run(tc.file, func(t *testing.T) { testRoleGrantMigration(t, tc.file, tc.added, tc.gainers) })
	}
}

func testRoleGrantMigration(t *testing.T, file string, added, gainers []string) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			fsys := map[string]fs.FS{"sqlite": migrations.SQLite, "postgres": migrations.Postgres}[b.Name]
			raw, err := fs.ReadFile(fsys, b.Name+"/"+file)
			if err != nil {
				t.Fatal(err)
			}
			up, _, _ := strings.Cut(string(raw), "-- +goose Down")
			i := strings.Index(up, "UPDATE roles")
			if i < 0 {
				t.Fatal("no role UPDATE in the migration")
			}
			update := up[i:]       // only the role change: its tables and columns exist already
			_, st := adminOn(t, b) // tenant "acme", seeded with today's roles
			ctx := context.Background()
			db, err := st.SQLDB()
			if err != nil {
				t.Fatal(err)
			}
			seeded := identity.SystemRoles()
			want := map[string][]string{}
			for _, name := range []string{identity.RoleOwner, identity.RoleAdmin, identity.RoleManager, identity.RoleMember} {
				if !slices.Contains(gainers, name) {
					want[name] = seeded[name]
					continue
				}
				var old []string
				for _, p := range seeded[name] {
					if !slices.Contains(added, p) {
						old = append(old, p)
					}
				}
				oldJSON, _ := json.Marshal(old)
				if _, err := db.ExecContext(ctx, "UPDATE roles SET permissions = $1 WHERE name = $2 AND system", string(oldJSON), name); err != nil {
					t.Fatal(err)
				}
				want[name] = append(old, added...)
			}
			for range 2 { // twice: the second run changes nothing
				if _, err := db.ExecContext(ctx, update); err != nil {
					t.Fatalf("migration: %v", err)
				}
			}
			for name, w := range want {
				rows, err := db.QueryContext(ctx, "SELECT permissions FROM roles WHERE name = $1 AND system", name)
				if err != nil {
					t.Fatal(err)
				}
				n := 0
				for rows.Next() {
					n++
					var got string
					if err := rows.Scan(&got); err != nil {
						t.Fatal(err)
					}
					var perms []string
					if err := json.Unmarshal([]byte(got), &perms); err != nil {
						t.Fatalf("%s permissions %q: %v", name, got, err)
					}
					if !slices.Equal(perms, w) {
						t.Errorf("%s after the migration: %v, want %v", name, perms, w)
					}
				}
				_ = rows.Close()
				if n == 0 {
					t.Errorf("no system role %s", name)
				}
			}
		})
	}
}
