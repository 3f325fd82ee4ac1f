package main

import (
	"net/http/httptest"
	"net/url"
	"reflect"
	"testing"

	"github.com/identityd/identityd/internal/apptest"
	"golang.org/x/oauth2"
)

// TestCLIClientProtocolFlags: the README's quickstart command creates a
// client that accepts both client_secret_basic and client_secret_post, so
// the seeds' documented call (client_id and client_secret in the body,
// scope=service) works against it; --token-endpoint-auth-method restricts,
// --post-logout-redirect-uris and --introspect-all-tenants are stored.
func TestCLIClientProtocolFlags(t *testing.T) {
	t.Parallel()
	env := cliEnv(t)
	cliOK(t, env, "tenants", "create", "--slug", "acme", "--name", "Acme Inc")
	billing := cliOK(t, env, "clients", "create", "--tenant", "acme", "--id", "billing", "--secret", "billing-secret-123456",
		"--grant-types", "client_credentials", "--scopes", "service")
	if got := billing["token_endpoint_auth_methods"]; !reflect.DeepEqual(got, []any{"client_secret_basic", "client_secret_post"}) {
		t.Errorf("quickstart client accepts %v, want both methods", got)
	}
	if billing["introspect_all_tenants"] != false {
		t.Errorf("introspect_all_tenants defaults to %v", billing["introspect_all_tenants"])
	}
	post := cliOK(t, env, "clients", "create", "--tenant", "acme", "--id", "post-only", "--secret", "post-only-secret-123456",
		"--grant-types", "client_credentials", "--scopes", "service", "--token-endpoint-auth-method", "client_secret_post")
	if got := post["token_endpoint_auth_methods"]; !reflect.DeepEqual(got, []any{"client_secret_post"}) {
		t.Errorf("--token-endpoint-auth-method client_secret_post accepts %v", got)
	}
	web := cliOK(t, env, "clients", "create", "--tenant", "acme", "--grant-types", "authorization_code", "--scopes", "openid",
		"--redirect-uris", "https://app.example/cb", "--post-logout-redirect-uris", "https://app.example/bye,https://app.example/bye2",
		"--introspect-all-tenants")
	if got := web["post_logout_redirect_uris"]; !reflect.DeepEqual(got, []any{"https://app.example/bye", "https://app.example/bye2"}) {
		t.Errorf("post_logout_redirect_uris %v", got)
	}
	if web["introspect_all_tenants"] != true {
		t.Errorf("--introspect-all-tenants printed %v", web["introspect_all_tenants"])
	}
	if _, _, err := cliRun(t, env, "clients", "create", "--tenant", "acme", "--grant-types", "authorization_code",
		"--redirect-uris", "https://app.example/cb", "--post-logout-redirect-uris", "not a uri"); err == nil {
		t.Error("a bad post-logout redirect URI was accepted")
	}

	// The seeds' documented call against what the CLI created.
	app := cliApp(t, env)
	srv := httptest.NewServer(app.Echo)
	t.Cleanup(srv.Close)
	ts := &apptest.Server{App: app, URL: srv.URL}
	res := apptest.PostForm(t, srv.URL+"/api/oauth/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {"billing"}, "client_secret": {"billing-secret-123456"}, "scope": {"service"}}, "", "")
	if res.Status != 200 {
		t.Fatalf("documented form-post call: %d %s", res.Status, res.Body)
	}
	res = apptest.PostForm(t, srv.URL+"/api/oauth/token", url.Values{"grant_type": {"client_credentials"}, "scope": {"service"}}, "billing", "billing-secret-123456")
	if res.Status != 200 {
		t.Fatalf("HTTP Basic call: %d %s", res.Status, res.Body)
	}
	for _, style := range []oauth2.AuthStyle{oauth2.AuthStyleInParams, oauth2.AuthStyleInHeader} {
		if _, err := ts.ClientCredentialsConfig("billing", "billing-secret-123456", style, "service").Token(t.Context()); err != nil {
			t.Errorf("x/oauth2 auth style %d: %v", style, err)
		}
	}
	if _, err := ts.ClientCredentialsConfig("post-only", "post-only-secret-123456", oauth2.AuthStyleInHeader, "service").Token(t.Context()); err == nil {
		t.Error("a client restricted to client_secret_post accepted HTTP Basic")
	}
}
