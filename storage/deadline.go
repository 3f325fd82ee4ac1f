package storage

import (
	"context"
	"time"

	"gorm.io/gorm"
)

// Every PostgreSQL call has a deadline (Options.QueryTimeout): a statement
// gets its own context with that timeout, which also bounds the wait for a
// pooled connection; BEGIN, COMMIT and ROLLBACK are bounded by a timer that
// cancels the transaction's context. A frozen or unreachable database then
// costs a request one deadline and an "unavailable" error (dbUnavailable),
// never a hang. SQLite is in-process and has its busy timeout instead.

const deadlineCancelKey = "identity:deadline_cancel"

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
		ctx, cancel := context.WithTimeout(ctx, d)
		db.Statement.Context = ctx
		db.InstanceSet(deadlineCancelKey, cancel)
	}
	after := func(db *gorm.DB) {
		if v, ok := db.InstanceGet(deadlineCancelKey); ok {
			if cancel, ok := v.(context.CancelFunc); ok {
				cancel()
			}
		}
	}
	cb := s.gdb.Callback()
	for _, err := range []error{
		cb.Create().Before("*").Register("identity:deadline", before),
		cb.Query().Before("*").Register("identity:deadline", before),
		cb.Update().Before("*").Register("identity:deadline", before),
		cb.Delete().Before("*").Register("identity:deadline", before),
		cb.Raw().Before("*").Register("identity:deadline", before),
		// Rows are read after the Row callback returns: their context is
		// released by its own timer, not cancelled here.
		cb.Row().Before("*").Register("identity:deadline", before),
		cb.Create().After("*").Register("identity:deadline_end", after),
		cb.Query().After("*").Register("identity:deadline_end", after),
		cb.Update().After("*").Register("identity:deadline_end", after),
		cb.Delete().After("*").Register("identity:deadline_end", after),
		cb.Raw().After("*").Register("identity:deadline_end", after),
	} {
		if err != nil {
			return err
		}
	}
	return nil
}

// bounded runs fn, cancelling cancel if it has not returned within the
// store's deadline (BEGIN, COMMIT, ROLLBACK).
func (s *Store) bounded(cancel context.CancelFunc, fn func()) {
	if s.timeout <= 0 || cancel == nil {
		fn()
		return
	}
	t := time.AfterFunc(s.timeout, cancel)
	fn()
	t.Stop()
}
