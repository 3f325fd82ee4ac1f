package storage_test

import (
	"os"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// TestRotateRefreshTokenAndIssueOneStatement proves the refresh grant's
// write is one statement (one round trip, no BEGIN or COMMIT) on
// PostgreSQL, strict and graceful, where the three fosite calls it replaces
// take four statements in a transaction; and that a lost race writes
// nothing in that one statement either.
func TestRotateRefreshTokenAndIssueOneStatement(t *testing.T) {
	t.Parallel()
	if os.Getenv(storagetest.EnvDatabaseURL) == "" {
		t.Skip(storagetest.EnvDatabaseURL + " is not set")
	}
	for _, grace := range []time.Duration{0, time.Minute} {
		t.Run(grace.String(), func(t *testing.T) {
			ctx := t.Context()
			s := storagetest.OpenStore(t, storagetest.MigratedPostgresBackend(t), storage.Options{RefreshGracePeriod: grace})
			tn := &models.Tenant{Slug: "rot", Name: "Rot"}
			must(t, s.CreateTenant(ctx, tn))
			must(t, s.CreateClient(ctx, &models.Client{ID: "web", TenantID: tn.ID, TokenEndpointAuthMethod: "client_secret_basic",
				GrantTypes: []string{"authorization_code", "refresh_token"}}))
			client, err := s.GetClient(ctx, "web")
			must(t, err)
			sess := oauth.NewUserSession("https://issuer.example", tn.ID, "user-1", "web", time.Now(), time.Now())
			sess.SetExpiresAt(fosite.AccessToken, time.Now().Add(time.Hour))
			sess.SetExpiresAt(fosite.RefreshToken, time.Now().Add(24*time.Hour))
			req := fosite.NewRequest()
			req.ID, req.Client, req.Session = "grant-1", client, sess
			req.GrantScope("openid")
			must(t, s.CreateAccessTokenSession(ctx, "at-0", req))
			must(t, s.CreateRefreshTokenSession(ctx, "rt-0", "at-0", req))

			count := storage.CountStatements(s)
			before := count()
			must(t, s.RotateRefreshTokenAndIssue(ctx, req.ID, "rt-0", "at-1", req, "rt-1", req))
			if n := count() - before; n != 1 {
				t.Fatalf("the rotation ran %d statements, want 1", n)
			}
			if _, err := s.GetAccessTokenSession(ctx, "at-1", nil); err != nil {
				t.Fatalf("new access token: %v", err)
			}
			if _, err := s.GetAccessTokenSession(ctx, "at-0", nil); err == nil {
				t.Fatal("the old access token survived the rotation")
			}
			if grace == 0 {
				before = count()
				err := s.RotateRefreshTokenAndIssue(ctx, req.ID, "rt-0", "at-2", req, "rt-2", req)
				if n := count() - before; n != 1 {
					t.Fatalf("a second rotation ran %d statements, want 1", n)
				}
				if err == nil {
					t.Fatal("a rotated token rotated again without a grace period")
				}
				if _, err := s.GetAccessTokenSession(ctx, "at-2", nil); err == nil {
					t.Fatal("the refused rotation issued an access token")
				}
			}
		})
	}
}
