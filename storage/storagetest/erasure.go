package storagetest

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/models"
)

// ErasureStore is what erasing a person (GDPR Art. 17) needs.
type ErasureStore interface {
	FixtureStore
	RawStore
	// CreateDevice, CreateSession, GrantConsent, CreateAccessTokenSession,
	// CreateRole, AssignRole and CreateAuditLog make what is erased.
	CreateDevice(ctx context.Context, d *models.Device) error
	CreateSession(ctx context.Context, sess *models.Session) error
	GrantConsent(ctx context.Context, tenantID, userID, clientID string, scopes []string) error
	CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error
	CreateRole(ctx context.Context, r *models.Role) error
	AssignRole(ctx context.Context, tenantID, principalID, principalType, roleID string) error
	CreateAuditLog(ctx context.Context, a *models.AuditLog) error
	// EraseUser deletes the user and every row stored for them.
	EraseUser(ctx context.Context, tenantID, id string) error
	// UsersWithRole returns the ids of the tenant's holders of a role.
	UsersWithRole(ctx context.Context, tenantID, roleName string) ([]string, error)
	// PseudonymizeAuditLogs rewrites an erased person's audit trail.
	PseudonymizeAuditLogs(ctx context.Context, e models.AuditErasure) (int, error)
}

var _ = claim[ErasureStore]("RunErasureSuite", "EraseUser", "UsersWithRole", "PseudonymizeAuditLogs")

// RunErasureSuite checks erasure: every row of the user goes, nobody
// else's; role holders are listed per tenant; the audit trail keeps its
// rows with the pseudonym and without any identifier.
func RunErasureSuite[S ErasureStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) ErasureStore { return newStore(t) }, []subTest[ErasureStore]{
		{"EraseUser", testEraseUser},
		{"UsersWithRole", testUsersWithRole},
		{"Pseudonymize", testPseudonymize},
	})
}

func testEraseUser(t *testing.T, s ErasureStore) {
	ctx := t.Context()
	f := newFixture(t, s)
	other := newUser(t, s, f.tenant.ID)
	for _, u := range []*models.User{f.user, other} {
		d := &models.Device{TenantID: f.tenant.ID, UserID: u.ID, TokenHash: key(t, "dev-")}
		must(t, s.CreateDevice(ctx, d), "device")
		must(t, s.CreateSession(ctx, &models.Session{TenantID: f.tenant.ID, UserID: u.ID, DeviceID: &d.ID, Kind: "api",
			ExpiresAt: time.Now().Add(time.Hour).UTC()}), "session")
		must(t, s.GrantConsent(ctx, f.tenant.ID, u.ID, f.client.GetID(), []string{"openid"}), "consent")
	}
	must(t, s.CreateAccessTokenSession(ctx, key(t, "at-"), f.request("req-"+randomHex(t, 4))), "token")
	tid := f.tenant.ID
	r := &models.Role{TenantID: &tid, Name: "R " + randomHex(t, 3), Permissions: models.StringList{"x"}}
	must(t, s.CreateRole(ctx, r), "role")
	must(t, s.AssignRole(ctx, tid, f.user.ID, models.PrincipalUser, r.ID), "assign")

	wantNotFound(t, s.EraseUser(ctx, newTenant(t, s).ID, f.user.ID), "erase in another tenant")
	must(t, s.EraseUser(ctx, tid, f.user.ID), "erase")
	for _, tbl := range []string{"users WHERE id", "devices WHERE user_id", "sessions WHERE user_id", "consents WHERE user_id",
		"role_assignments WHERE principal_id", "oauth_access_tokens WHERE subject"} {
		table, col, _ := strings.Cut(tbl, " WHERE ")
		wantEqual(t, countRows(t, s, table, col+" = ?", f.user.ID), 0, table+" after erase")
	}
	wantEqual(t, countRows(t, s, "devices", "user_id = ?", other.ID), 1, "another user's device")
	wantEqual(t, countRows(t, s, "consents", "user_id = ?", other.ID), 1, "another user's consent")
	wantNotFound(t, s.EraseUser(ctx, tid, f.user.ID), "erase twice")
	wantNotFound(t, s.EraseUser(ctx, tid, "not-a-uuid"), "malformed id")
}

