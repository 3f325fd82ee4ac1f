package storagetest

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
	"github.com/identityd/identityd/storage"
)

// OpenFunc returns a fresh, migrated, empty store opened with opts
// (DatabaseURL is the caller's business). The grace suite uses it to set the
// grace period and a fake clock.
type OpenFunc func(t *testing.T, opts storage.Options) *storage.Store

// The fosite tables, named here rather than imported: they are the schema
// the migrations promise, and the suite reads them raw.
const (
	tableCodes   = "oauth_codes"
	tableAccess  = "oauth_access_tokens"
	tableRefresh = "oauth_refresh_tokens"
	tableOIDC    = "oauth_oidc_sessions"
	tablePKCE    = "oauth_pkce_sessions"
	tableJTIs    = "oauth_jtis"
)

// FakeClock is a settable clock for storage.Options.Now.
type FakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewFakeClock returns a clock stopped at start.
func NewFakeClock(start time.Time) *FakeClock { return &FakeClock{now: start} }

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock forward by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// ---------------------------------------------------------------------------
// Fixtures

// fixture is a store with one tenant, one user and one client, which every
// stored fosite request needs (Get*Session reloads the client).
type fixture struct {
	s      *storage.Store
	tenant *models.Tenant
	user   *models.User
	client *storage.Client
}

func newFixture(t *testing.T, s *storage.Store) *fixture {
	t.Helper()
	ctx := t.Context()
	f := &fixture{s: s}
	f.tenant = createTenant(t, s, "acme-"+randomHex(t, 4))
	f.user = &models.User{TenantID: f.tenant.ID, Email: "alice-" + randomHex(t, 4) + "@example.com", PasswordHash: "x"}
	must(t, s.CreateUser(ctx, f.user), "create user")
	m := createClient(t, s, f.tenant.ID, "client-"+randomHex(t, 4))
	c, err := s.GetClient(ctx, m.ID)
	must(t, err, "get client")
	sc, ok := c.(*storage.Client)
	if !ok {
		t.Fatalf("GetClient returned %T, want *storage.Client", c)
	}
	f.client = sc
	return f
}

func createTenant(t *testing.T, s *storage.Store, slug string) *models.Tenant {
	t.Helper()
	tn := &models.Tenant{Slug: slug, Name: "Tenant " + slug}
	must(t, s.CreateTenant(t.Context(), tn), "create tenant")
	return tn
}

func createClient(t *testing.T, s *storage.Store, tenantID, id string) *models.Client {
	t.Helper()
	m := &models.Client{
		ID:                      id,
		TenantID:                tenantID,
		Name:                    "Client " + id,
		SecretHash:              "bcrypt$old-hash",
		RedirectURIs:            models.StringList{"https://app.example/cb"},
		GrantTypes:              models.StringList{"authorization_code", "refresh_token"},
		ResponseTypes:           models.StringList{"code"},
		Scopes:                  models.StringList{"openid", "offline_access", "profile"},
		Audience:                models.StringList{"https://api.example"},
		TokenEndpointAuthMethod: "client_secret_basic",
		AccessTokenFormat:       models.AccessTokenOpaque,
	}
	must(t, s.CreateClient(t.Context(), m), "create client")
	return m
}

// base is a fixed, second-aligned instant (PostgreSQL keeps microseconds,
// SQLite nanoseconds; seconds survive both).
var base = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// session returns a user session with an expiry for every token type.
func (f *fixture) session() *oauth.Session {
	sess := oauth.NewUserSession("https://issuer.example", f.tenant.ID, f.user.ID, f.client.GetID(), base.Add(-time.Minute), base)
	sess.SetExpiresAt(fosite.AuthorizeCode, base.Add(10*time.Minute))
	sess.SetExpiresAt(fosite.AccessToken, base.Add(time.Hour))
	sess.SetExpiresAt(fosite.RefreshToken, base.Add(30*24*time.Hour))
	return sess
}

// request returns a sanitised-looking authorization request of grant id.
func (f *fixture) request(id string) *fosite.Request {
	r := fosite.NewRequest()
	r.ID = id
	r.RequestedAt = base
	r.Client = f.client
	r.RequestedScope = fosite.Arguments{"openid", "offline_access", "profile"}
	r.GrantedScope = fosite.Arguments{"openid", "offline_access"}
	r.RequestedAudience = fosite.Arguments{"https://api.example"}
	r.GrantedAudience = fosite.Arguments{"https://api.example"}
	r.Form = url.Values{"redirect_uri": {"https://app.example/cb"}, "state": {"xyz"}}
	r.Session = f.session()
	return r
}

// key returns a random token signature (or raw code) with a prefix.
func key(t *testing.T, prefix string) string {
	t.Helper()
	return prefix + randomHex(t, 16)
}

func sha256Hex(s string) string {
	sum := sha256.Sum256([]byte(s))
	return hex.EncodeToString(sum[:])
}

// ---------------------------------------------------------------------------
// Assertions

func must(t *testing.T, err error, what string) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: unexpected error: %v", what, err)
	}
}

func wantErrIs(t *testing.T, err, target error, what string) {
	t.Helper()
	if !errors.Is(err, target) {
		t.Fatalf("%s: error = %v, want errors.Is %v", what, err, target)
	}
}

func wantKind(t *testing.T, err error, kind models.Kind, what string) {
	t.Helper()
	if !models.IsKind(err, kind) {
		t.Fatalf("%s: error = %v, want a models error of kind %s", what, err, kind)
	}
}

