package identity_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/identity/identitytest"
	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// machClock is a settable test clock.
type machClock struct{ t time.Time }

func (c *machClock) now() time.Time { return c.t }

// machOn returns Machines over a fresh store on b with a tenant, the
// principal of an administrator of it, and the clock.
func machOn(t *testing.T, b storagetest.Backend) (*machines, *storage.Store, identity.Principal, *machClock) {
	t.Helper()
	st := storagetest.OpenStore(t, b, storage.Options{})
	ring, err := keyring.New([]byte("machines-test-secret-0123456789abcdef"))
	if err != nil {
		t.Fatal(err)
	}
	clock := &machClock{t: time.Now().UTC().Truncate(time.Second)}
	admin := &identitytest.Fixtures{Store: st, Hasher: &oauth.Hasher{Cost: bcrypt.MinCost, Ring: ring}, PasswordCost: bcrypt.MinCost}
	tenant, err := admin.CreateTenant(context.Background(), "mach-"+strings.ToLower(storagetestID(t)), "Machines")
	if err != nil {
		t.Fatalf("tenant: %v", err)
	}
	audit := identity.Auditor{Store: st}
	m := &machines{fix: admin}
	if m.clients, err = identity.NewClients(identity.ClientsDeps{Store: st, Tx: st, Auditor: audit, Hasher: admin.Hasher, Now: clock.now}); err != nil {
		t.Fatal(err)
	}
	if m.sas, err = identity.NewServiceAccounts(identity.ServiceAccountsDeps{Store: st, Tx: st, Auditor: audit}); err != nil {
		t.Fatal(err)
	}
	if m.keys, err = identity.NewAPIKeys(identity.APIKeysDeps{Store: st, Tx: st, Auditor: audit, Keys: ring, Now: clock.now}); err != nil {
		t.Fatal(err)
	}
	if m.auth, err = identity.NewAuthenticator(identity.AuthenticatorDeps{Tokens: noTokens{}, Store: st, Keys: ring, Now: clock.now}); err != nil {
		t.Fatal(err)
	}
	p := identity.Principal{Kind: models.PrincipalUser, TenantID: tenant.ID, UserID: "00000000-0000-4000-8000-000000000001"}
	return m, st, p, clock
}

// machines are the services of a tenant's non-human callers, over one store.
type machines struct {
	fix     *identitytest.Fixtures
	clients *identity.Clients
	sas     *identity.ServiceAccounts
	keys    *identity.APIKeys
	auth    *identity.Authenticator
}

// noTokens knows no access token (these tests authenticate API keys).
type noTokens struct{}

func (noTokens) Introspect(context.Context, string) (identity.TokenInfo, error) {
	return identity.TokenInfo{}, models.ErrInvalidToken()
}

func storagetestID(t *testing.T) string {
	t.Helper()
	k, err := keyring.RandomToken(6)
	if err != nil {
		t.Fatal(err)
	}
	return strings.NewReplacer("_", "a", "-", "b").Replace(k)
}

