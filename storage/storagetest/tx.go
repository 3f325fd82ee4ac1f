package storagetest

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/ory/fosite"
	fositestorage "github.com/ory/fosite/storage"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
)

// TxStore is fosite's storage.Transactional and InTx, with the writes the
// suite commits and rolls back.
type TxStore interface {
	FixtureStore
	fositestorage.Transactional
	// InTx runs fn in one transaction, committing on nil and rolling back
	// on an error or a panic; inside a transaction it joins it.
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	CreateAccessTokenSession(ctx context.Context, signature string, req fosite.Requester) error
	GetAccessTokenSession(ctx context.Context, signature string, session fosite.Session) (fosite.Requester, error)
	GetTenantBySlug(ctx context.Context, slug string) (*models.Tenant, error)
	Dialect() storage.Dialect
}

var _ = claim[TxStore]("RunTxSuite", "BeginTX", "Commit", "Rollback", "InTx")

// RunTxSuite checks fosite's storage.Transactional and InTx: commit makes
// writes visible, rollback discards them, a nested BeginTX joins the outer
// transaction (its Commit and Rollback do nothing), and InTx commits on nil,
// rolls back on error or panic, and joins an open transaction.
func RunTxSuite[S TxStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	type step func(t *testing.T, s TxStore, f *fixture, ctx context.Context, sig string)
	create := func(t *testing.T, s TxStore, f *fixture, ctx context.Context, sig string) {
		t.Helper()
		must(t, s.CreateAccessTokenSession(ctx, sig, f.request("grant-tx")), "create in tx")
	}
	tests := []struct {
		name        string
		run         func(t *testing.T, s TxStore, f *fixture, sig string, create step)
		wantVisible bool
	}{
		{
			name: "begin_create_commit",
			run: func(t *testing.T, s TxStore, f *fixture, sig string, create step) {
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
			run: func(t *testing.T, s TxStore, f *fixture, sig string, create step) {
				ctx, err := s.BeginTX(t.Context())
				must(t, err, "begin")
				create(t, s, f, ctx, sig)
				must(t, s.Rollback(ctx), "rollback")
			},
		},
		{
			name: "nested_commit_is_noop_outer_rollback_wins",
			run: func(t *testing.T, s TxStore, f *fixture, sig string, create step) {
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
			run: func(t *testing.T, s TxStore, f *fixture, sig string, create step) {
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
			run: func(t *testing.T, s TxStore, f *fixture, sig string, create step) {
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
			run: func(t *testing.T, s TxStore, f *fixture, sig string, create step) {
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
			run: func(t *testing.T, s TxStore, f *fixture, sig string, create step) {
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
			run: func(t *testing.T, s TxStore, f *fixture, sig string, create step) {
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
			run: func(t *testing.T, s TxStore, f *fixture, sig string, _ step) {
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
			s := TxStore(newStore(t))
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
		s := TxStore(newStore(t))
		if err := s.Commit(t.Context()); err == nil {
			t.Fatal("Commit without a transaction returned nil")
		}
		if err := s.Rollback(t.Context()); err == nil {
			t.Fatal("Rollback without a transaction returned nil")
		}
	})

	t.Run("uncommitted_writes_invisible", func(t *testing.T) {
		// On SQLite the read outside runs on the read pool, beside the
		// writer's open transaction; with every statement on one
		// connection it would wait for the commit, which waits for it (the
		// bound turns that deadlock into a failure).
		s := TxStore(newStore(t))
		f := newFixture(t, s)
		sig := randomHex(t, 16)
		ctx, err := s.BeginTX(t.Context())
		must(t, err, "begin")
		create(t, s, f, ctx, sig)
		outside, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		defer cancel()
		_, err = s.GetAccessTokenSession(outside, sig, nil)
		wantErrIs(t, err, fosite.ErrNotFound, "read outside before commit")
		must(t, s.Commit(ctx), "commit")
		_, err = s.GetAccessTokenSession(t.Context(), sig, nil)
		must(t, err, "read outside after commit")
	})
}
