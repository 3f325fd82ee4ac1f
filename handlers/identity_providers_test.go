package handlers_test

import (
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

// idpFixture is a server with a tenant, its Owner (stepped up) and a
// second identityd acting as the upstream OpenID Connect provider.
type idpFixture struct {
	srv      *apptest.Server
	upstream *apptest.Server
	tenant   *models.Tenant
	owner    *models.User
	tok      string
}

func newIDPFixture(t *testing.T, b apptest.Backend) *idpFixture {
	t.Helper()
	srv := apptest.New(t, b, nil)
	// The upstream: a real identityd, its issuer its own URL (SQLite is
	// enough: it only has to publish its discovery document here).
	upstream := apptest.New(t, apptest.SQLite(t), nil)
	tenant := newTestTenant(t, srv)
	owner := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner})
	tok := srv.Login(t, tenant.Slug, owner.Email, apptest.Password)
	return &idpFixture{srv: srv, upstream: upstream, tenant: tenant, owner: owner, tok: tok}
}

// oidcBody is a valid OIDC provider pointing at the upstream.
func (f *idpFixture) oidcBody(mod func(m map[string]any)) map[string]any {
	m := map[string]any{"kind": "oidc", "name": "Upstream Identity", "issuer": f.upstream.URL, "client_id": "our-client",
		"client_secret": "s3cr3t-" + strings.Repeat("x", 20)}
	if mod != nil {
		mod(m)
	}
	return m
}

func (f *idpFixture) create(t *testing.T, body map[string]any) map[string]any {
	t.Helper()
	res := f.srv.Call(t, http.MethodPost, "/api/identity-providers", f.tok, body)
	require.Equal(t, http.StatusCreated, res.Status, "%s", res.Body)
	return res.JSON(t)
}

// fieldsOf returns a 422's field errors.
func fieldsOf(t *testing.T, res *apptest.Result) map[string]any {
	t.Helper()
	require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s", res.Body)
	require.Equal(t, "validation_failed", res.JSON(t)["error"], "%s", res.Body)
	f, _ := res.JSON(t)["fields"].(map[string]any)
	return f
}

