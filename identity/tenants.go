package identity

import (
	"context"
	"regexp"
	"strings"
	"time"

	"github.com/identityd/identityd/models"
)

// TenantStore is what Tenants needs from storage. A malformed tenant id is
// models.ErrNotFound like an unknown one.
type TenantStore interface {
	// CreateTenant assigns the id; a slug already taken is a Conflict (of
	// two concurrent creations one wins, one Conflicts).
	CreateTenant(ctx context.Context, t *models.Tenant) error
	// GetTenant returns the tenant, suspended or not, or NotFound.
	GetTenant(ctx context.Context, id string) (*models.Tenant, error)
	// ListTenants returns up to limit tenants by slug after the slug
	// after, whose slug or name contains search (none: empty).
	ListTenants(ctx context.Context, search, after string, limit int) ([]models.Tenant, error)
	// UpdateTenant sets the named columns (name, audit_retention_days,
	// description, website, logo_url, primary_colour, default_locale)
	// and returns the tenant as saved, or NotFound.
	UpdateTenant(ctx context.Context, id string, fields map[string]any) (*models.Tenant, error)
	// SuspendTenant sets suspended_at and, in the same transaction, deletes
	// the tenant's tokens and browser logins and revokes its sessions.
	// NotFound when the tenant is gone; suspending twice keeps the first time.
	SuspendTenant(ctx context.Context, id string) (*models.Tenant, error)
	// UnsuspendTenant clears suspended_at, or NotFound.
	UnsuspendTenant(ctx context.Context, id string) (*models.Tenant, error)
	// DeleteTenant deletes the tenant and everything in it, or NotFound.
	DeleteTenant(ctx context.Context, id string) error
	// SeedTenantRoles creates the system roles and the danger-zone policy
	// of a tenant; ones it already has are left alone (idempotent).
	SeedTenantRoles(ctx context.Context, tenantID string, roles map[string][]string, dangerPolicy string, danger []string) error
	// TenantsWithoutRoles returns the ids of tenants with no system role.
	TenantsWithoutRoles(ctx context.Context) ([]string, error)
	// GetRoleByName returns the tenant's (or a global) role with that
	// name, or NotFound (the settings' default_role).
	GetRoleByName(ctx context.Context, tenantID, name string) (*models.Role, error)
}

// Tenants is the system administrators' (and the command line's) service
// for tenants: create (with the seeded system roles), list, rename, set
// the audit retention, suspend, unsuspend, delete. Every change is one
// transaction with its audit row, written in the target tenant (the
// deletion in the actor's), so the tenant's own log shows who did it.
type Tenants struct {
	store     TenantStore
	tx        Tx
	audit     Auditor
	limits    TenantLimits
	deletions TenantDeletionStore
	mailer    Mailer
	grace     time.Duration
	now       func() time.Time
}

// TenantsDeps are what NewTenants needs, all required.
type TenantsDeps struct {
	Store   TenantStore
	Tx      Tx
	Auditor Auditor
	// Limits bound the tenant's own settings (zero fields: the defaults
	// of DefaultTenantLimits).
	Limits TenantLimits
	// Deletions and Mailer serve a tenant's own deletion (the Owners are
	// mailed when it is scheduled); DeletionGrace is how long it waits (0:
	// DefaultTenantDeletionGrace). Now is the clock (nil: time.Now).
	Deletions     TenantDeletionStore
	Mailer        Mailer
	DeletionGrace time.Duration
	Now           func() time.Time
}

// NewTenants checks d and returns the service.
func NewTenants(d TenantsDeps) (*Tenants, error) {
	if err := checkDeps("Tenants", dep{"Store", d.Store == nil}, dep{"Tx", d.Tx == nil}, dep{"Auditor", d.Auditor.Store == nil},
		dep{"Deletions", d.Deletions == nil}, dep{"Mailer", d.Mailer == nil}); err != nil {
		return nil, err
	}
	grace := d.DeletionGrace
	if grace <= 0 {
		grace = DefaultTenantDeletionGrace
	}
	return &Tenants{store: d.Store, tx: d.Tx, audit: d.Auditor, limits: d.Limits.withDefaults(),
		deletions: d.Deletions, mailer: d.Mailer, grace: grace, now: clockOr(d.Now)}, nil
}

// MaxAuditRetentionDays bounds a tenant's audit retention.
const MaxAuditRetentionDays = 100 * 365

var slugRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// TenantPage is one page of tenants.
type TenantPage struct {
	Items      []models.Tenant
	NextCursor string
}

// List returns tenants by slug, limit at a time; cursor is the previous
// page's NextCursor.
func (s *Tenants) List(ctx context.Context, search, cursor string, limit int) (*TenantPage, error) {
	if len(search) > 200 {
		return nil, models.ErrInvalid(map[string]string{"search": "Use at most 200 characters."})
	}
	if len(cursor) > 100 {
		return nil, models.ErrInvalid(map[string]string{"cursor": "Use the next_cursor of the previous page."})
	}
	items, err := s.store.ListTenants(ctx, search, cursor, limit+1)
	if err != nil {
		return nil, err
	}
	page := &TenantPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		page.NextCursor = items[limit-1].Slug
	}
	return page, nil
}

// Get returns a tenant by id.
func (s *Tenants) Get(ctx context.Context, id string) (*models.Tenant, error) {
	return s.store.GetTenant(ctx, id)
}