func machExec(t *testing.T, st *storage.Store, q string) {
	t.Helper()
	db, err := st.SQLDB()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec(q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

func TestMachinesAPIKeyAuthentication(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			m, st, p, clock := machOn(t, b)
			sa, err := m.sas.Create(ctx, identity.Actor{Principal: p}, identity.ServiceAccountInput{Name: machPtr("robot")})
			if err != nil {
				t.Fatalf("create service account: %v", err)
			}
			days := 1
			k, err := m.keys.Create(ctx, identity.Actor{Principal: p}, sa.ID, "ci", &days)
			if err != nil {
				t.Fatalf("create key: %v", err)
			}
			if !strings.HasPrefix(k.Key, "idk_") || len(k.Key) != 47 {
				t.Fatalf("key %q is not idk_ + 43 base64url characters", k.Key)
			}
			if k.APIKey.KeyHash == k.Key || strings.Contains(k.APIKey.KeyHash, k.Key[4:]) || len(k.APIKey.KeyHash) != 64 {
				t.Fatalf("stored hash %q is not a keyed hash of the key", k.APIKey.KeyHash)
			}
			if !strings.HasPrefix(k.Key, k.APIKey.Prefix) || len(k.APIKey.Prefix) != 12 {
				t.Fatalf("prefix %q", k.APIKey.Prefix)
			}

			got, err := m.auth.AuthenticateAPIKey(ctx, k.Key)
			if err != nil {
				t.Fatalf("authenticate: %v", err)
			}
			want := identity.Principal{Kind: models.PrincipalServiceAccount, TenantID: p.TenantID, UserID: sa.ID}
			if got.Kind != want.Kind || got.TenantID != want.TenantID || got.UserID != want.UserID || got.SystemAdmin {
				t.Fatalf("principal %+v, want %+v", got, want)
			}

			// last_used_at: written on first use, then at most once a minute.
			lastUsed := func() time.Time {
				t.Helper()
				keys, err := m.keys.List(ctx, p, sa.ID)
				if err != nil || len(keys) != 1 || keys[0].LastUsedAt == nil {
					t.Fatalf("keys %+v, %v", keys, err)
				}
				return keys[0].LastUsedAt.UTC()
			}
			first := lastUsed()
			if !first.Equal(clock.t) {
				t.Fatalf("last_used_at %v, want %v", first, clock.t)
			}
			clock.t = clock.t.Add(30 * time.Second)
			if _, err := m.auth.AuthenticateAPIKey(ctx, k.Key); err != nil {
				t.Fatal(err)
			}
			if lu := lastUsed(); !lu.Equal(first) {
				t.Fatalf("last_used_at moved to %v within a minute", lu)
			}
			clock.t = clock.t.Add(31 * time.Second)
			if _, err := m.auth.AuthenticateAPIKey(ctx, k.Key); err != nil {
				t.Fatal(err)
			}
			if lu := lastUsed(); !lu.Equal(clock.t) {
				t.Fatalf("last_used_at %v after a minute, want %v", lu, clock.t)
			}

			bad := func(name, key string) {
				t.Helper()
				if _, err := m.auth.AuthenticateAPIKey(ctx, key); !models.IsKind(err, models.KindUnauthenticated) {
					t.Errorf("%s: %v, want Unauthenticated", name, err)
				}
			}
			bad("empty", "")
			bad("no prefix", k.Key[4:])
			bad("garbage", "idk_"+strings.Repeat("A", 43))
			bad("short", "idk_abc")
			bad("NUL", "idk_\x00"+strings.Repeat("A", 42))

			// Expired: the key lived one day.
			clock.t = clock.t.Add(25 * time.Hour)
			bad("expired", k.Key)
			clock.t = clock.t.Add(-25 * time.Hour)
			if _, err := m.auth.AuthenticateAPIKey(ctx, k.Key); err != nil {
				t.Fatalf("before expiry: %v", err)
			}

			// Inactive service account.
			if _, err := m.sas.Update(ctx, identity.Actor{Principal: p}, sa.ID, identity.ServiceAccountInput{IsActive: machPtr(false)}); err != nil {
				t.Fatal(err)
			}
			bad("inactive account", k.Key)
			if _, err := m.sas.Update(ctx, identity.Actor{Principal: p}, sa.ID, identity.ServiceAccountInput{IsActive: machPtr(true)}); err != nil {
				t.Fatal(err)
			}

			// Suspended tenant.
			machExec(t, st, "UPDATE tenants SET suspended_at = created_at WHERE id = '"+p.TenantID+"'")
			bad("suspended tenant", k.Key)
			machExec(t, st, "UPDATE tenants SET suspended_at = NULL WHERE id = '"+p.TenantID+"'")

			// Rotation revokes the old key; revocation the new one.
			rot, err := m.keys.Rotate(ctx, identity.Actor{Principal: p}, sa.ID, k.APIKey.ID)
			if err != nil {
				t.Fatalf("rotate: %v", err)
			}
			bad("rotated away", k.Key)
			if _, err := m.auth.AuthenticateAPIKey(ctx, rot.Key); err != nil {
				t.Fatalf("rotated key: %v", err)
			}
			if rot.APIKey.ExpiresAt == nil || rot.APIKey.Name != "ci" {
				t.Errorf("rotated key keeps name and lifetime: %+v", rot.APIKey)
			}
			if _, err := m.keys.Rotate(ctx, identity.Actor{Principal: p}, sa.ID, k.APIKey.ID); !models.IsKind(err, models.KindConflict) {
				t.Errorf("rotating a revoked key: %v, want Conflict", err)
			}
			if err := m.keys.Revoke(ctx, identity.Actor{Principal: p}, sa.ID, rot.APIKey.ID); err != nil {
				t.Fatal(err)
			}
			bad("revoked", rot.Key)
		})
	}
}

