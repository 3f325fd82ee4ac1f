package storagetest

import (
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
)

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

// RawStore gives the suites the pool behind a store, to check what rests in
// its tables.
type RawStore interface {
	Dialect() storage.Dialect
	SQLDB() (*sql.DB, error)
}

// rebind turns ? placeholders into $n for PostgreSQL.
func rebind(s RawStore, q string) string {
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
func rawRows(t *testing.T, s RawStore, table, where string, args ...any) []map[string]string {
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
func rawTime(t *testing.T, s RawStore, table, col, where string, args ...any) (time.Time, bool) {
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

func countRows(t *testing.T, s RawStore, table, where string, args ...any) int {
	t.Helper()
	return len(rawRows(t, s, table, where, args...))
}

// wantKeyHashed checks that table holds key only as its SHA-256 in col and
// that the raw key appears in no column of any row.
func wantKeyHashed(t *testing.T, s RawStore, table, col, rawKey string) {
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
