package storagetest

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
)

// WebAuthnStore is the passkeys' repository (issue 12 §2): credentials
// (globally unique credential ids, tenant and user scoping, a
// compare-and-set sign count, disable, rename, delete) and the pending
// ceremonies (single use, short-lived).
type WebAuthnStore interface {
	TenantCreator
	UserCreator
	CreateWebAuthnCredential(ctx context.Context, c *models.WebAuthnCredential) error
	ListWebAuthnCredentials(ctx context.Context, tenantID, userID string) ([]models.WebAuthnCredential, error)
	GetWebAuthnCredential(ctx context.Context, tenantID, userID, id string) (*models.WebAuthnCredential, error)
	GetWebAuthnCredentialByCredentialID(ctx context.Context, tenantID string, credentialID []byte) (*models.WebAuthnCredential, error)
	UpdateWebAuthnCredentialUse(ctx context.Context, tenantID, id string, prevCount, newCount uint32, backupState bool, at time.Time) (bool, error)
	RenameWebAuthnCredential(ctx context.Context, tenantID, userID, id, name string) error
	DisableWebAuthnCredential(ctx context.Context, tenantID, id string) (bool, error)
	DeleteWebAuthnCredential(ctx context.Context, tenantID, userID, id string) error
	CreateWebAuthnCeremony(ctx context.Context, c *models.WebAuthnCeremony) error
	ConsumeWebAuthnCeremony(ctx context.Context, challengeHash string) (*models.WebAuthnCeremony, error)
	CountSignInMethods(ctx context.Context, tenantID, userID string) (identities, passkeys int, err error)
	GetUser(ctx context.Context, tenantID, id string) (*models.User, error)
}

var _ = claim[WebAuthnStore]("RunWebAuthnSuite", "CreateWebAuthnCredential", "ListWebAuthnCredentials", "GetWebAuthnCredential",
	"GetWebAuthnCredentialByCredentialID", "UpdateWebAuthnCredentialUse", "RenameWebAuthnCredential", "DisableWebAuthnCredential",
	"DeleteWebAuthnCredential", "CreateWebAuthnCeremony", "ConsumeWebAuthnCeremony")

// RunWebAuthnSuite checks passkeys (round trip, a credential id unique
// across tenants, tenant and user scoping, the sign count's
// compare-and-set under 10 concurrent sign-ins, disable, rename, delete)
// and ceremonies (consumed once under 10 concurrent finishes, expiry, no
// user for a passwordless one).
func RunWebAuthnSuite[S WebAuthnStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) WebAuthnStore { return newStore(t) }, []subTest[WebAuthnStore]{
		{"Credentials", testWebAuthnCredentials},
		{"SignCountConcurrent", testWebAuthnSignCountConcurrent},
		{"UserPasskeyCount", testWebAuthnUserPasskeyCount},
		{"Ceremonies", testWebAuthnCeremonies},
	})
}

func newPasskey(t *testing.T, s WebAuthnStore, tenantID, userID string) *models.WebAuthnCredential {
	t.Helper()
	c := &models.WebAuthnCredential{TenantID: tenantID, UserID: userID, Name: "Laptop", CredentialID: []byte("cred-" + randomHex(t, 8)),
		PublicKey: []byte{0xa5, 1, 2, 3}, AttestationType: "none", AAGUID: make([]byte, 16), SignCount: 5,
		Transports: models.StringList{"internal", "hybrid"}, UserVerified: true, BackupEligible: true}
	must(t, s.CreateWebAuthnCredential(t.Context(), c), "create passkey")
	return c
}

