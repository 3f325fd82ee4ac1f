package storagetest

import (
	"context"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
	"github.com/identityd/identityd/storage"
)

// LookupCacheStore is a store that can put the lookup cache in front of its
// access-token and client reads.
type LookupCacheStore interface {
	FositeStore
	// EnableLookupCache turns the cache on, invalidated through gen.
	EnableLookupCache(gen storage.Generation, size int) error
	// ListenGeneration is the PostgreSQL invalidation channel the suite's
	// stores use there (LookupGeneration); SQLite answers an error.
	ListenGeneration(ctx context.Context, opts storage.ListenOptions) (*storage.ListenGeneration, error)
	RotateClientSecret(ctx context.Context, tenantID, id, newHash string, keepOldUntil *time.Time) error
	SuspendTenant(ctx context.Context, id string) (*models.Tenant, error)
}

var _ = claim[LookupCacheStore]("RunLookupCacheSuite", "EnableLookupCache", "ListenGeneration")

// RunLookupCacheSuite checks that with the lookup cache on (its generation
// kept by LISTEN/NOTIFY on PostgreSQL, in process on SQLite), nothing it
// caches outlives a change: a revoked token is gone, a rotated secret is
// seen, a suspended tenant's client stops authenticating, each at once and
// after the entry was cached. (The fosite and transaction suites run with
// the cache on too: storage/lookupcache_test.go.)
func RunLookupCacheSuite[S LookupCacheStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) LookupCacheStore {
		s := newStore(t)
		must(t, s.EnableLookupCache(LookupGeneration(t, s), 100), "enable lookup cache")
		return s
	}, []subTest[LookupCacheStore]{
		{"RevokedToken", testCachedRevokedToken},
		{"RotatedSecret", testCachedRotatedSecret},
		{"SuspendedTenant", testCachedSuspendedTenant},
	})
}

func testCachedRevokedToken(t *testing.T, s LookupCacheStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	at := key(t, "ory_at_")
	req := f.request("grant-a")
	must(t, s.CreateAccessTokenSession(ctx, at, req), "create")
	for range 2 {
		got, err := s.GetAccessTokenSession(ctx, at, oauth.NewSession())
		must(t, err, "get, cached")
		wantEqual(t, got.GetID(), req.ID, "request id")
	}
	must(t, s.RevokeAccessToken(ctx, req.ID), "revoke")
	_, err := s.GetAccessTokenSession(ctx, at, oauth.NewSession())
	wantErrIs(t, err, fosite.ErrNotFound, "a revoked token that was cached")
}

func testCachedRotatedSecret(t *testing.T, s LookupCacheStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	for range 2 {
		c, err := s.GetClient(ctx, f.client.GetID())
		must(t, err, "get client, cached")
		wantEqual(t, string(c.GetHashedSecret()), "bcrypt$old-hash", "secret hash")
	}
	must(t, s.RotateClientSecret(ctx, f.tenant.ID, f.client.GetID(), "bcrypt$new-hash", nil), "rotate")
	c, err := s.GetClient(ctx, f.client.GetID())
	must(t, err, "get client")
	wantEqual(t, string(c.GetHashedSecret()), "bcrypt$new-hash", "secret hash of a cached client after rotation")
}

func testCachedSuspendedTenant(t *testing.T, s LookupCacheStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	for range 2 {
		_, err := s.GetClient(ctx, f.client.GetID())
		must(t, err, "get client, cached")
	}
	_, err := s.SuspendTenant(ctx, f.tenant.ID)
	must(t, err, "suspend")
	_, err = s.GetClient(ctx, f.client.GetID())
	wantErrIs(t, err, fosite.ErrNotFound, "a cached client of a suspended tenant")
}
