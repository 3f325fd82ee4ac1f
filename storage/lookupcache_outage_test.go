package storage_test

import (
	"context"
	"errors"
	"net/url"
	"sync/atomic"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// partitionedGeneration is one instance's view of a shared generation: while
// cut, neither reads nor bumps reach it (the instance is cut off Redis).
type partitionedGeneration struct {
	shared storage.Generation
	cut    atomic.Bool
}

var errCut = errors.New("cut off")

func (g *partitionedGeneration) Current(ctx context.Context) (storage.Generations, error) {
	if g.cut.Load() {
		return storage.Generations{}, errCut
	}
	return g.shared.Current(ctx)
}

func (g *partitionedGeneration) Bump(ctx context.Context, what storage.Lookups) error {
	if g.cut.Load() {
		return errCut
	}
	return g.shared.Bump(ctx, what)
}

// A revocation whose bump fails is not lost: the revoking instance bypasses
// its own cache at once, and retries the bump until it lands, so the other
// instance stops trusting its entry once the partition heals.
func TestLookupCacheFailedBumpIsRetried(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			backend := freshBackend(t, b.Name)
			shared := &storage.MemoryGeneration{}
			g1 := &partitionedGeneration{shared: shared}
			s1 := storagetest.OpenStore(t, backend, storage.Options{})
			s2 := storagetest.OpenStore(t, backend, storage.Options{})
			if err := s1.EnableLookupCache(g1, 100); err != nil {
				t.Fatal(err)
			}
			if err := s2.EnableLookupCache(shared, 100); err != nil {
				t.Fatal(err)
			}
			tenant := &models.Tenant{Slug: "acme", Name: "Acme"}
			if err := s1.CreateTenant(ctx, tenant); err != nil {
				t.Fatal(err)
			}
			if err := s1.CreateClient(ctx, &models.Client{ID: "svc", TenantID: tenant.ID, SecretHash: "bcrypt$x", TokenEndpointAuthMethod: "client_secret_basic", GrantTypes: []string{"client_credentials"}}); err != nil {
				t.Fatal(err)
			}
			client, err := s1.GetClient(ctx, "svc")
			if err != nil {
				t.Fatal(err)
			}
			sess := oauth.NewClientSession("http://x", tenant.ID, "svc")
			sess.SetExpiresAt(fosite.AccessToken, time.Now().Add(time.Hour))
			req := fosite.NewRequest()
			req.ID, req.Client, req.Session = "req-1", client, sess
			if err := s1.CreateAccessTokenSession(ctx, "sig-1", req); err != nil {
				t.Fatal(err)
			}
			for _, s := range []*storage.Store{s1, s2} {
				if _, err := s.GetAccessTokenSession(ctx, "sig-1", oauth.NewSession()); err != nil {
					t.Fatal(err)
				}
			}
			g1.cut.Store(true)
			if err := s1.RevokeAccessToken(ctx, "req-1"); err != nil {
				t.Fatalf("revocation with the invalidation channel cut: %v", err)
			}
			// The revoking instance does not trust its cache.
			if _, err := s1.GetAccessTokenSession(ctx, "sig-1", oauth.NewSession()); !errors.Is(err, fosite.ErrNotFound) {
				t.Fatalf("revoking instance: %v, want not found", err)
			}
			before, _ := shared.Current(ctx)
			g1.cut.Store(false)
			deadline := time.Now().Add(10 * time.Second)
			for {
				now, _ := shared.Current(ctx)
				if now.Tokens > before.Tokens {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("the failed bump was not retried within 10s of the heal")
				}
				time.Sleep(20 * time.Millisecond)
			}
			if _, err := s2.GetAccessTokenSession(ctx, "sig-1", oauth.NewSession()); !errors.Is(err, fosite.ErrNotFound) {
				t.Fatalf("other instance after the heal: %v, want not found", err)
			}
		})
	}
}

// twoInstances are two stores on one PostgreSQL database, each with its
// lookup cache invalidated through a ListenGeneration on a channel of the
// test's own, and a fixture made through s1 whose token and client s2 has
// cached; count counts s2's statements.
type twoInstances struct {
	s1, s2  *storage.Store
	g2      *storage.ListenGeneration
	channel string
	count   func() int64
	fx      *cacheFixture
}

func newTwoInstances(t *testing.T) *twoInstances {
	t.Helper()
	backend := postgresOnly(t)
	in := &twoInstances{
		s1:      storagetest.OpenStore(t, backend, storage.Options{}),
		s2:      storagetest.OpenStore(t, backend, storage.Options{}),
		channel: "identity_test_" + randomID(t),
	}
	must(t, in.s1.EnableLookupCache(storagetest.LookupGenerationOn(t, in.s1, in.channel), 100))
	in.g2 = storagetest.LookupGenerationOn(t, in.s2, in.channel).(*storage.ListenGeneration)
	must(t, in.s2.EnableLookupCache(in.g2, 100))
	in.count = storage.CountStatements(in.s2)
	in.fx = newCacheFixture(t, in.s1, time.Now().Add(time.Hour))
	in.fx.warm(t, in.s2)
	return in
}

