package storage_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
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
		require.NoError(t, st.CreateEmailCode(ctx, &models.EmailCode{TenantID: tn.ID, UserID: u.ID, Purpose: "a", CodeHash: "h1", ExpiresAt: past}))
		require.NoError(t, st.CreateEmailCode(ctx, &models.EmailCode{TenantID: tn.ID, UserID: u.ID, Purpose: "b", CodeHash: "h2", ExpiresAt: future}))
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

		got, err := st.PruneExpired(ctx, models.PruneOptions{Batch: 7})
		require.NoError(t, err)
		want := map[string]int64{
			"oauth_access_tokens": 25, "oauth_refresh_tokens": 3, "oauth_codes": 2, "oauth_oidc_sessions": 1,
			"oauth_pkce_sessions": 1, "oauth_jtis": 1, "auth_challenges": 2, "email_codes": 1, "login_sessions": 1, "sessions": 2,
		}
		require.Equal(t, want, got)
		left := map[string]int{
			"oauth_access_tokens": 5, "oauth_refresh_tokens": 2, "oauth_codes": 1, "oauth_oidc_sessions": 1,
			"oauth_pkce_sessions": 1, "oauth_jtis": 1, "auth_challenges": 1, "email_codes": 1, "login_sessions": 1, "sessions": 3,
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

		n, err := st.PruneAuditLogs(ctx, 30, 1) // one row per statement: the loop must go on
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

func TestAuditQuery(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storagetest.OpenFunc) {
		clk := newClock(time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC))
		st := open(t, clk.opts())
		ctx := t.Context()
		a, ua := seedTenantUser(t, st, "aaa")
		b, _ := seedTenantUser(t, st, "bbb")
		const total = 2345 // more than one stream chunk
		require.NoError(t, st.InTx(ctx, func(ctx context.Context) error {
			for i := range total {
				clk.add(time.Millisecond)
				row := &models.AuditLog{TenantID: &a.ID, Action: "x.even", Metadata: "{}"}
				if i%2 == 1 {
					row.Action = "x.odd"
					row.UserID = &ua.ID
				}
				if err := st.CreateAuditLog(ctx, row); err != nil {
					return err
				}
			}
			return st.CreateAuditLog(ctx, &models.AuditLog{TenantID: &b.ID, Action: "x.even", Metadata: "{}"})
		}))

		// Keyset pages, newest first, cover the tenant exactly once.
		seen := map[string]bool{}
		f := models.AuditFilter{TenantID: a.ID}
		var prev time.Time
		for {
			page, err := st.ListAuditLogs(ctx, f, 400)
			require.NoError(t, err)
			for _, r := range page {
				require.False(t, seen[r.ID], "row %s on two pages", r.ID)
				seen[r.ID] = true
				require.Equal(t, a.ID, *r.TenantID)
				if !prev.IsZero() {
					require.False(t, r.CreatedAt.After(prev), "newest first")
				}
				prev = r.CreatedAt
			}
			if len(page) < 400 {
				break
			}
			last := page[len(page)-1]
			f.BeforeTime, f.BeforeID = last.CreatedAt, last.ID
		}
		require.Len(t, seen, total)

		// Filters.
		odd, err := st.ListAuditLogs(ctx, models.AuditFilter{TenantID: a.ID, Actor: ua.ID}, 5000)
		require.NoError(t, err)
		require.Len(t, odd, total/2)
		even, err := st.ListAuditLogs(ctx, models.AuditFilter{TenantID: a.ID, Action: "x.even"}, 5000)
		require.NoError(t, err)
		require.Len(t, even, total-total/2)
		from := time.Date(2030, 6, 1, 12, 0, 1, 0, time.UTC) // rows 1000..
		to := time.Date(2030, 6, 1, 12, 0, 2, 0, time.UTC)   // ..1999
		window, err := st.ListAuditLogs(ctx, models.AuditFilter{TenantID: a.ID, From: from, To: to}, 5000)
		require.NoError(t, err)
		require.Len(t, window, 1000)
		none, err := st.ListAuditLogs(ctx, models.AuditFilter{TenantID: "not-a-uuid"}, 10)
		require.NoError(t, err)
		require.Empty(t, none)
		byText, err := st.ListAuditLogs(ctx, models.AuditFilter{TenantID: a.ID, Actor: "cli"}, 10)
		require.NoError(t, err, "a non-UUID actor is a plain filter, not an error")
		require.Empty(t, byText)

		// Streaming crosses chunks and sees every row once, newest first.
		n := 0
		streamed := map[string]bool{}
		require.NoError(t, st.StreamAuditLogs(ctx, models.AuditFilter{TenantID: a.ID}, func(r *models.AuditLog) error {
			n++
			streamed[r.ID] = true
			return nil
		}))
		require.Equal(t, total, n)
		require.Len(t, streamed, total)
		stop := errors.New("stop")
		n = 0
		err = st.StreamAuditLogs(ctx, models.AuditFilter{TenantID: a.ID}, func(*models.AuditLog) error {
			n++
			if n == 10 {
				return stop
			}
			return nil
		})
		require.ErrorIs(t, err, stop)
		require.NoError(t, st.Ping(ctx), "an interrupted stream releases its connection")
	})
}

