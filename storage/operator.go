package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"
	"gorm.io/gorm/clause"

	"github.com/identityd/identityd/models"
)

// Repositories of the operator: tenants as system admins see them, the audit
// log query and export, retention and the pruning of expired rows, and the
// job leases that let one instance at a time run a periodic job.

// ListTenants returns one page of tenants ordered by slug; after (a slug from
// the previous page, "" for the first) is the keyset cursor. search matches
// the slug or the name, case-insensitively.
func (s *Store) ListTenants(ctx context.Context, search, after string, limit int) ([]models.Tenant, error) {
	q := s.db(ctx).Model(&models.Tenant{})
	if search = strings.TrimSpace(search); search != "" {
		pat := "%" + escapeLike(strings.ToLower(search)) + "%"
		q = q.Where(`(LOWER(slug) LIKE ? ESCAPE '\' OR LOWER(name) LIKE ? ESCAPE '\')`, pat, pat)
	}
	if after != "" {
		q = q.Where("slug > ?", after)
	}
	var out []models.Tenant
	if err := q.Order("slug ASC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list tenants: %w", repoErr(err, "tenant"))
	}
	return out, nil
}

// escapeLike escapes the LIKE wildcards of s (with '\' as the escape).
func escapeLike(s string) string {
	return strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`).Replace(s)
}

// UpdateTenant changes the named columns of a tenant (name,
// audit_retention_days) and returns it; NotFound for an unknown id.
func (s *Store) UpdateTenant(ctx context.Context, id string, fields map[string]any) (*models.Tenant, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, models.ErrNotFound("tenant")
	}
	var t models.Tenant
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		upd := map[string]any{"updated_at": s.now()}
		for k, v := range fields {
			switch k {
			case "name", "audit_retention_days":
				upd[k] = v
			default:
				return fmt.Errorf("update tenant: column %q cannot be changed", k)
			}
		}
		res := db.Model(&models.Tenant{}).Where("id = ?", id).Updates(upd)
		if res.Error != nil {
			return fmt.Errorf("update tenant: %w", repoErr(res.Error, "tenant"))
		}
		if res.RowsAffected == 0 {
			return models.ErrNotFound("tenant")
		}
		if err := db.Where("id = ?", id).Take(&t).Error; err != nil {
			return fmt.Errorf("update tenant: %w", repoErr(err, "tenant"))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// SuspendTenant marks the tenant suspended and, in the same transaction,
// ends everything that lets anyone act in it: every token, code and OIDC/PKCE
// session of the tenant is deleted, its device sessions are revoked, its
// browser login sessions and pending login challenges deleted. New logins
// are refused by the login service, client authentication by GetClient (it
// skips clients of suspended tenants). Suspending a suspended tenant keeps
// its first suspended_at and revokes again. Returns the tenant.
func (s *Store) SuspendTenant(ctx context.Context, id string) (*models.Tenant, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, models.ErrNotFound("tenant")
	}
	var t models.Tenant
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		now := s.now()
		if err := db.Scopes(s.forUpdate).Where("id = ?", id).Take(&t).Error; err != nil {
			return fmt.Errorf("suspend tenant: %w", repoErr(err, "tenant"))
		}
		if t.SuspendedAt == nil {
			if err := db.Model(&models.Tenant{}).Where("id = ?", id).
				Updates(map[string]any{"suspended_at": now, "updated_at": now}).Error; err != nil {
				return fmt.Errorf("suspend tenant: %w", repoErr(err, "tenant"))
			}
			if err := db.Where("id = ?", id).Take(&t).Error; err != nil {
				return fmt.Errorf("suspend tenant: %w", repoErr(err, "tenant"))
			}
		}
		for _, table := range []string{tableAccess, tableRefresh, tableCodes, tableOIDC, tablePKCE} {
			if err := db.Table(table).Where("tenant_id = ?", id).Delete(&requestRow{}).Error; err != nil {
				return fmt.Errorf("suspend tenant: delete %s: %w", table, mapErr(err))
			}
		}
		if err := db.Model(&models.Session{}).Where("tenant_id = ? AND revoked_at IS NULL", id).Update("revoked_at", now).Error; err != nil {
			return fmt.Errorf("suspend tenant: revoke sessions: %w", repoErr(err, "session"))
		}
		if err := db.Where("tenant_id = ?", id).Delete(&models.LoginSession{}).Error; err != nil {
			return fmt.Errorf("suspend tenant: delete login sessions: %w", repoErr(err, "login_session"))
		}
		if err := db.Where("tenant_id = ?", id).Delete(&models.AuthChallenge{}).Error; err != nil {
			return fmt.Errorf("suspend tenant: delete challenges: %w", repoErr(err, "challenge"))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// UnsuspendTenant clears suspended_at: new logins and tokens work again (the
// revoked ones stay revoked). Returns the tenant.
func (s *Store) UnsuspendTenant(ctx context.Context, id string) (*models.Tenant, error) {
	return s.updateTenantRaw(ctx, id, map[string]any{"suspended_at": nil})
}

func (s *Store) updateTenantRaw(ctx context.Context, id string, upd map[string]any) (*models.Tenant, error) {
	if _, err := uuid.Parse(id); err != nil {
		return nil, models.ErrNotFound("tenant")
	}
	var t models.Tenant
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		upd["updated_at"] = s.now()
		res := db.Model(&models.Tenant{}).Where("id = ?", id).Updates(upd)
		if res.Error != nil {
			return fmt.Errorf("update tenant: %w", repoErr(res.Error, "tenant"))
		}
		if res.RowsAffected == 0 {
			return models.ErrNotFound("tenant")
		}
		return repoErr(db.Where("id = ?", id).Take(&t).Error, "tenant")
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// DeleteTenant deletes a tenant and, by the schema's cascades, its users,
// clients, roles, policies, service accounts, keys, devices and sessions;
// the fosite tables (which carry tenant_id without a foreign key) are
// cleared in the same transaction. Audit rows stay (the trail outlives the
// tenant) until retention prunes them.
func (s *Store) DeleteTenant(ctx context.Context, id string) error {
	if _, err := uuid.Parse(id); err != nil {
		return models.ErrNotFound("tenant")
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		for _, table := range []string{tableAccess, tableRefresh, tableCodes, tableOIDC, tablePKCE} {
			if err := db.Table(table).Where("tenant_id = ?", id).Delete(&requestRow{}).Error; err != nil {
				return fmt.Errorf("delete tenant: %s: %w", table, mapErr(err))
			}
		}
		res := db.Where("id = ?", id).Delete(&models.Tenant{})
		if res.Error != nil {
			return fmt.Errorf("delete tenant: %w", repoErr(res.Error, "tenant"))
		}
		if res.RowsAffected == 0 {
			return models.ErrNotFound("tenant")
		}
		return nil
	})
}

func (s *Store) auditQuery(ctx context.Context, f models.AuditFilter) *gorm.DB {
	q := s.db(ctx).Model(&models.AuditLog{})
	if f.TenantID != "" {
		if _, err := uuid.Parse(f.TenantID); err != nil {
			return q.Where("1 = 0")
		}
		q = q.Where("tenant_id = ?", f.TenantID)
	}
	if f.Actor != "" {
		if _, err := uuid.Parse(f.Actor); err == nil {
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

// deleteBatched deletes the rows of table matching cond, at most batch rows
// per statement, each statement its own short transaction, until fewer than
// batch match. Rows are picked by primary key on PostgreSQL (skipping rows
// another transaction holds locked, such as a refresh token being rotated)
// and by rowid on SQLite, so every statement is an index range plus point
// deletes and concurrent token issuance never waits long behind a prune.
func (s *Store) deleteBatched(ctx context.Context, table, pk string, batch int, cond string, args ...any) (int64, error) {
	if batch <= 0 {
		batch = 1000
	}
	var stmt string
	switch s.dialect {
	case Postgres:
		stmt = fmt.Sprintf(`DELETE FROM %[1]s WHERE %[2]s IN (SELECT %[2]s FROM %[1]s WHERE %[3]s LIMIT %[4]d FOR UPDATE SKIP LOCKED)`, table, pk, cond, batch)
	default:
		stmt = fmt.Sprintf(`DELETE FROM %[1]s WHERE rowid IN (SELECT rowid FROM %[1]s WHERE %[2]s LIMIT %[3]d)`, table, cond, batch)
	}
	var total int64
	for {
		if err := ctx.Err(); err != nil {
			return total, err
		}
		res := s.db(ctx).Exec(stmt, args...)
		if res.Error != nil {
			return total, fmt.Errorf("prune %s: %w", table, repoErr(res.Error, table))
		}
		total += res.RowsAffected
		if res.RowsAffected < int64(batch) {
			return total, nil
		}
	}
}

// PruneAuditLogs deletes audit rows older than their tenant's retention
// (tenants.audit_retention_days, or defaultDays where that is 0, and for rows
// of no tenant or of a deleted one), batch rows per statement. It returns
// how many rows it deleted.
func (s *Store) PruneAuditLogs(ctx context.Context, defaultDays, batch int) (int64, error) {
	if defaultDays <= 0 {
		return 0, errors.New("prune audit logs: default retention must be positive")
	}
	now := s.now()
	var custom []struct {
		ID                 string
		AuditRetentionDays int
	}
	if err := s.db(ctx).Model(&models.Tenant{}).Select("id, audit_retention_days").
		Where("audit_retention_days > 0").Find(&custom).Error; err != nil {
		return 0, fmt.Errorf("prune audit logs: %w", repoErr(err, "tenant"))
	}
	var total int64
	for _, t := range custom {
		cutoff := now.AddDate(0, 0, -t.AuditRetentionDays)
		n, err := s.deleteBatched(ctx, "audit_logs", "id", batch, "tenant_id = ? AND created_at < ?", t.ID, cutoff)
		total += n
		if err != nil {
			return total, err
		}
	}
	cutoff := now.AddDate(0, 0, -defaultDays)
	n, err := s.deleteBatched(ctx, "audit_logs", "id", batch,
		"created_at < ? AND (tenant_id IS NULL OR tenant_id NOT IN (SELECT id FROM tenants WHERE audit_retention_days > 0))", cutoff)
	return total + n, err
}

// PruneExpired deletes what has expired, table by table and in batches:
// access and refresh tokens, codes, OIDC and PKCE sessions past expires_at
// (and codes, OIDC and PKCE rows without one after a day), client-assertion
// JTIs, login challenges and e-mail codes, browser login sessions, and device
// sessions that were revoked or expired more than SessionRetention ago. It
// returns the count per table.
func (s *Store) PruneExpired(ctx context.Context, opts models.PruneOptions) (map[string]int64, error) {
	keep := opts.SessionRetention
	if keep <= 0 {
		keep = models.DefaultSessionRetention
	}
	now := s.now()
	stale := now.Add(-24 * time.Hour)
	ended := now.Add(-keep)
	steps := []struct {
		table, pk, cond string
		args            []any
	}{
		{tableAccess, "signature", "expires_at < ?", []any{now}},
		{tableRefresh, "signature", "expires_at < ?", []any{now}},
		{tableCodes, "signature", "(expires_at < ? OR (expires_at IS NULL AND requested_at < ?))", []any{now, stale}},
		{tableOIDC, "signature", "(expires_at < ? OR (expires_at IS NULL AND requested_at < ?))", []any{now, stale}},
		{tablePKCE, "signature", "(expires_at < ? OR (expires_at IS NULL AND requested_at < ?))", []any{now, stale}},
		{"oauth_jtis", "jti_hash", "expires_at < ?", []any{now}},
		{"auth_challenges", "id", "expires_at < ?", []any{now}},
		{"email_codes", "id", "expires_at < ?", []any{now}},
		{"login_sessions", "id", "expires_at < ?", []any{now}},
		{"sessions", "id", "(expires_at < ? OR revoked_at < ?)", []any{ended, ended}},
	}
	out := make(map[string]int64, len(steps))
	for _, st := range steps {
		n, err := s.deleteBatched(ctx, st.table, st.pk, opts.Batch, st.cond, st.args...)
		out[st.table] = n
		if err != nil {
			return out, err
		}
	}
	return out, nil
}

// AcquireLease takes the named job lease for holder until now+ttl if it is
// free (never taken, or expired): the row is inserted once (conflicts
// ignored), then one conditional UPDATE claims it. Of any number of
// concurrent callers exactly one sees its UPDATE match, on both databases
// (PostgreSQL re-checks the condition after waiting for the row lock; SQLite
// has one writer).
func (s *Store) AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	db := s.db(ctx)
	row := models.JobLease{Name: name, Holder: "", LeasedUntil: time.Unix(0, 0).UTC()}
	if err := db.Clauses(clause.OnConflict{DoNothing: true}).Create(&row).Error; err != nil {
		return false, fmt.Errorf("acquire lease %s: %w", name, repoErr(err, "job_lease"))
	}
	now := s.now()
	res := db.Model(&models.JobLease{}).Where("name = ? AND leased_until < ?", name, now).
		Updates(map[string]any{"holder": holder, "leased_until": now.Add(ttl)})
	if res.Error != nil {
		if isConflict(res.Error) {
			return false, nil
		}
		return false, fmt.Errorf("acquire lease %s: %w", name, repoErr(res.Error, "job_lease"))
	}
	return res.RowsAffected == 1, nil
}

// GetLease returns the named lease.
func (s *Store) GetLease(ctx context.Context, name string) (*models.JobLease, error) {
	var l models.JobLease
	if err := s.db(ctx).Where("name = ?", name).Take(&l).Error; err != nil {
		return nil, fmt.Errorf("get lease: %w", repoErr(err, "job_lease"))
	}
	l.LeasedUntil = l.LeasedUntil.UTC()
	return &l, nil
}
