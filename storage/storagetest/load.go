package storagetest

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/ory/fosite"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
)

// LoadStore is what the mixed-load suite drives: the statements behind a
// client-credentials token, a refresh-token rotation and a password login.
type LoadStore interface {
	TxStore
	RawStore
	CreateRefreshTokenSession(ctx context.Context, signature, accessSignature string, req fosite.Requester) error
	GetRefreshTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error)
	RotateRefreshToken(ctx context.Context, requestID, signature string) error
	GetUserByEmail(ctx context.Context, tenantID, email string) (*models.User, error)
	RecordLoginFailure(ctx context.Context, tenantID, userID string, max int, lockFor time.Duration) (models.FailureResult, error)
	ClearLoginFailures(ctx context.Context, tenantID, userID string) (bool, error)
	CreateDevice(ctx context.Context, d *models.Device) error
	CreateSession(ctx context.Context, s *models.Session) error
	CreateAuditLog(ctx context.Context, a *models.AuditLog) error
}

// The mixed load: how many goroutines of each kind, and how many
// operations each runs.
const (
	loadTokenWorkers   = 8
	loadTokens         = 25
	loadRefreshWorkers = 4
	loadRotations      = 12
	loadLoginWorkers   = 4
	loadLogins         = 8
	loadCountWorkers   = 4
	loadCounts         = 10
)