func TestIdentityProviderCRUD(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		f := newIDPFixture(t, b)
		secret := "first-secret-" + apptest.RandomID(t, 12)
		seq := outboxMax(t, f.srv)
		p := f.create(t, f.oidcBody(func(m map[string]any) {
			m["client_secret"] = secret
			m["allowed_domains"] = []string{"Acme.COM", "eu.acme.com"}
			m["claims"] = map[string]any{"groups": "roles"}
			m["jit_provisioning"] = true
			m["scopes"] = []string{"email", "profile"}
		}))
		id := p["id"].(string)
		require.Equal(t, "oidc", p["kind"])
		require.Equal(t, f.upstream.URL, p["issuer"])
		require.Equal(t, true, p["client_secret_set"])
		require.NotContains(t, p, "client_secret")
		require.Equal(t, "Sign in with Upstream Identity", p["button_label"])
		require.Equal(t, []any{"openid", "email", "profile"}, p["scopes"], "openid is always asked")
		require.Equal(t, []any{"acme.com", "eu.acme.com"}, p["allowed_domains"], "lower-cased")
		require.Equal(t, "client_secret_basic", p["client_auth_method"])
		require.Equal(t, true, p["enabled"])
		require.Equal(t, f.srv.URL+"/api/auth/federation/"+id+"/callback", p["redirect_uri"])
		require.Equal(t, "roles", p["claims"].(map[string]any)["groups"])

		got := f.srv.Call(t, http.MethodGet, "/api/identity-providers/"+id, f.tok, nil)
		require.Equal(t, http.StatusOK, got.Status, "%s", got.Body)
		require.Equal(t, p["redirect_uri"], got.JSON(t)["redirect_uri"])
		list := f.srv.Call(t, http.MethodGet, "/api/identity-providers", f.tok, nil)
		require.Equal(t, http.StatusOK, list.Status, "%s", list.Body)
		items := list.JSON(t)["identity_providers"].([]any)
		require.Len(t, items, 1)
		for _, r := range []*apptest.Result{got, list} {
			require.NotContains(t, string(r.Body), secret, "the secret is never returned")
			require.NotContains(t, string(r.Body), "client_secret\"", "not even its field")
		}

		// PATCH changes only what it names; a new secret is sealed too.
		secret2 := "second-secret-" + apptest.RandomID(t, 12)
		up := f.srv.Call(t, http.MethodPatch, "/api/identity-providers/"+id, f.tok, map[string]any{"name": "Acme SSO", "client_secret": secret2, "enabled": false})
		require.Equal(t, http.StatusOK, up.Status, "%s", up.Body)
		require.NotContains(t, string(up.Body), secret2, "the secret is never returned")
		u := up.JSON(t)
		require.Equal(t, "Acme SSO", u["name"])
		require.Equal(t, false, u["enabled"])
		require.Equal(t, f.upstream.URL, u["issuer"], "unchanged")
		require.Equal(t, []any{"acme.com", "eu.acme.com"}, u["allowed_domains"], "unchanged")

		// The service opens the sealed secret for the flow; the column is not the secret.
		prov, err := f.srv.IdentityProviders.Get(t.Context(), f.tenant.ID, id)
		require.NoError(t, err)
		plain, err := f.srv.IdentityProviders.ProviderSecret(t.Context(), prov)
		require.NoError(t, err)
		require.Equal(t, secret2, plain)
		require.NotContains(t, string(prov.ClientSecretSealed), secret2)
		enabled, err := f.srv.Federation.SignInProviders(t.Context(), f.tenant.Slug)
		require.NoError(t, err)
		require.Empty(t, enabled, "a disabled provider is not offered on the sign-in page")
		_, err = f.srv.IdentityProviders.ForDomain(t.Context(), f.tenant.ID, "ada@acme.com")
		require.True(t, models.IsKind(err, models.KindNotFound), "a disabled provider claims no domain: %v", err)
		up = f.srv.Call(t, http.MethodPatch, "/api/identity-providers/"+id, f.tok, map[string]any{"enabled": true})
		require.Equal(t, http.StatusOK, up.Status, "%s", up.Body)
		found, err := f.srv.IdentityProviders.ForDomain(t.Context(), f.tenant.ID, "Ada@ACME.com")
		require.NoError(t, err)
		require.Equal(t, id, found.ID)
		_, err = f.srv.IdentityProviders.ForDomain(t.Context(), f.tenant.ID, "ada@other.com")
		require.True(t, models.IsKind(err, models.KindNotFound))

		// A domain belongs to one provider of the tenant.
		dup := f.srv.Call(t, http.MethodPost, "/api/identity-providers", f.tok, f.oidcBody(func(m map[string]any) {
			m["name"] = "Second"
			m["allowed_domains"] = []string{"acme.com"}
		}))
		require.Contains(t, fieldsOf(t, dup), "allowed_domains")

		del := f.srv.Call(t, http.MethodDelete, "/api/identity-providers/"+id, f.tok, nil)
		require.Equal(t, http.StatusNoContent, del.Status, "%s", del.Body)
		gone := f.srv.Call(t, http.MethodGet, "/api/identity-providers/"+id, f.tok, nil)
		require.Equal(t, http.StatusNotFound, gone.Status, "%s", gone.Body)

		// Audit rows and events: the provider's id, name and kind, never a secret.
		var types []string
		for _, r := range outbox(t, f.srv, seq) {
			require.NotContains(t, r.Raw, secret, "event %s", r.Type)
			require.NotContains(t, r.Raw, secret2, "event %s", r.Type)
			if strings.HasPrefix(r.Type, "identity.identity_provider.") {
				types = append(types, r.Type)
				require.Equal(t, id, r.Subject)
				require.Equal(t, id, r.Data["provider_id"])
				require.Equal(t, "oidc", r.Data["kind"])
				require.NotEmpty(t, r.Data["name"])
			}
		}
		require.Equal(t, []string{identity.EventIdentityProviderCreated, identity.EventIdentityProviderUpdated,
			identity.EventIdentityProviderUpdated, identity.EventIdentityProviderDeleted}, types)
		audit := f.srv.Scalar(t, fmt.Sprintf("SELECT COUNT(*) FROM audit_logs WHERE tenant_id = %s AND action LIKE 'identity_provider.%%'", sqlQuote(f.tenant.ID)))
		require.Equal(t, "4", audit)
		leaked := f.srv.Scalar(t, fmt.Sprintf("SELECT COUNT(*) FROM audit_logs WHERE metadata LIKE %s OR metadata LIKE %s",
			sqlQuote("%"+secret+"%"), sqlQuote("%"+secret2+"%")))
		require.Equal(t, "0", leaked, "no secret in the audit log")
	})
}

