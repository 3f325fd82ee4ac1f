package events_test

import (
	"context"
	"errors"
	"net/http"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/prometheus/client_golang/prometheus/testutil"
	amqp "github.com/rabbitmq/amqp091-go"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

// A user created through the API reaches a consumer bound to
// identity_events as identity.user.created, in the documented envelope,
// and its outbox row is marked published.
func TestRelayUserCreated(t *testing.T) {
	broker := apptest.RabbitMQURL(t)
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := relayServer(t, apptest.Config(t, b), broker, nil)
		e := apptest.Seed(t, srv)
		got := collect(t, broker, e.Tenant.ID)
		tok := admin(t, e)

		email := "new." + apptest.RandomID(t, 8) + "@example.com"
		res := srv.Call(t, http.MethodPost, "/api/users", tok, map[string]any{"email": email, "name": "New Person", "password": "Fresh-Passw0rd!-Long"})
		require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
		userID := res.JSON(t)["user"].(map[string]any)["id"].(string)

		msgs := got.waitFor(t, "identity.user.created", func(ms []received) bool {
			for _, m := range ms {
				if m.str("type") == identity.EventUserCreated && m.str("subject") == userID {
					return true
				}
			}
			return false
		})
		var m received
		for _, x := range msgs {
			if x.str("type") == identity.EventUserCreated && x.str("subject") == userID {
				m = x
			}
		}
		// The envelope: CloudEvents 1.0 structured JSON.
		require.Equal(t, "1.0", m.str("specversion"))
		_, err := uuid.Parse(m.str("id"))
		require.NoError(t, err, "id is a UUID")
		require.Equal(t, srv.Config.Issuer, m.str("source"))
		require.Equal(t, e.Tenant.ID, m.str("tenantid"))
		require.Equal(t, "application/json", m.str("datacontenttype"))
		ts, err := time.Parse(time.RFC3339, m.str("time"))
		require.NoError(t, err, "time is RFC 3339")
		require.WithinDuration(t, time.Now(), ts, time.Minute)
		data := m.data()
		require.Equal(t, userID, data["user_id"])
		require.Equal(t, e.Tenant.ID, data["tenant_id"])
		for _, secret := range []string{"password", "password_hash", "token"} {
			require.NotContains(t, data, secret)
		}
		// The message: where it went and its properties.
		require.Equal(t, identity.ExchangeIdentityEvents, m.Exchange)
		require.Equal(t, identity.EventUserCreated, m.RoutingKey)
		d := m.Delivery
		require.Equal(t, "application/cloudevents+json", d.ContentType)
		require.Equal(t, uint8(amqp.Persistent), d.DeliveryMode)
		require.Equal(t, m.str("id"), d.MessageId)
		require.Equal(t, identity.EventUserCreated, d.Type)
		require.False(t, d.Timestamp.IsZero())

		// Marked published once confirmed.
		waitUntil(t, "published_at set", func() bool {
			return srv.Int(t, "SELECT COUNT(*) FROM events WHERE id = ? AND published_at IS NOT NULL", m.str("id")) == 1
		})
		require.GreaterOrEqual(t, testutil.ToFloat64(srv.Metrics.RelayMessages.WithLabelValues(identity.ExchangeIdentityEvents, "published")), 1.0)
	})
}

// Signing in and logging out reach session_manager as
// identity.session.created then identity.session.revoked.
func TestRelaySessionEvents(t *testing.T) {
	broker := apptest.RabbitMQURL(t)
	srv := relayServer(t, apptest.Config(t, apptest.SQLite(t)), broker, nil)
	e := apptest.Seed(t, srv)
	got := collect(t, broker, e.Tenant.ID)

	tok := srv.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
	res := srv.Call(t, http.MethodPost, "/api/auth/logout", tok, nil)
	require.Less(t, res.Status, 300, "%s", res.Body)

	msgs := got.waitFor(t, "session created and revoked", func(ms []received) bool {
		var created, revoked bool
		for _, m := range ms {
			created = created || m.str("type") == identity.EventSessionCreated
			revoked = revoked || m.str("type") == identity.EventSessionRevoked
		}
		return created && revoked
	})
	var order []string
	for _, m := range msgs {
		if m.Exchange == identity.ExchangeSessionManager {
			require.Equal(t, m.str("type"), m.RoutingKey)
			require.Equal(t, e.User.ID, m.data()["user_id"])
			order = append(order, m.str("type"))
		}
	}
	require.Equal(t, []string{identity.EventSessionCreated, identity.EventSessionRevoked}, order)
	// Login's other event goes to identity_events.
	for _, m := range got.ofType(identity.EventLoginSucceeded) {
		require.Equal(t, identity.ExchangeIdentityEvents, m.Exchange)
	}
}