func testWebAuthnCredentials(t *testing.T, s WebAuthnStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	u, u2, stranger := newUser(t, s, tn.ID), newUser(t, s, tn.ID), newUser(t, s, other.ID)
	c := newPasskey(t, s, tn.ID, u.ID)
	wantEqual(t, models.ValidID(c.ID), true, "id assigned")

	got, err := s.GetWebAuthnCredential(ctx, tn.ID, u.ID, c.ID)
	must(t, err, "get")
	wantEqual(t, string(got.CredentialID), string(c.CredentialID), "credential id")
	wantEqual(t, string(got.PublicKey), string(c.PublicKey), "public key")
	wantEqual(t, got.SignCount, uint32(5), "sign count")
	wantEqual(t, got.Transports.Has("hybrid"), true, "transports")
	wantEqual(t, got.UserVerified && got.BackupEligible && !got.BackupState && !got.Disabled, true, "flags")
	wantEqual(t, len(got.AAGUID), 16, "aaguid")
	wantUTC(t, got.CreatedAt, "created_at")
	wantEqual(t, got.LastUsedAt == nil, true, "never used")

	// Scoping: another user's, another tenant's, a malformed id.
	_, err = s.GetWebAuthnCredential(ctx, tn.ID, u2.ID, c.ID)
	wantNotFound(t, err, "another user's passkey")
	_, err = s.GetWebAuthnCredential(ctx, other.ID, u.ID, c.ID)
	wantNotFound(t, err, "another tenant's passkey")
	_, err = s.GetWebAuthnCredential(ctx, tn.ID, u.ID, "not-a-uuid")
	wantNotFound(t, err, "a malformed id")
	byCred, err := s.GetWebAuthnCredentialByCredentialID(ctx, tn.ID, c.CredentialID)
	must(t, err, "get by credential id")
	wantEqual(t, byCred.ID, c.ID, "by credential id")
	wantEqual(t, byCred.UserID, u.ID, "the user behind the credential")
	_, err = s.GetWebAuthnCredentialByCredentialID(ctx, other.ID, c.CredentialID)
	wantNotFound(t, err, "a credential id of another tenant")
	_, err = s.GetWebAuthnCredentialByCredentialID(ctx, tn.ID, []byte("unknown"))
	wantNotFound(t, err, "an unknown credential id")

	// A credential id is unique across tenants.
	dup := &models.WebAuthnCredential{TenantID: other.ID, UserID: stranger.ID, Name: "Copy", CredentialID: c.CredentialID, PublicKey: []byte{1}}
	wantKind(t, s.CreateWebAuthnCredential(ctx, dup), models.KindConflict, "a credential id registered in another tenant")

	second := newPasskey(t, s, tn.ID, u.ID)
	list, err := s.ListWebAuthnCredentials(ctx, tn.ID, u.ID)
	must(t, err, "list")
	wantEqual(t, len(list), 2, "passkeys listed")
	wantEqual(t, list[0].ID, c.ID, "oldest first")
	list, err = s.ListWebAuthnCredentials(ctx, other.ID, u.ID)
	must(t, err, "list of another tenant")
	wantEqual(t, len(list), 0, "another tenant lists none")
	_, n, err := s.CountSignInMethods(ctx, tn.ID, u.ID)
	must(t, err, "count")
	wantEqual(t, n, 2, "usable passkeys")

	// The sign count moves by compare-and-set.
	at := time.Now().Add(-time.Minute)
	ok, err := s.UpdateWebAuthnCredentialUse(ctx, tn.ID, c.ID, 5, 6, true, at)
	must(t, err, "update use")
	wantEqual(t, ok, true, "update from the stored count")
	ok, err = s.UpdateWebAuthnCredentialUse(ctx, tn.ID, c.ID, 5, 7, true, at)
	must(t, err, "update use from a stale count")
	wantEqual(t, ok, false, "update from a stale count")
	ok, err = s.UpdateWebAuthnCredentialUse(ctx, other.ID, c.ID, 6, 7, true, at)
	must(t, err, "update use in another tenant")
	wantEqual(t, ok, false, "update in another tenant")
	got, err = s.GetWebAuthnCredential(ctx, tn.ID, u.ID, c.ID)
	must(t, err, "get after use")
	wantEqual(t, got.SignCount, uint32(6), "sign count after use")
	wantEqual(t, got.BackupState, true, "backup state after use")
	wantEqual(t, got.LastUsedAt != nil && got.LastUsedAt.Unix() == at.Unix(), true, "last used")
	wantUTC(t, *got.LastUsedAt, "last_used_at")

	// Rename.
	must(t, s.RenameWebAuthnCredential(ctx, tn.ID, u.ID, c.ID, "Phone"), "rename")
	got, err = s.GetWebAuthnCredential(ctx, tn.ID, u.ID, c.ID)
	must(t, err, "get after rename")
	wantEqual(t, got.Name, "Phone", "name")
	wantNotFound(t, s.RenameWebAuthnCredential(ctx, tn.ID, u2.ID, c.ID, "Stolen"), "rename another user's")
	wantNotFound(t, s.RenameWebAuthnCredential(ctx, other.ID, u.ID, c.ID, "Stolen"), "rename in another tenant")

	// Disable: once, and a disabled passkey neither counts nor signs in.
	ok, err = s.DisableWebAuthnCredential(ctx, other.ID, c.ID)
	must(t, err, "disable in another tenant")
	wantEqual(t, ok, false, "disable in another tenant")
	ok, err = s.DisableWebAuthnCredential(ctx, tn.ID, c.ID)
	must(t, err, "disable")
	wantEqual(t, ok, true, "disable")
	ok, err = s.DisableWebAuthnCredential(ctx, tn.ID, c.ID)
	must(t, err, "disable again")
	wantEqual(t, ok, false, "disable again")
	ok, err = s.UpdateWebAuthnCredentialUse(ctx, tn.ID, c.ID, 6, 7, false, at)
	must(t, err, "use a disabled passkey")
	wantEqual(t, ok, false, "a disabled passkey's count does not move")
	_, n, err = s.CountSignInMethods(ctx, tn.ID, u.ID)
	must(t, err, "count after disable")
	wantEqual(t, n, 1, "usable passkeys after disable")

	// Delete.
	wantNotFound(t, s.DeleteWebAuthnCredential(ctx, tn.ID, u2.ID, second.ID), "delete another user's")
	wantNotFound(t, s.DeleteWebAuthnCredential(ctx, other.ID, u.ID, second.ID), "delete in another tenant")
	must(t, s.DeleteWebAuthnCredential(ctx, tn.ID, u.ID, second.ID), "delete")
	wantNotFound(t, s.DeleteWebAuthnCredential(ctx, tn.ID, u.ID, second.ID), "delete again")
	_, err = s.GetWebAuthnCredential(ctx, tn.ID, u.ID, second.ID)
	wantNotFound(t, err, "a deleted passkey")
}