func TestIdentityProviderTenantsAndPermissions(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		f := newIDPFixture(t, b)
		id := f.create(t, f.oidcBody(nil))["id"].(string)

		// Another tenant's Owner sees nothing of it.
		other := newTestTenant(t, f.srv)
		otherOwner := newRoleUser(t, f.srv, other, userOpts{role: identity.RoleOwner})
		otok := f.srv.Login(t, other.Slug, otherOwner.Email, apptest.Password)
		for _, m := range []string{http.MethodGet, http.MethodPatch, http.MethodDelete} {
			var body any
			if m == http.MethodPatch {
				body = map[string]any{"name": "Hijacked"}
			}
			res := f.srv.Call(t, m, "/api/identity-providers/"+id, otok, body)
			require.Equal(t, http.StatusNotFound, res.Status, "%s: %s", m, res.Body)
		}
		list := f.srv.Call(t, http.MethodGet, "/api/identity-providers", otok, nil)
		require.Equal(t, http.StatusOK, list.Status)
		require.Empty(t, list.JSON(t)["identity_providers"])
		still := f.srv.Call(t, http.MethodGet, "/api/identity-providers/"+id, f.tok, nil)
		require.Equal(t, "Upstream Identity", still.JSON(t)["name"])

		// A Member holds none of the permissions.
		member := newRoleUser(t, f.srv, f.tenant, userOpts{role: identity.RoleMember})
		mtok := f.srv.Login(t, f.tenant.Slug, member.Email, apptest.Password)
		for _, c := range []struct{ method, path string }{
			{http.MethodGet, "/api/identity-providers"}, {http.MethodPost, "/api/identity-providers"},
			{http.MethodGet, "/api/identity-providers/" + id}, {http.MethodPatch, "/api/identity-providers/" + id},
			{http.MethodDelete, "/api/identity-providers/" + id},
		} {
			res := f.srv.Call(t, c.method, c.path, mtok, f.oidcBody(nil))
			require.Equal(t, http.StatusForbidden, res.Status, "%s %s: %s", c.method, c.path, res.Body)
		}
	})
}