func TestTenantSuspendStorage(t *testing.T) {
	t.Parallel()
	forEachBackend(t, func(t *testing.T, open storagetest.OpenFunc) {
		st := open(t, storage.Options{})
		ctx := t.Context()
		a, ua := seedTenantUser(t, st, "victim")
		b, _ := seedTenantUser(t, st, "bystander")
		for _, tn := range []*models.Tenant{a, b} {
			require.NoError(t, st.CreateClient(ctx, &models.Client{ID: "client-" + tn.ID, TenantID: tn.ID, TokenEndpointAuthMethod: "client_secret_basic"}))
		}
		future := time.Now().Add(time.Hour)
		for _, tn := range []*models.Tenant{a, b} {
			require.NoError(t, st.CreateAccessTokenSession(ctx, "at-"+tn.ID, fositeReq(tn.ID, fosite.AccessToken, future)))
			require.NoError(t, st.CreateRefreshTokenSession(ctx, "rt-"+tn.ID, "", fositeReq(tn.ID, fosite.RefreshToken, future)))
		}
		sess := &models.Session{TenantID: a.ID, UserID: ua.ID, Kind: models.SessionBrowser, ExpiresAt: future}
		require.NoError(t, st.CreateSession(ctx, sess))
		require.NoError(t, st.CreateLoginSession(ctx, &models.LoginSession{TokenHash: "cookie", TenantID: a.ID, UserID: ua.ID, AuthTime: time.Now(), ExpiresAt: future, SessionID: &sess.ID}))

		got, err := st.SuspendTenant(ctx, a.ID)
		require.NoError(t, err)
		require.NotNil(t, got.SuspendedAt)

		_, err = st.GetClient(ctx, "client-"+a.ID)
		require.ErrorIs(t, err, fosite.ErrNotFound, "a suspended tenant's client is not found")
		_, err = st.GetClient(ctx, "client-"+b.ID)
		require.NoError(t, err, "other tenants are untouched")
		_, err = st.GetAccessTokenSession(ctx, "at-"+a.ID, &tenantSess{DefaultSession: &fosite.DefaultSession{}})
		require.ErrorIs(t, err, fosite.ErrNotFound)
		_, err = st.GetRefreshTokenSession(ctx, "rt-"+a.ID, &tenantSess{DefaultSession: &fosite.DefaultSession{}})
		require.ErrorIs(t, err, fosite.ErrNotFound)
		_, err = st.GetAccessTokenSession(ctx, "at-"+b.ID, &tenantSess{DefaultSession: &fosite.DefaultSession{}})
		require.NoError(t, err)
		_, err = st.GetSession(ctx, a.ID, ua.ID, sess.ID)
		require.True(t, models.IsKind(err, models.KindNotFound), "the session is revoked: %v", err)
		_, err = st.GetLoginSession(ctx, "cookie")
		require.True(t, models.IsKind(err, models.KindNotFound), "the browser login is gone: %v", err)

		again, err := st.SuspendTenant(ctx, a.ID)
		require.NoError(t, err)
		require.True(t, again.SuspendedAt.Equal(*got.SuspendedAt), "suspending twice keeps the first time")

		un, err := st.UnsuspendTenant(ctx, a.ID)
		require.NoError(t, err)
		require.Nil(t, un.SuspendedAt)
		_, err = st.GetClient(ctx, "client-"+a.ID)
		require.NoError(t, err)

		_, err = st.SuspendTenant(ctx, uuid.NewString())
		require.True(t, models.IsKind(err, models.KindNotFound))
		_, err = st.SuspendTenant(ctx, "nope")
		require.True(t, models.IsKind(err, models.KindNotFound))

		require.NoError(t, st.DeleteTenant(ctx, a.ID))
		_, err = st.GetTenant(ctx, a.ID)
		require.True(t, models.IsKind(err, models.KindNotFound))
		_, err = st.GetUser(ctx, a.ID, ua.ID)
		require.True(t, models.IsKind(err, models.KindNotFound), "users go with their tenant")
		require.True(t, models.IsKind(st.DeleteTenant(ctx, a.ID), models.KindNotFound))
		list, err := st.ListTenants(ctx, "BYSTAND", "", 10)
		require.NoError(t, err)
		require.Len(t, list, 1)
		list, err = st.ListTenants(ctx, "%", "", 10)
		require.NoError(t, err)
		require.Empty(t, list, "LIKE wildcards in a search are literal")
	})
}

// TestLeaseExclusive races ten callers on two stores (two instances of one
// deployment) for one lease: exactly one wins, nobody wins while it is held,
// and exactly one wins again once it has expired.
func TestLeaseExclusive(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			clk := newClock(time.Date(2030, 6, 1, 12, 0, 0, 0, time.UTC))
			stores := []*storage.Store{storagetest.OpenStore(t, b, clk.opts()), storagetest.OpenStore(t, b, clk.opts())}
			race := func() []string {
				t.Helper()
				var (
					mu      sync.Mutex
					winners []string
					wg      sync.WaitGroup
					errs    = make(chan error, 10)
					startCh = make(chan struct{})
				)
				for i := range 10 {
					wg.Add(1)
					go func() {
						defer wg.Done()
						<-startCh
						holder := fmt.Sprintf("instance-%d", i)
						ok, err := stores[i%2].AcquireLease(context.Background(), "job", holder, time.Minute)
						if err != nil {
							errs <- err
							return
						}
						if ok {
							mu.Lock()
							winners = append(winners, holder)
							mu.Unlock()
						}
					}()
				}
				close(startCh)
				wg.Wait()
				close(errs)
				for err := range errs {
					require.NoError(t, err)
				}
				return winners
			}
			w := race()
			require.Len(t, w, 1, "exactly one caller takes a free lease")
			l, err := stores[0].GetLease(t.Context(), "job")
			require.NoError(t, err)
			require.Equal(t, w[0], l.Holder)
			require.Empty(t, race(), "nobody takes a held lease")
			clk.add(time.Minute + time.Second)
			require.Len(t, race(), 1, "exactly one caller takes an expired lease")
		})
	}
}