// testWebAuthnSignCountConcurrent: ten sign-ins verified against the same
// stored count race to record it; exactly one wins.
func testWebAuthnSignCountConcurrent(t *testing.T, s WebAuthnStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	u := newUser(t, s, tn.ID)
	c := newPasskey(t, s, tn.ID, u.ID)
	var wins atomic.Int32
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for i := range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ok, err := s.UpdateWebAuthnCredentialUse(ctx, tn.ID, c.ID, 5, uint32(6+i), false, time.Now())
			if err != nil {
				errs <- err
				return
			}
			if ok {
				wins.Add(1)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err, "concurrent update use")
	}
	wantEqual(t, wins.Load(), int32(1), "sign-ins recorded from one stored count")
	got, err := s.GetWebAuthnCredential(ctx, tn.ID, u.ID, c.ID)
	must(t, err, "get")
	wantEqual(t, got.SignCount > 5, true, "the count moved")
}

func testWebAuthnCeremonies(t *testing.T, s WebAuthnStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	u := newUser(t, s, tn.ID)
	live := &models.WebAuthnCeremony{ChallengeHash: "h-" + randomHex(t, 8), TenantID: tn.ID, UserID: &u.ID, Kind: models.CeremonyRegister,
		Ref: "session-1", Data: `{"challenge":"x"}`, ExpiresAt: time.Now().Add(time.Minute)}
	must(t, s.CreateWebAuthnCeremony(ctx, live), "create")
	wantEqual(t, models.ValidID(live.ID), true, "id assigned")
	dup := &models.WebAuthnCeremony{ChallengeHash: live.ChallengeHash, TenantID: tn.ID, Kind: models.CeremonyPasswordless, ExpiresAt: time.Now().Add(time.Minute)}
	wantKind(t, s.CreateWebAuthnCeremony(ctx, dup), models.KindConflict, "a duplicate challenge")

	// Ten finishes race for one ceremony: one gets it.
	var wins atomic.Int32
	var wg sync.WaitGroup
	var got *models.WebAuthnCeremony
	var mu sync.Mutex
	errs := make(chan error, 10)
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			c, err := s.ConsumeWebAuthnCeremony(ctx, live.ChallengeHash)
			if models.IsKind(err, models.KindNotFound) {
				return
			}
			if err != nil {
				errs <- err
				return
			}
			wins.Add(1)
			mu.Lock()
			got = c
			mu.Unlock()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		must(t, err, "concurrent consume")
	}
	wantEqual(t, wins.Load(), int32(1), "finishes that got the ceremony")
	wantEqual(t, got.Kind, models.CeremonyRegister, "kind")
	wantEqual(t, got.Ref, "session-1", "ref")
	wantEqual(t, got.Data, `{"challenge":"x"}`, "data")
	wantEqual(t, got.UserID != nil && *got.UserID == u.ID, true, "user")
	wantUTC(t, got.ExpiresAt, "expires_at")
	_, err := s.ConsumeWebAuthnCeremony(ctx, live.ChallengeHash)
	wantNotFound(t, err, "a consumed ceremony")

	// Passwordless: no user. Expired: gone.
	anon := &models.WebAuthnCeremony{ChallengeHash: "h-" + randomHex(t, 8), TenantID: tn.ID, Kind: models.CeremonyPasswordless, Data: "{}", ExpiresAt: time.Now().Add(time.Minute)}
	must(t, s.CreateWebAuthnCeremony(ctx, anon), "create passwordless")
	c, err := s.ConsumeWebAuthnCeremony(ctx, anon.ChallengeHash)
	must(t, err, "consume passwordless")
	wantEqual(t, c.UserID == nil, true, "no user")
	old := &models.WebAuthnCeremony{ChallengeHash: "h-" + randomHex(t, 8), TenantID: tn.ID, Kind: models.CeremonyPasswordless, Data: "{}", ExpiresAt: time.Now().Add(-time.Second)}
	must(t, s.CreateWebAuthnCeremony(ctx, old), "create expired")
	_, err = s.ConsumeWebAuthnCeremony(ctx, old.ChallengeHash)
	wantNotFound(t, err, "an expired ceremony")
	_, err = s.ConsumeWebAuthnCeremony(ctx, "h-unknown")
	wantNotFound(t, err, "an unknown challenge")
}

