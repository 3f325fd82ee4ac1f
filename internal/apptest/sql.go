package apptest

import (
	"fmt"
	"strings"

	"github.com/identityd/identityd/storage"
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
