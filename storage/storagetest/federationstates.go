package storagetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
)

// FederationStateStore keeps the upstream sign-in flow's state (issue 12
// §1): started flows consumed exactly once, the roles a group mapping
// granted, and the upstream side of a federated session.
type FederationStateStore interface {
	TenantCreator
	UserCreator
	CreateIdentityProvider(ctx context.Context, p *models.IdentityProvider) error
	CreateRole(ctx context.Context, r *models.Role) error
	CreateDevice(ctx context.Context, d *models.Device) error
	CreateSession(ctx context.Context, sess *models.Session) error
	PruneExpired(ctx context.Context, opts models.PruneOptions) (map[string]int64, error)
	CreateFederationState(ctx context.Context, st *models.FederationState) error
	ConsumeFederationState(ctx context.Context, stateHash string) (*models.FederationState, error)
	ListFederationRoleGrants(ctx context.Context, tenantID, userID, providerID string) ([]string, error)
	AddFederationRoleGrant(ctx context.Context, g *models.FederationRoleGrant) error
	DeleteFederationRoleGrant(ctx context.Context, tenantID, userID, providerID, roleID string) error
	CreateFederationLogin(ctx context.Context, l *models.FederationLogin) error
	GetFederationLogin(ctx context.Context, tenantID, sessionID string) (*models.FederationLogin, error)
}

var _ = claim[FederationStateStore]("RunFederationStatesSuite", "CreateFederationState", "ConsumeFederationState",
	"ListFederationRoleGrants", "AddFederationRoleGrant", "DeleteFederationRoleGrant", "CreateFederationLogin", "GetFederationLogin")

// RunFederationStatesSuite checks the flow state (round trip, one winner
// among 20 concurrent consumes, a replay, an expired and an unknown state
// refused, pruning of expired rows), the group mapping's role grants and
// the federated sessions' rows.
func RunFederationStatesSuite[S FederationStateStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) FederationStateStore { return newStore(t) }, []subTest[FederationStateStore]{
		{"StateRoundTrip", testFederationStateRoundTrip},
		{"StateConsumedOnce", testFederationStateConsumedOnce},
		{"StateExpiryAndPrune", testFederationStateExpiry},
		{"RoleGrants", testFederationRoleGrants},
		{"Logins", testFederationLogins},
	})
}

func stateHash(raw string) string {
	sum := sha256.Sum256([]byte(raw))
	return hex.EncodeToString(sum[:])
}

func newFederationState(t *testing.T, s FederationStateStore, ttl time.Duration) (*models.FederationState, string) {
	t.Helper()
	tn := newTenant(t, s)
	p := &models.IdentityProvider{TenantID: tn.ID, Kind: models.ProviderOIDC, Name: "SSO", Issuer: "https://sso.example", ClientID: "c", Enabled: true}
	must(t, s.CreateIdentityProvider(t.Context(), p), "create provider")
	raw := "state-" + randomHex(t, 16)
	st := &models.FederationState{TenantID: tn.ID, ProviderID: p.ID, StateHash: stateHash(raw), Nonce: "n-" + randomHex(t, 8),
		PKCEVerifierSealed: []byte{9, 8, 7}, ReturnTo: "/account/security", Browser: true, Remember: true, ExpiresAt: time.Now().Add(ttl)}
	must(t, s.CreateFederationState(t.Context(), st), "create state")
	return st, raw
}

func testFederationStateRoundTrip(t *testing.T, s FederationStateStore) {
	st, raw := newFederationState(t, s, 10*time.Minute)
	got, err := s.ConsumeFederationState(t.Context(), stateHash(raw))
	must(t, err, "consume")
	wantEqual(t, got.ID, st.ID, "id")
	wantEqual(t, got.ProviderID, st.ProviderID, "provider")
	wantEqual(t, got.TenantID, st.TenantID, "tenant")
	wantEqual(t, got.Nonce, st.Nonce, "nonce")
	wantEqual(t, string(got.PKCEVerifierSealed), string(st.PKCEVerifierSealed), "sealed verifier")
	wantEqual(t, got.ReturnTo, st.ReturnTo, "return_to")
	wantEqual(t, got.Browser && got.Remember, true, "flags")
	wantEqual(t, got.LinkUserID == nil, true, "no link user")
	wantEqual(t, got.ConsumedAt != nil, true, "consumed_at set")
	wantUTC(t, got.ExpiresAt, "expires_at")
	_, err = s.ConsumeFederationState(t.Context(), stateHash(raw))
	wantNotFound(t, err, "a replayed state")
	_, err = s.ConsumeFederationState(t.Context(), stateHash("never issued"))
	wantNotFound(t, err, "an unknown state")
	_, err = s.ConsumeFederationState(t.Context(), "")
	wantNotFound(t, err, "an empty state")
}