// RunLoadSuite runs the statements of client-credentials issuance,
// refresh rotation and password login from many goroutines at once, on two
// stores over one database (a second instance, or the command line beside
// the server), and requires that none fails: no "database is locked", no
// SQLITE_BUSY, no serialization failure between unrelated grants. Every
// token, rotation, session and counted failure must be there afterwards,
// and a read outside an open write transaction must answer while the
// transaction is still open (on SQLite: the read pool beside the writer).
func RunLoadSuite[S LoadStore](t *testing.T, open func(t *testing.T) (S, S)) {
	t.Helper()
	first, second := open(t)
	stores := []LoadStore{first, second}
	ctx := t.Context()
	f := newFixture(t, first)
	counted := newUser(t, first, f.tenant.ID) // the target of the failure counters

	// One refresh chain per refresh worker, each its own grant.
	chains := make([]string, loadRefreshWorkers)
	for i := range chains {
		chains[i] = loadKey("ory_rt_")
		must(t, first.CreateRefreshTokenSession(ctx, chains[i], "", f.request(fmt.Sprintf("grant-refresh-%d", i))), "create refresh chain")
	}

	var (
		mu   sync.Mutex
		errs []error
	)
	fail := func(what string, err error) {
		mu.Lock()
		defer mu.Unlock()
		errs = append(errs, fmt.Errorf("%s: %w", what, err))
	}
	token := func(w int) {
		s := stores[w%2]
		for i := range loadTokens {
			sig := loadKey("ory_at_")
			if err := s.CreateAccessTokenSession(ctx, sig, f.request(fmt.Sprintf("grant-cc-%d-%d", w, i))); err != nil {
				fail("issue token", err)
				continue
			}
			if _, err := s.GetAccessTokenSession(ctx, sig, oauth.NewSession()); err != nil {
				fail("read token", err)
			}
		}
	}
	rotate := func(w int) {
		s := stores[w%2]
		for range loadRotations {
			// As fosite's refresh handler: the read before the transaction,
			// then rotation and the new pair in one.
			req, err := s.GetRefreshTokenSession(ctx, chains[w], oauth.NewSession())
			if err != nil {
				fail("read refresh token", err)
				return
			}
			next, access := loadKey("ory_rt_"), loadKey("ory_at_")
			err = inFositeTx(ctx, s, func(ctx context.Context) error {
				if err := s.RotateRefreshToken(ctx, req.GetID(), chains[w]); err != nil {
					return fmt.Errorf("rotate: %w", err)
				}
				if err := s.CreateAccessTokenSession(ctx, access, req); err != nil {
					return fmt.Errorf("new access token: %w", err)
				}
				return s.CreateRefreshTokenSession(ctx, next, access, req)
			})
			if err != nil {
				fail("refresh", err)
				return
			}
			chains[w] = next
		}
	}
	login := func(w int) {
		s := stores[w%2]
		for i := range loadLogins {
			if _, err := s.GetTenantBySlug(ctx, f.tenant.Slug); err != nil {
				fail("login: tenant", err)
				continue
			}
			u, err := s.GetUserByEmail(ctx, f.tenant.ID, f.user.Email)
			if err != nil {
				fail("login: user", err)
				continue
			}
			if _, err := s.ClearLoginFailures(ctx, u.TenantID, u.ID); err != nil {
				fail("login: clear failures", err)
				continue
			}
			err = s.InTx(ctx, func(ctx context.Context) error {
				d := &models.Device{TenantID: u.TenantID, UserID: u.ID, TokenHash: sha256Hex(loadKey("dev_")), Name: "load"}
				if err := s.CreateDevice(ctx, d); err != nil {
					return err
				}
				sess := &models.Session{TenantID: u.TenantID, UserID: u.ID, DeviceID: &d.ID, Kind: models.SessionAPI,
					AuthMethods: models.StringList{"pwd"}, ExpiresAt: base.Add(time.Hour)}
				if err := s.CreateSession(ctx, sess); err != nil {
					return err
				}
				if err := s.CreateAccessTokenSession(ctx, loadKey("ory_at_"), f.request(fmt.Sprintf("grant-login-%d-%d", w, i))); err != nil {
					return err
				}
				tenant, user := u.TenantID, u.ID
				return s.CreateAuditLog(ctx, &models.AuditLog{TenantID: &tenant, UserID: &user, ActorID: user, Action: "login", Metadata: "{}"})
			})
			if err != nil {
				fail("login", err)
			}
		}
	}
	count := func(w int) {
		s := stores[w%2]
		for range loadCounts {
			if _, err := s.RecordLoginFailure(ctx, counted.TenantID, counted.ID, 1_000_000, time.Minute); err != nil {
				fail("count failure", err)
			}
		}
	}
	// While the load runs, a write transaction stays open until reads
	// outside it, on both stores, have answered.
	readBesideWrite := func() {
		s := stores[0]
		tx, err := s.BeginTX(ctx)
		if err != nil {
			fail("hold: begin", err)
			return
		}
		sig := loadKey("ory_at_")
		if err := s.CreateAccessTokenSession(tx, sig, f.request("grant-held")); err != nil {
			_ = s.Rollback(tx)
			fail("hold: write", err)
			return
		}
		bounded, cancel := context.WithTimeout(ctx, 30*time.Second)
		defer cancel()
		for _, r := range stores {
			if _, err := r.GetAccessTokenSession(bounded, sig, nil); !errors.Is(err, fosite.ErrNotFound) {
				fail("read beside an open write transaction", fmt.Errorf("got %v, want not found (the write is not committed)", err))
			}
			if _, err := r.GetUserByEmail(bounded, f.tenant.ID, f.user.Email); err != nil {
				fail("read beside an open write transaction", err)
			}
		}
		if err := s.Commit(tx); err != nil {
			fail("hold: commit", err)
		}
	}

	var wg sync.WaitGroup
	start := make(chan struct{})
	spawn := func(n int, fn func(w int)) {
		for w := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				fn(w)
			}()
		}
	}
	spawn(loadTokenWorkers, token)
	spawn(loadRefreshWorkers, rotate)
	spawn(loadLoginWorkers, login)
	spawn(loadCountWorkers, count)
	spawn(1, func(int) { readBesideWrite() })
	close(start)
	wg.Wait()

	for _, err := range errs {
		msg := err.Error()
		if strings.Contains(msg, "database is locked") || strings.Contains(msg, "SQLITE_BUSY") {
			t.Errorf("busy database under load: %v", err)
		} else {
			t.Errorf("under load: %v", err)
		}
	}
	if len(errs) > 0 {
		t.FailNow()
	}
	wantEqual(t, countRows(t, first, tableAccess, "request_id LIKE ?", "grant-cc-%"), loadTokenWorkers*loadTokens, "client-credentials tokens")
	wantEqual(t, countRows(t, first, tableAccess, "request_id LIKE ?", "grant-login-%"), loadLoginWorkers*loadLogins, "login tokens")
	wantEqual(t, countRows(t, first, "sessions", "user_id = ?", f.user.ID), loadLoginWorkers*loadLogins, "login sessions")
	for i, sig := range chains {
		wantEqual(t, countRows(t, first, tableRefresh, "request_id = ? AND active", fmt.Sprintf("grant-refresh-%d", i)), 1, "active refresh tokens of a chain")
		wantEqual(t, countRows(t, first, tableRefresh, "request_id = ?", fmt.Sprintf("grant-refresh-%d", i)), loadRotations+1, "refresh tokens of a chain")
		if _, err := first.GetRefreshTokenSession(ctx, sig, oauth.NewSession()); err != nil {
			t.Errorf("the last refresh token of chain %d: %v", i, err)
		}
	}
	u, err := first.GetUserByEmail(ctx, counted.TenantID, counted.Email)
	must(t, err, "read counted user")
	wantEqual(t, u.FailedLogins, loadCountWorkers*loadCounts, "failed logins counted from both stores")
}

// loadKey is key for goroutines (no *testing.T to fail).
func loadKey(prefix string) string { return prefix + strings.ReplaceAll(uuid.NewString(), "-", "") }

// inFositeTx runs fn as fosite's handlers run a transaction: BeginTX,
// Commit, Rollback on error.
func inFositeTx(ctx context.Context, s LoadStore, fn func(ctx context.Context) error) error {
	tx, err := s.BeginTX(ctx)
	if err != nil {
		return fmt.Errorf("begin: %w", err)
	}
	if err := fn(tx); err != nil {
		return errors.Join(err, s.Rollback(tx))
	}
	if err := s.Commit(tx); err != nil {
		return fmt.Errorf("commit: %w", err)
	}
	return nil
}
