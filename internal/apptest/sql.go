package apptest

import (
	"database/sql"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/identityd/identityd/storage"
	"github.com/stretchr/testify/require"
)

// Rebind turns the ? placeholders of q into $n for PostgreSQL, so a test's
// raw SQL runs unchanged on both databases.
func Rebind(d storage.Dialect, q string) string {
	if d != storage.Postgres {
		return q
	}
	var b strings.Builder
	n := 0
	for _, r := range q {
		if r == '?' {
			n++
			fmt.Fprintf(&b, "$%d", n)
			continue
		}
		b.WriteRune(r)
	}
	return b.String()
}

// The tests read and write the database straight with raw SQL (no mocks):
// ? placeholders, rebound for PostgreSQL when args are given.

func (s *Server) bind(q string, args []any) string {
	if len(args) == 0 {
		return q
	}
	return Rebind(s.Store.Dialect(), q)
}

func (s *Server) sqlDB(t testing.TB) *sql.DB {
	t.Helper()
	db, err := s.Store.SQLDB()
	require.NoError(t, err)
	return db
}

// Exec runs a statement.
func (s *Server) Exec(t testing.TB, q string, args ...any) {
	t.Helper()
	_, err := s.sqlDB(t).ExecContext(t.Context(), s.bind(q, args), args...)
	require.NoError(t, err, q)
}

// Int runs a query that returns one integer.
func (s *Server) Int(t testing.TB, q string, args ...any) int {
	t.Helper()
	var n int
	require.NoError(t, s.sqlDB(t).QueryRowContext(t.Context(), s.bind(q, args), args...).Scan(&n), q)
	return n
}

// Strings returns the first column of every row; a NULL fails the test.
func (s *Server) Strings(t testing.TB, q string, args ...any) []string {
	t.Helper()
	rows, err := s.sqlDB(t).QueryContext(t.Context(), s.bind(q, args), args...)
	require.NoError(t, err, q)
	defer rows.Close()
	var out []string
	for rows.Next() {
		var v string
		require.NoError(t, rows.Scan(&v))
		out = append(out, v)
	}
	require.NoError(t, rows.Err())
	return out
}

// Scalar is the one value a query returns (exactly one row).
func (s *Server) Scalar(t testing.TB, q string, args ...any) string {
	t.Helper()
	v := s.Strings(t, q, args...)
	require.Len(t, v, 1, q)
	return v[0]
}

// Rows returns every column of every row as text (NULL as "", times in
// RFC 3339 UTC).
func (s *Server) Rows(t testing.TB, q string, args ...any) [][]string {
	t.Helper()
	_, rows := s.query(t, q, args)
	return rows
}

// RowMaps returns every row as column → text, formatted as Rows.
func (s *Server) RowMaps(t testing.TB, q string, args ...any) []map[string]string {
	t.Helper()
	cols, rows := s.query(t, q, args)
	out := make([]map[string]string, 0, len(rows))
	for _, r := range rows {
		m := make(map[string]string, len(cols))
		for i, c := range cols {
			m[c] = r[i]
		}
		out = append(out, m)
	}
	return out
}

// TableRows is RowMaps of every row of table.
func (s *Server) TableRows(t testing.TB, table string) []map[string]string {
	t.Helper()
	return s.RowMaps(t, "SELECT * FROM "+table)
}

func (s *Server) query(t testing.TB, q string, args []any) ([]string, [][]string) {
	t.Helper()
	rows, err := s.sqlDB(t).QueryContext(t.Context(), s.bind(q, args), args...)
	require.NoError(t, err, q)
	defer rows.Close()
	cols, err := rows.Columns()
	require.NoError(t, err)
	var out [][]string
	for rows.Next() {
		vals := make([]any, len(cols))
		ptrs := make([]any, len(cols))
		for i := range vals {
			ptrs[i] = &vals[i]
		}
		require.NoError(t, rows.Scan(ptrs...))
		row := make([]string, len(cols))
		for i, v := range vals {
			switch x := v.(type) {
			case nil:
			case []byte:
				row[i] = string(x)
			case string:
				row[i] = x
			case time.Time:
				row[i] = x.UTC().Format(time.RFC3339Nano)
			default:
				row[i] = fmt.Sprint(x)
			}
		}
		out = append(out, row)
	}
	require.NoError(t, rows.Err())
	return cols, out
}