func TestMachinesTenantIsolation(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			m, _, p, _ := machOn(t, b)
			other, err := m.fix.CreateTenant(ctx, "other-"+strings.ToLower(storagetestID(t)), "Other")
			if err != nil {
				t.Fatal(err)
			}
			q := identity.Principal{Kind: models.PrincipalUser, TenantID: other.ID, UserID: p.UserID}
			sa, err := m.sas.Create(ctx, identity.Actor{Principal: p}, identity.ServiceAccountInput{Name: machPtr("robot")})
			if err != nil {
				t.Fatal(err)
			}
			k, err := m.keys.Create(ctx, identity.Actor{Principal: p}, sa.ID, "", nil)
			if err != nil {
				t.Fatal(err)
			}
			cc, err := m.clients.Create(ctx, identity.Actor{Principal: p}, identity.NewClient{GrantTypes: []string{"client_credentials"}, ServiceAccountID: sa.ID})
			if err != nil {
				t.Fatalf("create client: %v", err)
			}
			if cc.Client.ServiceAccountID == nil || *cc.Client.ServiceAccountID != sa.ID {
				t.Fatalf("client holder %v", cc.Client.ServiceAccountID)
			}
			notFound := func(name string, err error) {
				t.Helper()
				if !models.IsKind(err, models.KindNotFound) {
					t.Errorf("%s from another tenant: %v, want NotFound", name, err)
				}
			}
			_, _, err = m.sas.Get(ctx, q, sa.ID)
			notFound("get service account", err)
			_, err = m.sas.Update(ctx, identity.Actor{Principal: q}, sa.ID, identity.ServiceAccountInput{Name: machPtr("x")})
			notFound("update service account", err)
			notFound("delete service account", m.sas.Delete(ctx, identity.Actor{Principal: q}, sa.ID))
			_, err = m.keys.List(ctx, q, sa.ID)
			notFound("list keys", err)
			_, err = m.keys.Create(ctx, identity.Actor{Principal: q}, sa.ID, "", nil)
			notFound("create key", err)
			notFound("revoke key", m.keys.Revoke(ctx, identity.Actor{Principal: q}, sa.ID, k.APIKey.ID))
			_, err = m.keys.Rotate(ctx, identity.Actor{Principal: q}, sa.ID, k.APIKey.ID)
			notFound("rotate key", err)
			_, err = m.clients.Get(ctx, q, cc.Client.ID)
			notFound("get client", err)
			_, err = m.clients.Update(ctx, identity.Actor{Principal: q}, cc.Client.ID, identity.ClientPatch{Name: machPtr("x")})
			notFound("update client", err)
			notFound("delete client", m.clients.Delete(ctx, identity.Actor{Principal: q}, cc.Client.ID))
			_, _, err = m.clients.RotateSecret(ctx, identity.Actor{Principal: q}, cc.Client.ID)
			notFound("rotate client secret", err)
			if list, err := m.sas.List(ctx, q); err != nil || len(list) != 0 {
				t.Errorf("other tenant lists %v, %v", list, err)
			}
			if list, err := m.clients.List(ctx, q); err != nil || len(list) != 0 {
				t.Errorf("other tenant lists clients %v, %v", list, err)
			}
			// A service account of another tenant cannot hold a client.
			_, err = m.clients.Create(ctx, identity.Actor{Principal: q}, identity.NewClient{GrantTypes: []string{"client_credentials"}, ServiceAccountID: sa.ID})
			wantInvalid(t, err, "service_account_id")
			// The holder acts only in its own tenant.
			if _, ok, err := m.auth.ServiceAccountForClient(ctx, other.ID, cc.Client.ID); ok || err != nil {
				t.Errorf("client in another tenant: ok=%v err=%v", ok, err)
			}
			got, ok, err := m.auth.ServiceAccountForClient(ctx, p.TenantID, cc.Client.ID)
			if err != nil || !ok || got.UserID != sa.ID || got.Kind != models.PrincipalServiceAccount || got.TenantID != p.TenantID {
				t.Errorf("holder: %+v ok=%v err=%v", got, ok, err)
			}
			// Malformed ids are NotFound, never a database error.
			_, _, err = m.sas.Get(ctx, p, "not-a-uuid")
			notFound("malformed id", err)
			_, err = m.sas.AssignRole(ctx, identity.Actor{Principal: p}, sa.ID, "not-a-uuid")
			notFound("malformed role id", err)
		})
	}
}