// An event written in a transaction that rolls back never reaches the
// broker: a marker committed after it arrives, the rolled-back one does
// not (the relay sends in seq order, so it would have come first).
func TestRelayRollbackPublishesNothing(t *testing.T) {
	broker := apptest.RabbitMQURL(t)
	srv := relayServer(t, apptest.Config(t, apptest.SQLite(t)), broker, nil)
	e := apptest.Seed(t, srv)
	got := collect(t, broker, e.Tenant.ID)
	ctx := t.Context()

	event := func() *models.OutboxEvent {
		return &models.OutboxEvent{ID: uuid.NewString(), TenantID: &e.Tenant.ID, Type: identity.EventUserUpdated,
			Source: srv.Config.Issuer, Subject: e.User.ID, Time: time.Now().UTC(), Data: `{"user_id":"` + e.User.ID + `"}`}
	}
	rolledBack := event()
	errRollback := errors.New("roll back")
	err := srv.Store.InTx(ctx, func(ctx context.Context) error {
		require.NoError(t, srv.Store.AppendEvent(ctx, rolledBack))
		return errRollback
	})
	require.ErrorIs(t, err, errRollback)
	marker := event()
	require.NoError(t, srv.Store.AppendEvent(ctx, marker))

	msgs := got.waitFor(t, "the marker", func(ms []received) bool {
		for _, m := range ms {
			if m.str("id") == marker.ID {
				return true
			}
		}
		return false
	})
	for _, m := range msgs {
		require.NotEqual(t, rolledBack.ID, m.str("id"), "a rolled-back event was published")
	}
	require.Zero(t, srv.Int(t, "SELECT COUNT(*) FROM events WHERE id = ?", rolledBack.ID))
}

// Two instances on one database, each running the relay, publish every
// event exactly once; when the one holding the lease stops, the other
// takes over.
func TestRelayTwoInstances(t *testing.T) {
	broker := apptest.RabbitMQURL(t)
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		s1 := apptest.Start(t, apptest.Config(t, b), relayConfig(broker, nil))
		s2 := apptest.Start(t, apptest.Config(t, b), relayConfig(broker, nil))
		// s1 relays first and takes the lease; s2 then waits for it.
		stop1 := s1.StartJobs(t, app.JobEventRelay)
		waitUntil(t, "s1 holds the lease", func() bool {
			return s1.Int(t, "SELECT COUNT(*) FROM job_leases WHERE name = 'event-relay' AND holder <> ''") == 1
		})
		s2.StartJobs(t, app.JobEventRelay)
		e := apptest.Seed(t, s1)
		got := collect(t, broker, e.Tenant.ID)

		// Events appended on both instances, concurrently, while both relay.
		appendN := func(n int) []string {
			var (
				mu  sync.Mutex
				ids []string
				wg  sync.WaitGroup
			)
			for i, s := range []*apptest.Server{s1, s2} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for j := range n / 2 {
						ev := &models.OutboxEvent{ID: uuid.NewString(), TenantID: &e.Tenant.ID, Type: identity.EventUserUpdated,
							Source: s.Config.Issuer, Subject: e.User.ID, Time: time.Now().UTC(), Data: `{"i":` + strconv.Itoa(i*1000+j) + `}`}
						if err := s.Store.AppendEvent(context.Background(), ev); err != nil {
							t.Errorf("append: %v", err)
							return
						}
						mu.Lock()
						ids = append(ids, ev.ID)
						mu.Unlock()
					}
				}()
			}
			wg.Wait()
			return ids
		}
		exactlyOnce := func(ids []string) {
			t.Helper()
			want := map[string]bool{}
			for _, id := range ids {
				want[id] = true
			}
			got.waitFor(t, "every event", func(ms []received) bool {
				n := 0
				for _, m := range ms {
					if want[m.str("id")] {
						n++
					}
				}
				return n >= len(want)
			})
			// Let any duplicate arrive before counting.
			waitUntil(t, "backlog drained", func() bool {
				return s1.Int(t, "SELECT COUNT(*) FROM events WHERE published_at IS NULL") == 0
			})
			time.Sleep(300 * time.Millisecond)
			count := map[string]int{}
			for _, m := range got.all() {
				count[m.str("id")]++
			}
			for id := range want {
				require.Equal(t, 1, count[id], "event %s published %d times", id, count[id])
			}
		}
		exactlyOnce(appendN(100))

		// The lease holder stops (releasing the lease): the other relays.
		holder := s1.Scalar(t, "SELECT holder FROM job_leases WHERE name = 'event-relay'")
		stop1()
		exactlyOnce(appendN(40))
		require.NotEqual(t, holder, s1.Scalar(t, "SELECT holder FROM job_leases WHERE name = 'event-relay'"), "s2 took the lease over")
	})
}