func TestIdentityProviderGroupRolesFollowTheGrantRule(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		f := newIDPFixture(t, b)
		// An Admin who may assign roles (a danger action: the Danger Zone
		// policy and a step-up).
		admin := newRoleUser(t, f.srv, f.tenant, userOpts{role: identity.RoleAdmin, dangerZone: true})
		atok := f.srv.Login(t, f.tenant.Slug, admin.Email, apptest.Password)
		f.srv.StepUp(t, atok, apptest.Password)

		// Assigning Owner to a user is refused to an Admin: the mapping is
		// refused exactly the same way.
		target := newRoleUser(t, f.srv, f.tenant, userOpts{role: identity.RoleMember})
		assign := f.srv.Call(t, http.MethodPost, "/api/users/"+target.ID+"/roles", atok, map[string]any{"role_id": identity.RoleOwner})
		require.Equal(t, http.StatusForbidden, assign.Status, "%s", assign.Body)
		mapping := f.srv.Call(t, http.MethodPost, "/api/identity-providers", atok, f.oidcBody(func(m map[string]any) {
			m["group_roles"] = map[string]any{"it-admins": []string{identity.RoleOwner}}
		}))
		require.Equal(t, assign.Status, mapping.Status, "%s", mapping.Body)
		require.Equal(t, assign.JSON(t)["error"], mapping.JSON(t)["error"])
		require.Equal(t, assign.JSON(t)["required_permission"], mapping.JSON(t)["required_permission"])
		list, err := f.srv.IdentityProviders.List(t.Context(), f.tenant.ID)
		require.NoError(t, err)
		require.Empty(t, list, "nothing was created")

		// A role the Admin may grant is accepted; an unknown role is a 422.
		ok := f.srv.Call(t, http.MethodPost, "/api/identity-providers", atok, f.oidcBody(func(m map[string]any) {
			m["group_roles"] = map[string]any{"staff": []string{identity.RoleMember, identity.RoleManager}}
		}))
		require.Equal(t, http.StatusCreated, ok.Status, "%s", ok.Body)
		id := ok.JSON(t)["id"].(string)
		require.Equal(t, []any{identity.RoleMember, identity.RoleManager}, ok.JSON(t)["group_roles"].(map[string]any)["staff"])
		unknown := f.srv.Call(t, http.MethodPatch, "/api/identity-providers/"+id, atok, map[string]any{"group_roles": map[string]any{"x": []string{"No Such Role"}}})
		require.Contains(t, fieldsOf(t, unknown), "group_roles")
		// A PATCH by the Admin adding Owner is refused the same way.
		up := f.srv.Call(t, http.MethodPatch, "/api/identity-providers/"+id, atok, map[string]any{"group_roles": map[string]any{"boss": []string{identity.RoleOwner}}})
		require.Equal(t, http.StatusForbidden, up.Status, "%s", up.Body)
		// The Owner may map to Owner.
		owner := f.srv.Call(t, http.MethodPatch, "/api/identity-providers/"+id, f.tok, map[string]any{"group_roles": map[string]any{"boss": []string{identity.RoleOwner}}})
		require.Equal(t, http.StatusOK, owner.Status, "%s", owner.Body)
	})
}

