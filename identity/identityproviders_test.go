package identity_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

func newIDPService(t *testing.T, st *storage.Store, timeout time.Duration) *identity.IdentityProviders {
	t.Helper()
	ring, err := keyring.New([]byte("idp-test-secret-0123456789abcdef-0123"))
	if err != nil {
		t.Fatal(err)
	}
	s, err := identity.NewIdentityProviders(identity.IdentityProvidersDeps{Store: st, Roles: st, Tx: st,
		Auditor: identity.Auditor{Store: st}, Sealer: ring, DiscoveryTimeout: timeout})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestNewIdentityProvidersNamesMissingDeps(t *testing.T) {
	t.Parallel()
	_, err := identity.NewIdentityProviders(identity.IdentityProvidersDeps{})
	if err == nil {
		t.Fatal("no deps accepted")
	}
	for _, name := range []string{"Store", "Roles", "Tx", "Auditor", "Sealer"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("%v does not name %s", err, name)
		}
	}
	if _, err := identity.NewLinkedIdentities(identity.LinkedIdentitiesDeps{}); err == nil {
		t.Error("LinkedIdentities without deps accepted")
	}
}

// TestIdentityProviderDiscoveryDeadline: an issuer that accepts the
// connection and never answers is refused with a 422 on issuer once the
// discovery timeout passes, not after the request's own deadline.
func TestIdentityProviderDiscoveryDeadline(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(func() { close(release); hang.Close() })
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			fx, st := adminOn(t, b)
			tenant, err := st.GetTenantBySlug(context.Background(), "acme")
			if err != nil {
				t.Fatal(err)
			}
			_ = fx
			s := newIDPService(t, st, 300*time.Millisecond)
			a := identity.Actor{Principal: identity.Principal{Kind: models.PrincipalUser, TenantID: tenant.ID, SystemAdmin: true}}
			start := time.Now()
			_, err = s.Create(context.Background(), a, identity.IdentityProviderInput{Kind: ptr("oidc"), Name: ptr("Hangs"),
				Issuer: ptr(hang.URL), ClientID: ptr("c"), ClientSecret: ptr("s")})
			wantInvalid(t, err, "issuer")
			if !strings.Contains(err.(*models.Error).Fields["issuer"], "no answer within") {
				t.Errorf("message %q does not say it timed out", err.(*models.Error).Fields["issuer"])
			}
			if d := time.Since(start); d > 20*time.Second {
				t.Errorf("took %s: the discovery timeout did not apply", d)
			}
			list, err := s.List(context.Background(), tenant.ID)
			if err != nil || len(list) != 0 {
				t.Errorf("list %v %v: nothing may be created", list, err)
			}
		})
	}
}

// TestForDomainRefusesMalformedAddresses: discovery never matches an
// address without a single domain.
func TestForDomainRefusesMalformedAddresses(t *testing.T) {
	t.Parallel()
	b := storagetest.Backends(t)[0]
	_, st := adminOn(t, b)
	tenant, err := st.GetTenantBySlug(context.Background(), "acme")
	if err != nil {
		t.Fatal(err)
	}
	s := newIDPService(t, st, time.Second)
	a := identity.Actor{Principal: identity.Principal{Kind: models.PrincipalUser, TenantID: tenant.ID, SystemAdmin: true}}
	if _, err := s.Create(context.Background(), a, identity.IdentityProviderInput{Kind: ptr("oauth2"), Name: ptr("Plain"),
		AuthorizationURL: ptr("https://p.example.com/a"), TokenURL: ptr("https://p.example.com/t"), UserinfoURL: ptr("https://p.example.com/u"),
		ClientID: ptr("c"), ClientSecret: ptr("s"), AllowedDomains: &[]string{"acme.com"}}); err != nil {
		t.Fatal(err)
	}
	for _, email := range []string{"", "acme.com", "a@b@acme.com", "@", "ada@", "ada@sub.acme.com"} {
		if p, err := s.ForDomain(context.Background(), tenant.ID, email); !models.IsKind(err, models.KindNotFound) {
			t.Errorf("%q: %v %v, want NotFound", email, p, err)
		}
	}
	if p, err := s.ForDomain(context.Background(), tenant.ID, " ada@ACME.com. "); err != nil || p.Name != "Plain" {
		t.Errorf("ada@ACME.com.: %v %v", p, err)
	}
}

func ptr[T any](v T) *T { return &v }
