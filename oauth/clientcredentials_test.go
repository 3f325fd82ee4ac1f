package oauth_test

import (
	"encoding/json"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/oauth"
)

// tenantClient is a client of a tenant, as storage.Client is.
type tenantClient struct {
	*fosite.DefaultClient
	tenant string
}

func (c *tenantClient) GetTenantID() string { return c.tenant }

// TestGrantClientCredentials: the token endpoint's client-credentials
// session is NewClientSession's, with the expiry fosite set, and the
// requested scopes and audience are granted.
func TestGrantClientCredentials(t *testing.T) {
	p := &oauth.Provider{Issuer: "https://id.example"}
	exp := time.Date(2026, 5, 6, 13, 0, 0, 0, time.UTC)
	ar := fosite.NewAccessRequest(oauth.NewSession())
	ar.GrantTypes = fosite.Arguments{"client_credentials"}
	ar.Client = &tenantClient{DefaultClient: &fosite.DefaultClient{ID: "svc", Audience: fosite.Arguments{"https://api.example"}}, tenant: "tenant-1"}
	ar.RequestedScope = fosite.Arguments{"read", "write"}
	ar.GetSession().SetExpiresAt(fosite.AccessToken, exp) // as fosite's handler does

	if err := p.GrantClientCredentials(ar); err != nil {
		t.Fatal(err)
	}
	want := oauth.NewClientSession("https://id.example", "tenant-1", "svc")
	want.SetExpiresAt(fosite.AccessToken, exp)
	got, _ := json.Marshal(ar.GetSession())
	wantJSON, _ := json.Marshal(want)
	if string(got) != string(wantJSON) {
		t.Errorf("session\n%s\nwant NewClientSession's\n%s", got, wantJSON)
	}
	if !ar.GetGrantedScopes().Has("read", "write") || !ar.GetGrantedAudience().Has("https://api.example") {
		t.Errorf("granted scopes %v audience %v", ar.GetGrantedScopes(), ar.GetGrantedAudience())
	}

	ar.Client = &fosite.DefaultClient{ID: "no-tenant"}
	if err := p.GrantClientCredentials(ar); err == nil {
		t.Error("a client without a tenant was granted")
	}
}