func TestMachinesClientValidation(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			ctx := context.Background()
			m, _, p, _ := machOn(t, b)
			cc, err := m.clients.Create(ctx, identity.Actor{Principal: p}, identity.NewClient{Name: "web", GrantTypes: []string{"authorization_code"}, RedirectURIs: []string{"https://app.example/cb"}})
			if err != nil {
				t.Fatal(err)
			}
			tests := []struct {
				name  string
				patch identity.ClientPatch
				field string
			}{
				{"unknown grant", identity.ClientPatch{GrantTypes: &[]string{"password"}}, "grant_types"},
				{"no redirect", identity.ClientPatch{RedirectURIs: &[]string{}}, "redirect_uris"},
				{"http redirect", identity.ClientPatch{RedirectURIs: &[]string{"http://evil.example/cb"}}, "redirect_uris"},
				{"bad scope", identity.ClientPatch{Scopes: &[]string{"a b"}}, "scopes"},
				{"bad format", identity.ClientPatch{AccessTokenFormat: machPtr("paseto")}, "access_token_format"},
				{"empty format", identity.ClientPatch{AccessTokenFormat: machPtr("")}, "access_token_format"},
				{"NUL name", identity.ClientPatch{Name: machPtr("a\x00b")}, "name"},
				{"long name", identity.ClientPatch{Name: machPtr(strings.Repeat("n", 201))}, "name"},
				{"bad audience", identity.ClientPatch{Audience: &[]string{""}}, "audience"},
			}
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					_, err := m.clients.Update(ctx, identity.Actor{Principal: p}, cc.Client.ID, tt.patch)
					wantInvalid(t, err, tt.field)
				})
			}
			got, err := m.clients.Update(ctx, identity.Actor{Principal: p}, cc.Client.ID, identity.ClientPatch{Name: machPtr("renamed"), GrantTypes: &[]string{"client_credentials"},
				RedirectURIs: &[]string{}, AccessTokenFormat: machPtr("jwt")})
			if err != nil {
				t.Fatalf("valid patch: %v", err)
			}
			if got.Name != "renamed" || got.AccessTokenFormat != "jwt" || len(got.ResponseTypes) != 0 || got.TenantID != p.TenantID {
				t.Errorf("patched client %+v", got)
			}
			if got.SecretHash != cc.Client.SecretHash {
				t.Error("a patch changed the secret hash")
			}
			if _, err := m.clients.Get(ctx, p, "first-party-"+p.TenantID); !models.IsKind(err, models.KindNotFound) {
				t.Errorf("first-party client: %v, want NotFound", err)
			}
		})
	}
}

