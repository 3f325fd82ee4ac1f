package storagetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
	"github.com/identityd/identityd/storage"
)

// TenantCreator, UserCreator and ClientCreator make the rows most cases
// start from.
type (
	TenantCreator interface {
		// CreateTenant inserts t, giving it an id; a taken slug is a Conflict.
		CreateTenant(ctx context.Context, t *models.Tenant) error
	}
	UserCreator interface {
		// CreateUser inserts u, giving it an id; a taken e-mail in the
		// tenant is a Conflict.
		CreateUser(ctx context.Context, u *models.User) error
	}
	ClientCreator interface {
		// CreateClient inserts c; a taken id is a Conflict.
		CreateClient(ctx context.Context, c *models.Client) error
	}
)

// FixtureStore makes a fixture: a tenant, a user and a client, loaded back
// as fosite loads it.
type FixtureStore interface {
	TenantCreator
	UserCreator
	ClientCreator
	// GetClient returns the client as fosite sees it; unknown is
	// fosite.ErrNotFound.
	GetClient(ctx context.Context, id string) (fosite.Client, error)
}

// fixture is a store with one tenant, one user and one client, which every
// stored fosite request needs (Get*Session reloads the client).
type fixture struct {
	s      FixtureStore
	tenant *models.Tenant
	user   *models.User
	client *storage.Client
}

func newFixture(t *testing.T, s FixtureStore) *fixture {
	t.Helper()
	ctx := t.Context()
	f := &fixture{s: s}
	f.tenant = createTenant(t, s, "acme-"+randomHex(t, 4))
	f.user = &models.User{TenantID: f.tenant.ID, Email: "alice-" + randomHex(t, 4) + "@example.com", PasswordHash: "x"}
	must(t, s.CreateUser(ctx, f.user), "create user")
	m := createClient(t, s, f.tenant.ID, "client-"+randomHex(t, 4))
	c, err := s.GetClient(ctx, m.ID)
	must(t, err, "get client")
	sc, ok := c.(*storage.Client)
	if !ok {
		t.Fatalf("GetClient returned %T, want *storage.Client", c)
	}
	f.client = sc
	return f
}

func createTenant(t *testing.T, s TenantCreator, slug string) *models.Tenant {
	t.Helper()
	tn := &models.Tenant{Slug: slug, Name: "Tenant " + slug}
	must(t, s.CreateTenant(t.Context(), tn), "create tenant")
	return tn
}

func createClient(t *testing.T, s ClientCreator, tenantID, id string) *models.Client {
	t.Helper()
	m := &models.Client{
		ID:                      id,
		TenantID:                tenantID,
		Name:                    "Client " + id,
		SecretHash:              "bcrypt$old-hash",
		RedirectURIs:            models.StringList{"https://app.example/cb"},
		GrantTypes:              models.StringList{"authorization_code", "refresh_token"},
		ResponseTypes:           models.StringList{"code"},
		Scopes:                  models.StringList{"openid", "offline_access", "profile"},
		Audience:                models.StringList{"https://api.example"},
		TokenEndpointAuthMethod: "client_secret_basic",
		AccessTokenFormat:       models.AccessTokenOpaque,
	}
	must(t, s.CreateClient(t.Context(), m), "create client")
	return m
}

// base is a fixed, second-aligned instant (PostgreSQL keeps microseconds,
// SQLite nanoseconds; seconds survive both).
var base = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// session returns a user session with an expiry for every token type.
func (f *fixture) session() *oauth.Session {
	sess := oauth.NewUserSession("https://issuer.example", f.tenant.ID, f.user.ID, f.client.GetID(), base.Add(-time.Minute), base)
	sess.SetExpiresAt(fosite.AuthorizeCode, base.Add(10*time.Minute))
	sess.SetExpiresAt(fosite.AccessToken, base.Add(time.Hour))
	sess.SetExpiresAt(fosite.RefreshToken, base.Add(30*24*time.Hour))
	return sess
}

// request returns a sanitised-looking authorization request of grant id.
func (f *fixture) request(id string) *fosite.Request {
	r := fosite.NewRequest()
	r.ID = id
	r.RequestedAt = base
	r.Client = f.client
	r.RequestedScope = fosite.Arguments{"openid", "offline_access", "profile"}
	r.GrantedScope = fosite.Arguments{"openid", "offline_access"}
	r.RequestedAudience = fosite.Arguments{"https://api.example"}
	r.GrantedAudience = fosite.Arguments{"https://api.example"}
	r.Form = url.Values{"redirect_uri": {"https://app.example/cb"}, "state": {"xyz"}}
	r.Session = f.session()
	return r
}

// key returns a random token signature (or raw code) with a prefix.
func key(t *testing.T, prefix string) string {
	t.Helper()
	return prefix + randomHex(t, 16)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// unknownID is a well-formed id no row has.
const unknownID = "00000000-0000-4000-8000-000000000000"

// newTenant creates a tenant with a random slug.
func newTenant(t *testing.T, s TenantCreator) *models.Tenant {
	t.Helper()
	return createTenant(t, s, "t-"+randomHex(t, 4))
}

// newUser creates a user of the tenant with a random e-mail.
func newUser(t *testing.T, s UserCreator, tenantID string) *models.User {
	t.Helper()
	u := &models.User{TenantID: tenantID, Email: "u-" + randomHex(t, 4) + "@example.com", PasswordHash: "x", Name: "User"}
	must(t, s.CreateUser(t.Context(), u), "create user")
	return u
}

// wantNotFound checks err is a models NotFound.
func wantNotFound(t *testing.T, err error, what string) {
	t.Helper()
	wantKind(t, err, models.KindNotFound, what)
}

// ptr returns a pointer to v.
func ptr[T any](v T) *T { return &v }
