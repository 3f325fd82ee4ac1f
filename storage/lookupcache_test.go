package storage_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// cached opens stores with the lookup cache on (in-process generation).
func cached(open storagetest.OpenFunc) func(t *testing.T) *storage.Store {
	return func(t *testing.T) *storage.Store {
		t.Helper()
		s := open(t, storage.Options{})
		if err := s.EnableLookupCache(&storage.MemoryGeneration{}, 1000); err != nil {
			t.Fatalf("enable lookup cache: %v", err)
		}
		return s
	}
}

// The whole fosite contract must hold with the lookup cache in front.
func TestFositeStorageWithLookupCache(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storagetest.OpenFunc) {
		storagetest.RunFositeSuite(t, cached(open))
		storagetest.RunTxSuite(t, cached(open))
	})
}

// countingGeneration counts reads and bumps.
type countingGeneration struct {
	storage.MemoryGeneration
	reads, bumps int
}

func (g *countingGeneration) Current(ctx context.Context) (storage.Generations, error) {
	g.reads++
	return g.MemoryGeneration.Current(ctx)
}

func (g *countingGeneration) Bump(ctx context.Context, what storage.Lookups) error {
	g.bumps++
	return g.MemoryGeneration.Bump(ctx, what)
}

func TestLookupCacheInvalidation(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storagetest.OpenFunc) {
		ctx := context.Background()
		s := open(t, storage.Options{})
		gen := &countingGeneration{}
		if err := s.EnableLookupCache(gen, 100); err != nil {
			t.Fatal(err)
		}
		tenant := &models.Tenant{Slug: "acme", Name: "Acme"}
		if err := s.CreateTenant(ctx, tenant); err != nil {
			t.Fatal(err)
		}
		if err := s.CreateClient(ctx, &models.Client{ID: "svc", TenantID: tenant.ID, SecretHash: "bcrypt$x", TokenEndpointAuthMethod: "client_secret_basic", GrantTypes: []string{"client_credentials"}}); err != nil {
			t.Fatal(err)
		}
		client, err := s.GetClient(ctx, "svc")
		if err != nil {
			t.Fatal(err)
		}
		issue := func(sig, reqID string) {
			t.Helper()
			sess := oauth.NewClientSession("http://x", tenant.ID, "svc")
			sess.SetExpiresAt(fosite.AccessToken, time.Now().Add(time.Hour))
			req := fosite.NewRequest()
			req.ID, req.Client, req.Session = reqID, client, sess
			if err := s.CreateAccessTokenSession(ctx, sig, req); err != nil {
				t.Fatal(err)
			}
		}
		get := func(sig string) error {
			_, err := s.GetAccessTokenSession(ctx, sig, oauth.NewSession())
			return err
		}
		issue("sig-1", "req-1")
		issue("sig-2", "req-2")
		bumpsAfterIssue := gen.bumps
		if bumpsAfterIssue != 0 {
			t.Fatalf("issuing tokens bumped the generation %d times; inserts must keep caches warm", bumpsAfterIssue)
		}
		for i := 0; i < 3; i++ {
			if err := get("sig-1"); err != nil {
				t.Fatalf("get: %v", err)
			}
		}
		// Revocation outside a transaction bumps at once.
		if err := s.DeleteAccessTokenSession(ctx, "sig-1"); err != nil {
			t.Fatal(err)
		}
		if gen.bumps != 1 {
			t.Fatalf("bumps after delete = %d, want 1", gen.bumps)
		}
		if err := get("sig-1"); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("revoked token still found through the cache: %v", err)
		}
		// Inside a transaction the bump waits for the commit.
		if err := get("sig-2"); err != nil {
			t.Fatal(err)
		}
		txCtx, err := s.BeginTX(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if err := s.RevokeAccessToken(txCtx, "req-2"); err != nil {
			t.Fatal(err)
		}
		if gen.bumps != 1 {
			t.Fatalf("bumped before commit")
		}
		if err := s.Commit(txCtx); err != nil {
			t.Fatal(err)
		}
		if gen.bumps != 2 {
			t.Fatalf("bumps after commit = %d, want 2", gen.bumps)
		}
		if err := get("sig-2"); !errors.Is(err, fosite.ErrNotFound) {
			t.Fatalf("token revoked in a transaction still found: %v", err)
		}
		// A rolled-back revocation does not bump.
		issue("sig-3", "req-3")
		txCtx, _ = s.BeginTX(ctx)
		_ = s.RevokeAccessToken(txCtx, "req-3")
		_ = s.Rollback(txCtx)
		if gen.bumps != 2 {
			t.Fatalf("a rollback bumped the generation")
		}
		if err := get("sig-3"); err != nil {
			t.Fatalf("rolled-back revocation lost the token: %v", err)
		}
		// A request snapshot reads the generation once for all its lookups.
		snap := storage.WithLookupSnapshot(ctx)
		before := gen.reads
		for i := 0; i < 5; i++ {
			if _, err := s.GetAccessTokenSession(snap, "sig-3", oauth.NewSession()); err != nil {
				t.Fatal(err)
			}
			if _, err := s.GetClient(snap, "svc"); err != nil {
				t.Fatal(err)
			}
		}
		if gen.reads-before != 1 {
			t.Fatalf("snapshot read the generation %d times, want 1", gen.reads-before)
		}
		// A client change invalidates cached clients.
		if err := s.RotateClientSecret(ctx, tenant.ID, "svc", "bcrypt$y", nil); err != nil {
			t.Fatal(err)
		}
		c, err := s.GetClient(ctx, "svc")
		if err != nil {
			t.Fatal(err)
		}
		if string(c.GetHashedSecret()) != "bcrypt$y" {
			t.Fatalf("client cache kept the old secret hash")
		}
	})
}
