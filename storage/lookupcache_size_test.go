package storage_test

import (
	"context"
	"fmt"
	"net/url"
	"reflect"
	"runtime"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// maxBytesPerCachedToken is issue 14's budget for one lookup cache entry:
// at the default 20,000 entries the cache then holds at most ~20 MB.
const maxBytesPerCachedToken = 1024

// sizeFixture is a tenant with a confidential client (client credentials)
// and a web client whose users sign in (authorization code + OIDC), the two
// kinds of access token a production cache holds.
type sizeFixture struct {
	s        *storage.Store
	tenantID string
	svc, web fosite.Client
}

func newSizeFixture(t testing.TB, s *storage.Store) *sizeFixture {
	t.Helper()
	ctx := context.Background()
	tenant := &models.Tenant{Slug: "size", Name: "Size"}
	if err := s.CreateTenant(ctx, tenant); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*models.Client{
		{ID: "svc-reporting", TenantID: tenant.ID, SecretHash: "bcrypt$x", TokenEndpointAuthMethod: "client_secret_basic",
			GrantTypes: []string{"client_credentials"}, Scopes: []string{"api:read", "api:write"}},
		{ID: "webapp", TenantID: tenant.ID, SecretHash: "bcrypt$x", TokenEndpointAuthMethod: "client_secret_basic",
			GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{"https://app.example/cb"},
			Scopes: []string{"openid", "profile", "email", "offline_access"}},
	} {
		if err := s.CreateClient(ctx, c); err != nil {
			t.Fatal(err)
		}
	}
	fx := &sizeFixture{s: s, tenantID: tenant.ID}
	var err error
	if fx.svc, err = s.GetClient(ctx, "svc-reporting"); err != nil {
		t.Fatal(err)
	}
	if fx.web, err = s.GetClient(ctx, "webapp"); err != nil {
		t.Fatal(err)
	}
	return fx
}

// issue stores access token number i the way fosite's handlers do (the
// request sanitized of everything but the default form parameters): even
// numbers are client-credentials tokens, odd ones a user's tokens from an
// authorization code with ID token claims. It returns the signature.
func (fx *sizeFixture) issue(t testing.TB, i int) string {
	t.Helper()
	now := time.Now()
	req := fosite.NewRequest()
	req.ID = fmt.Sprintf("3c1b8a2e-6f0d-4c59-9a7e-%012d", i)
	req.RequestedAt = now.UTC()
	if i%2 == 0 {
		sess := oauth.NewClientSession("https://id.example.com", fx.tenantID, "svc-reporting")
		sess.SetExpiresAt(fosite.AccessToken, now.Add(time.Hour))
		req.Client, req.Session = fx.svc, sess
		req.RequestedScope = fosite.Arguments{"api:read", "api:write"}
		req.GrantedScope = fosite.Arguments{"api:read", "api:write"}
		req.RequestedAudience = fosite.Arguments{"https://api.example.com"}
		req.GrantedAudience = fosite.Arguments{"https://api.example.com"}
		req.Form = url.Values{"grant_type": {"client_credentials"}, "scope": {"api:read api:write"}}
	} else {
		user := fmt.Sprintf("0b7f0a62-2b3f-4f5e-8f1e-%012d", i)
		sess := oauth.NewUserSession("https://id.example.com", fx.tenantID, user, "webapp", now, now)
		sess.SessionID = fmt.Sprintf("2a1b0c9d-8e7f-4a6b-9c5d-%012d", i)
		sess.Claims.Audience = []string{"webapp"}
		sess.Claims.AuthenticationMethodsReferences = []string{"pwd", "otp", "mfa"}
		sess.Claims.AuthenticationContextClassReference = oauth.ACRMultiFactor
		sess.Claims.Nonce = fmt.Sprintf("n-%020d", i)
		sess.Claims.Extra["email"] = fmt.Sprintf("user%d@example.com", i)
		sess.SetExpiresAt(fosite.AuthorizeCode, now.Add(10*time.Minute))
		sess.SetExpiresAt(fosite.AccessToken, now.Add(time.Hour))
		sess.SetExpiresAt(fosite.RefreshToken, now.Add(30*24*time.Hour))
		req.Client, req.Session = fx.web, sess
		req.RequestedScope = fosite.Arguments{"openid", "profile", "email", "offline_access"}
		req.GrantedScope = fosite.Arguments{"openid", "profile", "email", "offline_access"}
		req.Form = url.Values{"grant_type": {"authorization_code"}, "client_id": {"webapp"}}
	}
	// fosite's HMAC strategy hands storage a 43-character signature.
	sig := fmt.Sprintf("kP2xQ9vL7mN4rT6yW8zA1bC3dE5fG7hJ9kL%08d", i)
	if err := fx.s.CreateAccessTokenSession(context.Background(), sig, req.Sanitize(nil)); err != nil {
		t.Fatal(err)
	}
	return sig
}

// heapAfterGC is the live heap, measured after two collections (the second
// one frees what the first one's finalizers released).
func heapAfterGC() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// cachedBytesPerToken issues n tokens, then measures how much the live heap
// grows when all n are looked up once (and so cached), divided by n. What
// a lookup returns is dropped at once: only the cache keeps anything.
func cachedBytesPerToken(t testing.TB, n int) float64 {
	t.Helper()
	s := storagetest.OpenStore(t, storagetest.SQLiteBackend(t), storage.Options{})
	if err := s.EnableLookupCache(&storage.MemoryGeneration{}, n); err != nil {
		t.Fatal(err)
	}
	fx := newSizeFixture(t, s)
	sigs := make([]string, n)
	for i := range sigs {
		sigs[i] = fx.issue(t, i)
	}
	ctx := context.Background()
	lookup := func(sig string) {
		if _, err := s.GetAccessTokenSession(ctx, sig, oauth.NewSession()); err != nil {
			t.Fatal(err)
		}
	}
	// Warm the client cache and the database's own buffers first, so the
	// measurement counts only the token entries.
	lookup(sigs[0])
	lookup(sigs[1])
	s.EmptyTokenCacheForTest()
	before := heapAfterGC()
	for _, sig := range sigs {
		lookup(sig)
	}
	after := heapAfterGC()
	if got := s.CachedTokensForTest(); got != n {
		t.Fatalf("cache holds %d tokens, want %d", got, n)
	}
	runtime.KeepAlive(sigs)
	runtime.KeepAlive(s)
	return float64(int64(after)-int64(before)) / float64(n)
}

// TestLookupCacheBytesPerEntry holds issue 14's budget: one cached access
// token costs at most 1 KiB of heap (the entry, its key and everything the
// entry keeps alive).
func TestLookupCacheBytesPerEntry(t *testing.T) {
	if testing.Short() {
		t.Skip("issues 5,000 tokens")
	}
	got := cachedBytesPerToken(t, 5000)
	t.Logf("lookup cache: %.0f B/entry", got)
	if got > maxBytesPerCachedToken {
		t.Fatalf("lookup cache costs %.0f B/entry, want at most %d", got, maxBytesPerCachedToken)
	}
}

// BenchmarkLookupCacheBytesPerEntry reports the same figure as a metric.
func BenchmarkLookupCacheBytesPerEntry(b *testing.B) {
	var got float64
	for b.Loop() {
		got = cachedBytesPerToken(b, 5000)
	}
	b.ReportMetric(got, "B/entry")
}

// BenchmarkAccessTokenLookupCached is the introspection path's storage
// read once the token is cached: GetAccessTokenSession on a hit.
func BenchmarkAccessTokenLookupCached(b *testing.B) {
	for _, kind := range []struct {
		name string
		i    int
	}{{"client", 0}, {"user", 1}} {
		b.Run(kind.name, func(b *testing.B) {
			s := storagetest.OpenStore(b, storagetest.SQLiteBackend(b), storage.Options{})
			if err := s.EnableLookupCache(&storage.MemoryGeneration{}, 100); err != nil {
				b.Fatal(err)
			}
			fx := newSizeFixture(b, s)
			sig := fx.issue(b, kind.i)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				if _, err := s.GetAccessTokenSession(ctx, sig, oauth.NewSession()); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// A cached lookup must hand fosite exactly what the database read does, for
// both kinds of session.
func TestLookupCacheHitEqualsDatabaseRead(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storagetest.OpenFunc) {
		s := open(t, storage.Options{})
		if err := s.EnableLookupCache(&storage.MemoryGeneration{}, 100); err != nil {
			t.Fatal(err)
		}
		fx := newSizeFixture(t, s)
		for i, name := range []string{"client credentials", "authorization code"} {
			sig := fx.issue(t, i)
			// Inside a transaction the cache is bypassed: the database answers.
			txCtx, err := s.BeginTX(t.Context())
			must(t, err)
			fromDB, err := s.GetAccessTokenSession(txCtx, sig, oauth.NewSession())
			must(t, err)
			must(t, s.Rollback(txCtx))
			miss, err := s.GetAccessTokenSession(t.Context(), sig, oauth.NewSession())
			must(t, err)
			for n := range 3 {
				hit, err := s.GetAccessTokenSession(t.Context(), sig, oauth.NewSession())
				must(t, err)
				if s.CachedTokensForTest() == 0 {
					t.Fatalf("%s: the token was not cached", name)
				}
				for _, got := range []fosite.Requester{miss, hit} {
					assertSameRequest(t, fmt.Sprintf("%s (lookup %d)", name, n), fromDB, got)
				}
				// A caller may change what it got; the cache must not see it.
				hit.GetGrantedScopes()[0] = "changed"
				hit.GetRequestForm().Set("grant_type", "changed")
				hit.GetSession().(*oauth.Session).Claims.Extra["tenant_id"] = "changed"
			}
		}
	})
}

func assertSameRequest(t *testing.T, name string, want, got fosite.Requester) {
	t.Helper()
	check := func(field string, w, g any) {
		t.Helper()
		if !reflect.DeepEqual(w, g) {
			t.Errorf("%s: %s = %#v, want %#v", name, field, g, w)
		}
	}
	check("ID", want.GetID(), got.GetID())
	check("RequestedAt", want.GetRequestedAt(), got.GetRequestedAt())
	check("RequestedAt location", want.GetRequestedAt().Location(), got.GetRequestedAt().Location())
	// A client carries the time it was read (storage.Client.now): compare
	// what was stored.
	check("Client", want.GetClient().(*storage.Client).Client, got.GetClient().(*storage.Client).Client)
	check("RequestedScopes", want.GetRequestedScopes(), got.GetRequestedScopes())
	check("GrantedScopes", want.GetGrantedScopes(), got.GetGrantedScopes())
	check("RequestedAudience", want.GetRequestedAudience(), got.GetRequestedAudience())
	check("GrantedAudience", want.GetGrantedAudience(), got.GetGrantedAudience())
	check("Form", want.GetRequestForm(), got.GetRequestForm())
	check("Session", want.GetSession(), got.GetSession())
	ws, gs := want.GetSession().(*oauth.Session), got.GetSession().(*oauth.Session)
	check("Session.Claims", ws.Claims, gs.Claims)
	check("Session.ExpiresAt", ws.ExpiresAt, gs.ExpiresAt)
	check("Session.Extra", ws.Extra, gs.Extra)
	check("Session.TenantID", ws.TenantID, gs.TenantID)
	check("Session.SessionID", ws.SessionID, gs.SessionID)
	check("Session.Kind", ws.Kind, gs.Kind)
}
