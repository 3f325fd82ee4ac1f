package storage

import (
	"context"
	"fmt"
	"time"

	"gorm.io/gorm"

	"github.com/identityd/identityd/models"
)

// Every PostgreSQL call has a deadline (Options.QueryTimeout): a statement
// gets its own context with that timeout, which also bounds the wait for a
// pooled connection; BEGIN, COMMIT and ROLLBACK are bounded by a timer that
// cancels the transaction's context. A frozen or unreachable database then
// costs a request one deadline and an "unavailable" error (dbUnavailable),
// never a hang. SQLite is in-process and has its busy timeout instead.

const deadlineCancelKey = "identity:deadline_cancel"

// deadlineState is what a statement's deadline callback leaves for its end:
// the context it replaced (a chain such as Count then Find reuses the
// statement, and must not inherit a cancelled context) and the cancel.
type deadlineState struct {
	parent context.Context
	cancel context.CancelFunc
}

// registerDeadlines installs the per-statement deadline callbacks.
func (s *Store) registerDeadlines() error {
	d := s.timeout
	before := func(db *gorm.DB) {
		ctx := db.Statement.Context
		if ctx == nil {
			return
		}
		if dl, ok := ctx.Deadline(); ok && time.Until(dl) <= d {
			return
		}
		tctx, cancel := context.WithTimeout(ctx, d)
		db.Statement.Context = tctx
		db.InstanceSet(deadlineCancelKey, deadlineState{parent: ctx, cancel: cancel})
	}
	end := func(cancel bool) func(db *gorm.DB) {
		return func(db *gorm.DB) {
			v, ok := db.InstanceGet(deadlineCancelKey)
			if !ok {
				return
			}
			st, ok := v.(deadlineState)
			if !ok {
				return
			}
			db.Statement.Context = st.parent
			if cancel {
				st.cancel()
			}
			db.InstanceSet(deadlineCancelKey, nil)
		}
	}
	after := end(true)
	cb := s.gdb.Callback()
	for _, err := range []error{
		cb.Create().Before("*").Register("identity:deadline", before),
		cb.Query().Before("*").Register("identity:deadline", before),
		cb.Update().Before("*").Register("identity:deadline", before),
		cb.Delete().Before("*").Register("identity:deadline", before),
		cb.Raw().Before("*").Register("identity:deadline", before),
		cb.Row().Before("*").Register("identity:deadline", before),
		cb.Create().After("*").Register("identity:deadline_end", after),
		cb.Query().After("*").Register("identity:deadline_end", after),
		cb.Update().After("*").Register("identity:deadline_end", after),
		cb.Delete().After("*").Register("identity:deadline_end", after),
		cb.Raw().After("*").Register("identity:deadline_end", after),
		// Rows are read after the Row callback returns: their context is
		// released by its own timer, not cancelled here.
		cb.Row().After("*").Register("identity:deadline_end", end(false)),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// bounded runs fn, cancelling cancel if it has not returned within the
// store's deadline (BEGIN, COMMIT, ROLLBACK), and returns fn's error — as an
// unavailable error when the deadline cut it short (the driver only reports
// "context canceled", which would read as the caller giving up).
func (s *Store) bounded(cancel context.CancelFunc, fn func() error) error {
	if s.timeout <= 0 || cancel == nil {
		return fn()
	}
	t := time.AfterFunc(s.timeout, cancel)
	err := fn()
	if !t.Stop() && err != nil {
		return models.ErrUnavailable("database", fmt.Errorf("no answer within %s: %w", s.timeout, err))
	}
	return err
}