func machPtr[T any](v T) *T { return &v }

// TestMachinesCoverageRule: acting on a service account or its credentials
// needs the actor to cover what the account holds, danger actions with a
// step-up for users (not for service accounts, which never step up).
func TestMachinesCoverageRule(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			m, st, p, _ := machOn(t, b)
			ctx := context.Background()
			sa, err := m.sas.Create(ctx, identity.Actor{Principal: p}, identity.ServiceAccountInput{Name: machPtr("robot")})
			if err != nil {
				t.Fatal(err)
			}
			tid := p.TenantID
			deleter := &models.Role{TenantID: &tid, Name: "Deleter", Permissions: models.StringList{"identity.users.delete"}}
			if err := st.CreateRole(ctx, deleter); err != nil {
				t.Fatal(err)
			}
			elevated := false
			user := identity.Actor{Principal: p, Perms: identity.PermissionSet{"identity.*"},
				Elevated: func(context.Context) (bool, error) { return elevated, nil }}
			weak := identity.Actor{Principal: p, Perms: identity.PermissionSet{"identity.service_accounts.*"}}
			robot := identity.Actor{Principal: identity.Principal{Kind: models.PrincipalServiceAccount, TenantID: p.TenantID, UserID: "00000000-0000-4000-8000-000000000002"},
				Perms: identity.PermissionSet{"identity.*"}}
			code := func(err error) string {
				var me *models.Error
				if errors.As(err, &me) {
					return me.Code + " " + me.RequiredPermission
				}
				return fmt.Sprint(err)
			}
			// Giving the role: covered, but a danger action, so stepped up.
			_, err = m.sas.AssignRole(ctx, weak, sa.ID, deleter.ID)
			if got := code(err); got != "forbidden identity.users.delete" {
				t.Errorf("weak actor assigns: %s", got)
			}
			_, err = m.sas.AssignRole(ctx, user, sa.ID, deleter.ID)
			if got := code(err); got != "step_up_required identity.users.delete" {
				t.Errorf("unelevated user assigns: %s", got)
			}
			elevated = true
			if _, err := m.sas.AssignRole(ctx, user, sa.ID, deleter.ID); err != nil {
				t.Fatalf("elevated user assigns: %v", err)
			}
			// The account now holds a danger action: minting its key needs
			// the same.
			elevated = false
			_, err = m.keys.Create(ctx, weak, sa.ID, "k", nil)
			if got := code(err); got != "forbidden identity.users.delete" {
				t.Errorf("weak actor mints: %s", got)
			}
			_, err = m.keys.Create(ctx, user, sa.ID, "k", nil)
			if got := code(err); got != "step_up_required identity.users.delete" {
				t.Errorf("unelevated user mints: %s", got)
			}
			_, err = m.clients.Create(ctx, user, identity.NewClient{GrantTypes: []string{"client_credentials"}, ServiceAccountID: sa.ID})
			if got := code(err); got != "step_up_required identity.users.delete" {
				t.Errorf("unelevated user binds: %s", got)
			}
			if _, err := m.keys.Create(ctx, robot, sa.ID, "k", nil); err != nil {
				t.Errorf("covering service account mints: %v", err)
			}
			elevated = true
			if _, err := m.keys.Create(ctx, user, sa.ID, "k", nil); err != nil {
				t.Errorf("elevated user mints: %v", err)
			}
			keys, err := m.keys.List(ctx, p, sa.ID)
			if err != nil || len(keys) != 2 {
				t.Errorf("keys %d, %v", len(keys), err)
			}
		})
	}
}