func TestIdentityProviderValidation(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		f := newIDPFixture(t, b)
		long := strings.Repeat("a", 3000)
		cases := []struct {
			name  string
			mod   func(m map[string]any)
			field string
		}{
			{"no kind", func(m map[string]any) { delete(m, "kind") }, "kind"},
			{"unknown kind", func(m map[string]any) { m["kind"] = "saml" }, "kind"},
			{"no name", func(m map[string]any) { m["name"] = "  " }, "name"},
			{"long name", func(m map[string]any) { m["name"] = long }, "name"},
			{"no issuer", func(m map[string]any) { delete(m, "issuer") }, "issuer"},
			{"http issuer", func(m map[string]any) { m["issuer"] = "http://idp.example.com" }, "issuer"},
			{"relative issuer", func(m map[string]any) { m["issuer"] = "/issuer" }, "issuer"},
			{"issuer with user", func(m map[string]any) { m["issuer"] = "https://u:p@idp.example.com" }, "issuer"},
			{"issuer with query", func(m map[string]any) { m["issuer"] = "https://idp.example.com/?a=b" }, "issuer"},
			{"no client id", func(m map[string]any) { delete(m, "client_id") }, "client_id"},
			{"no secret", func(m map[string]any) { delete(m, "client_secret") }, "client_secret"},
			{"secret post without secret", func(m map[string]any) { delete(m, "client_secret"); m["client_auth_method"] = "client_secret_post" }, "client_secret"},
			{"unknown auth method", func(m map[string]any) { m["client_auth_method"] = "tls_client_auth" }, "client_auth_method"},
			{"bad scope", func(m map[string]any) { m["scopes"] = []string{"open id"} }, "scopes"},
			{"bad claim", func(m map[string]any) { m["claims"] = map[string]any{"email": "e mail"} }, "claims.email"},
			{"bad domain", func(m map[string]any) { m["allowed_domains"] = []string{"not a domain"} }, "allowed_domains"},
			{"one-label domain", func(m map[string]any) { m["allowed_domains"] = []string{"localhost"} }, "allowed_domains"},
			{"empty group", func(m map[string]any) { m["group_roles"] = map[string]any{"": []string{"Member"}} }, "group_roles"},
			{"group without role", func(m map[string]any) { m["group_roles"] = map[string]any{"staff": []string{}} }, "group_roles"},
			{"oauth2 without urls", func(m map[string]any) { m["kind"] = "oauth2"; delete(m, "issuer") }, "authorization_url"},
			{"oauth2 http token url", func(m map[string]any) {
				m["kind"] = "oauth2"
				m["authorization_url"], m["token_url"], m["userinfo_url"] = "https://gh.example.com/authorize", "http://gh.example.com/token", "https://gh.example.com/user"
			}, "token_url"},
		}
		for _, c := range cases {
			res := f.srv.Call(t, http.MethodPost, "/api/identity-providers", f.tok, f.oidcBody(c.mod))
			fields := fieldsOf(t, res)
			require.Contains(t, fields, c.field, "%s: %s", c.name, res.Body)
			require.NotEmpty(t, fields[c.field], c.name)
		}
		// Wrong JSON types are invalid_body, never a 500.
		for _, body := range []string{`{"kind": 1}`, `{"scopes": "openid"}`, `{"group_roles": ["a"]}`, `not json`} {
			res := f.srv.Call(t, http.MethodPost, "/api/identity-providers", f.tok, body)
			res.NotServerError(t)
			require.Equal(t, "invalid_body", res.JSON(t)["error"], "%s: %s", body, res.Body)
		}
		// private_key_jwt needs no secret; a plain OAuth 2.0 provider needs
		// its three URLs and no discovery.
		pk := f.srv.Call(t, http.MethodPost, "/api/identity-providers", f.tok, f.oidcBody(func(m map[string]any) {
			delete(m, "client_secret")
			m["client_auth_method"] = "private_key_jwt"
		}))
		require.Equal(t, http.StatusCreated, pk.Status, "%s", pk.Body)
		require.Equal(t, false, pk.JSON(t)["client_secret_set"])
		gh := f.srv.Call(t, http.MethodPost, "/api/identity-providers", f.tok, map[string]any{"kind": "oauth2", "name": "GitHub-style",
			"authorization_url": "https://gh.example.com/login/oauth/authorize", "token_url": "https://gh.example.com/login/oauth/access_token",
			"userinfo_url": "https://api.gh.example.com/user", "client_id": "abc", "client_secret": "def", "client_auth_method": "client_secret_post",
			"scopes": []string{"read:user", "user:email"}, "claims": map[string]any{"subject": "id", "email": "email", "name": "name"}})
		require.Equal(t, http.StatusCreated, gh.Status, "%s", gh.Body)
		require.Equal(t, []any{"read:user", "user:email"}, gh.JSON(t)["scopes"], "no openid for plain OAuth 2.0")
		// PATCH validates the result: clearing the secret of a
		// client_secret_post provider is refused.
		clear := f.srv.Call(t, http.MethodPatch, "/api/identity-providers/"+gh.JSON(t)["id"].(string), f.tok, map[string]any{"client_secret": ""})
		require.Contains(t, fieldsOf(t, clear), "client_secret")
	})
}

func TestIdentityProviderDiscoveryFailure(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		f := newIDPFixture(t, b)
		// A port nobody listens on.
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		require.NoError(t, err)
		closed := "http://" + ln.Addr().String()
		require.NoError(t, ln.Close())
		start := time.Now()
		res := f.srv.Call(t, http.MethodPost, "/api/identity-providers", f.tok, f.oidcBody(func(m map[string]any) { m["issuer"] = closed }))
		msg := fieldsOf(t, res)["issuer"].(string)
		require.Contains(t, msg, "could not be fetched")
		require.Less(t, time.Since(start), identity.DefaultDiscoveryTimeout+5*time.Second, "answered within the discovery deadline")

		// A discovery document naming another issuer (a trailing slash is
		// another issuer).
		res = f.srv.Call(t, http.MethodPost, "/api/identity-providers", f.tok, f.oidcBody(func(m map[string]any) { m["issuer"] = f.upstream.URL + "/" }))
		require.Contains(t, fieldsOf(t, res)["issuer"], "names another issuer")

		// A server that is not an OIDC provider.
		res = f.srv.Call(t, http.MethodPost, "/api/identity-providers", f.tok, f.oidcBody(func(m map[string]any) { m["issuer"] = f.upstream.URL + "/nothing-here" }))
		require.Contains(t, fieldsOf(t, res), "issuer")

		// PATCH to an unreachable issuer is refused and changes nothing.
		id := f.create(t, f.oidcBody(nil))["id"].(string)
		res = f.srv.Call(t, http.MethodPatch, "/api/identity-providers/"+id, f.tok, map[string]any{"issuer": closed})
		require.Contains(t, fieldsOf(t, res), "issuer")
		got := f.srv.Call(t, http.MethodGet, "/api/identity-providers/"+id, f.tok, nil)
		require.Equal(t, f.upstream.URL, got.JSON(t)["issuer"])
	})
}

