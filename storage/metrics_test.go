package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// TestOutboxBacklog: the backlog counts the events not yet published and
// not yet dispatched, and queued mail, each with its oldest row's age.
func TestOutboxBacklog(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			clk := newClock(time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC))
			s := storagetest.OpenStore(t, b, clk.opts())
			got, err := s.OutboxBacklog(ctx)
			require.NoError(t, err)
			require.Equal(t, storage.Backlog{}, got)

			for range 3 {
				require.NoError(t, s.AppendEvent(ctx, &models.OutboxEvent{ID: uuid.NewString(), Type: "identity.user.created", Source: "test", Data: "{}"}))
				clk.add(10 * time.Second)
			}
			require.NoError(t, s.EnqueueMail(ctx, &models.OutboxMail{Sealed: []byte("x")}))
			clk.add(5 * time.Second)
			got, err = s.OutboxBacklog(ctx)
			require.NoError(t, err)
			require.Equal(t, storage.Backlog{Unpublished: 3, OldestUnpublished: 35 * time.Second, Undispatched: 3,
				OldestUndispatched: 35 * time.Second, MailQueued: 1, OldestMail: 5 * time.Second}, got)

			db, err := s.SQLDB()
			require.NoError(t, err)
			_, err = db.ExecContext(ctx, "UPDATE events SET published_at = created_at WHERE seq = (SELECT MIN(seq) FROM events)")
			require.NoError(t, err)
			got, err = s.OutboxBacklog(ctx)
			require.NoError(t, err)
			require.Equal(t, int64(2), got.Unpublished)
			require.Equal(t, 25*time.Second, got.OldestUnpublished, "the oldest unpublished is now the second event")
			require.Equal(t, int64(3), got.Undispatched)

			// The collector reports the same at scrape time.
			reg := prometheus.NewPedanticRegistry()
			require.NoError(t, reg.Register(s.NewBacklogCollector(2*time.Second)))
			require.Equal(t, 3, gatherCount(t, reg, "identity_outbox_events", "identity_mail_queue_depth"))

			// A closed database leaves the gauges out and counts the error;
			// the scrape itself succeeds.
			require.NoError(t, s.Close())
			mfs, err := reg.Gather()
			require.NoError(t, err)
			for _, mf := range mfs {
				require.NotEqual(t, "identity_outbox_events", mf.GetName())
				if mf.GetName() == "identity_backlog_scrape_errors_total" {
					require.Equal(t, 1.0, mf.GetMetric()[0].GetCounter().GetValue())
				}
			}
		})
	}
}

// TestObserveCalls: every GORM call lands in the histogram under its
// operation, and the pool statistics are registered.
func TestObserveCalls(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			s := storagetest.OpenStore(t, b, storage.Options{})
			reg := prometheus.NewPedanticRegistry()
			h := prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "calls_seconds", Help: "calls"}, []string{"operation"})
			reg.MustRegister(h)
			require.NoError(t, s.ObserveCalls(reg, h))
			require.NoError(t, s.Ping(context.Background())) // Raw(...).Scan: a row call
			require.NoError(t, s.AppendEvent(context.Background(), &models.OutboxEvent{ID: uuid.NewString(), Type: "t", Source: "s", Data: "{}"}))
			_, err := s.OutboxBacklog(context.Background())
			require.NoError(t, err)
			count := func(op string) uint64 {
				mfs, err := reg.Gather()
				require.NoError(t, err)
				for _, mf := range mfs {
					if mf.GetName() != "calls_seconds" {
						continue
					}
					for _, m := range mf.GetMetric() {
						if m.GetLabel()[0].GetValue() == op {
							return m.GetHistogram().GetSampleCount()
						}
					}
				}
				return 0
			}
			require.Equal(t, uint64(1), count("create"))
			require.GreaterOrEqual(t, count("row"), uint64(1))
			require.GreaterOrEqual(t, count("query"), uint64(2), "the backlog's counts and oldest rows")
			require.Equal(t, 1, gatherCount(t, reg, "go_sql_max_open_connections"))
		})
	}
}

// TestMigrationStatus: a migrated database is at the newest embedded
// migration; one behind it is not.
func TestMigrationStatus(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			s := storagetest.OpenStore(t, b, storage.Options{})
			current, newest, err := s.MigrationStatus(ctx)
			require.NoError(t, err)
			require.Equal(t, newest, current)
			require.GreaterOrEqual(t, newest, int64(20))
			require.NoError(t, s.MigrationsApplied(ctx))
			db, err := s.SQLDB()
			require.NoError(t, err)
			_, err = db.ExecContext(ctx, "DELETE FROM goose_db_version WHERE version_id = (SELECT MAX(version_id) FROM goose_db_version)")
			require.NoError(t, err)
			require.Error(t, s.MigrationsApplied(ctx))
		})
	}
}

// gatherCount is how many series of the named metrics reg gathers.
func gatherCount(t *testing.T, reg *prometheus.Registry, names ...string) int {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	n := 0
	for _, mf := range mfs {
		for _, name := range names {
			if mf.GetName() == name {
				n += len(mf.GetMetric())
			}
		}
	}
	return n
}
