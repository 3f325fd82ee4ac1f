package identity

import (
	"fmt"
	"log/slog"
	"strings"
	"time"
)

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