// linkIdentity links an upstream identity to u through the store.
func linkIdentity(t *testing.T, srv *apptest.Server, u *models.User, providerID, email string) *models.UserIdentity {
	t.Helper()
	i := &models.UserIdentity{TenantID: u.TenantID, UserID: u.ID, ProviderID: providerID, Subject: "sub-" + apptest.RandomID(t, 10), Email: email}
	require.NoError(t, srv.Store.CreateUserIdentity(t.Context(), i))
	return i
}

// passwordlessUser makes a user without a password (an account that signs in
// only through linked identities) and returns it with an API token from a
// sign-in proven outside the password.
func passwordlessUser(t *testing.T, srv *apptest.Server, tenant *models.Tenant) (*models.User, string) {
	t.Helper()
	u := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleMember})
	srv.Exec(t, fmt.Sprintf("UPDATE users SET password_hash = '' WHERE id = %s", sqlQuote(u.ID)))
	u, err := srv.Store.GetUser(t.Context(), tenant.ID, u.ID)
	require.NoError(t, err)
	require.Empty(t, u.PasswordHash)
	res, err := srv.App.Login.SignInExternal(t.Context(), identity.ExternalSignIn{User: u, AMR: []string{"fed"}})
	require.NoError(t, err)
	require.NotEmpty(t, res.AccessToken, "a completed sign-in")
	return u, res.AccessToken
}

func TestIdentityProviderDeleteUnlinksIdentities(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		f := newIDPFixture(t, b)
		id := f.create(t, f.oidcBody(nil))["id"].(string)
		keep := f.create(t, f.oidcBody(func(m map[string]any) { m["name"] = "Other" }))["id"].(string)
		u := newRoleUser(t, f.srv, f.tenant, userOpts{role: identity.RoleMember})
		linkIdentity(t, f.srv, u, id, "a@acme.com")
		kept := linkIdentity(t, f.srv, u, keep, "a@other.com")
		res := f.srv.Call(t, http.MethodDelete, "/api/identity-providers/"+id, f.tok, nil)
		require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)
		left, err := f.srv.Store.ListUserIdentities(t.Context(), f.tenant.ID, u.ID)
		require.NoError(t, err)
		require.Len(t, left, 1)
		require.Equal(t, kept.ID, left[0].ID)
		n := f.srv.Scalar(t, fmt.Sprintf("SELECT metadata FROM audit_logs WHERE tenant_id = %s AND action = %s", sqlQuote(f.tenant.ID), sqlQuote(identity.AuditIdentityProviderDeleted)))
		require.Contains(t, n, `"identities_unlinked":1`)
	})
}

