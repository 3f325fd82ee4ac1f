package storagetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
)

// APIKeyStore is the API keys repository: a service account's keys, stored
// as keyed hashes, looked up in one indexed read.
type APIKeyStore interface {
	TenantCreator
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	CreateServiceAccount(ctx context.Context, sa *models.ServiceAccount) error
	UpdateServiceAccount(ctx context.Context, tenantID, id string, fn func(sa *models.ServiceAccount) error) (*models.ServiceAccount, error)
	SuspendTenant(ctx context.Context, id string) (*models.Tenant, error)
	// CreateAPIKey inserts k, giving it an id; a taken hash is a Conflict.
	CreateAPIKey(ctx context.Context, k *models.APIKey) error
	// ListAPIKeys returns the account's unrevoked keys, newest first; a
	// malformed account id is NotFound.
	ListAPIKeys(ctx context.Context, tenantID, serviceAccountID string) ([]models.APIKey, error)
	// GetAPIKeyForUpdate returns the account's key, locked for the caller's
	// transaction; another account's or tenant's is NotFound.
	GetAPIKeyForUpdate(ctx context.Context, tenantID, serviceAccountID, id string) (*models.APIKey, error)
	// RevokeAPIKey stamps revoked_at once (again keeps the first stamp);
	// NotFound as GetAPIKeyForUpdate.
	RevokeAPIKey(ctx context.Context, tenantID, serviceAccountID, id string) error
	// LookupAPIKey finds the live key with that hash: unknown, revoked,
	// expired, of an inactive account or a suspended tenant is NotFound.
	LookupAPIKey(ctx context.Context, keyHash string, now time.Time) (keyID, tenantID, serviceAccountID string, lastUsedAt *time.Time, err error)
	// TouchAPIKey records a use at now unless one was recorded within every.
	TouchAPIKey(ctx context.Context, id string, now time.Time, every time.Duration) error
}

var _ = claim[APIKeyStore]("RunAPIKeysSuite", "CreateAPIKey", "ListAPIKeys", "GetAPIKeyForUpdate", "RevokeAPIKey",
	"LookupAPIKey", "TouchAPIKey")

// RunAPIKeysSuite checks API keys: creation and listing, the lookup and
// every reason it refuses a key, revocation once, and throttled touches.
func RunAPIKeysSuite[S APIKeyStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) APIKeyStore { return newStore(t) }, []subTest[APIKeyStore]{
		{"CreateList", testAPIKeyCreateList},
		{"Lookup", testAPIKeyLookup},
		{"Revoke", testAPIKeyRevoke},
		{"Touch", testAPIKeyTouch},
	})
}

func newAPIKey(t *testing.T, s APIKeyStore, sa *models.ServiceAccount, expires *time.Time) *models.APIKey {
	t.Helper()
	k := &models.APIKey{TenantID: sa.TenantID, ServiceAccountID: sa.ID, Name: "key", Prefix: "idk_" + randomHex(t, 2),
		KeyHash: strings.Repeat(randomHex(t, 8), 4), ExpiresAt: expires}
	must(t, s.CreateAPIKey(t.Context(), k), "create api key")
	if k.ID == "" {
		t.Fatal("CreateAPIKey gave no id")
	}
	return k
}

func testAPIKeyCreateList(t *testing.T, s APIKeyStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	sa, otherSA := newServiceAccount(t, s, tn.ID, "bot"), newServiceAccount(t, s, tn.ID, "other")
	k1 := newAPIKey(t, s, sa, nil)
	k2 := newAPIKey(t, s, sa, nil)
	revoked := newAPIKey(t, s, sa, nil)
	newAPIKey(t, s, otherSA, nil)
	must(t, s.RevokeAPIKey(ctx, tn.ID, sa.ID, revoked.ID), "revoke")
	wantKind(t, s.CreateAPIKey(ctx, &models.APIKey{TenantID: tn.ID, ServiceAccountID: sa.ID, KeyHash: k1.KeyHash}),
		models.KindConflict, "duplicate key hash")

	keys, err := s.ListAPIKeys(ctx, tn.ID, sa.ID)
	must(t, err, "list")
	if len(keys) != 2 || keys[0].ID != k2.ID || keys[1].ID != k1.ID {
		t.Fatalf("keys = %+v, want k2 then k1 (live keys of this account, newest first)", keys)
	}
	keys, err = s.ListAPIKeys(ctx, newTenant(t, s).ID, sa.ID)
	must(t, err, "list in another tenant")
	wantEqual(t, len(keys), 0, "keys listed in another tenant")
	_, err = s.ListAPIKeys(ctx, tn.ID, "x")
	wantNotFound(t, err, "list of a malformed account id")
}

