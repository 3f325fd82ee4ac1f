package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage/storagetest"
)

func TestAuditQuery(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storagetest.OpenFunc) {
		clk := newClock(time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC))
		st := open(t, clk.opts())
		ctx := t.Context()
		a, ua := seedTenantUser(t, st, "aaa")
		b, _ := seedTenantUser(t, st, "bbb")
		const total = 2345 // more than one stream chunk
		require.NoError(t, st.InTx(ctx, func(ctx context.Context) error {
			for i := range total {
				clk.add(time.Millisecond)
				row := &models.AuditLog{TenantID: &a.ID, Action: "x.even", Metadata: "{}"}
				if i%2 == 1 {
					row.Action = "x.odd"
					row.UserID = &ua.ID
				}
				if err := st.CreateAuditLog(ctx, row); err != nil {
					return err
				}
			}
			return st.CreateAuditLog(ctx, &models.AuditLog{TenantID: &b.ID, Action: "x.even", Metadata: "{}"})
		}))

		// Keyset pages, newest first, cover the tenant exactly once.
		seen := map[string]bool{}
		f := models.AuditFilter{TenantID: a.ID}
		var prev time.Time
		for {
			page, err := st.ListAuditLogs(ctx, f, 400)
			require.NoError(t, err)
			for _, r := range page {
				require.False(t, seen[r.ID], "row %s on two pages", r.ID)
				seen[r.ID] = true
				require.Equal(t, a.ID, *r.TenantID)
				if !prev.IsZero() {
					require.False(t, r.CreatedAt.After(prev), "newest first")
				}
				prev = r.CreatedAt
			}
			if len(page) < 400 {
				break
			}
			last := page[len(page)-1]
			f.BeforeTime, f.BeforeID = last.CreatedAt, last.ID
		}
		require.Len(t, seen, total)

		// Filters.
		odd, err := st.ListAuditLogs(ctx, models.AuditFilter{TenantID: a.ID, Actor: ua.ID}, 5000)
		require.NoError(t, err)
		require.Len(t, odd, total/2)
		even, err := st.ListAuditLogs(ctx, models.AuditFilter{TenantID: a.ID, Action: "x.even"}, 5000)
		require.NoError(t, err)
		require.Len(t, even, total-total/2)
		from := time.Date(2030, 6, 1, 12, 0, 1, 0, time.UTC) // rows 1000..
		to := time.Date(2030, 6, 1, 12, 0, 2, 0, time.UTC)   // ..1999
		window, err := st.ListAuditLogs(ctx, models.AuditFilter{TenantID: a.ID, From: from, To: to}, 5000)
		require.NoError(t, err)
		require.Len(t, window, 1000)
		none, err := st.ListAuditLogs(ctx, models.AuditFilter{TenantID: "not-a-uuid"}, 10)
		require.NoError(t, err)
		require.Empty(t, none)
		byText, err := st.ListAuditLogs(ctx, models.AuditFilter{TenantID: a.ID, Actor: "cli"}, 10)
		require.NoError(t, err, "a non-UUID actor is a plain filter, not an error")
		require.Empty(t, byText)

		// Streaming crosses chunks and sees every row once, newest first.
		n := 0
		streamed := map[string]bool{}
		require.NoError(t, st.StreamAuditLogs(ctx, models.AuditFilter{TenantID: a.ID}, func(r *models.AuditLog) error {
			n++
			streamed[r.ID] = true
			return nil
		}))
		require.Equal(t, total, n)
		require.Len(t, streamed, total)
		stop := errors.New("stop")
		n = 0
		err = st.StreamAuditLogs(ctx, models.AuditFilter{TenantID: a.ID}, func(*models.AuditLog) error {
			n++
			if n == 10 {
				return stop
			}
			return nil
		})
		require.ErrorIs(t, err, stop)
		require.NoError(t, st.Ping(ctx), "an interrupted stream releases its connection")
	})
}
