package storage_test

import (
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// clock is a settable clock shared by stores and goroutines.
type clock struct{ ns atomic.Int64 }

func newClock(t time.Time) *clock {
	c := &clock{}
	c.set(t)
	return c
}

func (c *clock) now() time.Time                { return time.Unix(0, c.ns.Load()).UTC() }
func (c *clock) set(t time.Time)               { c.ns.Store(t.UnixNano()) }
func (c *clock) add(d time.Duration)           { c.ns.Add(int64(d)) }
func (c *clock) opts() storage.Options         { return storage.Options{Now: c.now} }
func (c *clock) ago(d time.Duration) time.Time { return c.now().Add(-d) }

// seedTenantUser creates a tenant and a user in it.
func seedTenantUser(t *testing.T, st *storage.Store, slug string) (*models.Tenant, *models.User) {
	t.Helper()
	ctx := t.Context()
	tn := &models.Tenant{Slug: slug, Name: slug}
	require.NoError(t, st.CreateTenant(ctx, tn))
	u := &models.User{TenantID: tn.ID, Email: "u@" + slug + ".example", PasswordHash: "x"}
	require.NoError(t, st.CreateUser(ctx, u))
	return tn, u
}

// fositeReq is a stored request of tenantID expiring at exp for kind.
func fositeReq(tenantID string, kind fosite.TokenType, exp time.Time) fosite.Requester {
	req := fosite.NewRequest()
	req.ID = uuid.NewString()
	req.Client = &fosite.DefaultClient{ID: "client-" + tenantID}
	req.Session = &tenantSess{DefaultSession: &fosite.DefaultSession{ExpiresAt: map[fosite.TokenType]time.Time{kind: exp}, Subject: "s"}, TenantID: tenantID}
	return req
}

// tenantSess is a fosite session that names its tenant, as oauth.Session does.
type tenantSess struct {
	*fosite.DefaultSession
	TenantID string `json:"tenant_id"`
}

func (s *tenantSess) GetTenantID() string { return s.TenantID }
func (s *tenantSess) Clone() fosite.Session {
	return &tenantSess{DefaultSession: s.DefaultSession.Clone().(*fosite.DefaultSession), TenantID: s.TenantID}
}

func countRows(t *testing.T, st *storage.Store, table string) int {
	t.Helper()
	db, err := st.SQLDB()
	require.NoError(t, err)
	var n int
	require.NoError(t, db.QueryRowContext(t.Context(), "SELECT COUNT(*) FROM "+table).Scan(&n))
	return n
}

func TestPruneExpired(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storagetest.OpenFunc) {
		clk := newClock(time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC))
		st := open(t, clk.opts())
		ctx := t.Context()
		tn, u := seedTenantUser(t, st, "prune")
		past, future := clk.ago(time.Hour), clk.now().Add(time.Hour)

		seed := func(n int, exp time.Time, kind fosite.TokenType, create func(sig string, req fosite.Requester) error) {
			t.Helper()
			for range n {
				require.NoError(t, create(uuid.NewString(), fositeReq(tn.ID, kind, exp)))
			}
		}
		access := func(sig string, r fosite.Requester) error { return st.CreateAccessTokenSession(ctx, sig, r) }
		refresh := func(sig string, r fosite.Requester) error { return st.CreateRefreshTokenSession(ctx, sig, "", r) }
		code := func(sig string, r fosite.Requester) error { return st.CreateAuthorizeCodeSession(ctx, sig, r) }
		oidc := func(sig string, r fosite.Requester) error { return st.CreateOpenIDConnectSession(ctx, sig, r) }
		pkce := func(sig string, r fosite.Requester) error { return st.CreatePKCERequestSession(ctx, sig, r) }
		seed(25, past, fosite.AccessToken, access)
		seed(5, future, fosite.AccessToken, access)
		seed(3, past, fosite.RefreshToken, refresh)
		seed(2, future, fosite.RefreshToken, refresh)
		seed(2, past, fosite.AuthorizeCode, code)
		seed(1, future, fosite.AuthorizeCode, code)
		seed(1, past, fosite.AuthorizeCode, oidc)
		seed(1, future, fosite.AuthorizeCode, oidc)
		seed(1, past, fosite.AuthorizeCode, pkce)
		seed(1, future, fosite.AuthorizeCode, pkce)
		require.NoError(t, st.SetClientAssertionJWT(ctx, "jti-live", future))
		require.NoError(t, st.SetClientAssertionJWT(ctx, "jti-dead", past))

		for i, exp := range []time.Time{past, past, future} {
			require.NoError(t, st.CreateChallenge(ctx, &models.AuthChallenge{TokenHash: fmt.Sprint("ch", i), TenantID: tn.ID, UserID: u.ID, Kind: models.ChallengeTwoFactor, Data: "{}", ExpiresAt: exp}))
		}
		for i, exp := range []time.Time{past, future} { // passkey ceremonies (issue 12 §2)
			require.NoError(t, st.CreateWebAuthnCeremony(ctx, &models.WebAuthnCeremony{ChallengeHash: fmt.Sprint("wc", i), TenantID: tn.ID, Kind: models.CeremonyPasswordless, Data: "{}", ExpiresAt: exp}))
		}
		require.NoError(t, st.CreateEmailCode(ctx, &models.EmailCode{TenantID: tn.ID, UserID: u.ID, Purpose: "a", CodeHash: "h1", ExpiresAt: past}))
		require.NoError(t, st.CreateEmailCode(ctx, &models.EmailCode{TenantID: tn.ID, UserID: u.ID, Purpose: "b", CodeHash: "h2", ExpiresAt: future}))
		require.NoError(t, st.ReplaceOneTimeCode(ctx, &models.OneTimeCode{TenantID: tn.ID, UserID: u.ID, Purpose: "a", CodeHash: "h1", ExpiresAt: past}))
		require.NoError(t, st.ReplaceOneTimeCode(ctx, &models.OneTimeCode{TenantID: tn.ID, UserID: u.ID, Purpose: "b", CodeHash: "h2", ExpiresAt: future}))
		require.NoError(t, st.ReplaceEmailVerification(ctx, &models.EmailVerification{TenantID: tn.ID, UserID: u.ID, Purpose: "signup", NewEmail: "a@example.com", TokenHash: "ev1", CodeHash: "h1", ExpiresAt: past}))
		require.NoError(t, st.ReplaceEmailVerification(ctx, &models.EmailVerification{TenantID: tn.ID, UserID: u.ID, Purpose: "change", NewEmail: "b@example.com", TokenHash: "ev2", CodeHash: "h2", ExpiresAt: future}))
		require.NoError(t, st.CreateLoginSession(ctx, &models.LoginSession{TokenHash: "ls1", TenantID: tn.ID, UserID: u.ID, AuthTime: past, ExpiresAt: past}))
		require.NoError(t, st.CreateLoginSession(ctx, &models.LoginSession{TokenHash: "ls2", TenantID: tn.ID, UserID: u.ID, AuthTime: past, ExpiresAt: future}))

		// Sessions: revoked 40 and 10 days ago, expired 40 and 10 days ago, live.
		start := clk.now()
		session := func(endedAgo time.Duration, revoke bool) string {
			t.Helper()
			clk.set(start.Add(-endedAgo - time.Hour))
			s := &models.Session{TenantID: tn.ID, UserID: u.ID, Kind: models.SessionAPI, ExpiresAt: start.Add(-endedAgo)}
			if revoke {
				s.ExpiresAt = start.Add(time.Hour)
			}
			require.NoError(t, st.CreateSession(ctx, s))
			if revoke {
				clk.set(start.Add(-endedAgo))
				require.NoError(t, st.RevokeSession(ctx, tn.ID, u.ID, s.ID))
			}
			clk.set(start)
			return s.ID
		}
		session(40*24*time.Hour, true)
		keepRevoked := session(10*24*time.Hour, true)
		session(40*24*time.Hour, false)
		keepExpired := session(10*24*time.Hour, false)
		live := &models.Session{TenantID: tn.ID, UserID: u.ID, Kind: models.SessionAPI, ExpiresAt: future}
		require.NoError(t, st.CreateSession(ctx, live))

		// Invitations: ended 40 days ago (accepted, revoked, expired) go;
		// ended 10 days ago, and pending, stay.
		day := 24 * time.Hour
		invite := func(expiresAgo time.Duration) *models.Invitation {
			t.Helper()
			i := &models.Invitation{TenantID: tn.ID, Email: uuid.NewString() + "@example.com", TokenHash: uuid.NewString(), ExpiresAt: start.Add(-expiresAgo)}
			require.NoError(t, st.CreateInvitation(ctx, i))
			return i
		}
		accepted := func(ago time.Duration) string {
			i := invite(-day)
			ok, err := st.ClaimInvitation(ctx, i.ID, i.TokenHash, start.Add(-ago))
			require.NoError(t, err)
			require.True(t, ok)
			return i.ID
		}
		revoked := func(ago time.Duration) string {
			i := invite(-day)
			ok, err := st.RevokeInvitation(ctx, tn.ID, i.ID, start.Add(-ago))
			require.NoError(t, err)
			require.True(t, ok)
			return i.ID
		}
		accepted(40 * day)
		revoked(40 * day)
		invite(40 * day)
		keepInv := []string{accepted(10 * day), revoked(10 * day), invite(10 * day).ID, invite(-day).ID}

		got, err := st.PruneExpired(ctx, models.PruneOptions{Batch: 7})
		require.NoError(t, err)
		want := map[string]int64{"invitations": 3,
			"oauth_access_tokens": 25, "oauth_refresh_tokens": 3, "oauth_codes": 2, "oauth_oidc_sessions": 1,
			"oauth_pkce_sessions": 1, "oauth_jtis": 1, "auth_challenges": 2, "email_codes": 1, "one_time_codes": 1, "email_verifications": 1, "login_sessions": 1, "sessions": 2,
			"webauthn_ceremonies": 1,
			"federation_states":   0, "federation_logins": 0, // issue 12 §1: storagetest's FederationStates suite prunes them
		}
		require.Equal(t, want, got)
		left := map[string]int{"invitations": 4,
			"oauth_access_tokens": 5, "oauth_refresh_tokens": 2, "oauth_codes": 1, "oauth_oidc_sessions": 1,
			"oauth_pkce_sessions": 1, "oauth_jtis": 1, "auth_challenges": 1, "email_codes": 1, "one_time_codes": 1, "email_verifications": 1, "login_sessions": 1, "sessions": 3,
			"webauthn_ceremonies": 1,
		}
		for table, n := range left {
			require.Equal(t, n, countRows(t, st, table), "rows left in %s", table)
		}
		db, err := st.SQLDB()
		require.NoError(t, err)
		for _, id := range []string{keepRevoked, keepExpired, live.ID} {
			var n int
			require.NoError(t, db.QueryRowContext(ctx, "SELECT COUNT(*) FROM sessions WHERE id = "+placeholder(st)+"", id).Scan(&n))
			require.Equal(t, 1, n, "session %s kept", id)
		}

		for k, id := range keepInv {
			i, err := st.GetInvitation(ctx, tn.ID, id)
			require.NoError(t, err, "invitation %d kept", k)
			want := []string{models.InvitationAccepted, models.InvitationRevoked, models.InvitationExpired, models.InvitationPending}[k]
			require.Equal(t, want, i.Status(start), "status of a kept invitation")
		}

		again, err := st.PruneExpired(ctx, models.PruneOptions{Batch: 7})
		require.NoError(t, err)
		for table, n := range again {
			require.Zero(t, n, "a second prune deletes nothing from %s", table)
		}
	})
}

