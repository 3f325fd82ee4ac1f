package storage

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/identityd/identityd/models"
)

func (s *Store) auditQuery(ctx context.Context, f models.AuditFilter) *gorm.DB {
	q := s.db(ctx).Model(&models.AuditLog{})
	if f.TenantID != "" {
		if !models.ValidID(f.TenantID) {
			return q.Where("1 = 0")
		}
		q = q.Where("tenant_id = ?", f.TenantID)
	}
	if f.Actor != "" {
		if models.ValidID(f.Actor) {
			q = q.Where("(user_id = ? OR actor_id = ?)", f.Actor, f.Actor)
		} else {
			q = q.Where("actor_id = ?", f.Actor)
		}
	}
	if f.Action != "" {
		q = q.Where("action = ?", f.Action)
	}
	if !f.From.IsZero() {
		q = q.Where("created_at >= ?", f.From.UTC())
	}
	if !f.To.IsZero() {
		q = q.Where("created_at < ?", f.To.UTC())
	}
	if f.BeforeID != "" {
		bt := f.BeforeTime.UTC()
		q = q.Where("(created_at < ? OR (created_at = ? AND id < ?))", bt, bt, f.BeforeID)
	}
	return q.Order("created_at DESC, id DESC")
}

// ListAuditLogs returns one page of audit rows, newest first.
func (s *Store) ListAuditLogs(ctx context.Context, f models.AuditFilter, limit int) ([]models.AuditLog, error) {
	var out []models.AuditLog
	if err := s.auditQuery(ctx, f).Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list audit logs: %w", repoErr(err, "audit_log"))
	}
	for i := range out {
		out[i].CreatedAt = out[i].CreatedAt.UTC()
	}
	return out, nil
}

// auditStreamChunk is how many rows one cursor of StreamAuditLogs reads
// before it is closed and the next chunk opened from the keyset: no
// connection (SQLite has exactly one) is held for a whole export.
const auditStreamChunk = 1000

// StreamAuditLogs calls fn for every matching row, newest first, reading
// them with Rows() in keyset chunks: memory stays flat however many rows
// match, and fn sees each row as soon as it is read. An error from fn stops
// the stream and is returned.
func (s *Store) StreamAuditLogs(ctx context.Context, f models.AuditFilter, fn func(*models.AuditLog) error) error {
	for {
		n := 0
		var last models.AuditLog
		rows, err := s.auditQuery(ctx, f).Limit(auditStreamChunk).Rows()
		if err != nil {
			return fmt.Errorf("stream audit logs: %w", repoErr(err, "audit_log"))
		}
		for rows.Next() {
			var row models.AuditLog
			if err := s.db(ctx).ScanRows(rows, &row); err != nil {
				_ = rows.Close()
				return fmt.Errorf("stream audit logs: scan: %w", repoErr(err, "audit_log"))
			}
			row.CreatedAt = row.CreatedAt.UTC()
			n++
			last = row
			if err := fn(&row); err != nil {
				_ = rows.Close()
				return err
			}
		}
		err = rows.Err()
		_ = rows.Close()
		if err != nil {
			return fmt.Errorf("stream audit logs: %w", repoErr(err, "audit_log"))
		}
		if n < auditStreamChunk {
			return nil
		}
		f.BeforeTime, f.BeforeID = last.CreatedAt, last.ID
	}
}

// CreateAuditLog writes one audit row (in the caller's transaction, if any).
func (s *Store) CreateAuditLog(ctx context.Context, a *models.AuditLog) error {
	a.ID = uuid.NewString()
	a.CreatedAt = s.now()
	if err := s.db(ctx).Create(a).Error; err != nil {
		return fmt.Errorf("write audit log: %w", repoErr(err, "audit_log"))
	}
	return nil
}

// ListUserAuditLogs returns a user's events, newest first, one page; before
// (an id from the previous page, "" for the first) is the keyset cursor.
func (s *Store) ListUserAuditLogs(ctx context.Context, tenantID, userID string, limit int, beforeTime time.Time, beforeID string) ([]models.AuditLog, error) {
	q := s.db(ctx).Where("tenant_id = ? AND user_id = ?", tenantID, userID)
	if beforeID != "" {
		q = q.Where("created_at < ? OR (created_at = ? AND id < ?)", beforeTime, beforeTime, beforeID)
	}
	var out []models.AuditLog
	if err := q.Order("created_at DESC, id DESC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list audit logs: %w", repoErr(err, "audit_log"))
	}
	return out, nil
}

