package storage

import (
	"context"
	"database/sql/driver"
	"errors"
	"io"
	"net"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ory/fosite"
	"gorm.io/gorm"

	"github.com/identityd/identityd/models"
)

// mapErr turns database errors that have a meaning for callers into fosite's
// sentinels (used by fosite's handlers): a serialization conflict, deadlock or
// busy database becomes ErrSerializationFailure; a missing row ErrNotFound.
// Sentinels are copied with WithWrap, never mutated.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, gorm.ErrRecordNotFound) {
		return fosite.ErrNotFound.WithWrap(err)
	}
	if dbUnavailable(err) {
		// Never ErrNotFound: fosite would answer "invalid" for a valid token
		// or client. The models error in the chain tells the handlers to
		// answer 503 temporarily_unavailable.
		return fosite.ErrTemporarilyUnavailable.WithWrap(models.ErrUnavailable("database", err))
	}
	if isConflict(err) || errors.Is(err, gorm.ErrDuplicatedKey) {
		return fosite.ErrSerializationFailure.WithWrap(err)
	}
	return err
}

// isConflict reports a serialization failure or deadlock (PostgreSQL 40001,
// 40P01) or a busy or locked SQLite database.
func isConflict(err error) bool {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Code == "40001" || pgErr.Code == "40P01"
	}
	msg := err.Error()
	return strings.Contains(msg, "SQLITE_BUSY") || strings.Contains(msg, "database is locked") ||
		strings.Contains(msg, "(5)") && strings.Contains(msg, "sqlite")
}

// repoErr maps database errors for the repositories, which speak models
// errors: a missing row is NotFound (what names the object), a duplicate is a
// Conflict, anything else an Internal error whose cause is kept for the log.
func repoErr(err error, what string) error {
	if err == nil {
		return nil
	}
	var me *models.Error
	if errors.As(err, &me) {
		return err
	}
	if dbUnavailable(err) {
		return models.ErrUnavailable("database", err)
	}
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return models.ErrNotFound(what)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return models.ErrExists(what)
	case errors.Is(err, gorm.ErrForeignKeyViolated):
		return models.ErrNotFound(what)
	}
	return models.ErrInternal(err)
}

// dbUnavailable reports an error that says the database could not be reached
// or did not answer in time (as opposed to refusing a statement): a deadline,
// a refused or broken connection, a closed pool, or the server shutting down
// (PostgreSQL class 08, 57P01..57P03, 53300 too many connections).
func dbUnavailable(err error) bool {
	if err == nil {
		return false
	}
	if models.IsUnavailable(err) {
		return true
	}
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, driver.ErrBadConn) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) {
		return true
	}
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return strings.HasPrefix(pgErr.Code, "08") || pgErr.Code == "57P01" || pgErr.Code == "57P02" ||
			pgErr.Code == "57P03" || pgErr.Code == "53300"
	}
	var connErr *pgconn.ConnectError
	if errors.As(err, &connErr) || pgconn.Timeout(err) || pgconn.SafeToRetry(err) {
		return true
	}
	var netErr net.Error
	if errors.As(err, &netErr) {
		return true
	}
	msg := err.Error()
	return strings.Contains(msg, "sql: database is closed") || strings.Contains(msg, "conn closed") ||
		strings.Contains(msg, "connection refused") || strings.Contains(msg, "broken pipe") ||
		strings.Contains(msg, "connection reset")
}

// registerUnavailable marks every failed statement whose error says the
// database is unreachable as a models error of KindUnavailable, so that a
// repository that returns the error without repoErr still yields a 503, not
// a 500.
func (s *Store) registerUnavailable() error {
	mark := func(db *gorm.DB) {
		if db.Error != nil && !models.IsUnavailable(db.Error) && dbUnavailable(db.Error) {
			db.Error = models.ErrUnavailable("database", db.Error)
		}
	}
	cb := s.gdb.Callback()
	return errors.Join(
		cb.Create().After("*").Register("identity:unavailable", mark),
		cb.Query().After("*").Register("identity:unavailable", mark),
		cb.Update().After("*").Register("identity:unavailable", mark),
		cb.Delete().After("*").Register("identity:unavailable", mark),
		cb.Raw().After("*").Register("identity:unavailable", mark),
		cb.Row().After("*").Register("identity:unavailable", mark),
	)
}
