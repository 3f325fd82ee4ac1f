package identity

import (
	"context"
	"encoding/base64"
	"strings"
	"time"

	"github.com/identityd/identityd/models"
)

// AuditLogStore is what AuditLog needs from storage.
type AuditLogStore interface {
	// ListAuditLogs returns up to limit rows matching f, newest first (by
	// created_at, then id, the keyset f.BeforeTime/f.BeforeID continues);
	// none is an empty page. f.TenantID "" is every tenant.
	ListAuditLogs(ctx context.Context, f models.AuditFilter, limit int) ([]models.AuditLog, error)
	// StreamAuditLogs calls fn for each matching row, newest first, as it
	// is read; fn's error stops the stream and is returned.
	StreamAuditLogs(ctx context.Context, f models.AuditFilter, fn func(*models.AuditLog) error) error
}

// AuditLog reads the audit log: one page at a time, or a streamed export
// (itself audited).
type AuditLog struct {
	store AuditLogStore
	audit Auditor
}

// AuditLogDeps are what NewAuditLog needs, all required.
type AuditLogDeps struct {
	Store   AuditLogStore
	Auditor Auditor
}

// NewAuditLog checks d and returns the service.
func NewAuditLog(d AuditLogDeps) (*AuditLog, error) {
	if err := checkDeps("AuditLog", dep{"Store", d.Store == nil}, dep{"Auditor", d.Auditor.Store == nil}); err != nil {
		return nil, err
	}
	return &AuditLog{store: d.Store, audit: d.Auditor}, nil
}

// AuditQueryPage is one page of audit rows, newest first.
type AuditQueryPage struct {
	Items      []models.AuditLog
	NextCursor string
}

// Query returns one page of the audit log matching f (f.TenantID "" is every
// tenant: callers set it from the principal on the tenant-scoped API).
func (s *AuditLog) Query(ctx context.Context, f models.AuditFilter, limit int) (*AuditQueryPage, error) {
	if err := checkAuditFilter(f); err != nil {
		return nil, err
	}
	items, err := s.store.ListAuditLogs(ctx, f, limit+1)
	if err != nil {
		return nil, err
	}
	page := &AuditQueryPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		last := items[limit-1]
		page.NextCursor = EncodeAuditCursor(last.CreatedAt, last.ID)
	}
	return page, nil
}

func checkAuditFilter(f models.AuditFilter) error {
	bad := map[string]string{}
	if len(f.Actor) > 200 {
		bad["actor"] = "Use at most 200 characters."
	}
	if len(f.Action) > 200 {
		bad["action"] = "Use at most 200 characters."
	}
	if !f.From.IsZero() && !f.To.IsZero() && !f.From.Before(f.To) {
		bad["to"] = "Give a time after from."
	}
	if len(bad) > 0 {
		return models.ErrInvalid(bad)
	}
	return nil
}

// Export streams every row matching f to fn, newest first, and records
// the export in the audit log (before the first row: an export that fails
// half-way was still attempted).
func (s *AuditLog) Export(ctx context.Context, a Actor, f models.AuditFilter, format string, fn func(*models.AuditLog) error) error {
	if err := checkAuditFilter(f); err != nil {
		return err
	}
	md := map[string]any{"format": format, "actor": f.Actor, "action": f.Action}
	if !f.From.IsZero() {
		md["from"] = f.From
	}
	if !f.To.IsZero() {
		md["to"] = f.To
	}
	if err := s.audit.RecordActor(ctx, a, Event{UserID: a.UserID, Action: AuditExported, Metadata: md}); err != nil {
		return err
	}
	return s.store.StreamAuditLogs(ctx, f, fn)
}

// EncodeAuditCursor makes the opaque keyset cursor of an audit page from
// its last row.
func EncodeAuditCursor(t time.Time, id string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(t.UTC().Format(time.RFC3339Nano) + "|" + id))
}

// DecodeAuditCursor reads a cursor made by EncodeAuditCursor; anything else
// is a validation error on the field "cursor".
func DecodeAuditCursor(c string) (time.Time, string, error) {
	bad := models.ErrInvalid(map[string]string{"cursor": "Use the next_cursor of the previous page."})
	if len(c) > 200 {
		return time.Time{}, "", bad
	}
	raw, err := base64.RawURLEncoding.DecodeString(c)
	if err != nil {
		return time.Time{}, "", bad
	}
	ts, id, ok := strings.Cut(string(raw), "|")
	if !ok {
		return time.Time{}, "", bad
	}
	t, err := time.Parse(time.RFC3339Nano, ts)
	if err != nil {
		return time.Time{}, "", bad
	}
	if !IsUUID(id) {
		return time.Time{}, "", bad
	}
	return t.UTC(), id, nil
}

// IsUUID reports whether s is a UUID in its canonical text form (ids are
// UUIDs; a malformed one can name nothing).
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
				return false
			}
		}
	}
	return true
}
