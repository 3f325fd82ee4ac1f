package storage

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
)

// CreateTenant inserts a tenant, giving it an id.
func (s *Store) CreateTenant(ctx context.Context, t *models.Tenant) error {
	if t.ID == "" {
		t.ID = uuid.NewString()
	}
	now := s.now()
	t.CreatedAt, t.UpdatedAt = now, now
	if t.Settings == "" {
		t.Settings = "{}"
	}
	if err := s.db(ctx).Create(t).Error; err != nil {
		return fmt.Errorf("create tenant: %w", repoErr(err, "tenant"))
	}
	return nil
}

// GetTenantBySlug returns the tenant with that slug.
func (s *Store) GetTenantBySlug(ctx context.Context, slug string) (*models.Tenant, error) {
	var t models.Tenant
	if err := s.db(ctx).Where("slug = ?", slug).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("get tenant: %w", repoErr(err, "tenant"))
	}
	return &t, nil
}

// GetTenant returns the tenant with that id.
func (s *Store) GetTenant(ctx context.Context, id string) (*models.Tenant, error) {
	if !models.ValidID(id) {
		return nil, models.ErrNotFound("tenant")
	}
	var t models.Tenant
	if err := s.db(ctx).Where("id = ?", id).Take(&t).Error; err != nil {
		return nil, fmt.Errorf("get tenant: %w", repoErr(err, "tenant"))
	}
	return &t, nil
}

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
// audit_retention_days, and the presentation columns description, website,
// logo_url, primary_colour, default_locale, and the settings JSON) and returns it; NotFound for an unknown id.
func (s *Store) UpdateTenant(ctx context.Context, id string, fields map[string]any) (*models.Tenant, error) {
	if !models.ValidID(id) {
		return nil, models.ErrNotFound("tenant")
	}
	var t models.Tenant
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		upd := map[string]any{"updated_at": s.now()}
		for k, v := range fields {
			switch k {
			case "name", "audit_retention_days", "description", "website", "logo_url", "primary_colour", "default_locale", "settings":
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
		s.invalidateLookups(ctx, AllLookups)
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
	if !models.ValidID(id) {
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
		if err := s.endTenantAccess(ctx, id, now); err != nil {
			return fmt.Errorf("suspend tenant: %w", err)
		}
		s.invalidateLookups(ctx, AllLookups)
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
	if !models.ValidID(id) {
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
		s.invalidateLookups(ctx, AllLookups)
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
	if !models.ValidID(id) {
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
		s.invalidateLookups(ctx, AllLookups)
		return nil
	})
}

// endTenantAccess ends everything that lets anyone act in the tenant, in
// the transaction of ctx: every token, code and OIDC/PKCE session is
// deleted, the device sessions revoked, the browser logins and pending
// login steps deleted. The caller invalidates the lookups.
func (s *Store) endTenantAccess(ctx context.Context, id string, now time.Time) error {
	db := s.db(ctx)
	for _, table := range []string{tableAccess, tableRefresh, tableCodes, tableOIDC, tablePKCE} {
		if err := db.Table(table).Where("tenant_id = ?", id).Delete(&requestRow{}).Error; err != nil {
			return fmt.Errorf("delete %s: %w", table, mapErr(err))
		}
	}
	if err := db.Model(&models.Session{}).Where("tenant_id = ? AND revoked_at IS NULL", id).Update("revoked_at", now).Error; err != nil {
		return fmt.Errorf("revoke sessions: %w", repoErr(err, "session"))
	}
	if err := db.Where("tenant_id = ?", id).Delete(&models.LoginSession{}).Error; err != nil {
		return fmt.Errorf("delete login sessions: %w", repoErr(err, "login_session"))
	}
	if err := db.Where("tenant_id = ?", id).Delete(&models.AuthChallenge{}).Error; err != nil {
		return fmt.Errorf("delete challenges: %w", repoErr(err, "challenge"))
	}
	return nil
}

// ScheduleTenantDeletion marks the tenant's own deletion pending
// (deletion_scheduled_at now, deletes_at) and, in the same transaction,
// ends every token, session, browser login and pending login step of the
// tenant (endTenantAccess). The tenant row is locked first, so of two
// concurrent schedules one wins and the other is Conflict
// tenant_pending_deletion. NotFound for an unknown tenant.
func (s *Store) ScheduleTenantDeletion(ctx context.Context, id string, now, deletesAt time.Time) (*models.Tenant, error) {
	if !models.ValidID(id) {
		return nil, models.ErrNotFound("tenant")
	}
	var t models.Tenant
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		if err := db.Scopes(s.forUpdate).Where("id = ?", id).Take(&t).Error; err != nil {
			return fmt.Errorf("schedule tenant deletion: %w", repoErr(err, "tenant"))
		}
		if t.DeletesAt != nil {
			return models.ErrTenantDeletionScheduled()
		}
		if err := db.Model(&models.Tenant{}).Where("id = ?", id).Updates(map[string]any{
			"deletion_scheduled_at": now.UTC(), "deletes_at": deletesAt.UTC(), "updated_at": s.now()}).Error; err != nil {
			return fmt.Errorf("schedule tenant deletion: %w", repoErr(err, "tenant"))
		}
		if err := s.endTenantAccess(ctx, id, s.now()); err != nil {
			return fmt.Errorf("schedule tenant deletion: %w", err)
		}
		s.invalidateLookups(ctx, AllLookups)
		return repoErr(db.Where("id = ?", id).Take(&t).Error, "tenant")
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// CancelTenantDeletion clears a pending deletion (the tokens it ended stay
// ended). Conflict tenant_not_pending_deletion when none is pending;
// NotFound for an unknown (or already deleted) tenant.
func (s *Store) CancelTenantDeletion(ctx context.Context, id string) (*models.Tenant, error) {
	if !models.ValidID(id) {
		return nil, models.ErrNotFound("tenant")
	}
	var t models.Tenant
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		if err := db.Scopes(s.forUpdate).Where("id = ?", id).Take(&t).Error; err != nil {
			return fmt.Errorf("cancel tenant deletion: %w", repoErr(err, "tenant"))
		}
		if t.DeletesAt == nil {
			return models.ErrTenantNotPendingDeletion()
		}
		if err := db.Model(&models.Tenant{}).Where("id = ?", id).Updates(map[string]any{
			"deletion_scheduled_at": nil, "deletes_at": nil, "updated_at": s.now()}).Error; err != nil {
			return fmt.Errorf("cancel tenant deletion: %w", repoErr(err, "tenant"))
		}
		s.invalidateLookups(ctx, AllLookups)
		t = models.Tenant{} // a NULL read back leaves a set pointer as it was
		return repoErr(db.Where("id = ?", id).Take(&t).Error, "tenant")
	})
	if err != nil {
		return nil, err
	}
	return &t, nil
}

// ListTenantDeletions returns the tenants whose deletion is pending,
// soonest first.
func (s *Store) ListTenantDeletions(ctx context.Context) ([]models.Tenant, error) {
	var out []models.Tenant
	if err := s.db(ctx).Where("deletes_at IS NOT NULL").Order("deletes_at ASC, slug ASC").Find(&out).Error; err != nil {
		return nil, fmt.Errorf("list tenant deletions: %w", repoErr(err, "tenant"))
	}
	return out, nil
}

// TenantsDueForDeletion returns up to limit tenants whose deletes_at is at
// or before now, soonest first.
func (s *Store) TenantsDueForDeletion(ctx context.Context, now time.Time, limit int) ([]models.Tenant, error) {
	var out []models.Tenant
	if err := s.db(ctx).Where("deletes_at IS NOT NULL AND deletes_at <= ?", now.UTC()).
		Order("deletes_at ASC").Limit(limit).Find(&out).Error; err != nil {
		return nil, fmt.Errorf("tenants due for deletion: %w", repoErr(err, "tenant"))
	}
	return out, nil
}

// PurgeTenant deletes a tenant whose deletion fell due by now, in one
// transaction: the tenant row is locked and checked (false, nothing done,
// when it was restored meanwhile, is not due, or is gone), then its rows
// in the fosite tables, its audit rows and its queued mail are deleted and the tenant
// itself, whose foreign keys cascade to everything else it owns (users,
// memberships, clients, consents, sessions, devices, invitations, codes,
// push registrations, roles, policies, service accounts, API keys).
func (s *Store) PurgeTenant(ctx context.Context, id string, now time.Time) (bool, error) {
	if !models.ValidID(id) {
		return false, nil
	}
	purged := false
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		var ids []string
		if err := s.forUpdate(db.Model(&models.Tenant{}).Where("id = ? AND deletes_at IS NOT NULL AND deletes_at <= ?", id, now.UTC())).
			Pluck("id", &ids).Error; err != nil {
			return fmt.Errorf("purge tenant: %w", repoErr(err, "tenant"))
		}
		if len(ids) == 0 {
			return nil
		}
		for _, table := range []string{tableAccess, tableRefresh, tableCodes, tableOIDC, tablePKCE} {
			if err := db.Table(table).Where("tenant_id = ?", id).Delete(&requestRow{}).Error; err != nil {
				return fmt.Errorf("purge tenant: %s: %w", table, mapErr(err))
			}
		}
		if err := db.Where("tenant_id = ?", id).Delete(&models.AuditLog{}).Error; err != nil {
			return fmt.Errorf("purge tenant: audit logs: %w", repoErr(err, "audit_log"))
		}
		// Mail still queued for its people (sealed, but addressed to them).
		if err := db.Where("tenant_id = ?", id).Delete(&models.OutboxMail{}).Error; err != nil {
			return fmt.Errorf("purge tenant: mail outbox: %w", mapErr(err))
		}
		// Its outbox events (they name its people), relayed or not.
		if err := db.Where("tenant_id = ?", id).Delete(&models.OutboxEvent{}).Error; err != nil {
			return fmt.Errorf("purge tenant: events: %w", mapErr(err))
		}
		if err := db.Where("id = ?", id).Delete(&models.Tenant{}).Error; err != nil {
			return fmt.Errorf("purge tenant: %w", repoErr(err, "tenant"))
		}
		s.invalidateLookups(ctx, AllLookups)
		purged = true
		return nil
	})
	if err != nil {
		return false, err
	}
	return purged, nil
}
