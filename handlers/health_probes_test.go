package handlers_test

import (
	"context"
	"net/http"
	"slices"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/internal/apptest"
)

// probe GETs path and returns the status and the JSON body.
func probe(t *testing.T, srv *apptest.Server, path string) (int, map[string]any) {
	t.Helper()
	res := srv.Call(t, http.MethodGet, path, "", nil)
	require.Equal(t, "no-store", res.Header.Get("Cache-Control"), "%s", path)
	return res.Status, res.JSON(t)
}

// checkNames are the names under "checks".
func checkNames(body map[string]any) []string {
	var out []string
	for k := range body["checks"].(map[string]any) {
		out = append(out, k)
	}
	slices.Sort(out)
	return out
}

// TestHealthProbes: live answers 200; ready answers 200 naming database,
// migrations (and Redis when configured), and the worker once one runs;
// a stopped worker makes ready 503 naming it; /api/health carries the
// outbox backlog.
func TestHealthProbes(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		code, body := probe(t, srv, "/api/health/live")
		require.Equal(t, http.StatusOK, code)
		require.Equal(t, "ok", body["status"])

		want := []string{"database", "migrations"}
		if b.RedisURL != "" {
			want = append(want, "redis")
		}
		code, body = probe(t, srv, "/api/health/ready")
		require.Equal(t, http.StatusOK, code, "%v", body)
		require.Equal(t, want, checkNames(body))

		w := srv.StartWorker(context.Background())
		code, body = probe(t, srv, "/api/health/ready")
		require.Equal(t, http.StatusOK, code, "%v", body)
		require.Contains(t, checkNames(body), "worker")
		w.Stop(30 * time.Second)
		code, body = probe(t, srv, "/api/health/ready")
		require.Equal(t, http.StatusServiceUnavailable, code, "%v", body)
		require.Equal(t, []any{"worker"}, body["failing"])

		code, body = probe(t, srv, "/api/health")
		require.Equal(t, http.StatusOK, code, "%v", body)
		outbox, ok := body["outbox"].(map[string]any)
		require.True(t, ok, "/api/health has the outbox backlog: %v", body)
		for _, k := range []string{"unpublished", "undispatched", "mail_queued", "oldest_unpublished_seconds", "oldest_undispatched_seconds", "oldest_mail_seconds"} {
			require.Contains(t, outbox, k)
		}
	})
}

// TestReadyFailsWithoutDatabase: with the database closed, ready answers
// 503 naming it (and the migration check), at once, while live still
// answers 200.
func TestReadyFailsWithoutDatabase(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		require.NoError(t, srv.Store.Close())
		start := time.Now()
		code, body := probe(t, srv, "/api/health/ready")
		require.Equal(t, http.StatusServiceUnavailable, code, "%v", body)
		require.Contains(t, body["failing"], "database")
		require.Contains(t, body["failing"], "migrations")
		require.NotContains(t, body["failing"], "redis")
		require.Less(t, time.Since(start), 30*time.Second, "ready must answer, never hang")
		code, _ = probe(t, srv, "/api/health/live")
		require.Equal(t, http.StatusOK, code)
	})
}

// TestReadyFailsWithPendingMigration: a database behind this binary's
// newest migration is not ready.
func TestReadyFailsWithPendingMigration(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		current, newest, err := srv.Store.MigrationStatus(t.Context())
		require.NoError(t, err)
		require.Equal(t, newest, current)
		db, err := srv.Store.SQLDB()
		require.NoError(t, err)
		_, err = db.ExecContext(t.Context(), "DELETE FROM goose_db_version WHERE version_id = (SELECT MAX(version_id) FROM goose_db_version)")
		require.NoError(t, err)
		code, body := probe(t, srv, "/api/health/ready")
		require.Equal(t, http.StatusServiceUnavailable, code, "%v", body)
		require.Equal(t, []any{"migrations"}, body["failing"])
	})
}
