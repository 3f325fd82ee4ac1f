package storage

import (
	"errors"
	"strings"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/ory/fosite"
	"gorm.io/gorm"

	"github.com/identity/identity/models"
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
	switch {
	case errors.Is(err, gorm.ErrRecordNotFound):
		return models.ErrNotFound(what)
	case errors.Is(err, gorm.ErrDuplicatedKey):
		return models.ErrConflict(what+"_exists", "A "+what+" with these details already exists.")
	case errors.Is(err, gorm.ErrForeignKeyViolated):
		return models.ErrNotFound(what)
	}
	return models.ErrInternal(err)
}
