package storage

import (
	"context"
	"fmt"
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