// PseudonymizeAuditLogs rewrites every audit row of the erased person, and
// every other row that names them, so that no identifier is left while the
// trail stays whole: their id becomes the pseudonym (the rows of one
// person stay linkable), the personal metadata values become models.ErasedValue,
// and their own requests lose their IP address and user agent. It returns
// how many rows it changed.
func (s *Store) PseudonymizeAuditLogs(ctx context.Context, e models.AuditErasure) (int, error) {
	if !models.ValidID(e.UserID) || !models.ValidID(e.Pseudonym) {
		return 0, models.ErrInvalid(map[string]string{"user_id": "Give the user's id and a UUID pseudonym."})
	}
	ids := make([]string, 0, len(e.Identifiers))
	for _, v := range e.Identifiers {
		if v = strings.TrimSpace(v); len(v) >= 3 {
			ids = append(ids, strings.ToLower(v))
		}
	}
	changed := 0
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		cond := []string{"user_id = ?", "actor_id = ?", "LOWER(metadata) LIKE ?"}
		args := []any{e.UserID, e.UserID, "%" + strings.ToLower(e.UserID) + "%"}
		for _, v := range ids {
			like := "%" + strings.NewReplacer(`\`, `\\`, "%", `\%`, "_", `\_`).Replace(v) + "%"
			cond = append(cond, `LOWER(metadata) LIKE ? ESCAPE '\'`, `LOWER(user_agent) LIKE ? ESCAPE '\'`)
			args = append(args, like, like)
		}
		var rows []models.AuditLog
		if err := db.Where(strings.Join(cond, " OR "), args...).Find(&rows).Error; err != nil {
			return fmt.Errorf("pseudonymize audit logs: %w", repoErr(err, "audit_log"))
		}
		keys := map[string]bool{}
		for _, k := range e.PersonalKeys {
			keys[k] = true
		}
		for _, r := range rows {
			subject := r.UserID != nil && *r.UserID == e.UserID
			self := r.ActorID == e.UserID || (r.ActorID == "" && subject)
			up := map[string]any{}
			if subject {
				up["user_id"] = e.Pseudonym
			}
			if r.ActorID == e.UserID {
				up["actor_id"] = e.Pseudonym
			}
			ua := r.UserAgent
			if self {
				up["ip_address"], ua = "", ""
			}
			if nua := scrubString(ua, ids, e); nua != r.UserAgent {
				up["user_agent"] = nua
			}
			var md any
			if r.Metadata != "" && json.Unmarshal([]byte(r.Metadata), &md) == nil {
				md = scrubValue(md, ids, e, keys, subject)
				if b, err := json.Marshal(md); err == nil && string(b) != r.Metadata {
					up["metadata"] = string(b)
				}
			} else if nmd := scrubString(r.Metadata, ids, e); nmd != r.Metadata {
				up["metadata"] = nmd
			}
			if len(up) == 0 {
				continue
			}
			if err := db.Model(&models.AuditLog{}).Where("id = ?", r.ID).Updates(up).Error; err != nil {
				return fmt.Errorf("pseudonymize audit log: %w", repoErr(err, "audit_log"))
			}
			changed++
		}
		return nil
	})
	return changed, err
}

// scrubValue rewrites one metadata value: the person's id becomes the
// pseudonym, an identifier inside a string becomes models.ErasedValue, and on
// the person's own rows a personal key's value is erased.
func scrubValue(v any, ids []string, e models.AuditErasure, keys map[string]bool, subject bool) any {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if _, isStr := val.(string); subject && keys[k] && isStr && val != "" {
				x[k] = models.ErasedValue
				continue
			}
			x[k] = scrubValue(val, ids, e, keys, subject)
		}
		return x
	case []any:
		for i := range x {
			x[i] = scrubValue(x[i], ids, e, keys, subject)
		}
		return x
	case string:
		return scrubString(x, ids, e)
	default:
		return v
	}
}

// scrubString replaces the person's id by the pseudonym and every
// identifier (case-insensitively) by models.ErasedValue.
func scrubString(s string, ids []string, e models.AuditErasure) string {
	if s == "" {
		return s
	}
	s = strings.ReplaceAll(s, e.UserID, e.Pseudonym)
	for _, id := range ids {
		if strings.Contains(strings.ToLower(s), id) || !isASCII(s) {
			s = regexp.MustCompile(`(?i)`+regexp.QuoteMeta(id)).ReplaceAllLiteralString(s, models.ErasedValue)
		}
	}
	return s
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}