func TestMyIdentities(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		f := newIDPFixture(t, b)
		pid := f.create(t, f.oidcBody(func(m map[string]any) { m["name"] = "Acme Entra" }))["id"].(string)

		// A user with a password and one identity.
		u := newRoleUser(t, f.srv, f.tenant, userOpts{role: identity.RoleMember})
		ident := linkIdentity(t, f.srv, u, pid, "ada@acme.com")
		tok := f.srv.Login(t, f.tenant.Slug, u.Email, apptest.Password)
		res := f.srv.Call(t, http.MethodGet, "/api/auth/me/identities", tok, nil)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		list := res.JSON(t)["identities"].([]any)
		require.Len(t, list, 1)
		one := list[0].(map[string]any)
		require.Equal(t, ident.ID, one["id"])
		require.Equal(t, pid, one["provider_id"])
		require.Equal(t, "Acme Entra", one["provider_name"])
		require.Equal(t, "ada@acme.com", one["email"])
		require.NotContains(t, string(res.Body), ident.Subject, "the upstream subject is not shown")
		require.Contains(t, one, "last_login_at")

		// Another user's identity is not theirs to unlink.
		other := newRoleUser(t, f.srv, f.tenant, userOpts{role: identity.RoleMember})
		otherIdent := linkIdentity(t, f.srv, other, pid, "bob@acme.com")
		res = f.srv.Call(t, http.MethodDelete, "/api/auth/me/identities/"+otherIdent.ID, tok, map[string]any{"password": apptest.Password})
		require.Equal(t, http.StatusNotFound, res.Status, "%s", res.Body)

		// Unlinking needs the password (or a password step-up).
		res = f.srv.Call(t, http.MethodDelete, "/api/auth/me/identities/"+ident.ID, tok, nil)
		require.Equal(t, http.StatusForbidden, res.Status, "%s", res.Body)
		require.Equal(t, "password_required", res.JSON(t)["error"])
		res = f.srv.Call(t, http.MethodDelete, "/api/auth/me/identities/"+ident.ID, tok, map[string]any{"password": "wrong password"})
		require.NotEqual(t, http.StatusNoContent, res.Status, "%s", res.Body)
		res.NotServerError(t)
		seq := outboxMax(t, f.srv)
		res = f.srv.Call(t, http.MethodDelete, "/api/auth/me/identities/"+ident.ID, tok, map[string]any{"password": apptest.Password})
		require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)
		var unlinked []outboxRow
		for _, r := range outbox(t, f.srv, seq) {
			if r.Type == identity.EventIdentityUnlinked {
				unlinked = append(unlinked, r)
			}
		}
		require.Len(t, unlinked, 1)
		require.Equal(t, u.ID, unlinked[0].Data["user_id"])
		require.Equal(t, ident.ID, unlinked[0].Data["identity_id"])
		require.Equal(t, pid, unlinked[0].Data["provider_id"])
		require.NotContains(t, unlinked[0].Raw, ident.Subject)
		res = f.srv.Call(t, http.MethodGet, "/api/auth/me/identities", tok, nil)
		require.Empty(t, res.JSON(t)["identities"])

		// A step-up done with the password stands in for it (the rule of
		// every sign-in factor change).
		second := linkIdentity(t, f.srv, u, pid, "ada2@acme.com")
		f.srv.StepUp(t, tok, apptest.Password)
		res = f.srv.Call(t, http.MethodDelete, "/api/auth/me/identities/"+second.ID, tok, nil)
		require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)

		// A user without a password: the last identity stays.
		pl, ptok := passwordlessUser(t, f.srv, f.tenant)
		last := linkIdentity(t, f.srv, pl, pid, "pat@acme.com")
		res = f.srv.Call(t, http.MethodDelete, "/api/auth/me/identities/"+last.ID, ptok, nil)
		require.Equal(t, http.StatusConflict, res.Status, "%s", res.Body)
		require.Equal(t, "last_sign_in_method", res.JSON(t)["error"])
		left, err := f.srv.Store.ListUserIdentities(t.Context(), f.tenant.ID, pl.ID)
		require.NoError(t, err)
		require.Len(t, left, 1)
	})
}

func TestUnlinkConcurrentKeepsOne(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		f := newIDPFixture(t, b)
		p1 := f.create(t, f.oidcBody(nil))["id"].(string)
		p2 := f.create(t, f.oidcBody(func(m map[string]any) { m["name"] = "Second" }))["id"].(string)
		for round := 0; round < 3; round++ {
			u, tok := passwordlessUser(t, f.srv, f.tenant)
			ids := []*models.UserIdentity{linkIdentity(t, f.srv, u, p1, "x@acme.com"), linkIdentity(t, f.srv, u, p2, "x@other.com")}
			var wg sync.WaitGroup
			statuses := make([]int, 2)
			bodies := make([]string, 2)
			start := make(chan struct{})
			for i := range ids {
				wg.Add(1)
				go func(i int) {
					defer wg.Done()
					<-start
					res, err := apptest.Send(f.srv.URL, apptest.Request{Method: http.MethodDelete, Path: "/api/auth/me/identities/" + ids[i].ID, Token: tok})
					if err != nil {
						bodies[i] = err.Error()
						return
					}
					statuses[i], bodies[i] = res.Status, string(res.Body)
				}(i)
			}
			close(start)
			wg.Wait()
			ok, conflict := 0, 0
			for i, s := range statuses {
				switch s {
				case http.StatusNoContent:
					ok++
				case http.StatusConflict:
					conflict++
					require.Contains(t, bodies[i], "last_sign_in_method")
				default:
					t.Fatalf("round %d: unexpected answer %d %s", round, s, bodies[i])
				}
			}
			require.Equal(t, 1, ok, "round %d: %v %v", round, statuses, bodies)
			require.Equal(t, 1, conflict, "round %d", round)
			left, err := f.srv.Store.ListUserIdentities(t.Context(), f.tenant.ID, u.ID)
			require.NoError(t, err)
			require.Len(t, left, 1, "round %d: one way in is left", round)
		}
	})
}

