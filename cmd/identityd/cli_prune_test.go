package main

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/storage"
)

// TestAuditPruneCLI runs `identityd audit prune` and `identityd tokens
// prune` on rows written with a clock in the past.
func TestAuditPruneCLI(t *testing.T) {
	t.Parallel()
	env := cliEnv(t)
	cliOK(t, env, "migrate")
	tn := cliOK(t, env, "tenants", "create", "--slug", "cli-prune", "--name", "CLI")
	tenantID := tn["id"].(string)
	st := openCLIStore(t, env, time.Now().Add(-400*24*time.Hour))
	ctx := t.Context()
	for i := range 7 {
		require.NoError(t, identity.Auditor{Store: st}.Record(ctx, identity.Principal{}, identity.Event{TenantID: tenantID, Action: fmt.Sprint("old.", i)}))
	}
	require.NoError(t, st.Close())

	out := cliOK(t, env, "audit", "prune", "--batch", "2")
	require.EqualValues(t, 7, out["deleted"], "%v", out)
	require.EqualValues(t, 365, out["default_retention_days"])
	out = cliOK(t, env, "audit", "prune")
	require.EqualValues(t, 0, out["deleted"])

	out = cliOK(t, env, "tokens", "prune")
	require.Contains(t, out, "deleted")
	require.Contains(t, out["deleted"], "oauth_access_tokens")
	_, _, err := cliRun(t, env, "tokens", "prune", "--batch", "-1")
	require.Error(t, err)
	_, _, err = cliRun(t, env, "audit", "prune", "extra")
	require.Error(t, err)
}

// openCLIStore opens the CLI data dir's database with a fixed clock.
func openCLIStore(t *testing.T, env map[string]string, at time.Time) *storage.Store {
	t.Helper()
	st, err := storage.Open(context.Background(), storage.Options{
		DatabaseURL: "sqlite:" + filepath.Join(env["IDENTITY_DATA_DIR"], "identity.db"),
		Now:         func() time.Time { return at },
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = st.Close() })
	return st
}

// TestTenantDeletionCLI runs `identityd tenants deletions` and `identityd
// tenants restore`: a tenant whose own deletion is pending is listed with
// its dates until the operator restores it (audited in the tenant).
func TestTenantDeletionCLI(t *testing.T) {
	t.Parallel()
	env := cliEnv(t)
	cliOK(t, env, "migrate")
	tn := cliOK(t, env, "tenants", "create", "--slug", "cli-doomed", "--name", "Doomed")
	cliOK(t, env, "tenants", "create", "--slug", "cli-fine", "--name", "Fine")
	out := cliOK(t, env, "tenants", "deletions")
	require.Empty(t, out["tenants"])

	st := openCLIStore(t, env, time.Now())
	now := time.Now()
	_, err := st.ScheduleTenantDeletion(t.Context(), tn["id"].(string), now, now.Add(30*24*time.Hour))
	require.NoError(t, err)
	require.NoError(t, st.Close())

	out = cliOK(t, env, "tenants", "deletions")
	list, _ := out["tenants"].([]any)
	require.Len(t, list, 1, "%v", out)
	row := list[0].(map[string]any)
	require.Equal(t, "cli-doomed", row["slug"])
	require.NotEmpty(t, row["deletes_at"])

	out = cliOK(t, env, "tenants", "restore", "--slug", "cli-doomed")
	require.Equal(t, true, out["restored"])
	out = cliOK(t, env, "tenants", "deletions")
	require.Empty(t, out["tenants"])
	_, _, err = cliRun(t, env, "tenants", "restore", "--slug", "cli-doomed")
	require.ErrorContains(t, err, "not scheduled for deletion")
	_, _, err = cliRun(t, env, "tenants", "restore")
	require.Error(t, err)
	_, _, err = cliRun(t, env, "tenants", "restore", "--slug", "nope")
	require.Error(t, err)
}