func placeholder(st *storage.Store) string {
	if st.Dialect() == storage.Postgres {
		return "$1"
	}
	return "?"
}

func TestPruneAuditLogsRetention(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storagetest.OpenFunc) {
		clk := newClock(time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC))
		st := open(t, clk.opts())
		ctx := t.Context()
		a, _ := seedTenantUser(t, st, "short")
		b, _ := seedTenantUser(t, st, "default")
		_, err := st.UpdateTenant(ctx, a.ID, map[string]any{"audit_retention_days": 10})
		require.NoError(t, err)
		start := clk.now()
		write := func(tenant *models.Tenant, age time.Duration) string {
			t.Helper()
			clk.set(start.Add(-age))
			row := &models.AuditLog{Action: "test.event", Metadata: "{}"}
			if tenant != nil {
				row.TenantID = &tenant.ID
			}
			require.NoError(t, st.CreateAuditLog(ctx, row))
			clk.set(start)
			return row.ID
		}
		day := 24 * time.Hour
		var gone, kept []string
		gone = append(gone, write(a, 20*day), write(a, 11*day), write(b, 40*day), write(nil, 40*day))
		kept = append(kept, write(a, 5*day), write(b, 20*day), write(nil, day))

		n, err := st.PruneAuditLogs(ctx, models.AuditPruneOptions{DefaultDays: 30, Batch: 1}) // one row per statement: the loop must go on
		require.NoError(t, err)
		require.EqualValues(t, len(gone), n)
		rows, err := st.ListAuditLogs(ctx, models.AuditFilter{}, 100)
		require.NoError(t, err)
		var ids []string
		for _, r := range rows {
			ids = append(ids, r.ID)
		}
		require.ElementsMatch(t, kept, ids)
	})
}