// Create creates a tenant with a slug (lower-case letters, digits, inner
// hyphens; the callers trim what a person typed) and a name, seeds its system roles and danger-zone policy, and
// audits it in the new tenant: one transaction.
func (s *Tenants) Create(ctx context.Context, a Actor, slug, name string) (*models.Tenant, error) {
	fields := map[string]string{}
	if !slugRE.MatchString(slug) {
		fields["slug"] = "Use 1 to 63 lower-case letters, digits and inner hyphens."
	}
	name = strings.TrimSpace(name)
	if name == "" || len(name) > 200 {
		fields["name"] = "Give a name of 1 to 200 characters."
	}
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	t := &models.Tenant{Slug: slug, Name: name}
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateTenant(ctx, t); err != nil {
			return err
		}
		if err := s.store.SeedTenantRoles(ctx, t.ID, SystemRoles(), DangerZonePolicy, DangerActions); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, tenantEvent(a, t, AuditTenantCreated, map[string]any{"slug": t.Slug, "name": t.Name}))
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// SeedMissingRoles gives tenants created before roles existed their system
// roles and danger-zone policy (idempotent; run at start).
func (s *Tenants) SeedMissingRoles(ctx context.Context) error {
	ids, err := s.store.TenantsWithoutRoles(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := s.store.SeedTenantRoles(ctx, id, SystemRoles(), DangerZonePolicy, DangerActions); err != nil {
			return err
		}
	}
	return nil
}

// tenantEvent is an event about tenantID, written in it: its metadata
// names the actor's tenant (actor_tenant_id), the tenant's own log then
// shows where the operator came from.
func tenantEvent(a Actor, t *models.Tenant, action string, md map[string]any) Event {
	if md == nil {
		md = map[string]any{}
	}
	md["actor_tenant_id"] = a.TenantID
	data := tenantData(t)
	if f, ok := md["fields"]; ok {
		data["fields"] = f
	}
	return Event{TenantID: t.ID, Action: action, Metadata: md, Subject: t.ID, Data: data}
}

// TenantUpdate names the fields to change; nil leaves a field alone.
type TenantUpdate struct {
	Name               *string
	AuditRetentionDays *int
}

// Update changes a tenant's name or audit retention, audited.
func (s *Tenants) Update(ctx context.Context, a Actor, id string, in TenantUpdate) (*models.Tenant, error) {
	fields := map[string]any{}
	bad := map[string]string{}
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if name == "" || len(name) > 200 {
			bad["name"] = "Give a name of 1 to 200 characters."
		}
		fields["name"] = name
	}
	if in.AuditRetentionDays != nil {
		d := *in.AuditRetentionDays
		if d < 0 || d > MaxAuditRetentionDays {
			bad["audit_retention_days"] = "Use 0 (the default) to 36500 days."
		}
		fields["audit_retention_days"] = d
	}
	if len(bad) > 0 {
		return nil, models.ErrInvalid(bad)
	}
	if len(fields) == 0 {
		return nil, models.ErrInvalid(map[string]string{"name": "Send name or audit_retention_days."})
	}
	var t *models.Tenant
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		if t, err = s.store.UpdateTenant(ctx, id, fields); err != nil {
			return err
		}
		changed := make([]string, 0, len(fields))
		for k := range fields {
			changed = append(changed, k)
		}
		return s.audit.RecordActor(ctx, a, tenantEvent(a, t, AuditTenantUpdated, map[string]any{"fields": changed}))
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func errOwnTenant(what string) error {
	return models.ErrOwnTenant(what)
}

// Suspend refuses every login and token of the tenant at once: one
// transaction sets suspended_at, deletes its tokens and browser logins,
// revokes its sessions and writes the audit row.
func (s *Tenants) Suspend(ctx context.Context, a Actor, id string) (*models.Tenant, error) {
	if id == a.TenantID {
		return nil, errOwnTenant("suspend")
	}
	var t *models.Tenant
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		if t, err = s.store.SuspendTenant(ctx, id); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, tenantEvent(a, t, AuditTenantSuspended, nil))
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Unsuspend lets the tenant sign in and get tokens again, audited.
func (s *Tenants) Unsuspend(ctx context.Context, a Actor, id string) (*models.Tenant, error) {
	var t *models.Tenant
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		if t, err = s.store.UnsuspendTenant(ctx, id); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, tenantEvent(a, t, AuditTenantUnsuspended, nil))
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// Delete deletes a tenant and everything in it. The audit row is written
// in the actor's tenant (the deleted tenant's rows stay until retention
// prunes them).
func (s *Tenants) Delete(ctx context.Context, a Actor, id string) error {
	if id == a.TenantID {
		return errOwnTenant("delete")
	}
	return s.tx.InTx(ctx, func(ctx context.Context) error {
		t, err := s.store.GetTenant(ctx, id)
		if err != nil {
			return err
		}
		if err := s.store.DeleteTenant(ctx, id); err != nil {
			return err
		}
		// Its events go with it; the tenant.deleted written next stays.
		if _, err := s.deletions.DeleteTenantEvents(ctx, id); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{UserID: a.UserID, Action: AuditTenantDeleted,
			Metadata:      map[string]any{"tenant_id": t.ID, "slug": t.Slug, "name": t.Name},
			EventTenantID: t.ID, Subject: t.ID, Data: map[string]any{"tenant_id": t.ID, "slug": t.Slug, "name": t.Name, "status": "deleted"}})
	})
}

// ErrTenantSuspended refuses a login into a suspended tenant (to a caller
// who proved the password; others get ErrBadCredentials).
func ErrTenantSuspended() *models.Error {
	return models.ErrTenantSuspended()
}
