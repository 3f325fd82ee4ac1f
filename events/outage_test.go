package events_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
)

// The broker unreachable for 10 s (a proxy between the relay and RabbitMQ
// cut: connections closed, new ones refused) while users are changed
// through the API: once it is back every event arrives, none twice within
// the run (counted by id at the consumer), in seq order per aggregate;
// the health check reports the outage.
//
// The cut comes while the relay is idle (the backlog drained), so no
// message is in flight at that moment: a confirm lost with the connection
// would legitimately send that one message twice (at least once), which
// this test is not about.
func TestRelayBrokerOutage(t *testing.T) {
	broker := apptest.RabbitMQURL(t)
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		px := startProxy(t, apptest.BrokerAddr(t, broker))
		srv := relayServer(t, apptest.Config(t, b), apptest.WithBrokerAddr(t, broker, px.Addr()), nil)
		e := apptest.Seed(t, srv)
		got := collect(t, broker, e.Tenant.ID)
		tok := admin(t, e)
		var users []string
		for i := range 3 {
			u := e.AddUser(t, apptest.NewUser{TenantSlug: e.Tenant.Slug, Email: "u" + strconv.Itoa(i) + "." + apptest.RandomID(t, 6) + "@example.com",
				Password: apptest.Password, Name: "User"})
			users = append(users, u.ID)
		}
		backlog := func() int { return srv.Int(t, "SELECT COUNT(*) FROM events WHERE published_at IS NULL") }
		waitUntil(t, "the relay idle", func() bool { return backlog() == 0 })
		before := srv.Int(t, "SELECT COALESCE(MAX(seq), 0) FROM events")

		px.Cut()
		res := srv.Call(t, http.MethodGet, "/api/health", "", nil)
		require.Equal(t, http.StatusServiceUnavailable, res.Status, "%s", res.Body)
		require.Equal(t, "fail", res.JSON(t)["checks"].(map[string]any)["rabbitmq"].(map[string]any)["status"])

		// A stream of changes for 10 s, round-robin over the users.
		end := time.Now().Add(10 * time.Second)
		changes := 0
		for i := 0; time.Now().Before(end); i++ {
			res := srv.Call(t, http.MethodPatch, "/api/users/"+users[i%len(users)], tok, map[string]any{"name": "Name " + strconv.Itoa(i)})
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
			changes++
			time.Sleep(50 * time.Millisecond)
		}
		require.Positive(t, backlog(), "the events wait in the outbox")
		require.Positive(t, testutil.ToFloat64(srv.Metrics.RelayMessages.WithLabelValues(identity.ExchangeIdentityEvents, "failed")))
		px.Restore()

		// Every event of the outage, by id, with its seq and aggregate.
		type row struct {
			seq     int
			subject string
		}
		want := map[string]row{}
		for _, r := range srv.Rows(t, "SELECT id, seq, subject FROM events WHERE seq > ?", before) {
			seq, err := strconv.Atoi(r[1])
			require.NoError(t, err)
			want[r[0]] = row{seq: seq, subject: r[2]}
		}
		require.GreaterOrEqual(t, len(want), changes)
		got.waitFor(t, "every event of the outage", func(ms []received) bool {
			seen := map[string]bool{}
			for _, m := range ms {
				if _, ok := want[m.str("id")]; ok {
					seen[m.str("id")] = true
				}
			}
			return len(seen) == len(want)
		})
		waitUntil(t, "the backlog drained", func() bool { return backlog() == 0 })
		time.Sleep(300 * time.Millisecond) // any duplicate would be on its way

		count := map[string]int{}
		last := map[string]int{}
		for _, m := range got.all() {
			id := m.str("id")
			count[id]++
			r, ok := want[id]
			if !ok {
				continue
			}
			require.Greater(t, r.seq, last[r.subject], "aggregate %s: seq %d arrived after seq %d", r.subject, r.seq, last[r.subject])
			last[r.subject] = r.seq
		}
		for id := range want {
			require.Equal(t, 1, count[id], "event %s arrived %d times", id, count[id])
		}
		res = srv.Call(t, http.MethodGet, "/api/health", "", nil)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	})
}
