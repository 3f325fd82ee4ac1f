package storage_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// TestLeaseExclusive races ten callers on two stores (two instances of one
// deployment) for one lease: exactly one wins, nobody wins while it is held,
// and exactly one wins again once it has expired.
func TestLeaseExclusive(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			clk := newClock(time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC))
			stores := []*storage.Store{storagetest.OpenStore(t, b, clk.opts()), storagetest.OpenStore(t, b, clk.opts())}
			race := func() []string {
				t.Helper()
				var (
					mu      sync.Mutex
					winners []string
					wg      sync.WaitGroup
					errs    = make(chan error, 10)
					startCh = make(chan struct{})
				)
				for i := range 10 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-startCh
						holder := fmt.Sprintf("instance-%d", i)
						ok, err := stores[i%2].AcquireLease(context.Background(), "job", holder, time.Minute)
						if err != nil {
							errs <- err
							return
						}
						if ok {
							mu.Lock()
							winners = append(winners, holder)
							mu.Unlock()
						}
					}()
				}
				close(startCh)
				wg.Wait()
				close(errs)
				for err := range errs {
					require.NoError(t, err)
				}
				return winners
			}
			w := race()
			require.Len(t, w, 1, "exactly one caller takes a free lease")
			l, err := stores[0].GetLease(t.Context(), "job")
			require.NoError(t, err)
			require.Equal(t, w[0], l.Holder)
			require.Empty(t, race(), "nobody takes a held lease")
			clk.add(time.Minute + time.Second)
			require.Len(t, race(), 1, "exactly one caller takes an expired lease")
		})
	}
}
