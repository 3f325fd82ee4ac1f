package identity

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"time"
)

// Tx runs fn in one transaction (storage's InTx): the transaction travels
// in the context fn receives, a nested InTx joins the open one, and fn's
// error rolls everything back. Every use case that changes something runs
// in one, with its audit row (Auditor.Record uses the same context).
type Tx interface {
	// InTx returns fn's error unchanged, or the error of beginning or
	// committing; on PostgreSQL a serialization failure is an error of kind
	// Conflict or Unavailable, never a silent retry.
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// dep is one dependency a constructor checks.
type dep struct {
	name    string
	missing bool
}

// checkDeps names every missing dependency of service at once, so a
// mis-wired server fails at start rather than on the first request.
func checkDeps(service string, deps ...dep) error {
	var missing []string
	for _, d := range deps {
		if d.missing {
			missing = append(missing, d.name)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("identity.New%s: missing %s", service, strings.Join(missing, ", "))
	}
	return nil
}

// clockOr is the one clock default: now, or time.Now, always in UTC.
func clockOr(now func() time.Time) func() time.Time {
	if now == nil {
		now = time.Now
	}
	return func() time.Time { return now().UTC() }
}

// logOr is the one logger default: log, or a logger that discards.
func logOr(log *slog.Logger) *slog.Logger {
	if log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return log
}
