package identity_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/identity/identitytest"
	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// adminOn returns the test fixtures over a fresh store on b, with a tenant "acme".
func adminOn(t *testing.T, b storagetest.Backend) (*identitytest.Fixtures, *storage.Store) {
	t.Helper()
	st := storagetest.OpenStore(t, b, storage.Options{})
	ring, err := keyring.New([]byte("admin-test-secret-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	a := &identitytest.Fixtures{Store: st, Hasher: &oauth.Hasher{Cost: bcrypt.MinCost, Ring: ring}, PasswordCost: bcrypt.MinCost}
	if _, err := a.CreateTenant(context.Background(), "acme", "Acme"); err != nil {
		t.Fatalf("tenant: %v", err)
	}
	return a, st
}

func adminCount(t *testing.T, st *storage.Store, table string) int {
	t.Helper()
	db, err := st.SQLDB()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM " + table).Scan(&n); err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

// wantInvalid checks err is a validation error naming field.
func wantInvalid(t *testing.T, err error, field string) {
	t.Helper()
	var me *models.Error
	if !errors.As(err, &me) || me.Kind != models.KindInvalid {
		t.Fatalf("error %v (%T), want a validation error", err, err)
	}
	if _, ok := me.Fields[field]; !ok {
		t.Errorf("fields %v do not name %q", me.Fields, field)
	}
}

func TestAdminTenants(t *testing.T) {
	t.Parallel()
	cases := []struct {
		slug, name string
		badField   string // "" when valid
	}{
		{"a", "A", ""},
		{"acme-2", "Acme Two", ""},
		{"0day", "Zero", ""},
		{strings.Repeat("a", 63), "Long", ""},
		{"", "Empty", "slug"},
		{"Acme", "Upper", "slug"},
		{"-acme", "Leading hyphen", "slug"},
		{"acme-", "Trailing hyphen", "slug"},
		{"ac_me", "Underscore", "slug"},
		{"ac me", "Space", "slug"},
		{"ac.me", "Dot", "slug"},
		{"acmé", "Accent", "slug"},
		{"acme\n", "Newline", "slug"},
		{strings.Repeat("a", 64), "Too long", "slug"},
		{"fine", "", "name"},
		{"fine", "   ", "name"},
		{"fine", strings.Repeat("n", 201), "name"},
	}
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			a, st := adminOn(t, b)
			for _, tc := range cases {
				t.Run(tc.slug+"/"+tc.name, func(t *testing.T) {
					before := adminCount(t, st, "tenants")
					ten, err := a.CreateTenant(context.Background(), tc.slug, tc.name)
					if tc.badField == "" {
						if err != nil {
							t.Fatalf("CreateTenant(%q, %q): %v", tc.slug, tc.name, err)
						}
						if ten.ID == "" || ten.Slug != tc.slug || ten.Name != strings.TrimSpace(tc.name) {
							t.Errorf("created %+v", ten)
						}
						return
					}
					wantInvalid(t, err, tc.badField)
					if after := adminCount(t, st, "tenants"); after != before {
						t.Errorf("an invalid tenant was stored")
					}
				})
			}
			_, err := a.CreateTenant(context.Background(), "acme", "Again")
			if !models.IsKind(err, models.KindConflict) {
				t.Errorf("duplicate slug: %v, want a conflict", err)
			}
		})
	}
}

func TestAdminUsers(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, email, password string
		badField              string
		wantEmail             string
	}{
		{"plain", "alice@example.com", "password1", "", "alice@example.com"},
		{"normalised", "  Bob@Example.COM ", "password1", "", "bob@example.com"},
		{"plus and subdomain", "c+tag@mail.example.co.uk", "password1", "", "c+tag@mail.example.co.uk"},
		{"72-byte password", "d@example.com", strings.Repeat("p", 72), "", "d@example.com"},
		{"8-byte password", "e@example.com", "12345678", "", "e@example.com"},
		{"empty email", "", "password1", "email", ""},
		{"no at", "alice.example.com", "password1", "email", ""},
		{"no domain dot", "alice@example", "password1", "email", ""},
		{"two ats", "a@b@example.com", "password1", "email", ""},
		{"space inside", "al ice@example.com", "password1", "email", ""},
		{"too long", strings.Repeat("a", 250) + "@example.com", "password1", "email", ""},
		{"7-byte password", "f@example.com", "1234567", "password", ""},
		{"73-byte password", "g@example.com", strings.Repeat("p", 73), "password", ""},
		{"empty password", "h@example.com", "", "password", ""},
	}
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			a, st := adminOn(t, b)
			ctx := context.Background()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					before := adminCount(t, st, "users")
					u, err := a.CreateUser(ctx, identitytest.NewUser{TenantSlug: "acme", Email: tc.email, Password: tc.password})
					if tc.badField == "" {
						if err != nil {
							t.Fatalf("CreateUser: %v", err)
						}
						if u.Email != tc.wantEmail {
							t.Errorf("email %q, want %q", u.Email, tc.wantEmail)
						}
						if u.PasswordHash == tc.password || bcrypt.CompareHashAndPassword([]byte(u.PasswordHash), []byte(tc.password)) != nil {
							t.Error("the stored hash does not verify the password (or is the password)")
						}
						return
					}
					wantInvalid(t, err, tc.badField)
					if after := adminCount(t, st, "users"); after != before {
						t.Error("an invalid user was stored")
					}
				})
			}
			if _, err := a.CreateUser(ctx, identitytest.NewUser{TenantSlug: "nope", Email: "x@example.com", Password: "password1"}); !models.IsKind(err, models.KindNotFound) {
				t.Errorf("unknown tenant: %v, want not found", err)
			}
			if _, err := a.CreateUser(ctx, identitytest.NewUser{TenantSlug: "acme", Email: "ALICE@example.com", Password: "password1"}); !models.IsKind(err, models.KindConflict) {
				t.Errorf("duplicate e-mail (other case): %v, want a conflict", err)
			}
		})
	}
}