func testAPIKeyLookup(t *testing.T, s APIKeyStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	sa := newServiceAccount(t, s, tn.ID, "bot")
	now := time.Now().UTC()
	live := newAPIKey(t, s, sa, ptr(now.Add(time.Hour)))
	expired := newAPIKey(t, s, sa, ptr(now.Add(-time.Minute)))
	revoked := newAPIKey(t, s, sa, nil)
	must(t, s.RevokeAPIKey(ctx, tn.ID, sa.ID, revoked.ID), "revoke")

	id, tenantID, saID, lastUsed, err := s.LookupAPIKey(ctx, live.KeyHash, now)
	must(t, err, "lookup")
	wantEqual(t, id, live.ID, "key id")
	wantEqual(t, tenantID, tn.ID, "tenant")
	wantEqual(t, saID, sa.ID, "service account")
	if lastUsed != nil {
		t.Fatalf("last used = %v for a key never used", lastUsed)
	}
	for _, tt := range []struct{ name, hash string }{
		{"unknown", strings.Repeat("0", 64)},
		{"expired", expired.KeyHash},
		{"revoked", revoked.KeyHash},
	} {
		_, _, _, _, err := s.LookupAPIKey(ctx, tt.hash, now)
		wantNotFound(t, err, "lookup of a key "+tt.name)
	}
	// Expiry is judged at the time the caller passes.
	_, _, _, _, err = s.LookupAPIKey(ctx, live.KeyHash, now.Add(2*time.Hour))
	wantNotFound(t, err, "lookup after the key's expiry")

	_, err = s.UpdateServiceAccount(ctx, tn.ID, sa.ID, func(a *models.ServiceAccount) error { a.IsActive = false; return nil })
	must(t, err, "deactivate")
	_, _, _, _, err = s.LookupAPIKey(ctx, live.KeyHash, now)
	wantNotFound(t, err, "a key of an inactive account")
	_, err = s.UpdateServiceAccount(ctx, tn.ID, sa.ID, func(a *models.ServiceAccount) error { a.IsActive = true; return nil })
	must(t, err, "activate")
	_, _, _, _, err = s.LookupAPIKey(ctx, live.KeyHash, now)
	must(t, err, "a key of a reactivated account")
	_, err = s.SuspendTenant(ctx, tn.ID)
	must(t, err, "suspend")
	_, _, _, _, err = s.LookupAPIKey(ctx, live.KeyHash, now)
	wantNotFound(t, err, "a key of a suspended tenant")
}

func testAPIKeyRevoke(t *testing.T, s APIKeyStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	sa, otherSA := newServiceAccount(t, s, tn.ID, "bot"), newServiceAccount(t, s, tn.ID, "other")
	k := newAPIKey(t, s, sa, nil)

	revokedAt := func() time.Time {
		t.Helper()
		var at time.Time
		must(t, s.InTx(ctx, func(ctx context.Context) error {
			got, err := s.GetAPIKeyForUpdate(ctx, tn.ID, sa.ID, k.ID)
			if err != nil {
				return err
			}
			if got.RevokedAt == nil {
				t.Fatal("revoked key has no revoked_at")
			}
			at = *got.RevokedAt
			return nil
		}), "get for update")
		return at
	}
	for _, tt := range []struct{ name, tenant, sa, id string }{
		{"another tenant", other.ID, sa.ID, k.ID},
		{"another account", tn.ID, otherSA.ID, k.ID},
		{"unknown key", tn.ID, sa.ID, unknownID},
		{"malformed key", tn.ID, sa.ID, "x"},
	} {
		wantNotFound(t, s.RevokeAPIKey(ctx, tt.tenant, tt.sa, tt.id), "revoke of "+tt.name)
		err := s.InTx(ctx, func(ctx context.Context) error {
			_, err := s.GetAPIKeyForUpdate(ctx, tt.tenant, tt.sa, tt.id)
			return err
		})
		wantNotFound(t, err, "get for update of "+tt.name)
	}
	must(t, s.RevokeAPIKey(ctx, tn.ID, sa.ID, k.ID), "revoke")
	first := revokedAt()
	must(t, s.RevokeAPIKey(ctx, tn.ID, sa.ID, k.ID), "revoke again")
	wantTime(t, revokedAt(), first, "revoked_at after revoking again")
}

func testAPIKeyTouch(t *testing.T, s APIKeyStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	sa := newServiceAccount(t, s, tn.ID, "bot")
	k := newAPIKey(t, s, sa, nil)
	lastUsed := func(now time.Time) *time.Time {
		t.Helper()
		_, _, _, at, err := s.LookupAPIKey(ctx, k.KeyHash, now)
		must(t, err, "lookup")
		return at
	}
	t0 := base
	must(t, s.TouchAPIKey(ctx, k.ID, t0, time.Minute), "first touch")
	if at := lastUsed(t0); at == nil || !at.Equal(t0) {
		t.Fatalf("last used = %v, want %v", at, t0)
	}
	must(t, s.TouchAPIKey(ctx, k.ID, t0.Add(30*time.Second), time.Minute), "touch within the minute")
	if at := lastUsed(t0); at == nil || !at.Equal(t0) {
		t.Fatalf("last used = %v after a touch within the minute, want %v kept", at, t0)
	}
	t1 := t0.Add(61 * time.Second)
	must(t, s.TouchAPIKey(ctx, k.ID, t1, time.Minute), "touch after the minute")
	if at := lastUsed(t1); at == nil || !at.Equal(t1) {
		t.Fatalf("last used = %v, want %v", at, t1)
	}
}
