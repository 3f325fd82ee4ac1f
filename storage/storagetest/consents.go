package storagetest

import (
	"context"
	"slices"
	"testing"

	"github.com/ory/fosite"

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
	// ListConsents returns the user's consents with their clients' names.
	ListConsents(ctx context.Context, tenantID, userID string) ([]models.ConsentListing, error)
	// RevokeConsent removes the consent and the client's grants for the
	// user, or NotFound "consent".
	RevokeConsent(ctx context.Context, tenantID, userID, clientID string) (*models.Consent, error)
	CreateAuthorizeCodeSession(ctx context.Context, code string, req fosite.Requester) error
	CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error
	CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, req fosite.Requester) error
}

var _ = claim[ConsentStore]("RunConsentsSuite", "GetConsent", "GrantConsent", "ListConsents", "RevokeConsent")

// RunConsentsSuite checks consents: nil before any, scopes merged into one
// row, tenant isolation.
func RunConsentsSuite[S ConsentStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) ConsentStore { return newStore(t) }, []subTest[ConsentStore]{
		{"Grant", testConsentGrant},
		{"ListAndRevoke", testConsentListRevoke},
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

// testConsentListRevoke: the list names the client; revoking removes the
// consent and that client's codes and tokens for the user, and nothing of
// another client or user; revoking again, or another tenant's, is NotFound.
func testConsentListRevoke(t *testing.T, s ConsentStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	cid := f.client.GetID()
	list, err := s.ListConsents(ctx, f.tenant.ID, f.user.ID)
	must(t, err, "list before any")
	wantEqual(t, len(list), 0, "consents before any")
	must(t, s.GrantConsent(ctx, f.tenant.ID, f.user.ID, cid, []string{"openid"}), "grant")
	other := newUser(t, s, f.tenant.ID)
	must(t, s.GrantConsent(ctx, f.tenant.ID, other.ID, cid, []string{"openid"}), "grant other user")
	list, err = s.ListConsents(ctx, f.tenant.ID, f.user.ID)
	must(t, err, "list")
	wantEqual(t, len(list), 1, "consents")
	wantEqual(t, list[0].ClientID, cid, "client id")
	wantEqual(t, list[0].ClientName, "Client "+cid, "client name")
	wantUTC(t, list[0].CreatedAt, "created_at")

	req := f.request("grant-" + randomHex(t, 4))
	must(t, s.CreateAuthorizeCodeSession(ctx, key(t, "code-"), req), "code")
	at := key(t, "at-")
	must(t, s.CreateAccessTokenSession(ctx, at, req), "access")
	must(t, s.CreateRefreshTokenSession(ctx, key(t, "rt-"), at, req), "refresh")
	otherTenant := newTenant(t, s)
	_, err = s.RevokeConsent(ctx, otherTenant.ID, f.user.ID, cid)
	wantNotFound(t, err, "revoke in another tenant")
	wantEqual(t, countRows(t, s, "oauth_access_tokens", "subject = ?", f.user.ID), 1, "tokens after a refused revoke")

	c, err := s.RevokeConsent(ctx, f.tenant.ID, f.user.ID, cid)
	must(t, err, "revoke")
	wantEqual(t, c.ClientID, cid, "revoked consent")
	for _, tbl := range []string{"oauth_codes", "oauth_access_tokens", "oauth_refresh_tokens"} {
		wantEqual(t, countRows(t, s, tbl, "subject = ?", f.user.ID), 0, tbl+" after revoke")
	}
	wantEqual(t, countRows(t, s, "consents", "user_id = ?", f.user.ID), 0, "consent rows after revoke")
	wantEqual(t, countRows(t, s, "consents", "user_id = ?", other.ID), 1, "other user's consent")
	_, err = s.RevokeConsent(ctx, f.tenant.ID, f.user.ID, cid)
	wantNotFound(t, err, "revoke twice")
}
