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

// TestInvitationsMigration: migration 00013 gives the Owner and Admin
// roles of an existing tenant the three invitation permissions, once,
// on both databases (its role UPDATE is run against roles seeded without
// them); Manager and Member keep what they held.
func TestInvitationsMigration(t *testing.T) {
	added := []string{identity.PermInvitationsRead, identity.PermInvitationsCreate, identity.PermInvitationsRevoke}
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			fsys := map[string]fs.FS{"sqlite": migrations.SQLite, "postgres": migrations.Postgres}[b.Name]
			raw, err := fs.ReadFile(fsys, b.Name+"/00013_invitations.sql")
			if err != nil {
				t.Fatal(err)
			}
			up, _, _ := strings.Cut(string(raw), "-- +goose Down")
			i := strings.Index(up, "UPDATE roles")
			if i < 0 {
				t.Fatal("no role UPDATE in the migration")
			}
			update := up[i:]
			_, st := adminOn(t, b) // tenant "acme", seeded with today's roles
			ctx := context.Background()
			db, err := st.SQLDB()
			if err != nil {
				t.Fatal(err)
			}
			roles := identity.SystemRoles()
			old := map[string][]string{}
			for _, name := range []string{identity.RoleOwner, identity.RoleAdmin, identity.RoleManager, identity.RoleMember} {
				for _, p := range roles[name] {
					if !slices.Contains(added, p) {
						old[name] = append(old[name], p)
					}
				}
				oldJSON, _ := json.Marshal(old[name])
				if _, err := db.ExecContext(ctx, "UPDATE roles SET permissions = $1 WHERE name = $2 AND system", string(oldJSON), name); err != nil {
					t.Fatal(err)
				}
			}
			for range 2 { // twice: the second run changes nothing
				if _, err := db.ExecContext(ctx, update); err != nil {
					t.Fatalf("migration: %v", err)
				}
			}
			for name, want := range map[string][]string{
				identity.RoleOwner:   append(old[identity.RoleOwner], added...),
				identity.RoleAdmin:   append(old[identity.RoleAdmin], added...),
				identity.RoleManager: old[identity.RoleManager],
				identity.RoleMember:  old[identity.RoleMember],
			} {
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
					if !slices.Equal(perms, want) {
						t.Errorf("%s after the migration: %v, want %v", name, perms, want)
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
