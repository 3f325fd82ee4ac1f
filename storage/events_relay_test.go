package storage_test

import (
	"context"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// The relay's outbox methods: unpublished rows in seq order, a limit,
// marking by seq (only what is listed, only once), the backlog and its
// age.
func TestEventsRelayOutbox(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			clk := newClock(time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC))
			st := storagetest.OpenStore(t, b, clk.opts())
			ctx := t.Context()
			n, oldest, err := st.UnpublishedEvents(ctx)
			require.NoError(t, err)
			require.Zero(t, n)
			require.True(t, oldest.IsZero())

			var seqs []int64
			for i := range 5 {
				e := &models.OutboxEvent{ID: uuid.NewString(), Type: "identity.user.updated", Source: "s", Subject: "u", Data: `{}`}
				require.NoError(t, st.AppendEvent(ctx, e))
				seqs = append(seqs, e.Seq)
				if i == 0 {
					clk.add(time.Minute)
				}
			}
			list := func(limit int) []int64 {
				rows, err := st.ListUnpublishedEvents(ctx, limit)
				require.NoError(t, err)
				var out []int64
				for _, r := range rows {
					out = append(out, r.Seq)
				}
				return out
			}
			require.Equal(t, seqs[:3], list(3))
			n, oldest, err = st.UnpublishedEvents(ctx)
			require.NoError(t, err)
			require.Equal(t, int64(5), n)
			require.Equal(t, time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC), oldest)

			require.NoError(t, st.MarkEventsPublished(ctx, []int64{seqs[0], seqs[2]}))
			require.NoError(t, st.MarkEventsPublished(ctx, nil))
			require.Equal(t, []int64{seqs[1], seqs[3], seqs[4]}, list(10))
			n, oldest, err = st.UnpublishedEvents(ctx)
			require.NoError(t, err)
			require.Equal(t, int64(3), n)
			require.Equal(t, time.Date(2030, 6, 1, 12, 1, 0, 0, time.UTC), oldest)
		})
	}
}

// RenewLease extends only its holder's live lease; ReleaseLease frees it
// for another at once and leaves another holder's lease alone.
func TestLeaseRenewRelease(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			clk := newClock(time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC))
			st := storagetest.OpenStore(t, b, clk.opts())
			ctx := context.Background()
			acquire := func(st *storage.Store, holder string) bool {
				ok, err := st.AcquireLease(ctx, "relay", holder, time.Minute)
				require.NoError(t, err)
				return ok
			}
			renew := func(holder string) bool {
				ok, err := st.RenewLease(ctx, "relay", holder, time.Minute)
				require.NoError(t, err)
				return ok
			}
			require.False(t, renew("a"), "no lease yet")
			require.True(t, acquire(st, "a"))
			clk.add(50 * time.Second)
			require.True(t, renew("a"))
			require.False(t, renew("b"))
			clk.add(50 * time.Second) // within the renewed minute
			require.False(t, acquire(st, "b"))
			clk.add(11 * time.Second) // expired
			require.False(t, renew("a"))

			require.True(t, acquire(st, "b"))
			require.NoError(t, st.ReleaseLease(ctx, "relay", "a"))
			require.False(t, acquire(st, "c"), "a's release leaves b's lease")
			require.NoError(t, st.ReleaseLease(ctx, "relay", "b"))
			require.True(t, acquire(st, "c"), "released: free at once")
		})
	}
}
