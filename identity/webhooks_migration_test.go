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

// TestWebhooksMigrationGrants: migration 00022 gives existing tenants'
// Owner and Admin roles the webhook permissions, and their Danger Zone
// policy the rotation, once, on both databases.
func TestWebhooksMigrationGrants(t *testing.T) {
	testRoleGrantMigration(t, "00022_webhooks.sql",
		[]string{identity.PermWebhooksRead, identity.PermWebhooksCreate, identity.PermWebhooksUpdate, identity.PermWebhooksDelete},
		[]string{identity.RoleOwner, identity.RoleAdmin})
	for _, b := range storagetest.Backends(t) {
		t.Run("danger_zone/"+b.Name, func(t *testing.T) {
			fsys := map[string]fs.FS{"sqlite": migrations.SQLite, "postgres": migrations.Postgres}[b.Name]
			raw, err := fs.ReadFile(fsys, b.Name+"/00022_webhooks.sql")
			if err != nil {
				t.Fatal(err)
			}
			up, _, _ := strings.Cut(string(raw), "-- +goose Down")
			i, j := strings.Index(up, "UPDATE policies"), strings.Index(up, "UPDATE roles")
			if i < 0 || j < i {
				t.Fatal("no policy UPDATE before the role UPDATE")
			}
			update := up[i:j]
			_, st := adminOn(t, b)
			ctx := context.Background()
			db, err := st.SQLDB()
			if err != nil {
				t.Fatal(err)
			}
			var old []string
			for _, p := range identity.DangerActions {
				if p != identity.PermWebhooksRotate {
					old = append(old, p)
				}
			}
			oldJSON, _ := json.Marshal(old)
			if _, err := db.ExecContext(ctx, "UPDATE policies SET permissions = $1 WHERE name = $2", string(oldJSON), identity.DangerZonePolicy); err != nil {
				t.Fatal(err)
			}
			for range 2 {
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
				t.Fatal(err)
			}
			if !slices.Equal(perms, append(old, identity.PermWebhooksRotate)) {
				t.Errorf("Danger Zone after the migration: %v", perms)
			}
		})
	}
}
