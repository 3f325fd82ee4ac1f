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

// TestDangerZoneMigration: migration 00006 gives an existing tenant's
// Danger Zone policy the danger actions issue 8 added, once, on both
// databases (the Up part of the file is run against a policy seeded with
// the old list).
func TestDangerZoneMigration(t *testing.T) {
	t.Parallel()
	added := []string{"identity.membership.manage", "identity.roles.update", "identity.policies.update", "identity.oauth_clients.bind"}
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			fsys := map[string]fs.FS{"sqlite": migrations.SQLite, "postgres": migrations.Postgres}[b.Name]
			raw, err := fs.ReadFile(fsys, b.Name+"/00006_danger_zone_grants.sql")
			if err != nil {
				t.Fatal(err)
			}
			up, _, _ := strings.Cut(string(raw), "-- +goose Down")
			_, st := adminOn(t, b) // tenant "acme", seeded with today's list
			ctx := context.Background()
			db, err := st.SQLDB()
			if err != nil {
				t.Fatal(err)
			}
			var old []string
			for _, p := range identity.DangerActions {
				if !slices.Contains(added, p) {
					old = append(old, p)
				}
			}
			oldJSON, _ := json.Marshal(old)
			if _, err := db.ExecContext(ctx, "UPDATE policies SET permissions = $1 WHERE name = $2", string(oldJSON), identity.DangerZonePolicy); err != nil {
				t.Fatal(err)
			}
			for range 2 { // twice: the second run changes nothing
				if _, err := db.ExecContext(ctx, up); err != nil {
					t.Fatalf("migration: %v", err)
				}
			}
			var got string
			if err := db.QueryRowContext(ctx, "SELECT permissions FROM policies WHERE name = $1", identity.DangerZonePolicy).Scan(&got); err != nil {
				t.Fatal(err)
			}
			var perms []string
			if err := json.Unmarshal([]byte(got), &perms); err != nil {
				t.Fatalf("permissions %q: %v", got, err)
			}
			if !slices.Equal(perms, append(old, added...)) {
				t.Errorf("Danger Zone after the migration: %v", perms)
			}
		})
	}
}

// TestIssue10DangerZoneMigrations: migrations 00009, 00011 and 00014 give an
// existing tenant's Danger Zone policy identity.push_devices.read and
// identity.users.export and identity.users.erase, once each, on both databases.
func TestIssue10DangerZoneMigrations(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ file, perm string }{
		{"00009_push_devices.sql", identity.PermPushDevicesRead},
		{"00011_users_export_grant.sql", identity.PermUsersExport},
		{"00014_users_erase_grant.sql", identity.PermUsersErase},
		{"00017_tenant_deletion.sql", identity.PermTenantsDelete},
	} {
		t.Run(tc.perm, func(t *testing.T) { testDangerZoneAppend(t, tc.file, tc.perm) })
	}
}

// testDangerZoneAppend runs the policy update of migration file against a
// Danger Zone policy without perm, twice, and expects perm added once.
func testDangerZoneAppend(t *testing.T, file, perm string) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			fsys := map[string]fs.FS{"sqlite": migrations.SQLite, "postgres": migrations.Postgres}[b.Name]
			raw, err := fs.ReadFile(fsys, b.Name+"/"+file)
			if err != nil {
				t.Fatal(err)
			}
			up, _, _ := strings.Cut(string(raw), "-- +goose Down")
			_, update, _ := strings.Cut(up, "UPDATE policies")
			update = "UPDATE policies" + update // only the policy change: any table exists already
			_, st := adminOn(t, b)
			ctx := context.Background()
			db, err := st.SQLDB()
			if err != nil {
				t.Fatal(err)
			}
			var old []string
			for _, p := range identity.DangerActions {
				if p != perm {
					old = append(old, p)
				}
			}
			oldJSON, _ := json.Marshal(old)
			if _, err := db.ExecContext(ctx, "UPDATE policies SET permissions = $1 WHERE name = $2", string(oldJSON), identity.DangerZonePolicy); err != nil {
				t.Fatal(err)
			}
			for range 2 { // twice: the second run changes nothing
				if _, err := db.ExecContext(ctx, update); err != nil {
					t.Fatalf("migration: %v", err)
				}
			}
			var got string
			if err := db.QueryRowContext(ctx, "SELECT permissions FROM policies WHERE name = $1", identity.DangerZonePolicy).Scan(&got); err != nil {
				t.Fatal(err)
			}
			var perms []string
			if err := json.Unmarshal([]byte(got), &perms); err != nil {
				t.Fatalf("permissions %q: %v", got, err)
			}
			if !slices.Equal(perms, append(old, perm)) {
				t.Errorf("Danger Zone after the migration: %v", perms)
			}
		})
	}
}
