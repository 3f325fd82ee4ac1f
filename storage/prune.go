package storage

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/identityd/identityd/models"
)

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
// (tenants.audit_retention_days, raised to opts.MinDays when below it, or
// opts.DefaultDays where that is 0, and for rows of no tenant or of a
// deleted one), opts.Batch rows per statement. It returns how many rows it
// deleted.
func (s *Store) PruneAuditLogs(ctx context.Context, opts models.AuditPruneOptions) (int64, error) {
	defaultDays, batch := opts.DefaultDays, opts.Batch
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
		cutoff := now.AddDate(0, 0, -max(t.AuditRetentionDays, opts.MinDays))
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
// JTIs, login challenges, e-mail codes and one-time codes, browser login sessions, and device
// sessions that were revoked or expired more than SessionRetention ago, and
// invitations accepted, revoked or expired more than InvitationRetention
// ago (a pending one, or one that ended recently, stays and keeps its
// status). It returns the count per table.
func (s *Store) PruneExpired(ctx context.Context, opts models.PruneOptions) (map[string]int64, error) {
	keep := opts.SessionRetention
	if keep <= 0 {
		keep = models.DefaultSessionRetention
	}
	keepInv := opts.InvitationRetention
	if keepInv <= 0 {
		keepInv = models.DefaultInvitationRetention
	}
	now := s.now()
	stale := now.Add(-24 * time.Hour)
	ended := now.Add(-keep)
	invEnded := now.Add(-keepInv)
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
		{"webauthn_ceremonies", "id", "expires_at < ?", []any{now}},
		{"email_codes", "id", "expires_at < ?", []any{now}},
		{"one_time_codes", "id", "expires_at < ?", []any{now}},
		{"email_verifications", "id", "expires_at < ?", []any{now}},
		{"login_sessions", "id", "expires_at < ?", []any{now}},
		// Issue 12 §1: started upstream sign-ins (10 minutes to live) and
		// the upstream side of federated sessions past their end.
		{"federation_states", "id", "expires_at < ?", []any{now}},
		{"federation_logins", "session_id", "expires_at < ?", []any{now}},
		{"sessions", "id", "(expires_at < ? OR revoked_at < ?)", []any{ended, ended}},
		// An invitation ends when accepted, revoked or expired, whichever
		// came first; it goes once that is InvitationRetention ago.
		{"invitations", "id", "(accepted_at < ? OR revoked_at < ? OR (accepted_at IS NULL AND revoked_at IS NULL AND expires_at < ?))",
			[]any{invEnded, invEnded, invEnded}},
	}
	out := make(map[string]int64, len(steps))
	for _, st := range steps {
		n, err := s.deleteBatched(ctx, st.table, st.pk, opts.Batch, st.cond, st.args...)
		out[st.table] = n
		if st.table == tableAccess && n > 0 {
			s.invalidateLookups(ctx, TokenLookups)
		}
		if err != nil {
			return out, err
		}
	}
	return out, nil
}
