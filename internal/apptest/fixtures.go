package apptest

import (
	"crypto/rand"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/identity/identitytest"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/models"
)

// Password is the password of the users the fixtures create unless a test
// names another.
const Password = "correct horse battery staple"

// RedirectURI is the redirect URI of the browser clients WebClient makes.
// Nothing listens there: the test Browser stops at any redirect off the
// server.
const RedirectURI = "https://client.example/callback"

// NewUser is what User creates: TenantSlug, Email, Password, Name and, for
// fixtures only, Role and SystemAdmin.
type NewUser = identitytest.NewUser

// NewClient is what Client creates; TenantSlug names the tenant.
type NewClient = identity.NewClient

// CreatedClient is a client and its plaintext secret (empty for a public
// client).
type CreatedClient = identity.CreatedClient

// RandomID returns a fresh identifier fragment of n lower-case letters and
// digits (n at most 26).
func RandomID(t testing.TB, n int) string {
	t.Helper()
	require.LessOrEqual(t, n, 26)
	return strings.ToLower(rand.Text()[:n])
}

// AddTenant creates a tenant, with its roles seeded, as the command line does.
func (s *Server) AddTenant(t testing.TB, slug, name string) *models.Tenant {
	t.Helper()
	tn, err := s.CreateTenant(t, slug, name)
	require.NoError(t, err, "create tenant %s", slug)
	return tn
}

// CreateTenant is AddTenant for tests that assert on the error.
func (s *Server) CreateTenant(t testing.TB, slug, name string) (*models.Tenant, error) {
	t.Helper()
	return s.Fixtures.CreateTenant(t.Context(), slug, name)
}

// AddUser creates a user of the tenant in.TenantSlug.
func (s *Server) AddUser(t testing.TB, in NewUser) *models.User {
	t.Helper()
	u, err := s.CreateUser(t, in)
	require.NoError(t, err, "create user %s", in.Email)
	return u
}

// CreateUser is AddUser for tests that assert on the error.
func (s *Server) CreateUser(t testing.TB, in NewUser) (*models.User, error) {
	t.Helper()
	return s.Fixtures.CreateUser(t.Context(), in)
}

// AddClient creates a client of the tenant in.TenantSlug.
func (s *Server) AddClient(t testing.TB, in NewClient) *CreatedClient {
	t.Helper()
	cc, err := s.CreateClient(t, in)
	require.NoError(t, err, "create client")
	return cc
}

// CreateClient is AddClient for tests that assert on the error.
func (s *Server) CreateClient(t testing.TB, in NewClient) (*CreatedClient, error) {
	t.Helper()
	return s.Fixtures.CreateClient(t.Context(), in)
}

// RotateClientSecret gives the client a new secret and returns it; the old
// one keeps working for the configured rotation window.
func (s *Server) RotateClientSecret(t testing.TB, tenantID, clientID string) (string, error) {
	t.Helper()
	return s.Fixtures.RotateClientSecret(t.Context(), tenantID, clientID)
}

// SetSecretRotationWindow changes how long a rotated client secret still
// works, on a running server.
func (s *Server) SetSecretRotationWindow(window time.Duration) {
	s.Fixtures.RotationWindow = window
}

// Env is a running server with one tenant and one user (password Password)
// in it: the starting point of most end-to-end tests.
type Env struct {
	*Server
	Tenant *models.Tenant
	User   *models.User
}

// NewEnv starts a server on b and seeds a tenant and a user.
func NewEnv(t testing.TB, b Backend, mutate func(*app.Config)) *Env {
	t.Helper()
	return Seed(t, New(t, b, mutate))
}

// Seed creates a fresh tenant ("acme-…") and a user (Ada Lovelace) on s.
func Seed(t testing.TB, s *Server) *Env {
	t.Helper()
	slug := "acme-" + RandomID(t, 6)
	tenant := s.AddTenant(t, slug, "Acme "+slug)
	user := s.AddUser(t, NewUser{TenantSlug: slug, Email: "ada." + slug + "@example.com", Password: Password, Name: "Ada Lovelace"})
	return &Env{Server: s, Tenant: tenant, User: user}
}

// On is the same tenant and user seen through another instance.
func (e *Env) On(s *Server) *Env {
	return &Env{Server: s, Tenant: e.Tenant, User: e.User}
}

// Client creates a client in the env's tenant (named "e2e client" unless
// in names it).
func (e *Env) Client(t testing.TB, in NewClient) *CreatedClient {
	t.Helper()
	in.TenantSlug = e.Tenant.Slug
	if in.Name == "" {
		in.Name = "e2e client"
	}
	return e.AddClient(t, in)
}

// ServiceClient creates a confidential client_credentials client with the
// scopes orders.read and orders.write; mod may change it first.
func (e *Env) ServiceClient(t testing.TB, mod func(*NewClient)) *CreatedClient {
	t.Helper()
	in := NewClient{GrantTypes: []string{"client_credentials"}, Scopes: []string{"orders.read", "orders.write"}}
	if mod != nil {
		mod(&in)
	}
	return e.Client(t, in)
}

// WebClient creates a confidential authorization-code client with the OIDC
// scopes, refresh tokens and RedirectURI; mod may change it first.
func (e *Env) WebClient(t testing.TB, mod func(*NewClient)) *CreatedClient {
	t.Helper()
	in := NewClient{
		GrantTypes:   []string{"authorization_code", "refresh_token"},
		Scopes:       []string{"openid", "offline_access", "email", "profile", "phone"},
		RedirectURIs: []string{RedirectURI},
	}
	if mod != nil {
		mod(&in)
	}
	return e.Client(t, in)
}