func wantEqual[T comparable](t *testing.T, got, want T, what string) {
	t.Helper()
	if got != want {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func wantTime(t *testing.T, got, want time.Time, what string) {
	t.Helper()
	if !got.Equal(want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

func wantUTC(t *testing.T, got time.Time, what string) {
	t.Helper()
	if got.Location() != time.UTC {
		t.Fatalf("%s = %v comes back in location %q, want UTC", what, got, got.Location())
	}
}

func wantArgs(t *testing.T, got fosite.Arguments, want []string, what string) {
	t.Helper()
	if !slices.Equal([]string(got), want) {
		t.Fatalf("%s = %v, want %v", what, got, want)
	}
}

// ---------------------------------------------------------------------------
// Raw table access, to check what rests in the database.

// rebind turns ? placeholders into $n for PostgreSQL.
func rebind(s *storage.Store, q string) string {
	if s.Dialect() != storage.Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// rawRows returns every row of table matching where (a SQL condition with ?
// placeholders, or "" for all rows), each column rendered as a string.
func rawRows(t *testing.T, s *storage.Store, table, where string, args ...any) []map[string]string {
	t.Helper()
	db, err := s.SQLDB()
	must(t, err, "SQLDB")
	q := "SELECT * FROM " + table
	if where != "" {
		q += " WHERE " + where
	}
	rows, err := db.QueryContext(t.Context(), rebind(s, q), args...)
	must(t, err, "raw query "+table)
	defer rows.Close()
	cols, err := rows.Columns()
	must(t, err, "columns")
	var out []map[string]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		must(t, rows.Scan(ptrs...), "raw scan")
		row := make(map[string]string, len(cols))
		for i, c := range cols {
			switch v := vals[i].(type) {
			case nil:
				row[c] = ""
			case []byte:
				row[c] = string(v)
			case time.Time:
				row[c] = v.UTC().Format(time.RFC3339Nano)
			default:
				row[c] = fmt.Sprint(v)
			}
		}
		out = append(out, row)
	}
	must(t, rows.Err(), "raw rows")
	return out
}

// rawTime reads one time column of one row.
func rawTime(t *testing.T, s *storage.Store, table, col, where string, args ...any) (time.Time, bool) {
	t.Helper()
	db, err := s.SQLDB()
	must(t, err, "SQLDB")
	var v any
	err = db.QueryRowContext(t.Context(), rebind(s, "SELECT "+col+" FROM "+table+" WHERE "+where), args...).Scan(&v)
	must(t, err, "raw time "+table+"."+col)
	switch x := v.(type) {
	case nil:
		return time.Time{}, false
	case time.Time:
		return x, true
	case string, []byte:
		str := fmt.Sprint(x)
		if b, ok := x.([]byte); ok {
			str = string(b)
		}
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02 15:04:05.999999999-07:00", "2006-01-02 15:04:05.999999999Z07:00", "2006-01-02 15:04:05.999999999"} {
			if tm, err := time.Parse(layout, str); err == nil {
				return tm, true
			}
		}
		t.Fatalf("%s.%s: cannot parse time %q", table, col, str)
	default:
		t.Fatalf("%s.%s: unexpected type %T", table, col, v)
	}
	return time.Time{}, false
}

func countRows(t *testing.T, s *storage.Store, table, where string, args ...any) int {
	t.Helper()
	return len(rawRows(t, s, table, where, args...))
}

// wantKeyHashed checks that table holds key only as its SHA-256 in col and
// that the raw key appears in no column of any row.
func wantKeyHashed(t *testing.T, s *storage.Store, table, col, rawKey string) {
	t.Helper()
	if n := countRows(t, s, table, col+" = ?", sha256Hex(rawKey)); n != 1 {
		t.Fatalf("%s: %d rows with %s = sha256(key), want 1", table, n, col)
	}
	for _, row := range rawRows(t, s, table, "") {
		for c, v := range row {
			if strings.Contains(v, rawKey) {
				t.Fatalf("%s.%s holds the raw key %q", table, c, rawKey)
			}
		}
	}
}

// ---------------------------------------------------------------------------
// The fosite request kinds, so CRUD cases run once per table.

type requestKind struct {
	name   string
	table  string
	token  fosite.TokenType // whose expiry fills expires_at
	create func(ctx context.Context, s *storage.Store, key string, r fosite.Requester) error
	get    func(ctx context.Context, s *storage.Store, key string, sess fosite.Session) (fosite.Requester, error)
	del    func(ctx context.Context, s *storage.Store, key string) error
}

var requestKinds = []requestKind{
	{
		name: "authorize_code", table: tableCodes, token: fosite.AuthorizeCode,
		create: func(ctx context.Context, s *storage.Store, k string, r fosite.Requester) error {
			return s.CreateAuthorizeCodeSession(ctx, k, r)
		},
		get: func(ctx context.Context, s *storage.Store, k string, sess fosite.Session) (fosite.Requester, error) {
			return s.GetAuthorizeCodeSession(ctx, k, sess)
		},
		// fosite never deletes codes, it invalidates them; the row stays.
		del: nil,
	},
	{
		name: "access_token", table: tableAccess, token: fosite.AccessToken,
		create: func(ctx context.Context, s *storage.Store, k string, r fosite.Requester) error {
			return s.CreateAccessTokenSession(ctx, k, r)
		},
		get: func(ctx context.Context, s *storage.Store, k string, sess fosite.Session) (fosite.Requester, error) {
			return s.GetAccessTokenSession(ctx, k, sess)
		},
		del: func(ctx context.Context, s *storage.Store, k string) error { return s.DeleteAccessTokenSession(ctx, k) },
	},
	{
		name: "refresh_token", table: tableRefresh, token: fosite.RefreshToken,
		create: func(ctx context.Context, s *storage.Store, k string, r fosite.Requester) error {
			return s.CreateRefreshTokenSession(ctx, k, "", r)
		},
		get: func(ctx context.Context, s *storage.Store, k string, sess fosite.Session) (fosite.Requester, error) {
			return s.GetRefreshTokenSession(ctx, k, sess)
		},
		del: func(ctx context.Context, s *storage.Store, k string) error {
			return s.DeleteRefreshTokenSession(ctx, k)
		},
	},
	{
		// Keyed by the raw authorization code (handler/openid/flow_explicit_auth.go).
		name: "oidc_session", table: tableOIDC, token: fosite.AuthorizeCode,
		create: func(ctx context.Context, s *storage.Store, k string, r fosite.Requester) error {
			return s.CreateOpenIDConnectSession(ctx, k, r)
		},
		get: func(ctx context.Context, s *storage.Store, k string, sess fosite.Session) (fosite.Requester, error) {
			if sess == nil {
				return s.GetOpenIDConnectSession(ctx, k, nil)
			}
			return s.GetOpenIDConnectSession(ctx, k, &fosite.Request{Session: sess})
		},
		del: func(ctx context.Context, s *storage.Store, k string) error {
			return s.DeleteOpenIDConnectSession(ctx, k)
		},
	},
	{
		name: "pkce", table: tablePKCE, token: fosite.AuthorizeCode,
		create: func(ctx context.Context, s *storage.Store, k string, r fosite.Requester) error {
			return s.CreatePKCERequestSession(ctx, k, r)
		},
		get: func(ctx context.Context, s *storage.Store, k string, sess fosite.Session) (fosite.Requester, error) {
			return s.GetPKCERequestSession(ctx, k, sess)
		},
		del: func(ctx context.Context, s *storage.Store, k string) error { return s.DeletePKCERequestSession(ctx, k) },
	},
}

// wantRequest checks that got is the stored want, session included.
func wantRequest(t *testing.T, got fosite.Requester, want *fosite.Request, sess *oauth.Session) {
	t.Helper()
	if got == nil {
		t.Fatal("requester is nil")
	}
	wantEqual(t, got.GetID(), want.GetID(), "request id")
	wantTime(t, got.GetRequestedAt(), want.GetRequestedAt(), "requested_at")
	wantUTC(t, got.GetRequestedAt(), "requested_at")
	if got.GetClient() == nil {
		t.Fatal("request has no client")
	}
	if _, ok := got.GetClient().(*storage.Client); !ok {
		t.Fatalf("request client is %T, want *storage.Client", got.GetClient())
	}
	wantEqual(t, got.GetClient().GetID(), want.GetClient().GetID(), "client id")
	wantArgs(t, got.GetRequestedScopes(), want.GetRequestedScopes(), "requested scopes")
	wantArgs(t, got.GetGrantedScopes(), want.GetGrantedScopes(), "granted scopes")
	wantArgs(t, got.GetRequestedAudience(), want.GetRequestedAudience(), "requested audience")
	wantArgs(t, got.GetGrantedAudience(), want.GetGrantedAudience(), "granted audience")
	wantEqual(t, got.GetRequestForm().Encode(), want.GetRequestForm().Encode(), "form")
	if sess == nil {
		return
	}
	if got.GetSession() != fosite.Session(sess) {
		t.Fatalf("request session is %T %p, want the caller's session %p", got.GetSession(), got.GetSession(), sess)
	}
	ws := want.GetSession().(*oauth.Session)
	wantEqual(t, sess.TenantID, ws.TenantID, "session tenant_id")
	wantEqual(t, sess.Subject, ws.Subject, "session subject")
	wantEqual(t, sess.ClientID, ws.ClientID, "session client_id")
	wantEqual(t, sess.Kind, ws.Kind, "session kind")
	if sess.Claims == nil {
		t.Fatal("session id token claims lost")
	}
	wantEqual(t, sess.Claims.Subject, ws.Claims.Subject, "id token subject")
	wantEqual(t, sess.Claims.Issuer, ws.Claims.Issuer, "id token issuer")
	wantTime(t, sess.Claims.AuthTime, ws.Claims.AuthTime, "id token auth_time")
	for _, tt := range []fosite.TokenType{fosite.AuthorizeCode, fosite.AccessToken, fosite.RefreshToken} {
		wantTime(t, sess.GetExpiresAt(tt), ws.GetExpiresAt(tt), "session expiry of "+string(tt))
		wantUTC(t, sess.GetExpiresAt(tt), "session expiry of "+string(tt))
	}
}

// ---------------------------------------------------------------------------
// RunFositeSuite

// RunFositeSuite checks the fosite v0.49.0 storage contract (Hydra's
// oauth2/fosite_store_helpers_test.go): CRUD per kind, nil sessions, session
// round trips, invalidated codes, strict refresh rotation, revocation by
// request ID, client-assertion JTIs, duplicate keys, UTC, hashed keys, and
// concurrent code exchange and rotation. newStore must give strict rotation
// (no grace period); RunGraceSuite covers the grace period.
func RunFositeSuite(t *testing.T, newStore func(t *testing.T) *storage.Store) {
	t.Helper()
	for _, k := range requestKinds {
		t.Run("crud/"+k.name, func(t *testing.T) { testRequestCRUD(t, newStore(t), k) })
		t.Run("duplicate/"+k.name, func(t *testing.T) { testDuplicateKey(t, newStore(t), k) })
	}
	t.Run("authorize_code/invalidate", func(t *testing.T) { testInvalidateCode(t, newStore(t)) })
	t.Run("authorize_code/concurrent_exchange", func(t *testing.T) { testConcurrentExchange(t, newStore(t)) })
	t.Run("refresh/strict_rotation", func(t *testing.T) { testStrictRotation(t, newStore(t)) })
	t.Run("refresh/concurrent_rotation", func(t *testing.T) { testConcurrentRotation(t, newStore(t)) })
	t.Run("refresh/pair_hashed", func(t *testing.T) { testRefreshPairHashed(t, newStore(t)) })
	t.Run("revoke_by_request_id", func(t *testing.T) { testRevokeByRequestID(t, newStore(t)) })
	t.Run("jti", func(t *testing.T) { testJTI(t, newStore(t)) })
	t.Run("utc", func(t *testing.T) { testUTC(t, newStore(t)) })
	t.Run("client", func(t *testing.T) { testGetClient(t, newStore(t)) })
}

func testRequestCRUD(t *testing.T, s *storage.Store, k requestKind) {
	ctx := t.Context()
	f := newFixture(t, s)
	raw := key(t, "ory_"+k.name+"_")
	req := f.request("req-" + randomHex(t, 4))

	_, err := k.get(ctx, s, raw, f.session())
	wantErrIs(t, err, fosite.ErrNotFound, "get before create")

	must(t, k.create(ctx, s, raw, req), "create")

	sess := oauth.NewSession()
	got, err := k.get(ctx, s, raw, sess)
	must(t, err, "get")
	wantRequest(t, got, req, sess)

	// fosite's revocation handler passes a nil session.
	got, err = k.get(ctx, s, raw, nil)
	must(t, err, "get with nil session")
	wantRequest(t, got, req, nil)

	// What rests in the table: the key's hash only, and the columns
	// filled from the session.
	wantKeyHashed(t, s, k.table, "signature", raw)
	rows := rawRows(t, s, k.table, "signature = ?", sha256Hex(raw))
	wantEqual(t, rows[0]["request_id"], req.ID, k.table+".request_id")
	wantEqual(t, rows[0]["tenant_id"], f.tenant.ID, k.table+".tenant_id")
	wantEqual(t, rows[0]["client_id"], f.client.GetID(), k.table+".client_id")
	wantEqual(t, rows[0]["subject"], f.user.ID, k.table+".subject")
	exp, ok := rawTime(t, s, k.table, "expires_at", "signature = ?", sha256Hex(raw))
	if !ok {
		t.Fatalf("%s.expires_at is NULL, want the session's %s expiry", k.table, k.token)
	}
	wantTime(t, exp, req.Session.GetExpiresAt(k.token), k.table+".expires_at")

	_, err = k.get(ctx, s, key(t, "unknown_"), oauth.NewSession())
	wantErrIs(t, err, fosite.ErrNotFound, "get unknown key")

	if k.del == nil {
		return
	}
	must(t, k.del(ctx, s, raw), "delete")
	_, err = k.get(ctx, s, raw, oauth.NewSession())
	wantErrIs(t, err, fosite.ErrNotFound, "get after delete")
	wantEqual(t, countRows(t, s, k.table, ""), 0, k.table+" rows after delete")
}

func testDuplicateKey(t *testing.T, s *storage.Store, k requestKind) {
	ctx := t.Context()
	f := newFixture(t, s)
	raw := key(t, "dup_")
	first := f.request("req-first")
	must(t, k.create(ctx, s, raw, first), "first create")
	var err error
	func() {
		defer func() {
			if p := recover(); p != nil {
				t.Fatalf("duplicate create panicked: %v", p)
			}
		}()
		err = k.create(ctx, s, raw, f.request("req-second"))
	}()
	wantErrIs(t, err, fosite.ErrSerializationFailure, "duplicate create")
	got, err := k.get(ctx, s, raw, oauth.NewSession())
	must(t, err, "get after duplicate")
	wantEqual(t, got.GetID(), "req-first", "request id after duplicate")
}

func testInvalidateCode(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	code := key(t, "ory_ac_")
	req := f.request("req-" + randomHex(t, 4))
	must(t, s.CreateAuthorizeCodeSession(ctx, code, req), "create code")

	must(t, s.InvalidateAuthorizeCodeSession(ctx, code), "invalidate")

	// fosite needs the requester with the error to revoke the grant
	// (flow_authorize_code_token.go); without it the answer is server_error.
	sess := oauth.NewSession()
	got, err := s.GetAuthorizeCodeSession(ctx, code, sess)
	wantErrIs(t, err, fosite.ErrInvalidatedAuthorizeCode, "get invalidated code")
	if got == nil {
		t.Fatal("invalidated code: requester is nil, want it with ErrInvalidatedAuthorizeCode")
	}
	wantRequest(t, got, req, sess)

	got, err = s.GetAuthorizeCodeSession(ctx, code, nil)
	wantErrIs(t, err, fosite.ErrInvalidatedAuthorizeCode, "get invalidated code, nil session")
	if got == nil || got.GetID() != req.ID {
		t.Fatalf("invalidated code with nil session: requester %v, want request %s", got, req.ID)
	}

	err = s.InvalidateAuthorizeCodeSession(ctx, code)
	wantErrIs(t, err, fosite.ErrSerializationFailure, "invalidate twice")
}

// runRace starts n goroutines that each run fn in their own transaction
// (BeginTX … Commit, Rollback on error) and returns their errors.
func runRace(t *testing.T, s *storage.Store, n int, fn func(ctx context.Context) error) []error {
	t.Helper()
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			ctx, err := s.BeginTX(t.Context())
			if err != nil {
				errs[i] = err
				return
			}
			if err := fn(ctx); err != nil {
				_ = s.Rollback(ctx)
				errs[i] = err
				return
			}
			errs[i] = s.Commit(ctx)
		}()
	}
	close(start)
	wg.Wait()
	return errs
}

// wantOneWinner checks that exactly one racer succeeded and every other
// failed with ErrSerializationFailure.
func wantOneWinner(t *testing.T, errs []error) {
	t.Helper()
	ok := 0
	for _, err := range errs {
		switch {
		case err == nil:
			ok++
		case errors.Is(err, fosite.ErrSerializationFailure):
		default:
			t.Fatalf("racer failed with %v, want nil or ErrSerializationFailure", err)
		}
	}
	if ok != 1 {
		t.Fatalf("%d racers succeeded, want exactly 1 (errors: %v)", ok, errs)
	}
}

func testConcurrentExchange(t *testing.T, s *storage.Store) {
	f := newFixture(t, s)
	code := key(t, "ory_ac_")
	must(t, s.CreateAuthorizeCodeSession(t.Context(), code, f.request("req-1")), "create code")
	errs := runRace(t, s, 4, func(ctx context.Context) error {
		if _, err := s.GetAuthorizeCodeSession(ctx, code, oauth.NewSession()); err != nil {
			if errors.Is(err, fosite.ErrInvalidatedAuthorizeCode) {
				return fosite.ErrSerializationFailure.WithWrap(err)
			}
			return err
		}
		return s.InvalidateAuthorizeCodeSession(ctx, code)
	})
	wantOneWinner(t, errs)
}

func testStrictRotation(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	reqA, reqB := f.request("grant-a"), f.request("grant-b")
	at1, at2, rt1 := key(t, "ory_at_"), key(t, "ory_at_"), key(t, "ory_rt_")
	atB, rtB := key(t, "ory_at_"), key(t, "ory_rt_")
	must(t, s.CreateAccessTokenSession(ctx, at1, reqA), "create at1")
	must(t, s.CreateAccessTokenSession(ctx, at2, reqA), "create at2")
	must(t, s.CreateRefreshTokenSession(ctx, rt1, at1, reqA), "create rt1")
	must(t, s.CreateAccessTokenSession(ctx, atB, reqB), "create atB")
	must(t, s.CreateRefreshTokenSession(ctx, rtB, atB, reqB), "create rtB")

	_, err := s.GetRefreshTokenSession(ctx, rt1, oauth.NewSession())
	must(t, err, "get rt1 before rotation")

	must(t, s.RotateRefreshToken(ctx, reqA.ID, rt1), "rotate rt1")

	// Reuse is detected by (req, ErrInactiveToken): fosite then revokes
	// the grant (flow_refresh.go).
	sess := oauth.NewSession()
	got, err := s.GetRefreshTokenSession(ctx, rt1, sess)
	wantErrIs(t, err, fosite.ErrInactiveToken, "get rotated rt1")
	if got == nil {
		t.Fatal("rotated refresh token: requester is nil, want it with ErrInactiveToken")
	}
	wantRequest(t, got, reqA, sess)

	for _, sig := range []string{at1, at2} {
		_, err := s.GetAccessTokenSession(ctx, sig, nil)
		wantErrIs(t, err, fosite.ErrNotFound, "access token of the rotated grant")
	}
	_, err = s.GetAccessTokenSession(ctx, atB, nil)
	must(t, err, "access token of another grant")
	_, err = s.GetRefreshTokenSession(ctx, rtB, nil)
	must(t, err, "refresh token of another grant")

	err = s.RotateRefreshToken(ctx, reqA.ID, rt1)
	wantErrIs(t, err, fosite.ErrSerializationFailure, "rotate twice")
}

func testConcurrentRotation(t *testing.T, s *storage.Store) {
	f := newFixture(t, s)
	req := f.request("grant-a")
	rt := key(t, "ory_rt_")
	must(t, s.CreateRefreshTokenSession(t.Context(), rt, "", req), "create rt")
	// Each racer does what PopulateTokenEndpointResponse does in one
	// transaction: rotate, then issue the new pair.
	errs := runRace(t, s, 4, func(ctx context.Context) error {
		if err := s.RotateRefreshToken(ctx, req.ID, rt); err != nil {
			return err
		}
		newAT := key(t, "ory_at_")
		if err := s.CreateAccessTokenSession(ctx, newAT, req); err != nil {
			return err
		}
		return s.CreateRefreshTokenSession(ctx, key(t, "ory_rt_"), newAT, req)
	})
	wantOneWinner(t, errs)
	wantEqual(t, countRows(t, s, tableRefresh, "request_id = ?", req.ID), 2, "refresh tokens after the race")
	wantEqual(t, countRows(t, s, tableAccess, "request_id = ?", req.ID), 1, "access tokens after the race")
}

func testRefreshPairHashed(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	at, rt := key(t, "ory_at_"), key(t, "ory_rt_")
	must(t, s.CreateRefreshTokenSession(ctx, rt, at, f.request("grant-a")), "create rt")
	rows := rawRows(t, s, tableRefresh, "signature = ?", sha256Hex(rt))
	if len(rows) != 1 {
		t.Fatalf("%d refresh rows, want 1", len(rows))
	}
	wantEqual(t, rows[0]["access_token_signature"], sha256Hex(at), "access_token_signature")
	wantKeyHashed(t, s, tableRefresh, "signature", rt)
	for c, v := range rows[0] {
		if strings.Contains(v, at) {
			t.Fatalf("%s.%s holds the raw access token signature", tableRefresh, c)
		}
	}
}

func testRevokeByRequestID(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	reqA, reqB := f.request("grant-a"), f.request("grant-b")
	// Grant A was refreshed once: the request ID stays across refreshes.
	atA := []string{key(t, "ory_at_"), key(t, "ory_at_")}
	rtA := []string{key(t, "ory_rt_"), key(t, "ory_rt_")}
	atB, rtB := key(t, "ory_at_"), key(t, "ory_rt_")
	for i := range atA {
		must(t, s.CreateAccessTokenSession(ctx, atA[i], reqA), "create at of A")
		must(t, s.CreateRefreshTokenSession(ctx, rtA[i], atA[i], reqA), "create rt of A")
	}
	must(t, s.CreateAccessTokenSession(ctx, atB, reqB), "create at of B")
	must(t, s.CreateRefreshTokenSession(ctx, rtB, atB, reqB), "create rt of B")

	must(t, s.RevokeRefreshToken(ctx, reqA.ID), "revoke refresh tokens of A")
	for _, rt := range rtA {
		_, err := s.GetRefreshTokenSession(ctx, rt, nil)
		wantErrIs(t, err, fosite.ErrNotFound, "refresh token of revoked grant")
	}
	for _, at := range atA {
		_, err := s.GetAccessTokenSession(ctx, at, nil)
		must(t, err, "RevokeRefreshToken must leave access tokens")
	}

	must(t, s.RevokeAccessToken(ctx, reqA.ID), "revoke access tokens of A")
	for _, at := range atA {
		_, err := s.GetAccessTokenSession(ctx, at, nil)
		wantErrIs(t, err, fosite.ErrNotFound, "access token of revoked grant")
	}

	_, err := s.GetAccessTokenSession(ctx, atB, nil)
	must(t, err, "access token of another grant")
	_, err = s.GetRefreshTokenSession(ctx, rtB, nil)
	must(t, err, "refresh token of another grant")

	// Revoking a grant with nothing left is not an error.
	must(t, s.RevokeRefreshToken(ctx, reqA.ID), "revoke again")
	must(t, s.RevokeAccessToken(ctx, "unknown-grant"), "revoke unknown grant")
}

func testJTI(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	jti := key(t, "jti-")
	must(t, s.ClientAssertionJWTValid(ctx, jti), "unknown jti is valid")
	must(t, s.SetClientAssertionJWT(ctx, jti, time.Now().Add(time.Hour)), "record jti")
	wantErrIs(t, s.ClientAssertionJWTValid(ctx, jti), fosite.ErrJTIKnown, "replayed jti")
	wantErrIs(t, s.SetClientAssertionJWT(ctx, jti, time.Now().Add(time.Hour)), fosite.ErrJTIKnown, "record replayed jti")
	wantKeyHashed(t, s, tableJTIs, "jti_hash", jti)

	// A JTI whose assertion has expired may be used again.
	old := key(t, "jti-")
	must(t, s.SetClientAssertionJWT(ctx, old, time.Now().Add(-time.Minute)), "record expired jti")
	must(t, s.ClientAssertionJWTValid(ctx, old), "expired jti is valid again")
	must(t, s.SetClientAssertionJWT(ctx, old, time.Now().Add(time.Hour)), "record expired jti again")
	wantErrIs(t, s.ClientAssertionJWTValid(ctx, old), fosite.ErrJTIKnown, "re-recorded jti")
	// The live one is untouched by the pruning.
	wantErrIs(t, s.ClientAssertionJWTValid(ctx, jti), fosite.ErrJTIKnown, "live jti after pruning")
}

func testUTC(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	zone := time.FixedZone("UTC+5:30", 5*3600+1800)
	req := f.request("grant-utc")
	req.RequestedAt = base.In(zone)
	sess := req.Session.(*oauth.Session)
	sess.SetExpiresAt(fosite.AccessToken, base.Add(time.Hour).In(zone))
	at := key(t, "ory_at_")
	must(t, s.CreateAccessTokenSession(ctx, at, req), "create")
	got, err := s.GetAccessTokenSession(ctx, at, oauth.NewSession())
	must(t, err, "get")
	wantTime(t, got.GetRequestedAt(), base, "requested_at")
	wantUTC(t, got.GetRequestedAt(), "requested_at")
	exp, ok := rawTime(t, s, tableAccess, "expires_at", "signature = ?", sha256Hex(at))
	if !ok {
		t.Fatal("expires_at is NULL")
	}
	wantTime(t, exp, base.Add(time.Hour), "expires_at")
}

func testGetClient(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	_, err := s.GetClient(ctx, "no-such-client")
	wantErrIs(t, err, fosite.ErrNotFound, "unknown client")
	c, err := s.GetClient(ctx, f.client.GetID())
	must(t, err, "get client")
	sc, ok := c.(*storage.Client)
	if !ok {
		t.Fatalf("GetClient returned %T, want *storage.Client", c)
	}
	wantEqual(t, sc.GetTenantID(), f.tenant.ID, "tenant id")
	wantEqual(t, string(sc.GetHashedSecret()), "bcrypt$old-hash", "hashed secret")
	wantArgs(t, fosite.Arguments(sc.GetRedirectURIs()), []string{"https://app.example/cb"}, "redirect uris")
	wantArgs(t, sc.GetGrantTypes(), []string{"authorization_code", "refresh_token"}, "grant types")
	wantArgs(t, sc.GetResponseTypes(), []string{"code"}, "response types")
	wantArgs(t, sc.GetScopes(), []string{"openid", "offline_access", "profile"}, "scopes")
	wantArgs(t, sc.GetAudience(), []string{"https://api.example"}, "audience")
	wantEqual(t, sc.IsPublic(), false, "public")
	wantEqual(t, sc.GetTokenEndpointAuthMethod(), "client_secret_basic", "auth method")
	if sc.GetRotatedHashes() != nil {
		t.Fatalf("rotated hashes = %q, want none", sc.GetRotatedHashes())
	}
}

// ---------------------------------------------------------------------------
// RunGraceSuite

// RunGraceSuite checks graceful refresh rotation (Hydra
// testHelperRotateRefreshToken): a rotated token stays usable until the
// grace period after its first use ends, a second rotation does not move
// first_used_at, and only the access token paired with the rotated refresh
// token is revoked (all of the grant's when the pair is unknown). open
// receives the grace period and a fake clock in opts. It also checks
// client-assertion JTIs expire on that clock.
func RunGraceSuite(t *testing.T, open OpenFunc) {
	t.Helper()
	const grace = time.Minute
	newStore := func(t *testing.T) (*storage.Store, *FakeClock) {
		t.Helper()
		clock := NewFakeClock(base)
		return open(t, storage.Options{RefreshGracePeriod: grace, Now: clock.Now}), clock
	}

	t.Run("valid_until_grace_ends", func(t *testing.T) {
		s, clock := newStore(t)
		ctx := t.Context()
		f := newFixture(t, s)
		req, other := f.request("grant-a"), f.request("grant-b")
		at1, at2, rt1 := key(t, "ory_at_"), key(t, "ory_at_"), key(t, "ory_rt_")
		atB := key(t, "ory_at_")
		must(t, s.CreateAccessTokenSession(ctx, at1, req), "create at1")
		must(t, s.CreateAccessTokenSession(ctx, at2, req), "create at2")
		must(t, s.CreateRefreshTokenSession(ctx, rt1, at1, req), "create rt1")
		must(t, s.CreateAccessTokenSession(ctx, atB, other), "create atB")

		must(t, s.RotateRefreshToken(ctx, req.ID, rt1), "rotate")
		first, ok := rawTime(t, s, tableRefresh, "first_used_at", "signature = ?", sha256Hex(rt1))
		if !ok {
			t.Fatal("first_used_at not set by rotation")
		}
		wantTime(t, first, base, "first_used_at")

		sess := oauth.NewSession()
		got, err := s.GetRefreshTokenSession(ctx, rt1, sess)
		must(t, err, "rotated token inside the grace period")
		wantRequest(t, got, req, sess)

		// Only the access token issued beside rt1 is revoked.
		_, err = s.GetAccessTokenSession(ctx, at1, nil)
		wantErrIs(t, err, fosite.ErrNotFound, "paired access token")
		_, err = s.GetAccessTokenSession(ctx, at2, nil)
		must(t, err, "unpaired access token of the grant")
		_, err = s.GetAccessTokenSession(ctx, atB, nil)
		must(t, err, "access token of another grant")

		// A second rotation inside the window must not extend it.
		clock.Advance(grace / 2)
		must(t, s.RotateRefreshToken(ctx, req.ID, rt1), "rotate again inside the grace period")
		again, _ := rawTime(t, s, tableRefresh, "first_used_at", "signature = ?", sha256Hex(rt1))
		wantTime(t, again, base, "first_used_at after a second rotation")
		_, err = s.GetRefreshTokenSession(ctx, rt1, nil)
		must(t, err, "rotated token still inside the grace period")

		clock.Advance(grace/2 + time.Second)
		sess = oauth.NewSession()
		got, err = s.GetRefreshTokenSession(ctx, rt1, sess)
		wantErrIs(t, err, fosite.ErrInactiveToken, "rotated token after the grace period")
		if got == nil {
			t.Fatal("requester is nil, want it with ErrInactiveToken")
		}
		wantRequest(t, got, req, sess)
	})

	t.Run("unknown_pair_revokes_all_access_tokens", func(t *testing.T) {
		s, _ := newStore(t)
		ctx := t.Context()
		f := newFixture(t, s)
		req, other := f.request("grant-a"), f.request("grant-b")
		at1, at2, rt := key(t, "ory_at_"), key(t, "ory_at_"), key(t, "ory_rt_")
		atB := key(t, "ory_at_")
		must(t, s.CreateAccessTokenSession(ctx, at1, req), "create at1")
		must(t, s.CreateAccessTokenSession(ctx, at2, req), "create at2")
		must(t, s.CreateRefreshTokenSession(ctx, rt, "", req), "create rt without pair")
		must(t, s.CreateAccessTokenSession(ctx, atB, other), "create atB")

		must(t, s.RotateRefreshToken(ctx, req.ID, rt), "rotate")
		for _, at := range []string{at1, at2} {
			_, err := s.GetAccessTokenSession(ctx, at, nil)
			wantErrIs(t, err, fosite.ErrNotFound, "access token of the grant")
		}
		_, err := s.GetAccessTokenSession(ctx, atB, nil)
		must(t, err, "access token of another grant")
		_, err = s.GetRefreshTokenSession(ctx, rt, nil)
		must(t, err, "rotated token inside the grace period")
	})

	t.Run("revoked_token_not_revived_by_grace", func(t *testing.T) {
		s, _ := newStore(t)
		ctx := t.Context()
		f := newFixture(t, s)
		req := f.request("grant-a")
		rt := key(t, "ory_rt_")
		must(t, s.CreateRefreshTokenSession(ctx, rt, "", req), "create rt")
		must(t, s.RotateRefreshToken(ctx, req.ID, rt), "rotate")
		must(t, s.RevokeRefreshToken(ctx, req.ID), "revoke grant")
		_, err := s.GetRefreshTokenSession(ctx, rt, nil)
		wantErrIs(t, err, fosite.ErrNotFound, "revoked token inside the grace period")
	})

	t.Run("jti_expires_on_clock", func(t *testing.T) {
		s, clock := newStore(t)
		ctx := t.Context()
		jti := key(t, "jti-")
		must(t, s.SetClientAssertionJWT(ctx, jti, base.Add(time.Hour)), "record jti")
		clock.Advance(59 * time.Minute)
		wantErrIs(t, s.ClientAssertionJWTValid(ctx, jti), fosite.ErrJTIKnown, "jti before expiry")
		clock.Advance(2 * time.Minute)
		must(t, s.ClientAssertionJWTValid(ctx, jti), "jti after expiry")
		must(t, s.SetClientAssertionJWT(ctx, jti, clock.Now().Add(time.Hour)), "record jti after expiry")
		wantErrIs(t, s.ClientAssertionJWTValid(ctx, jti), fosite.ErrJTIKnown, "re-recorded jti")
	})
}

// ---------------------------------------------------------------------------
// RunTxSuite

// RunTxSuite checks fosite's storage.Transactional and InTx: commit makes
// writes visible, rollback discards them, a nested BeginTX joins the outer
// transaction (its Commit and Rollback do nothing), and InTx commits on nil,
// rolls back on error or panic, and joins an open transaction.
func RunTxSuite(t *testing.T, newStore func(t *testing.T) *storage.Store) {
	t.Helper()
	type step func(t *testing.T, s *storage.Store, f *fixture, ctx context.Context, sig string)
	create := func(t *testing.T, s *storage.Store, f *fixture, ctx context.Context, sig string) {
		t.Helper()
		must(t, s.CreateAccessTokenSession(ctx, sig, f.request("grant-tx")), "create in tx")
	}
	tests := []struct {
		name        string
		run         func(t *testing.T, s *storage.Store, f *fixture, sig string, create step)
		wantVisible bool
	}{
		{
			name: "begin_create_commit",
			run: func(t *testing.T, s *storage.Store, f *fixture, sig string, create step) {
				ctx, err := s.BeginTX(t.Context())
				must(t, err, "begin")
				create(t, s, f, ctx, sig)
				// The transaction reads its own writes.
				_, err = s.GetAccessTokenSession(ctx, sig, nil)
				must(t, err, "read own write")
				must(t, s.Commit(ctx), "commit")
			},
			wantVisible: true,
		},
		{
			name: "begin_create_rollback",
			run: func(t *testing.T, s *storage.Store, f *fixture, sig string, create step) {
				ctx, err := s.BeginTX(t.Context())
				must(t, err, "begin")
				create(t, s, f, ctx, sig)
				must(t, s.Rollback(ctx), "rollback")
			},
		},
		{
			name: "nested_commit_is_noop_outer_rollback_wins",
			run: func(t *testing.T, s *storage.Store, f *fixture, sig string, create step) {
				outer, err := s.BeginTX(t.Context())
				must(t, err, "begin outer")
				inner, err := s.BeginTX(outer)
				must(t, err, "begin inner")
				create(t, s, f, inner, sig)
				must(t, s.Commit(inner), "commit inner")
				// The outer transaction is still open and usable.
				_, err = s.GetAccessTokenSession(outer, sig, nil)
				must(t, err, "outer sees inner write")
				must(t, s.Rollback(outer), "rollback outer")
			},
		},
		{
			name: "nested_rollback_is_noop_outer_commit_wins",
			run: func(t *testing.T, s *storage.Store, f *fixture, sig string, create step) {
				outer, err := s.BeginTX(t.Context())
				must(t, err, "begin outer")
				inner, err := s.BeginTX(outer)
				must(t, err, "begin inner")
				create(t, s, f, inner, sig)
				must(t, s.Rollback(inner), "rollback inner")
				must(t, s.Commit(outer), "commit outer")
			},
			wantVisible: true,
		},
		{
			name: "intx_commits",
			run: func(t *testing.T, s *storage.Store, f *fixture, sig string, create step) {
				err := s.InTx(t.Context(), func(ctx context.Context) error {
					create(t, s, f, ctx, sig)
					return nil
				})
				must(t, err, "InTx")
			},
			wantVisible: true,
		},
		{
			name: "intx_rolls_back_on_error",
			run: func(t *testing.T, s *storage.Store, f *fixture, sig string, create step) {
				boom := errors.New("boom")
				err := s.InTx(t.Context(), func(ctx context.Context) error {
					create(t, s, f, ctx, sig)
					return boom
				})
				wantErrIs(t, err, boom, "InTx error")
			},
		},
		{
			name: "intx_rolls_back_on_panic",
			run: func(t *testing.T, s *storage.Store, f *fixture, sig string, create step) {
				var recovered any
				func() {
					defer func() { recovered = recover() }()
					_ = s.InTx(t.Context(), func(ctx context.Context) error {
						create(t, s, f, ctx, sig)
						panic("boom")
					})
				}()
				if recovered != "boom" {
					t.Fatalf("InTx recovered %v, want the panic re-raised", recovered)
				}
			},
		},
		{
			name: "intx_joins_begin_tx",
			run: func(t *testing.T, s *storage.Store, f *fixture, sig string, create step) {
				outer, err := s.BeginTX(t.Context())
				must(t, err, "begin outer")
				err = s.InTx(outer, func(ctx context.Context) error {
					create(t, s, f, ctx, sig)
					return nil
				})
				must(t, err, "InTx")
				must(t, s.Rollback(outer), "rollback outer")
			},
		},
		{
			name: "repository_in_intx_rolls_back",
			run: func(t *testing.T, s *storage.Store, f *fixture, sig string, _ step) {
				err := s.InTx(t.Context(), func(ctx context.Context) error {
					must(t, s.CreateTenant(ctx, &models.Tenant{Slug: "tx-" + sig[:8], Name: "x"}), "create tenant in tx")
					return errors.New("abort")
				})
				if err == nil {
					t.Fatal("InTx returned nil, want the abort error")
				}
				_, err = s.GetTenantBySlug(t.Context(), "tx-"+sig[:8])
				wantKind(t, err, models.KindNotFound, "tenant after rollback")
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStore(t)
			f := newFixture(t, s)
			sig := randomHex(t, 16)
			tt.run(t, s, f, sig, create)
			_, err := s.GetAccessTokenSession(t.Context(), sig, nil)
			switch {
			case tt.wantVisible:
				must(t, err, "get after transaction")
			case err == nil:
				t.Fatal("write survived the rollback")
			default:
				wantErrIs(t, err, fosite.ErrNotFound, "get after rollback")
			}
		})
	}

	t.Run("commit_and_rollback_without_tx", func(t *testing.T) {
		s := newStore(t)
		if err := s.Commit(t.Context()); err == nil {
			t.Fatal("Commit without a transaction returned nil")
		}
		if err := s.Rollback(t.Context()); err == nil {
			t.Fatal("Rollback without a transaction returned nil")
		}
	})

	t.Run("uncommitted_writes_invisible", func(t *testing.T) {
		s := newStore(t)
		if s.Dialect() != storage.Postgres {
			// SQLite has one connection: a read outside would wait for the
			// transaction, which is its isolation.
			t.Skip("needs a second connection")
		}
		f := newFixture(t, s)
		sig := randomHex(t, 16)
		ctx, err := s.BeginTX(t.Context())
		must(t, err, "begin")
		create(t, s, f, ctx, sig)
		_, err = s.GetAccessTokenSession(t.Context(), sig, nil)
		wantErrIs(t, err, fosite.ErrNotFound, "read outside before commit")
		must(t, s.Commit(ctx), "commit")
		_, err = s.GetAccessTokenSession(t.Context(), sig, nil)
		must(t, err, "read outside after commit")
	})
}

// ---------------------------------------------------------------------------
// RunRepositorySuite

// RunRepositorySuite checks the repositories: tenants, users, clients,
// signing keys, consents and login sessions, including tenant isolation and
// the models errors (NotFound, Conflict) callers rely on.
func RunRepositorySuite(t *testing.T, newStore func(t *testing.T) *storage.Store) {
	t.Helper()
	t.Run("tenants", func(t *testing.T) { testTenants(t, newStore(t)) })
	t.Run("users", func(t *testing.T) { testUsers(t, newStore(t)) })
	t.Run("clients", func(t *testing.T) { testClients(t, newStore(t)) })
	t.Run("client_secret_rotation", func(t *testing.T) { testClientSecretRotation(t, newStore(t)) })
	t.Run("signing_keys", func(t *testing.T) { testSigningKeys(t, newStore(t)) })
	t.Run("consents", func(t *testing.T) { testConsents(t, newStore(t)) })
	t.Run("login_sessions", func(t *testing.T) { testLoginSessions(t, newStore(t)) })
}

func testTenants(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	tn := createTenant(t, s, "acme")
	if tn.ID == "" {
		t.Fatal("CreateTenant gave no id")
	}
	bySlug, err := s.GetTenantBySlug(ctx, "acme")
	must(t, err, "get by slug")
	wantEqual(t, bySlug.ID, tn.ID, "tenant id by slug")
	wantEqual(t, bySlug.Name, tn.Name, "tenant name")
	byID, err := s.GetTenant(ctx, tn.ID)
	must(t, err, "get by id")
	wantEqual(t, byID.Slug, "acme", "tenant slug by id")
	// PostgreSQL keeps microseconds.
	wantTime(t, byID.CreatedAt.Truncate(time.Microsecond), tn.CreatedAt.Truncate(time.Microsecond), "created_at")

	err = s.CreateTenant(ctx, &models.Tenant{Slug: "acme", Name: "Other"})
	wantKind(t, err, models.KindConflict, "duplicate slug")

	tests := []struct {
		name string
		get  func() error
	}{
		{"bad uuid", func() error { _, err := s.GetTenant(ctx, "not-a-uuid"); return err }},
		{"unknown id", func() error { _, err := s.GetTenant(ctx, "00000000-0000-4000-8000-000000000000"); return err }},
		{"unknown slug", func() error { _, err := s.GetTenantBySlug(ctx, "nope"); return err }},
	}
	for _, tt := range tests {
		wantKind(t, tt.get(), models.KindNotFound, tt.name)
	}
}

func testUsers(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	t1, t2 := createTenant(t, s, "one"), createTenant(t, s, "two")
	u := &models.User{TenantID: t1.ID, Email: "  Alice@Example.COM ", PasswordHash: "h", Name: "Alice"}
	must(t, s.CreateUser(ctx, u), "create user")
	wantEqual(t, u.Email, "alice@example.com", "stored email")
	rows := rawRows(t, s, "users", "id = ?", u.ID)
	if len(rows) != 1 {
		t.Fatalf("%d user rows, want 1", len(rows))
	}
	wantEqual(t, rows[0]["email"], "alice@example.com", "users.email")

	got, err := s.GetUserByEmail(ctx, t1.ID, "ALICE@example.com")
	must(t, err, "get by email in any case")
	wantEqual(t, got.ID, u.ID, "user id by email")
	got, err = s.GetUser(ctx, t1.ID, u.ID)
	must(t, err, "get user")
	wantEqual(t, got.Name, "Alice", "user name")

	err = s.CreateUser(ctx, &models.User{TenantID: t1.ID, Email: "alice@EXAMPLE.com", PasswordHash: "h"})
	wantKind(t, err, models.KindConflict, "same email, same tenant")

	other := &models.User{TenantID: t2.ID, Email: "alice@example.com", PasswordHash: "h"}
	must(t, s.CreateUser(ctx, other), "same email in another tenant")

	tests := []struct {
		name string
		get  func() error
	}{
		{"other tenant's user", func() error { _, err := s.GetUser(ctx, t2.ID, u.ID); return err }},
		{"bad uuid", func() error { _, err := s.GetUser(ctx, t1.ID, "not-a-uuid"); return err }},
		{"unknown email", func() error {
			_, err := s.GetUserByEmail(ctx, t2.ID, "bob@example.com")
			return err
		}},
		{"unknown tenant", func() error {
			_, err := s.GetUser(ctx, "00000000-0000-4000-8000-000000000000", u.ID)
			return err
		}},
	}
	for _, tt := range tests {
		wantKind(t, tt.get(), models.KindNotFound, tt.name)
	}
	got, err = s.GetUserByEmail(ctx, t2.ID, "alice@example.com")
	must(t, err, "get by email in tenant two")
	wantEqual(t, got.ID, other.ID, "tenant two's alice")
}

func testClients(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	t1, t2 := createTenant(t, s, "one"), createTenant(t, s, "two")
	m := createClient(t, s, t1.ID, "web")

	c, err := s.GetClient(ctx, "web")
	must(t, err, "GetClient")
	sc, ok := c.(*storage.Client)
	if !ok {
		t.Fatalf("GetClient returned %T, want *storage.Client", c)
	}
	wantEqual(t, sc.GetID(), "web", "client id")
	wantEqual(t, sc.GetTenantID(), t1.ID, "client tenant")
	wantArgs(t, sc.GetGrantTypes(), m.GrantTypes, "grant types")
	wantArgs(t, fosite.Arguments(sc.GetRedirectURIs()), m.RedirectURIs, "redirect uris")

	got, err := s.GetTenantClient(ctx, t1.ID, "web")
	must(t, err, "GetTenantClient")
	wantEqual(t, got.Name, m.Name, "client name")
	wantArgs(t, fosite.Arguments(got.Scopes), m.Scopes, "client scopes")

	_, err = s.GetTenantClient(ctx, t2.ID, "web")
	wantKind(t, err, models.KindNotFound, "other tenant's client")
	_, err = s.GetTenantClient(ctx, t1.ID, "nope")
	wantKind(t, err, models.KindNotFound, "unknown client")

	err = s.CreateClient(ctx, &models.Client{ID: "web", TenantID: t2.ID, TokenEndpointAuthMethod: "none"})
	wantKind(t, err, models.KindConflict, "duplicate client id")

	// Issue 8 client fields: a client without a method list accepts its one
	// method; the list, post-logout URIs and all-tenant introspection
	// round-trip and survive an update.
	wantArgs(t, fosite.Arguments(sc.GetTokenEndpointAuthMethods()), []string{"client_secret_basic"}, "legacy client: its one method")
	wantEqual(t, sc.GetIntrospectAllTenants(), false, "introspect_all_tenants default")
	rs := &models.Client{ID: "rs", TenantID: t1.ID, TokenEndpointAuthMethod: "client_secret_basic",
		TokenEndpointAuthMethods: models.StringList{"client_secret_basic", "client_secret_post"},
		PostLogoutRedirectURIs:   models.StringList{"https://app.example/bye"}, IntrospectAllTenants: true}
	must(t, s.CreateClient(ctx, rs), "create rs")
	c, err = s.GetClient(ctx, "rs")
	must(t, err, "GetClient rs")
	sc = c.(*storage.Client)
	wantArgs(t, fosite.Arguments(sc.GetTokenEndpointAuthMethods()), rs.TokenEndpointAuthMethods, "auth methods")
	wantArgs(t, fosite.Arguments(sc.GetPostLogoutRedirectURIs()), rs.PostLogoutRedirectURIs, "post-logout redirect uris")
	wantEqual(t, sc.GetIntrospectAllTenants(), true, "introspect_all_tenants")
	_, err = s.UpdateTenantClient(ctx, t1.ID, "rs", func(c *models.Client) error {
		c.TokenEndpointAuthMethod = "client_secret_post"
		c.TokenEndpointAuthMethods = models.StringList{"client_secret_post"}
		c.PostLogoutRedirectURIs = nil
		c.IntrospectAllTenants = false
		return nil
	})
	must(t, err, "UpdateTenantClient rs")
	got, err = s.GetTenantClient(ctx, t1.ID, "rs")
	must(t, err, "GetTenantClient rs")
	wantEqual(t, got.TokenEndpointAuthMethod, "client_secret_post", "updated method")
	wantArgs(t, fosite.Arguments(got.TokenEndpointAuthMethods), []string{"client_secret_post"}, "updated methods")
	wantEqual(t, len(got.PostLogoutRedirectURIs), 0, "updated post-logout uris")
	wantEqual(t, got.IntrospectAllTenants, false, "updated introspect_all_tenants")
}

func testClientSecretRotation(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	tn := createTenant(t, s, "one")
	other := createTenant(t, s, "two")
	createClient(t, s, tn.ID, "web")

	rotated := func(t *testing.T) (string, [][]byte) {
		t.Helper()
		c, err := s.GetClient(ctx, "web")
		must(t, err, "GetClient")
		return string(c.GetHashedSecret()), c.(*storage.Client).GetRotatedHashes()
	}

	until := time.Now().Add(time.Hour)
	must(t, s.RotateClientSecret(ctx, tn.ID, "web", "bcrypt$new-1", &until), "rotate with window")
	cur, old := rotated(t)
	wantEqual(t, cur, "bcrypt$new-1", "current hash")
	if len(old) != 1 || string(old[0]) != "bcrypt$old-hash" {
		t.Fatalf("rotated hashes inside the window = %q, want [bcrypt$old-hash]", old)
	}

	ended := time.Now().Add(-time.Second)
	must(t, s.RotateClientSecret(ctx, tn.ID, "web", "bcrypt$new-2", &ended), "rotate with ended window")
	cur, old = rotated(t)
	wantEqual(t, cur, "bcrypt$new-2", "current hash")
	if old != nil {
		t.Fatalf("rotated hashes after the window = %q, want none", old)
	}

	must(t, s.RotateClientSecret(ctx, tn.ID, "web", "bcrypt$new-3", nil), "rotate without window")
	cur, old = rotated(t)
	wantEqual(t, cur, "bcrypt$new-3", "current hash")
	if old != nil {
		t.Fatalf("rotated hashes with nil window = %q, want none", old)
	}
	got, err := s.GetTenantClient(ctx, tn.ID, "web")
	must(t, err, "GetTenantClient")
	wantEqual(t, got.RotatedSecretHash, "", "rotated hash dropped")

	err = s.RotateClientSecret(ctx, other.ID, "web", "bcrypt$evil", nil)
	wantKind(t, err, models.KindNotFound, "rotate another tenant's client")
	cur, _ = rotated(t)
	wantEqual(t, cur, "bcrypt$new-3", "hash after cross-tenant rotation attempt")
}

func testSigningKeys(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	add := func(id string, publishUntil time.Time) {
		t.Helper()
		k := &models.SigningKey{ID: id, Algorithm: "RS256", PublicJWK: `{"kid":"` + id + `"}`, PrivateSealed: []byte("sealed-" + id)}
		must(t, s.AddSigningKey(ctx, k, publishUntil), "add key "+id)
	}
	ids := func() []string {
		t.Helper()
		keys, err := s.ListSigningKeys(ctx)
		must(t, err, "list keys")
		var out []string
		for _, k := range keys {
			out = append(out, k.ID)
		}
		return out
	}
	active := func() []string {
		t.Helper()
		var out []string
		for _, r := range rawRows(t, s, "signing_keys", "retired_at IS NULL") {
			out = append(out, r["id"])
		}
		return out
	}

	add("k1", time.Now().Add(time.Hour))
	if got := ids(); !slices.Equal(got, []string{"k1"}) {
		t.Fatalf("keys = %v, want [k1]", got)
	}
	// k1 retires but stays published for an hour.
	add("k2", time.Now().Add(time.Hour))
	if got := ids(); !slices.Equal(got, []string{"k2", "k1"}) {
		t.Fatalf("keys = %v, want [k2 k1] (newest first)", got)
	}
	if got := active(); !slices.Equal(got, []string{"k2"}) {
		t.Fatalf("signing keys = %v, want only k2", got)
	}
	// k2 retires with a publication window already over: it leaves the
	// list; k1 keeps its own window.
	add("k3", time.Now().Add(-time.Second))
	if got := ids(); !slices.Equal(got, []string{"k3", "k1"}) {
		t.Fatalf("keys = %v, want [k3 k1]", got)
	}
	if got := active(); !slices.Equal(got, []string{"k3"}) {
		t.Fatalf("signing keys = %v, want only k3", got)
	}
	keys, err := s.ListSigningKeys(ctx)
	must(t, err, "list keys")
	wantEqual(t, string(keys[0].PrivateSealed), "sealed-k3", "sealed private key")
	if keys[0].RetiredAt != nil {
		t.Fatalf("newest key retired at %v", keys[0].RetiredAt)
	}
	if keys[1].RetiredAt == nil || keys[1].PublishUntil == nil {
		t.Fatal("k1 should be retired with a publication window")
	}
}

func testConsents(t *testing.T, s *storage.Store) {
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

func testLoginSessions(t *testing.T, s *storage.Store) {
	ctx := t.Context()
	f := newFixture(t, s)
	now := time.Now().Truncate(time.Second)
	live := &models.LoginSession{TokenHash: sha256Hex("live"), TenantID: f.tenant.ID, UserID: f.user.ID,
		AuthTime: now.Add(-time.Minute), ExpiresAt: now.Add(time.Hour)}
	expired := &models.LoginSession{TokenHash: sha256Hex("expired"), TenantID: f.tenant.ID, UserID: f.user.ID,
		AuthTime: now.Add(-2 * time.Hour), ExpiresAt: now.Add(-time.Minute)}
	must(t, s.CreateLoginSession(ctx, live), "create live session")
	must(t, s.CreateLoginSession(ctx, expired), "create expired session")

	got, err := s.GetLoginSession(ctx, live.TokenHash)
	must(t, err, "get live session")
	wantEqual(t, got.UserID, f.user.ID, "session user")
	wantTime(t, got.AuthTime, live.AuthTime, "auth_time")

	_, err = s.GetLoginSession(ctx, expired.TokenHash)
	wantKind(t, err, models.KindNotFound, "expired session")
	_, err = s.GetLoginSession(ctx, sha256Hex("unknown"))
	wantKind(t, err, models.KindNotFound, "unknown session")

	must(t, s.DeleteLoginSession(ctx, live.TokenHash), "delete session")
	_, err = s.GetLoginSession(ctx, live.TokenHash)
	wantKind(t, err, models.KindNotFound, "deleted session")
}

// ---------------------------------------------------------------------------
// RunCacheSuite

// RunCacheSuite checks a storage.Cache: misses, set/get/overwrite/delete,
// expiry after the TTL, and that values are copied in and out (a caller
// mutating its slice never changes what is cached). newCache must return an
// empty cache (or one whose keys are namespaced for the test).
func RunCacheSuite(t *testing.T, newCache func(t *testing.T) storage.Cache) {
	t.Helper()
	type op func(t *testing.T, ctx context.Context, c storage.Cache)
	wantGet := func(t *testing.T, ctx context.Context, c storage.Cache, k, want string, wantOK bool) {
		t.Helper()
		v, ok, err := c.Get(ctx, k)
		must(t, err, "get "+k)
		if ok != wantOK {
			t.Fatalf("get %s: ok = %v, want %v", k, ok, wantOK)
		}
		if wantOK && string(v) != want {
			t.Fatalf("get %s = %q, want %q", k, v, want)
		}
		if !wantOK && v != nil {
			t.Fatalf("get %s on a miss = %q, want nil", k, v)
		}
	}
	set := func(t *testing.T, ctx context.Context, c storage.Cache, k, v string, ttl time.Duration) {
		t.Helper()
		must(t, c.Set(ctx, k, []byte(v), ttl), "set "+k)
	}
	tests := []struct {
		name string
		run  op
	}{
		{"ping", func(t *testing.T, ctx context.Context, c storage.Cache) {
			must(t, c.Ping(ctx), "ping")
		}},
		{"miss", func(t *testing.T, ctx context.Context, c storage.Cache) {
			wantGet(t, ctx, c, "absent", "", false)
		}},
		{"set_get_overwrite", func(t *testing.T, ctx context.Context, c storage.Cache) {
			set(t, ctx, c, "k", "v1", time.Minute)
			wantGet(t, ctx, c, "k", "v1", true)
			set(t, ctx, c, "k", "v2", time.Minute)
			wantGet(t, ctx, c, "k", "v2", true)
		}},
		{"empty_value_is_a_hit", func(t *testing.T, ctx context.Context, c storage.Cache) {
			set(t, ctx, c, "empty", "", time.Minute)
			wantGet(t, ctx, c, "empty", "", true)
		}},
		{"delete", func(t *testing.T, ctx context.Context, c storage.Cache) {
			set(t, ctx, c, "a", "1", time.Minute)
			set(t, ctx, c, "b", "2", time.Minute)
			must(t, c.Delete(ctx, "a"), "delete a")
			wantGet(t, ctx, c, "a", "", false)
			wantGet(t, ctx, c, "b", "2", true)
			must(t, c.Delete(ctx, "never-set"), "delete an absent key")
		}},
		{"ttl_expiry", func(t *testing.T, ctx context.Context, c storage.Cache) {
			set(t, ctx, c, "short", "s", 150*time.Millisecond)
			set(t, ctx, c, "long", "l", time.Minute)
			wantGet(t, ctx, c, "short", "s", true)
			time.Sleep(400 * time.Millisecond)
			wantGet(t, ctx, c, "short", "", false)
			wantGet(t, ctx, c, "long", "l", true)
			// An expired key can be set again.
			set(t, ctx, c, "short", "s2", time.Minute)
			wantGet(t, ctx, c, "short", "s2", true)
		}},
		{"values_copied", func(t *testing.T, ctx context.Context, c storage.Cache) {
			in := []byte("abc")
			must(t, c.Set(ctx, "k", in, time.Minute), "set")
			in[0] = 'X'
			out, ok, err := c.Get(ctx, "k")
			must(t, err, "get")
			if !ok || string(out) != "abc" {
				t.Fatalf("get = %q, %v; want \"abc\" unaffected by the caller's slice", out, ok)
			}
			out[0] = 'Y'
			wantGet(t, ctx, c, "k", "abc", true)
		}},
		{"binary_value", func(t *testing.T, ctx context.Context, c storage.Cache) {
			set(t, ctx, c, "bin", "\x00\xff\x10zero", time.Minute)
			wantGet(t, ctx, c, "bin", "\x00\xff\x10zero", true)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.run(t, t.Context(), newCache(t))
		})
	}
}