func testUsersWithRole(t *testing.T, s ErasureStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	tid := tn.ID
	r := &models.Role{TenantID: &tid, Name: "Owner", Permissions: models.StringList{"*"}}
	must(t, s.CreateRole(ctx, r), "role")
	a, b := newUser(t, s, tid), newUser(t, s, tid)
	must(t, s.AssignRole(ctx, tid, a.ID, models.PrincipalUser, r.ID), "assign a")
	ids, err := s.UsersWithRole(ctx, tid, "Owner")
	must(t, err, "holders")
	wantEqual(t, strings.Join(ids, ","), a.ID, "holders")
	must(t, s.AssignRole(ctx, tid, b.ID, models.PrincipalUser, r.ID), "assign b")
	ids, err = s.UsersWithRole(ctx, tid, "Owner")
	must(t, err, "holders")
	wantEqual(t, len(ids), 2, "two holders")
	ids, err = s.UsersWithRole(ctx, newTenant(t, s).ID, "Owner")
	must(t, err, "other tenant")
	wantEqual(t, len(ids), 0, "another tenant's holders")
	_, err = s.UsersWithRole(ctx, unknownID, "Owner")
	wantNotFound(t, err, "unknown tenant")
}

func testPseudonymize(t *testing.T, s ErasureStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	tid := tn.ID
	uid, admin := "11111111-2222-4333-8444-555555555555", "66666666-2222-4333-8444-555555555555"
	const pseudonym = "aaaaaaaa-bbbb-8ccc-8ddd-eeeeeeeeeeee"
	rows := []*models.AuditLog{
		{TenantID: &tid, UserID: &uid, ActorID: uid, Action: "user.login", IPAddress: "203.0.113.7", UserAgent: "Mozilla", Metadata: `{"email":"Ada@Example.com"}`},
		{TenantID: &tid, UserID: &uid, ActorID: admin, Action: "user.updated", IPAddress: "198.51.100.1", UserAgent: "curl", Metadata: `{"name":"Ada Lovelace","old_email":"x@example.com","n":3}`},
		{TenantID: &tid, Action: "user.login_failed", Metadata: `{"reason":"unknown_account","attempted":"ada@example.com"}`},
		{TenantID: &tid, UserID: ptr(admin), ActorID: admin, Action: "role.assigned", Metadata: `{"target":"` + uid + `"}`},
		{TenantID: &tid, UserID: ptr(admin), ActorID: admin, Action: "other", Metadata: `{"email":"admin@example.com"}`},
	}
	for _, r := range rows {
		must(t, s.CreateAuditLog(ctx, r), "audit row")
	}
	n, err := s.PseudonymizeAuditLogs(ctx, models.AuditErasure{UserID: uid, Pseudonym: pseudonym,
		Identifiers: []string{"ada@example.com", "Ada Lovelace", ""}, PersonalKeys: []string{"email", "old_email", "name"}})
	must(t, err, "pseudonymize")
	wantEqual(t, n, 4, "rows changed")
	wantEqual(t, countRows(t, s, "audit_logs", "tenant_id = ?", tid), 5, "every row kept")
	wantEqual(t, countRows(t, s, "audit_logs", "user_id = ?", uid), 0, "rows with the id")
	wantEqual(t, countRows(t, s, "audit_logs", "actor_id = ?", uid), 0, "rows with the id as actor")
	wantEqual(t, countRows(t, s, "audit_logs", "user_id = ?", pseudonym), 2, "rows with the pseudonym")
	wantEqual(t, countRows(t, s, "audit_logs", "LOWER(metadata) LIKE ? OR metadata LIKE ? OR metadata LIKE ?", "%ada@example.com%", "%Lovelace%", "%"+uid+"%"), 0, "identifiers left")
	wantEqual(t, countRows(t, s, "audit_logs", "metadata LIKE ?", "%admin@example.com%"), 1, "another person's e-mail stays")
	wantEqual(t, countRows(t, s, "audit_logs", "ip_address = ?", "203.0.113.7"), 0, "the person's own IP address")
	wantEqual(t, countRows(t, s, "audit_logs", "ip_address = ?", "198.51.100.1"), 1, "the administrator's IP address stays")
	_, err = s.PseudonymizeAuditLogs(ctx, models.AuditErasure{UserID: uid, Pseudonym: "erased:x"})
	wantKind(t, err, models.KindInvalid, "a pseudonym that is not a UUID")
}