// testWebAuthnUserPasskeyCount: users.passkeys (models.User.Passkeys,
// read by HasSecondFactor) follows every add, disable and delete, for the
// passkey's own user only, also under 10 concurrent registrations.
func testWebAuthnUserPasskeyCount(t *testing.T, s WebAuthnStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	u, other := newUser(t, s, tn.ID), newUser(t, s, tn.ID)
	count := func(id string) int {
		t.Helper()
		got, err := s.GetUser(ctx, tn.ID, id)
		must(t, err, "get user")
		return got.Passkeys
	}
	wantEqual(t, count(u.ID), 0, "a new user's passkeys")
	a, b := newPasskey(t, s, tn.ID, u.ID), newPasskey(t, s, tn.ID, u.ID)
	wantEqual(t, count(u.ID), 2, "after two registrations")
	wantEqual(t, count(other.ID), 0, "another user's count")
	ok, err := s.DisableWebAuthnCredential(ctx, tn.ID, a.ID)
	must(t, err, "disable")
	wantEqual(t, ok, true, "disabled")
	wantEqual(t, count(u.ID), 1, "a disabled passkey is not counted")
	must(t, s.DeleteWebAuthnCredential(ctx, tn.ID, u.ID, b.ID), "delete")
	wantEqual(t, count(u.ID), 0, "after the delete")
	must(t, s.DeleteWebAuthnCredential(ctx, tn.ID, u.ID, a.ID), "delete the disabled one")
	wantEqual(t, count(u.ID), 0, "deleting a disabled passkey")
	var wg sync.WaitGroup
	for range 10 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			newPasskey(t, s, tn.ID, other.ID)
		}()
	}
	wg.Wait()
	wantEqual(t, count(other.ID), 10, "after 10 concurrent registrations")
}