func TestAdminClients(t *testing.T) {
	t.Parallel()
	code := []string{"authorization_code"}
	cc := []string{"client_credentials"}
	cases := []struct {
		name     string
		in       identity.NewClient
		badField string
	}{
		// Redirect URIs: RFC 6749 §3.1.2 and RFC 8252 §7.1, §7.3, §8.3.
		{"https redirect", identity.NewClient{GrantTypes: code, RedirectURIs: []string{"https://app.example/cb"}}, ""},
		{"https redirect with port and query", identity.NewClient{GrantTypes: code, RedirectURIs: []string{"https://app.example:8443/cb?x=1"}}, ""},
		{"loopback ipv4", identity.NewClient{GrantTypes: code, RedirectURIs: []string{"http://127.0.0.1/cb"}}, ""},
		{"loopback ipv4 with port", identity.NewClient{GrantTypes: code, RedirectURIs: []string{"http://127.0.0.1:51004/cb"}}, ""},
		{"loopback ipv6", identity.NewClient{GrantTypes: code, RedirectURIs: []string{"http://[::1]:8080/cb"}}, ""},
		{"localhost", identity.NewClient{GrantTypes: code, RedirectURIs: []string{"http://localhost:3000/cb"}}, ""},
		{"private-use scheme", identity.NewClient{GrantTypes: code, RedirectURIs: []string{"com.example.app:/oauth2redirect"}, Public: true}, ""},
		{"http remote host", identity.NewClient{GrantTypes: code, RedirectURIs: []string{"http://app.example/cb"}}, "redirect_uris"},
		{"http localhost lookalike", identity.NewClient{GrantTypes: code, RedirectURIs: []string{"http://localhost.evil.example/cb"}}, "redirect_uris"},
		{"http loopback lookalike", identity.NewClient{GrantTypes: code, RedirectURIs: []string{"http://127.0.0.1.nip.io/cb"}}, "redirect_uris"},
		{"http userinfo trick", identity.NewClient{GrantTypes: code, RedirectURIs: []string{"http://127.0.0.1@evil.example/cb"}}, "redirect_uris"},
		{"fragment", identity.NewClient{GrantTypes: code, RedirectURIs: []string{"https://app.example/cb#x"}}, "redirect_uris"},
		{"empty fragment", identity.NewClient{GrantTypes: code, RedirectURIs: []string{"https://app.example/cb#"}}, "redirect_uris"},
		{"relative", identity.NewClient{GrantTypes: code, RedirectURIs: []string{"/cb"}}, "redirect_uris"},
		{"no scheme", identity.NewClient{GrantTypes: code, RedirectURIs: []string{"app.example/cb"}}, "redirect_uris"},
		{"scheme without dot", identity.NewClient{GrantTypes: code, RedirectURIs: []string{"myapp:/cb"}}, "redirect_uris"},
		{"javascript", identity.NewClient{GrantTypes: code, RedirectURIs: []string{"javascript:alert(1)"}}, "redirect_uris"},
		{"https without host", identity.NewClient{GrantTypes: code, RedirectURIs: []string{"https:///cb"}}, "redirect_uris"},
		{"one bad among good", identity.NewClient{GrantTypes: code, RedirectURIs: []string{"https://app.example/cb", "http://evil.example/cb"}}, "redirect_uris"},
		{"code without redirect", identity.NewClient{GrantTypes: code}, "redirect_uris"},
		// Grant types.
		{"client credentials", identity.NewClient{GrantTypes: cc, Scopes: []string{"read", "api:write"}}, ""},
		{"all grants", identity.NewClient{GrantTypes: []string{"authorization_code", "refresh_token", "client_credentials"}, RedirectURIs: []string{"https://a.example/cb"}}, ""},
		{"no grant", identity.NewClient{}, "grant_types"},
		{"password grant", identity.NewClient{GrantTypes: []string{"password"}}, "grant_types"},
		{"implicit grant", identity.NewClient{GrantTypes: []string{"implicit"}, RedirectURIs: []string{"https://a.example/cb"}}, "grant_types"},
		{"device grant", identity.NewClient{GrantTypes: []string{"urn:ietf:params:oauth:grant-type:device_code"}}, "grant_types"},
		{"scope with space", identity.NewClient{GrantTypes: cc, Scopes: []string{"read write"}}, "scopes"},
		{"scope with quote", identity.NewClient{GrantTypes: cc, Scopes: []string{`re"ad`}}, "scopes"},
		// Public clients.
		{"public code client", identity.NewClient{Public: true, GrantTypes: []string{"authorization_code", "refresh_token"}, RedirectURIs: []string{"http://127.0.0.1/cb"}}, ""},
		{"public client credentials", identity.NewClient{Public: true, GrantTypes: cc}, "grant_types"},
		{"public with secret", identity.NewClient{Public: true, Secret: "a-secret-0123456789", GrantTypes: code, RedirectURIs: []string{"http://127.0.0.1/cb"}}, "secret"},
		{"public with basic auth", identity.NewClient{Public: true, AuthMethod: "client_secret_basic", GrantTypes: code, RedirectURIs: []string{"http://127.0.0.1/cb"}}, "auth_method"},
		// Confidential clients.
		{"confidential with none", identity.NewClient{AuthMethod: "none", GrantTypes: cc}, "auth_method"},
		{"unknown auth method", identity.NewClient{AuthMethod: "private_key_jwt", GrantTypes: cc}, "auth_method"},
		{"client_secret_post", identity.NewClient{AuthMethod: "client_secret_post", GrantTypes: cc}, ""},
		{"15-byte secret", identity.NewClient{Secret: strings.Repeat("s", 15), GrantTypes: cc}, "secret"},
		{"16-byte secret", identity.NewClient{Secret: strings.Repeat("s", 16), GrantTypes: cc}, ""},
		{"73-byte secret", identity.NewClient{Secret: strings.Repeat("s", 73), GrantTypes: cc}, "secret"},
		{"short id", identity.NewClient{ID: "ab", GrantTypes: cc}, "id"},
		{"id with space", identity.NewClient{ID: "a b c", GrantTypes: cc}, "id"},
		{"id with slash", identity.NewClient{ID: "a/b/c", GrantTypes: cc}, "id"},
		{"jwt tokens", identity.NewClient{GrantTypes: cc, AccessTokenFormat: "jwt"}, ""},
		{"unknown token format", identity.NewClient{GrantTypes: cc, AccessTokenFormat: "saml"}, "access_token_format"},
	}
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			a, st := adminOn(t, b)
			ctx := context.Background()
			for _, tc := range cases {
				t.Run(tc.name, func(t *testing.T) {
					in := tc.in
					in.TenantSlug = "acme"
					before := adminCount(t, st, "oauth_clients")
					out, err := a.CreateClient(ctx, in)
					if tc.badField != "" {
						wantInvalid(t, err, tc.badField)
						if after := adminCount(t, st, "oauth_clients"); after != before {
							t.Error("an invalid client was stored")
						}
						return
					}
					if err != nil {
						t.Fatalf("CreateClient: %v", err)
					}
					c := out.Client
					if c.ID == "" || (in.ID != "" && c.ID != in.ID) {
						t.Errorf("client id %q", c.ID)
					}
					if in.Public {
						if out.Secret != "" || c.SecretHash != "" || c.TokenEndpointAuthMethod != "none" {
							t.Errorf("public client got secret %q hash %q method %q", out.Secret, c.SecretHash, c.TokenEndpointAuthMethod)
						}
						return
					}
					if in.Secret != "" && out.Secret != in.Secret {
						t.Errorf("secret %q, want the given one", out.Secret)
					}
					if in.Secret == "" && len(out.Secret) < 43 {
						t.Errorf("generated secret %q is shorter than 32 random bytes", out.Secret)
					}
					if !strings.HasPrefix(c.SecretHash, "bcrypt$") || strings.Contains(c.SecretHash, out.Secret) {
						t.Errorf("secret hash %q", c.SecretHash)
					}
					if c.TokenEndpointAuthMethod == "" || c.AccessTokenFormat == "" {
						t.Errorf("defaults not filled: %+v", c)
					}
				})
			}
			if _, err := a.CreateClient(ctx, identity.NewClient{TenantSlug: "nope", GrantTypes: cc}); !models.IsKind(err, models.KindNotFound) {
				t.Errorf("unknown tenant: %v, want not found", err)
			}
			if _, err := a.CreateClient(ctx, identity.NewClient{TenantSlug: "acme", ID: "dup-client", GrantTypes: cc}); err != nil {
				t.Fatal(err)
			}
			if _, err := a.CreateClient(ctx, identity.NewClient{TenantSlug: "acme", ID: "dup-client", GrantTypes: cc}); !models.IsKind(err, models.KindConflict) {
				t.Errorf("duplicate client id: %v, want a conflict", err)
			}
		})
	}
}