// TestPruneAuditLogsFloor: a tenant's own retention below the deployment's
// floor (AUDIT_RETENTION_MIN_DAYS, set after the tenant chose) prunes as the
// floor; one above it is the tenant's; the clock is the store's.
func TestPruneAuditLogsFloor(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storagetest.OpenFunc) {
		clk := newClock(time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC))
		st := open(t, clk.opts())
		ctx := t.Context()
		short, _ := seedTenantUser(t, st, "below-floor")
		long, _ := seedTenantUser(t, st, "above-floor")
		for tn, days := range map[*models.Tenant]int{short: 2, long: 20} {
			_, err := st.UpdateTenant(ctx, tn.ID, map[string]any{"audit_retention_days": days})
			require.NoError(t, err)
		}
		start := clk.now()
		day := 24 * time.Hour
		write := func(tn *models.Tenant, age time.Duration) string {
			t.Helper()
			clk.set(start.Add(-age))
			row := &models.AuditLog{TenantID: &tn.ID, Action: "test.event", Metadata: "{}"}
			require.NoError(t, st.CreateAuditLog(ctx, row))
			clk.set(start)
			return row.ID
		}
		kept := []string{write(short, 3*day), write(short, 9*day), write(long, 15*day)}
		write(short, 11*day)
		write(long, 21*day)
		n, err := st.PruneAuditLogs(ctx, models.AuditPruneOptions{DefaultDays: 365, MinDays: 10, Batch: 10})
		require.NoError(t, err)
		require.EqualValues(t, 2, n, "the 2-day tenant keeps 10 days, the 20-day tenant 20")
		rows, err := st.ListAuditLogs(ctx, models.AuditFilter{}, 100)
		require.NoError(t, err)
		var ids []string
		for _, r := range rows {
			if r.Action == "test.event" {
				ids = append(ids, r.ID)
			}
		}
		require.ElementsMatch(t, kept, ids)
	})
}