func testFederationStateConsumedOnce(t *testing.T, s FederationStateStore) {
	_, raw := newFederationState(t, s, 10*time.Minute)
	var wins, notFound atomic.Int32
	var wg sync.WaitGroup
	start := make(chan struct{})
	for range 20 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			_, err := s.ConsumeFederationState(t.Context(), stateHash(raw))
			switch {
			case err == nil:
				wins.Add(1)
			case models.IsKind(err, models.KindNotFound):
				notFound.Add(1)
			default:
				t.Errorf("concurrent consume: %v", err)
			}
		}()
	}
	close(start)
	wg.Wait()
	wantEqual(t, wins.Load(), int32(1), "winners among 20 concurrent consumes")
	wantEqual(t, notFound.Load(), int32(19), "losers refused as NotFound")
}

func testFederationStateExpiry(t *testing.T, s FederationStateStore) {
	_, raw := newFederationState(t, s, -time.Second)
	_, err := s.ConsumeFederationState(t.Context(), stateHash(raw))
	wantNotFound(t, err, "an expired state")
	_, live := newFederationState(t, s, 10*time.Minute)
	got, err := s.PruneExpired(t.Context(), models.PruneOptions{})
	must(t, err, "prune")
	if got["federation_states"] < 1 {
		t.Fatalf("prune deleted %d federation states, want the expired one", got["federation_states"])
	}
	_, err = s.ConsumeFederationState(t.Context(), stateHash(live))
	must(t, err, "a live state survives the prune")
}

func testFederationRoleGrants(t *testing.T, s FederationStateStore) {
	ctx := t.Context()
	st, _ := newFederationState(t, s, time.Minute)
	u := newUser(t, s, st.TenantID)
	tid := st.TenantID
	r1 := &models.Role{TenantID: &tid, Name: "R " + randomHex(t, 3), Permissions: models.StringList{"x"}}
	r2 := &models.Role{TenantID: &tid, Name: "R " + randomHex(t, 3), Permissions: models.StringList{"y"}}
	must(t, s.CreateRole(ctx, r1), "role 1")
	must(t, s.CreateRole(ctx, r2), "role 2")
	g := func(roleID string) *models.FederationRoleGrant {
		return &models.FederationRoleGrant{TenantID: tid, UserID: u.ID, ProviderID: st.ProviderID, RoleID: roleID}
	}
	must(t, s.AddFederationRoleGrant(ctx, g(r1.ID)), "grant 1")
	must(t, s.AddFederationRoleGrant(ctx, g(r1.ID)), "grant 1 again")
	must(t, s.AddFederationRoleGrant(ctx, g(r2.ID)), "grant 2")
	ids, err := s.ListFederationRoleGrants(ctx, tid, u.ID, st.ProviderID)
	must(t, err, "list")
	wantEqual(t, len(ids), 2, "grants")
	other := newTenant(t, s)
	ids, err = s.ListFederationRoleGrants(ctx, other.ID, u.ID, st.ProviderID)
	must(t, err, "list through another tenant")
	wantEqual(t, len(ids), 0, "another tenant's grants")
	must(t, s.DeleteFederationRoleGrant(ctx, tid, u.ID, st.ProviderID, r1.ID), "delete")
	must(t, s.DeleteFederationRoleGrant(ctx, tid, u.ID, st.ProviderID, r1.ID), "delete again")
	ids, err = s.ListFederationRoleGrants(ctx, tid, u.ID, st.ProviderID)
	must(t, err, "list after delete")
	wantEqual(t, len(ids), 1, "grants left")
	wantEqual(t, ids[0], r2.ID, "grant left")
}

func testFederationLogins(t *testing.T, s FederationStateStore) {
	ctx := t.Context()
	st, _ := newFederationState(t, s, time.Minute)
	u := newUser(t, s, st.TenantID)
	d := &models.Device{TenantID: st.TenantID, UserID: u.ID, TokenHash: stateHash(randomHex(t, 8)), Name: "d"}
	must(t, s.CreateDevice(ctx, d), "device")
	sess := &models.Session{TenantID: st.TenantID, UserID: u.ID, DeviceID: &d.ID, Kind: "browser", ExpiresAt: time.Now().Add(time.Hour).UTC()}
	must(t, s.CreateSession(ctx, sess), "session")
	_, err := s.GetFederationLogin(ctx, st.TenantID, sess.ID)
	wantNotFound(t, err, "a session that was not federated")
	l := &models.FederationLogin{SessionID: sess.ID, TenantID: st.TenantID, UserID: u.ID, ProviderID: st.ProviderID,
		IDTokenSealed: []byte{1, 2}, ExpiresAt: sess.ExpiresAt}
	must(t, s.CreateFederationLogin(ctx, l), "create")
	got, err := s.GetFederationLogin(ctx, st.TenantID, sess.ID)
	must(t, err, "get")
	wantEqual(t, got.ProviderID, st.ProviderID, "provider")
	wantEqual(t, string(got.IDTokenSealed), string(l.IDTokenSealed), "sealed token")
	_, err = s.GetFederationLogin(ctx, newTenant(t, s).ID, sess.ID)
	wantNotFound(t, err, "through another tenant")
}
