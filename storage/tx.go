package storage

import (
	"context"
	"database/sql"
	"errors"
	"fmt"

	"github.com/ory/fosite/storage"
	"gorm.io/gorm"
)

var _ storage.Transactional = (*Store)(nil)

type txKey struct{}

// txState is what BeginTX puts in the context. nested marks a BeginTX that
// found a transaction already open: its Commit and Rollback do nothing, and
// the outer owner decides.
type txState struct {
	tx     *gorm.DB
	nested bool
	// cancel ends the transaction's context: armed by a timer around BEGIN,
	// COMMIT and ROLLBACK (the store's deadline), called once it is over.
	cancel context.CancelFunc
	// dirty is shared with nested states: the kinds of lookup the
	// transaction changed something of (invalidateLookups), whose
	// generations Commit bumps.
	dirty *Lookups
}

// db returns the transaction carried in ctx, or the pool bound to ctx.
func (s *Store) db(ctx context.Context) *gorm.DB {
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		// The statement runs under the caller's context (its deadline and
		// values), on the transaction's connection.
		return st.tx.WithContext(ctx)
	}
	return s.gdb.WithContext(ctx)
}

// BeginTX opens a transaction and returns a context that carries it. On
// PostgreSQL the isolation is REPEATABLE READ, so two concurrent rotations of
// one refresh token cannot both commit. A BeginTX inside a transaction joins it.
func (s *Store) BeginTX(ctx context.Context) (context.Context, error) {
	return s.begin(ctx, &sql.TxOptions{Isolation: sql.LevelRepeatableRead})
}

func (s *Store) begin(ctx context.Context, opts *sql.TxOptions) (context.Context, error) {
	if st, ok := ctx.Value(txKey{}).(*txState); ok {
		return context.WithValue(ctx, txKey{}, &txState{tx: st.tx, nested: true, dirty: st.dirty}), nil
	}
	if s.dialect == SQLite {
		opts = nil // SQLite transactions are serializable; the driver takes no isolation levels
	}
	txCtx, cancel := context.WithCancel(ctx)
	var tx *gorm.DB
	err := s.bounded(cancel, func() error { tx = s.gdb.WithContext(txCtx).Begin(opts); return tx.Error })
	if err != nil {
		cancel()
		return ctx, fmt.Errorf("begin transaction: %w", mapErr(err))
	}
	return context.WithValue(ctx, txKey{}, &txState{tx: tx, dirty: new(Lookups), cancel: cancel}), nil
}

// Commit commits the transaction BeginTX put in ctx.
func (s *Store) Commit(ctx context.Context) error {
	st, ok := ctx.Value(txKey{}).(*txState)
	if !ok {
		return errors.New("commit: no transaction in context")
	}
	if st.nested {
		return nil
	}
	err := s.bounded(st.cancel, func() error { return st.tx.Commit().Error })
	st.cancel()
	if err != nil {
		return fmt.Errorf("commit: %w", mapErr(err))
	}
	s.bump(context.WithoutCancel(ctx), *st.dirty)
	return nil
}

// Rollback rolls back the transaction BeginTX put in ctx.
func (s *Store) Rollback(ctx context.Context) error {
	st, ok := ctx.Value(txKey{}).(*txState)
	if !ok {
		return errors.New("rollback: no transaction in context")
	}
	if st.nested {
		return nil
	}
	err := s.bounded(st.cancel, func() error { return st.tx.Rollback().Error })
	st.cancel()
	if err != nil && !errors.Is(err, sql.ErrTxDone) && !errors.Is(err, context.Canceled) {
		return fmt.Errorf("rollback: %w", err)
	}
	return nil
}

// InTx runs fn in one transaction (READ COMMITTED on PostgreSQL), committing
// when it returns nil and rolling back otherwise. Inside a transaction it
// joins the open one. It lets services compose repository calls atomically
// without seeing GORM.
func (s *Store) InTx(ctx context.Context, fn func(ctx context.Context) error) (err error) {
	ctx, err = s.begin(ctx, nil)
	if err != nil {
		return err
	}
	defer func() {
		if p := recover(); p != nil {
			_ = s.Rollback(ctx)
			panic(p)
		}
	}()
	if err := fn(ctx); err != nil {
		if rerr := s.Rollback(ctx); rerr != nil {
			return errors.Join(err, rerr)
		}
		return err
	}
	return s.Commit(ctx)
}
