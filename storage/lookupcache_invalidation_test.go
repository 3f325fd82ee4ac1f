package storage_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// cacheFixture is one tenant with what the lookup cache holds (a client, an
// access token) and what a revocation reaches through (a user, a device, a
// login session the token was issued under, a refresh token of the grant, a
// service account holding the client).
type cacheFixture struct {
	tenant    *models.Tenant
	user      *models.User
	client    string
	sa        *models.ServiceAccount
	device    *models.Device
	session   *models.Session
	requestID string
	access    string // access token signature
	refresh   string // refresh token signature
}

func randomID(t *testing.T) string {
	t.Helper()
	b := make([]byte, 6)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// newCacheFixture creates a fixture whose access token expires at exp, and
// warms the cache with its client and token.
func newCacheFixture(t *testing.T, s *storage.Store, exp time.Time) *cacheFixture {
	t.Helper()
	ctx := t.Context()
	r := randomID(t)
	fx := &cacheFixture{client: "c-" + r, requestID: "req-" + r, access: "at-" + r, refresh: "rt-" + r}
	fx.tenant = &models.Tenant{Slug: "t-" + r, Name: "T " + r}
	must(t, s.CreateTenant(ctx, fx.tenant))
	fx.user = &models.User{TenantID: fx.tenant.ID, Email: "u-" + r + "@example.com", PasswordHash: "x"}
	must(t, s.CreateUser(ctx, fx.user))
	fx.sa = &models.ServiceAccount{TenantID: fx.tenant.ID, Name: "sa-" + r, IsActive: true}
	must(t, s.CreateServiceAccount(ctx, fx.sa))
	must(t, s.CreateClient(ctx, &models.Client{ID: fx.client, TenantID: fx.tenant.ID, SecretHash: "bcrypt$x",
		TokenEndpointAuthMethod: "client_secret_basic", GrantTypes: []string{"authorization_code", "refresh_token"},
		ServiceAccountID: &fx.sa.ID}))
	fx.device = &models.Device{TenantID: fx.tenant.ID, UserID: fx.user.ID, TokenHash: "dev-" + r}
	must(t, s.CreateDevice(ctx, fx.device))
	fx.session = &models.Session{TenantID: fx.tenant.ID, UserID: fx.user.ID, DeviceID: &fx.device.ID, Kind: "browser",
		ExpiresAt: time.Now().Add(time.Hour).UTC()}
	must(t, s.CreateSession(ctx, fx.session))
	client, err := s.GetClient(ctx, fx.client)
	must(t, err)
	sess := oauth.NewUserSession("https://issuer.example", fx.tenant.ID, fx.user.ID, fx.client, time.Now(), time.Now())
	sess.SessionID = fx.session.ID
	sess.SetExpiresAt(fosite.AccessToken, exp)
	sess.SetExpiresAt(fosite.RefreshToken, time.Now().Add(time.Hour))
	req := fosite.NewRequest()
	req.ID, req.Client, req.Session = fx.requestID, client, sess
	must(t, s.CreateAccessTokenSession(ctx, fx.access, req))
	must(t, s.CreateRefreshTokenSession(ctx, fx.refresh, fx.access, req))
	fx.warm(t, s)
	return fx
}

// warm looks the token and the client up, so both are cached.
func (fx *cacheFixture) warm(t *testing.T, s *storage.Store) {
	t.Helper()
	_, err := s.GetAccessTokenSession(t.Context(), fx.access, oauth.NewSession())
	must(t, err)
	_, err = s.GetClient(t.Context(), fx.client)
	must(t, err)
}

// lookupStatements counts the statements a lookup of the fixture's token
// and client runs: 0 when both are served from the cache.
func (fx *cacheFixture) lookupStatements(t *testing.T, s *storage.Store, count func() int64) int64 {
	t.Helper()
	tokens, clients := fx.lookupMisses(t, s, count)
	return tokens + clients
}

// lookupMisses counts the statements a lookup of the fixture's client
// runs, then those of a lookup of its token. The client goes first: loading
// the token looks its client up, and would cache it again.
func (fx *cacheFixture) lookupMisses(t *testing.T, s *storage.Store, count func() int64) (tokens, clients int64) {
	t.Helper()
	before := count()
	_, _ = s.GetClient(t.Context(), fx.client)
	mid := count()
	_, _ = s.GetAccessTokenSession(t.Context(), fx.access, oauth.NewSession())
	return count() - mid, mid - before
}

// checkInvalidated fails t unless the generations moved from before to
// after for exactly the kinds inv names, and the bystander's cached lookups
// of those kinds miss while the others still hit.
func checkInvalidated(t *testing.T, inv invalidation, before, after storage.Generations, by *cacheFixture, s *storage.Store, count func() int64) {
	t.Helper()
	if moved, want := after.Tokens > before.Tokens, inv.what&storage.TokenLookups != 0; moved != want {
		t.Errorf("%s: token generation moved = %v, want %v", inv.method, moved, want)
	}
	if moved, want := after.Clients > before.Clients, inv.what&storage.ClientLookups != 0; moved != want {
		t.Errorf("%s: client generation moved = %v, want %v", inv.method, moved, want)
	}
	tokens, clients := by.lookupMisses(t, s, count)
	if missed, want := tokens > 0, inv.what&storage.TokenLookups != 0; missed != want {
		t.Errorf("after %s a cached token lookup missed = %v (%d statements), want %v", inv.method, missed, tokens, want)
	}
	if missed, want := clients > 0, inv.what&storage.ClientLookups != 0; missed != want {
		t.Errorf("after %s a cached client lookup missed = %v (%d statements), want %v", inv.method, missed, clients, want)
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// invalidation is a Store method that must invalidate the lookup cache,
// the kinds of lookup it must invalidate (and no other), and a call that
// makes its change on fx.
type invalidation struct {
	method string
	what   storage.Lookups
	call   func(ctx context.Context, s *storage.Store, fx *cacheFixture) error
}

// invalidations lists every Store method that calls invalidateLookups.
var invalidations = []invalidation{
	{"DeleteAccessTokenSession", storage.TokenLookups, func(ctx context.Context, s *storage.Store, fx *cacheFixture) error {
		return s.DeleteAccessTokenSession(ctx, fx.access)
	}},
	{"RevokeAccessToken", storage.TokenLookups, func(ctx context.Context, s *storage.Store, fx *cacheFixture) error {
		return s.RevokeAccessToken(ctx, fx.requestID)
	}},
	{"RotateRefreshToken", storage.TokenLookups, func(ctx context.Context, s *storage.Store, fx *cacheFixture) error {
		return s.RotateRefreshToken(ctx, fx.requestID, fx.refresh)
	}},
	{"RotateRefreshTokenAndIssue", storage.TokenLookups, func(ctx context.Context, s *storage.Store, fx *cacheFixture) error {
		req, err := s.GetRefreshTokenSession(ctx, fx.refresh, oauth.NewSession())
		if err != nil {
			return err
		}
		return s.RotateRefreshTokenAndIssue(ctx, fx.requestID, fx.refresh, "at2-"+fx.access, req, "rt2-"+fx.refresh, req)
	}},
	{"RotateClientSecret", storage.AllLookups, func(ctx context.Context, s *storage.Store, fx *cacheFixture) error {
		return s.RotateClientSecret(ctx, fx.tenant.ID, fx.client, "bcrypt$new", nil)
	}},
	{"UpdateTenantClient", storage.AllLookups, func(ctx context.Context, s *storage.Store, fx *cacheFixture) error {
		_, err := s.UpdateTenantClient(ctx, fx.tenant.ID, fx.client, func(c *models.Client) error { c.Name = "renamed"; return nil })
		return err
	}},
	{"DeleteTenantClient", storage.AllLookups, func(ctx context.Context, s *storage.Store, fx *cacheFixture) error {
		return s.DeleteTenantClient(ctx, fx.tenant.ID, fx.client)
	}},
	{"DeleteServiceAccount", storage.AllLookups, func(ctx context.Context, s *storage.Store, fx *cacheFixture) error {
		return s.DeleteServiceAccount(ctx, fx.tenant.ID, fx.sa.ID)
	}},
	{"UpdateTenant", storage.AllLookups, func(ctx context.Context, s *storage.Store, fx *cacheFixture) error {
		_, err := s.UpdateTenant(ctx, fx.tenant.ID, map[string]any{"name": "Renamed"})
		return err
	}},
	{"SuspendTenant", storage.AllLookups, func(ctx context.Context, s *storage.Store, fx *cacheFixture) error {
		_, err := s.SuspendTenant(ctx, fx.tenant.ID)
		return err
	}},
	{"UnsuspendTenant", storage.AllLookups, func(ctx context.Context, s *storage.Store, fx *cacheFixture) error {
		_, err := s.UnsuspendTenant(ctx, fx.tenant.ID)
		return err
	}},
	{"DeleteTenant", storage.AllLookups, func(ctx context.Context, s *storage.Store, fx *cacheFixture) error {
		return s.DeleteTenant(ctx, fx.tenant.ID)
	}},
	{"RevokeSession", storage.TokenLookups, func(ctx context.Context, s *storage.Store, fx *cacheFixture) error {
		return s.RevokeSession(ctx, fx.tenant.ID, fx.user.ID, fx.session.ID)
	}},
	{"RevokeUserSessions", storage.TokenLookups, func(ctx context.Context, s *storage.Store, fx *cacheFixture) error {
		_, err := s.RevokeUserSessions(ctx, fx.tenant.ID, fx.user.ID, "", true)
		return err
	}},
	{"RevokeDevice", storage.TokenLookups, func(ctx context.Context, s *storage.Store, fx *cacheFixture) error {
		return s.RevokeDevice(ctx, fx.tenant.ID, fx.user.ID, fx.device.ID)
	}},
	{"RevokeConsent", storage.TokenLookups, func(ctx context.Context, s *storage.Store, fx *cacheFixture) error {
		if err := s.GrantConsent(ctx, fx.tenant.ID, fx.user.ID, fx.client, []string{"openid"}); err != nil {
			return err
		}
		_, err := s.RevokeConsent(ctx, fx.tenant.ID, fx.user.ID, fx.client)
		return err
	}},
	{"EraseUser", storage.TokenLookups, func(ctx context.Context, s *storage.Store, fx *cacheFixture) error {
		return s.EraseUser(ctx, fx.tenant.ID, fx.user.ID)
	}},
	{"PruneExpired", storage.TokenLookups, func(ctx context.Context, s *storage.Store, fx *cacheFixture) error {
		_, err := s.PruneExpired(ctx, models.PruneOptions{})
		return err
	}},
	// Issue 10 §3: a tenant's own deletion hides its clients, its
	// cancellation shows them again, the purge deletes them.
	{"ScheduleTenantDeletion", storage.AllLookups, func(ctx context.Context, s *storage.Store, fx *cacheFixture) error {
		now := time.Now()
		_, err := s.ScheduleTenantDeletion(ctx, fx.tenant.ID, now, now.Add(time.Hour))
		return err
	}},
	{"CancelTenantDeletion", storage.AllLookups, func(ctx context.Context, s *storage.Store, fx *cacheFixture) error {
		now := time.Now()
		if _, err := s.ScheduleTenantDeletion(ctx, fx.tenant.ID, now, now.Add(time.Hour)); err != nil {
			return err
		}
		_, err := s.CancelTenantDeletion(ctx, fx.tenant.ID)
		return err
	}},
	{"PurgeTenant", storage.AllLookups, func(ctx context.Context, s *storage.Store, fx *cacheFixture) error {
		now := time.Now()
		if _, err := s.ScheduleTenantDeletion(ctx, fx.tenant.ID, now, now); err != nil {
			return err
		}
		_, err := s.PurgeTenant(ctx, fx.tenant.ID, now.Add(time.Second))
		return err
	}},
}

// keepsLookups are the Store methods whose names say they change or remove
// something but that cannot make a cached lookup stale, each with the
// reason. Only access tokens and clients (with their tenant's suspension)
// are cached.
var keepsLookups = map[string]string{
	"RevokeRefreshToken":             "refresh tokens are not cached",
	"DeleteRefreshTokenSession":      "refresh tokens are not cached",
	"DeleteOpenIDConnectSession":     "OIDC sessions are not cached",
	"DeletePKCERequestSession":       "PKCE sessions are not cached",
	"InvalidateAuthorizeCodeSession": "codes are not cached",
	"RevokeAPIKey":                   "API keys are looked up in the database every time",
	"DeleteUser":                     "users are not cached; the caller revokes their tokens (RevokeUserSessions) first",
	"UpdateUser":                     "users are not cached",
	"UnlockPIN":                      "users are not cached",
	"UpdateRole":                     "permissions are resolved from the database every time",
	"DeleteRole":                     "permissions are resolved from the database every time",
	"UpdatePolicy":                   "permissions are resolved from the database every time",
	"DeletePolicy":                   "permissions are resolved from the database every time",
	"RemoveServiceAccountRole":       "permissions are resolved from the database every time",
	"UpdateServiceAccount":           "a cached client holds only the service account's id, which does not change; its state is read by ServiceAccountOfClient",
	"UntrustUserDevices":             "devices are not cached",
	"SetDeviceTrust":                 "devices are not cached",
	"SetClientAssertionJWT":          "JTIs are not cached",
	"DeleteLoginSession":             "login sessions are not cached",
	"DeleteMail":                     "mail is not cached",
	"DeletePersonMail":               "mail is not cached",
	"PruneAuditLogs":                 "audit rows are not cached",
	"DeletePushDevices":              "push registrations are not cached",
	"RevokeInvitation":               "invitations are not cached",
	"SetInvitationUser":              "invitations are not cached",
	"PruneEvents":                    "outbox events are not cached",
	"DeleteTenantEvents":             "outbox events are not cached",
	"DeleteSubjectEvents":            "outbox events are not cached",
}

// invalidatingPrefixes are the verbs of methods that change or remove rows:
// every exported Store method named with one is in invalidations or in
// keepsLookups, so the next such method has to choose.
var invalidatingPrefixes = []string{"Revoke", "Delete", "Update", "Suspend", "Unsuspend", "Rotate", "Prune",
	"Remove", "Invalidate", "Untrust", "Unlock", "Set", "Schedule", "Cancel", "Purge"}

func TestLookupInvalidationCoversEveryChange(t *testing.T) {
	t.Parallel()
	listed := map[string]bool{}
	for _, inv := range invalidations {
		if listed[inv.method] {
			t.Errorf("%s is listed twice", inv.method)
		}
		listed[inv.method] = true
		if _, ok := keepsLookups[inv.method]; ok {
			t.Errorf("%s is listed as invalidating and as keeping lookups", inv.method)
		}
	}
	st := reflect.TypeOf((*storage.Store)(nil))
	for name := range keepsLookups {
		if _, ok := st.MethodByName(name); !ok {
			t.Errorf("keepsLookups names %s, which is not a Store method", name)
		}
	}
	for name := range listed {
		if _, ok := st.MethodByName(name); !ok {
			t.Errorf("invalidations names %s, which is not a Store method", name)
		}
	}
	for i := range st.NumMethod() {
		name := st.Method(i).Name
		if !slices.ContainsFunc(invalidatingPrefixes, func(p string) bool { return strings.HasPrefix(name, p) }) {
			continue
		}
		if _, keeps := keepsLookups[name]; !listed[name] && !keeps {
			t.Errorf("Store.%s changes rows but is neither in invalidations (it calls invalidateLookups) nor in keepsLookups (with the reason it cannot make a cached lookup stale)", name)
		}
	}
}

// TestLookupInvalidation proves, on every backend and with the generation in
// Redis when IDENTITY_TEST_REDIS_URL is set, that every method of
// invalidations makes a cached lookup miss: called alone, its bump is immediate; inside a
// transaction it waits for the commit; a rollback drops it. A bystander
// tenant's cached client and token, which the call does not touch, must miss
// too (the generation moved), while a write that invalidates nothing keeps
// them cached, so the test can fail.
func TestLookupInvalidation(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storagetest.OpenFunc) {
		for _, inv := range invalidations {
			t.Run(inv.method, func(t *testing.T) {
				s := open(t, storage.Options{})
				gen := storagetest.LookupGeneration(t, s)
				must(t, s.EnableLookupCache(gen, 1000))
				count := storage.CountStatements(s)
				current := func() storage.Generations {
					t.Helper()
					g, err := gen.Current(t.Context())
					must(t, err)
					return g
				}
				exp := time.Now().Add(time.Hour)
				if inv.method == "PruneExpired" {
					exp = time.Now().Add(-time.Minute) // pruning removes expired tokens
				}

				// Control: issuing a token invalidates nothing.
				by := newCacheFixture(t, s, time.Now().Add(time.Hour))
				_ = newCacheFixture(t, s, time.Now().Add(time.Hour))
				if n := by.lookupStatements(t, s, count); n != 0 {
					t.Fatalf("control: a cached lookup ran %d statements after an insert, want 0 (a hit)", n)
				}

				t.Run("alone", func(t *testing.T) {
					fx := newCacheFixture(t, s, exp)
					by.warm(t, s)
					g := current()
					must(t, inv.call(t.Context(), s, fx))
					checkInvalidated(t, inv, g, current(), by, s, count)
				})

				t.Run("in_transaction", func(t *testing.T) {
					fx := newCacheFixture(t, s, exp)
					by.warm(t, s)
					g := current()
					err := s.InTx(t.Context(), func(ctx context.Context) error {
						if err := inv.call(ctx, s, fx); err != nil {
							return err
						}
						if current() != g {
							t.Errorf("%s bumped the generation before the commit", inv.method)
						}
						return nil
					})
					must(t, err)
					checkInvalidated(t, inv, g, current(), by, s, count)
				})

				t.Run("rolled_back", func(t *testing.T) {
					fx := newCacheFixture(t, s, exp)
					by.warm(t, s)
					g := current()
					abort := errors.New("abort")
					err := s.InTx(t.Context(), func(ctx context.Context) error {
						if err := inv.call(ctx, s, fx); err != nil {
							return err
						}
						return abort
					})
					if !errors.Is(err, abort) {
						t.Fatalf("InTx = %v, want the abort", err)
					}
					if current() != g {
						t.Fatalf("a rolled-back %s bumped the generation", inv.method)
					}
					if n := by.lookupStatements(t, s, count); n != 0 {
						t.Fatalf("after a rolled-back %s a cached lookup ran %d statements, want a hit", inv.method, n)
					}
				})
			})
		}
	})
}
