package storage

import (
	"context"
	"fmt"
	"strings"

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
		s.invalidateLookups(ctx)
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
		s.invalidateLookups(ctx)
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
		s.invalidateLookups(ctx)
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
		s.invalidateLookups(ctx)
		return nil
	})
}