// Two instances on one PostgreSQL database hear each other's invalidations
// through it: a token cached on both and revoked on one stops answering on
// the other once the notification lands, while the other's cached client
// stays a hit (a token revocation moves the token generation alone); a
// client change then makes the client miss there too. A write that
// invalidates nothing keeps the other's entries cached (so the test can fail).
func TestListenGenerationAcrossInstances(t *testing.T) {
	t.Parallel()
	in := newTwoInstances(t)
	s1, s2, count, fx := in.s1, in.s2, in.count, in.fx
	_ = newCacheFixture(t, s1, time.Now().Add(time.Hour)) // issuance invalidates nothing
	if n := fx.lookupStatements(t, s2, count); n != 0 {
		t.Fatalf("control: a cached lookup ran %d statements, want 0 (a hit)", n)
	}
	must(t, s1.RevokeAccessToken(t.Context(), fx.requestID))
	waitUntil(t, 10*time.Second, "the other instance sees the revocation", func() bool {
		_, err := s2.GetAccessTokenSession(t.Context(), fx.access, oauth.NewSession())
		return errors.Is(err, fosite.ErrNotFound)
	})
	if _, clients := fx.lookupMisses(t, s2, count); clients != 0 {
		t.Fatalf("after a token revocation the other instance's cached client ran %d statements, want 0 (a hit)", clients)
	}
	must(t, s1.RotateClientSecret(t.Context(), fx.tenant.ID, fx.client, "bcrypt$new", nil))
	waitUntil(t, 10*time.Second, "the other instance sees the client change", func() bool {
		_, clients := fx.lookupMisses(t, s2, count)
		return clients != 0
	})
}

// When the listener loses its connection, notifications sent meanwhile are
// lost: the cache is bypassed until it is back, and nothing cached before
// the gap is trusted after it, so a revocation made during the gap is seen.
func TestListenGenerationReconnects(t *testing.T) {
	t.Parallel()
	in := newTwoInstances(t)
	s1, s2, g2, count, fx, channel := in.s1, in.s2, in.g2, in.count, in.fx, in.channel
	if n := fx.lookupStatements(t, s2, count); n != 0 {
		t.Fatalf("control: a cached lookup ran %d statements, want 0 (a hit)", n)
	}

	// Cut the listener off; revoke while it is away (its notification is
	// lost); and only then let it reconnect.
	release := g2.HoldReconnect()
	t.Cleanup(release)
	sqlDB, err := s1.SQLDB()
	must(t, err)
	_, err = sqlDB.ExecContext(t.Context(), "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name = $1",
		storage.ListenerApplicationName(channel))
	must(t, err)
	waitUntil(t, 10*time.Second, "the listener notices", func() bool { return !g2.Listening() })
	// While it is away, the database answers every lookup.
	if n := fx.lookupStatements(t, s2, count); n == 0 {
		t.Fatal("with the listener away a lookup was answered from the cache")
	}
	must(t, s1.RevokeAccessToken(t.Context(), fx.requestID))
	release()
	waitUntil(t, 10*time.Second, "the listener reconnects", g2.Listening)
	if _, err := s2.GetAccessTokenSession(t.Context(), fx.access, oauth.NewSession()); !errors.Is(err, fosite.ErrNotFound) {
		t.Fatalf("after the gap the revoked token answered %v, want not found", err)
	}
	// And the cache works again.
	fx2 := newCacheFixture(t, s1, time.Now().Add(time.Hour))
	fx2.warm(t, s2)
	if n := fx2.lookupStatements(t, s2, count); n != 0 {
		t.Fatalf("after the reconnect a cached lookup ran %d statements, want 0", n)
	}
}

// A listener that cannot hear the pool's notifications (here: connected to
// another database, as behind a pooler in transaction mode) is refused at
// start: the cache must not run on a channel that carries nothing.
func TestListenGenerationRefusesADeafChannel(t *testing.T) {
	t.Parallel()
	backend := postgresOnly(t)
	s := storagetest.OpenStore(t, backend, storage.Options{})
	u, err := url.Parse(backend.URL)
	must(t, err)
	u.Path = "/postgres"
	_, err = s.ListenGenerationOn(t.Context(), u.String(), storage.ListenOptions{Channel: "identity_test_" + randomID(t)})
	if !errors.Is(err, storage.ErrNotificationsLost) {
		t.Fatalf("a listener on another database: %v, want ErrNotificationsLost", err)
	}
	// The same listener on the store's own database hears its probe.
	g, err := s.ListenGenerationOn(t.Context(), backend.URL, storage.ListenOptions{Channel: "identity_test_" + randomID(t)})
	must(t, err)
	must(t, g.Close())
}

func postgresOnly(t *testing.T) storagetest.Backend {
	t.Helper()
	for _, b := range storagetest.Backends(t) {
		if b.Name == "postgres" {
			return freshBackend(t, b.Name)
		}
	}
	t.Skip("PostgreSQL only: set " + storagetest.EnvDatabaseURL)
	return storagetest.Backend{}
}

func waitUntil(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %s", what, bound)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
