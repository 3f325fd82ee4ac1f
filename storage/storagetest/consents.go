package storagetest

import (
	"context"
	"slices"
	"testing"

	"github.com/identityd/identityd/models"
)

// ConsentStore is what users granted clients.
type ConsentStore interface {
	FixtureStore
	RawStore
	// GetConsent returns what the user granted the client, or nil (no
	// error) if nothing.
	GetConsent(ctx context.Context, tenantID, userID, clientID string) (*models.Consent, error)
	// GrantConsent adds scopes to what the user granted the client.
	GrantConsent(ctx context.Context, tenantID, userID, clientID string, scopes []string) error
}

var _ = claim[ConsentStore]("RunConsentsSuite", "GetConsent", "GrantConsent")

// RunConsentsSuite checks consents: nil before any, scopes merged into one
// row, tenant isolation.
func RunConsentsSuite[S ConsentStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) ConsentStore { return newStore(t) }, []subTest[ConsentStore]{
		{"Grant", testConsentGrant},
	})
}

func testConsentGrant(t *testing.T, s ConsentStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	c, err := s.GetConsent(ctx, f.tenant.ID, f.user.ID, f.client.GetID())
	must(t, err, "get absent consent")
	if c != nil {
		t.Fatalf("consent = %+v, want nil", c)
	}
	must(t, s.GrantConsent(ctx, f.tenant.ID, f.user.ID, f.client.GetID(), []string{"openid", "profile"}), "grant")
	must(t, s.GrantConsent(ctx, f.tenant.ID, f.user.ID, f.client.GetID(), []string{"profile", "email"}), "grant more")
	c, err = s.GetConsent(ctx, f.tenant.ID, f.user.ID, f.client.GetID())
	must(t, err, "get consent")
	if c == nil {
		t.Fatal("consent is nil after granting")
	}
	got := slices.Clone([]string(c.Scopes))
	slices.Sort(got)
	if !slices.Equal(got, []string{"email", "openid", "profile"}) {
		t.Fatalf("merged scopes = %v, want email openid profile", c.Scopes)
	}
	wantEqual(t, countRows(t, s, "consents", ""), 1, "consent rows")

	other := createTenant(t, s, "other-"+randomHex(t, 3))
	c, err = s.GetConsent(ctx, other.ID, f.user.ID, f.client.GetID())
	must(t, err, "get consent of another tenant")
	if c != nil {
		t.Fatal("consent leaked across tenants")
	}
}