func TestAccountPageLinkedSignIn(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		f := newIDPFixture(t, b)
		pid := f.create(t, f.oidcBody(func(m map[string]any) { m["name"] = "Acme Okta" }))["id"].(string)
		u := newRoleUser(t, f.srv, f.tenant, userOpts{role: identity.RoleMember})
		ident := linkIdentity(t, f.srv, u, pid, "ada@acme.com")
		br := f.srv.NewBrowser(t)
		p := pageLogin(t, br, f.tenant.Slug, u.Email, apptest.Password)
		p.requireOn(t, "/account/security")
		require.Contains(t, p.text(), "Linked sign-in")
		require.Contains(t, p.text(), "Acme Okta")
		action := "/account/security/identities/" + ident.ID + "/unlink"

		// CSRF: without the token nothing happens.
		res := br.Post(f.srv.URL+action, url.Values{"password": {apptest.Password}})
		require.Equal(t, http.StatusForbidden, res.Status, "no csrf: %s", res.Body)
		// Without the password: refused on the page, nothing unlinked.
		p2 := p.submit(t, br, action, nil)
		require.Equal(t, http.StatusForbidden, p2.Status, "%s", p2.Body)
		require.Contains(t, p2.text(), "password")
		left, err := f.srv.Store.ListUserIdentities(t.Context(), f.tenant.ID, u.ID)
		require.NoError(t, err)
		require.Len(t, left, 1)
		p3 := p.submit(t, br, action, map[string]string{"password": apptest.Password})
		p3.requireAccount(t)
		require.Contains(t, p3.text(), "unlinked")
		require.NotContains(t, p3.text(), "Linked sign-in", "no section without identities")
		left, err = f.srv.Store.ListUserIdentities(t.Context(), f.tenant.ID, u.ID)
		require.NoError(t, err)
		require.Empty(t, left)
	})
}

// TestAccountPageLastWayIn: a password-less account's only identity is
// shown with the reason it cannot be unlinked, and no button.
func TestAccountPageLastWayIn(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		f := newIDPFixture(t, b)
		pid := f.create(t, f.oidcBody(func(m map[string]any) { m["name"] = "Acme Okta" }))["id"].(string)
		u, _ := passwordlessUser(t, f.srv, f.tenant)
		ident := linkIdentity(t, f.srv, u, pid, "pat@acme.com")
		res, err := f.srv.App.Login.SignInExternal(t.Context(), identity.ExternalSignIn{User: u, AMR: []string{"fed"}, Browser: true,
			Meta: identity.Meta{SameOrigin: true}})
		require.NoError(t, err)
		require.NotEmpty(t, res.BrowserToken)
		br := f.srv.NewBrowser(t)
		target, err := url.Parse(f.srv.URL)
		require.NoError(t, err)
		br.HTTPClient().Jar.SetCookies(target, []*http.Cookie{{Name: "identity_session", Value: res.BrowserToken, Path: "/"}})
		p := parsePage(t, br.Get(f.srv.URL+"/account/security"))
		p.requireOn(t, "/account/security")
		require.Contains(t, p.text(), "only way to sign in")
		require.NotContains(t, p.Forms, "/account/security/identities/"+ident.ID+"/unlink")
	})
}
