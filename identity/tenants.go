package identity

import (
	"context"
	"log/slog"
	"regexp"
	"strings"
	"time"

	"github.com/identityd/identityd/models"
)

var slugRE = regexp.MustCompile(`^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$`)

// CreateTenant creates a tenant with a slug (lower-case letters, digits,
// hyphens) and a name.
func (a *Admin) CreateTenant(ctx context.Context, slug, name string) (*models.Tenant, error) {
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
	err := a.Store.InTx(ctx, func(ctx context.Context) error {
		if err := a.Store.CreateTenant(ctx, t); err != nil {
			return err
		}
		return a.Store.SeedTenantRoles(ctx, t.ID, SystemRoles(), DangerZonePolicy, DangerActions)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// SeedMissingRoles gives tenants created before roles existed their system
// roles and danger-zone policy (idempotent; run at start).
func (a *Admin) SeedMissingRoles(ctx context.Context) error {
	ids, err := a.Store.TenantsWithoutRoles(ctx)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := a.Store.SeedTenantRoles(ctx, id, SystemRoles(), DangerZonePolicy, DangerActions); err != nil {
			return err
		}
	}
	return nil
}

// OperatorStore is what the Operator needs from storage.
type OperatorStore interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
	CreateAuditLog(ctx context.Context, a *models.AuditLog) error

	GetTenant(ctx context.Context, id string) (*models.Tenant, error)
	ListTenants(ctx context.Context, search, after string, limit int) ([]models.Tenant, error)
	UpdateTenant(ctx context.Context, id string, fields map[string]any) (*models.Tenant, error)
	// SuspendTenant sets suspended_at and, in the same transaction, deletes
	// the tenant's tokens and browser logins and revokes its sessions.
	SuspendTenant(ctx context.Context, id string) (*models.Tenant, error)
	UnsuspendTenant(ctx context.Context, id string) (*models.Tenant, error)
	DeleteTenant(ctx context.Context, id string) error
	GetUser(ctx context.Context, tenantID, id string) (*models.User, error)

	ListAuditLogs(ctx context.Context, f models.AuditFilter, limit int) ([]models.AuditLog, error)
	// StreamAuditLogs calls fn for each matching row, newest first, as it is read.
	StreamAuditLogs(ctx context.Context, f models.AuditFilter, fn func(*models.AuditLog) error) error
	PruneAuditLogs(ctx context.Context, defaultDays, batch int) (int64, error)
	PruneExpired(ctx context.Context, opts models.PruneOptions) (map[string]int64, error)
	// AcquireLease takes the named lease for holder until now+ttl when it is
	// free; exactly one of several concurrent callers gets true.
	AcquireLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
}

// Operator is the system administrators' service: tenants, impersonation,
// the audit log and its retention, and the pruning of expired rows.
type Operator struct {
	Store  OperatorStore
	Admin  *Admin
	Tokens ImpersonationIssuer
	// ImpersonationTTL is the lifetime of an impersonation token.
	ImpersonationTTL time.Duration
	// AuditRetentionDays applies to tenants whose own retention is 0.
	AuditRetentionDays int
	// AuditPruneBatch and TokenPruneBatch are the rows per DELETE statement.
	AuditPruneBatch int
	TokenPruneBatch int
	// SessionRetention keeps ended device sessions this long (0: 30 days).
	SessionRetention time.Duration
	Log              *slog.Logger
	Now              func() time.Time
}

// Defaults of the Operator.
const (
	DefaultAuditRetentionDays = 365
	DefaultAuditPruneBatch    = 5000
	DefaultTokenPruneBatch    = 1000
	MaxAuditRetentionDays     = 100 * 365
)

func (o *Operator) now() time.Time {
	if o.Now != nil {
		return o.Now().UTC()
	}
	return time.Now().UTC()
}

func (o *Operator) log() *slog.Logger {
	if o.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return o.Log
}

// TenantPage is one page of tenants.
type TenantPage struct {
	Items      []models.Tenant
	NextCursor string
}

// ListTenants returns tenants by slug, limit at a time; cursor is the
// previous page's NextCursor.
func (o *Operator) ListTenants(ctx context.Context, search, cursor string, limit int) (*TenantPage, error) {
	if len(search) > 200 {
		return nil, models.ErrInvalid(map[string]string{"search": "Use at most 200 characters."})
	}
	if len(cursor) > 100 {
		return nil, models.ErrInvalid(map[string]string{"cursor": "Use the next_cursor of the previous page."})
	}
	items, err := o.Store.ListTenants(ctx, search, cursor, limit+1)
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

// GetTenant returns a tenant by id.
func (o *Operator) GetTenant(ctx context.Context, id string) (*models.Tenant, error) {
	return o.Store.GetTenant(ctx, id)
}

// actorEvent is an audit event written by the acting admin, in the target
// tenant (so the tenant's own audit shows who did it).
func actorEvent(p Principal, tenantID, action string, meta Meta, md map[string]any) Event {
	if md == nil {
		md = map[string]any{}
	}
	md["actor_tenant_id"] = p.TenantID
	return Event{TenantID: tenantID, ActorID: p.UserID, Action: action, Meta: meta, Metadata: md}
}

// CreateTenant creates a tenant with its seeded roles, audited.
func (o *Operator) CreateTenant(ctx context.Context, p Principal, slug, name string, meta Meta) (*models.Tenant, error) {
	var t *models.Tenant
	err := o.Store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if t, err = o.Admin.CreateTenant(ctx, strings.TrimSpace(slug), name); err != nil {
			return err
		}
		return WriteAudit(ctx, o.Store, actorEvent(p, t.ID, AuditTenantCreated, meta, map[string]any{"slug": t.Slug, "name": t.Name}))
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// TenantUpdate names the fields to change; nil leaves a field alone.
type TenantUpdate struct {
	Name               *string
	AuditRetentionDays *int
}

// UpdateTenant changes a tenant's name or audit retention, audited.
func (o *Operator) UpdateTenant(ctx context.Context, p Principal, id string, in TenantUpdate, meta Meta) (*models.Tenant, error) {
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
	err := o.Store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if t, err = o.Store.UpdateTenant(ctx, id, fields); err != nil {
			return err
		}
		changed := make([]string, 0, len(fields))
		for k := range fields {
			changed = append(changed, k)
		}
		return WriteAudit(ctx, o.Store, actorEvent(p, t.ID, AuditTenantUpdated, meta, map[string]any{"fields": changed}))
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

func errOwnTenant(what string) error {
	return models.NewError(models.KindConflict, "own_tenant", "You cannot "+what+" the tenant you are signed in to.", nil)
}

// SuspendTenant refuses every login and token of the tenant at once: one
// transaction sets suspended_at, deletes its tokens and browser logins,
// revokes its sessions and writes the audit row.
func (o *Operator) SuspendTenant(ctx context.Context, p Principal, id string, meta Meta) (*models.Tenant, error) {
	if id == p.TenantID {
		return nil, errOwnTenant("suspend")
	}
	var t *models.Tenant
	err := o.Store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if t, err = o.Store.SuspendTenant(ctx, id); err != nil {
			return err
		}
		return WriteAudit(ctx, o.Store, actorEvent(p, t.ID, AuditTenantSuspended, meta, nil))
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// UnsuspendTenant lets the tenant sign in and get tokens again, audited.
func (o *Operator) UnsuspendTenant(ctx context.Context, p Principal, id string, meta Meta) (*models.Tenant, error) {
	var t *models.Tenant
	err := o.Store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if t, err = o.Store.UnsuspendTenant(ctx, id); err != nil {
			return err
		}
		return WriteAudit(ctx, o.Store, actorEvent(p, t.ID, AuditTenantUnsuspended, meta, nil))
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// DeleteTenant deletes a tenant and everything in it. The audit row is
// written in the actor's tenant (the deleted tenant's rows stay until
// retention prunes them).
func (o *Operator) DeleteTenant(ctx context.Context, p Principal, id string, meta Meta) error {
	if id == p.TenantID {
		return errOwnTenant("delete")
	}
	return o.Store.InTx(ctx, func(ctx context.Context) error {
		t, err := o.Store.GetTenant(ctx, id)
		if err != nil {
			return err
		}
		if err := o.Store.DeleteTenant(ctx, id); err != nil {
			return err
		}
		return WriteAudit(ctx, o.Store, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditTenantDeleted, Meta: meta,
			Metadata: map[string]any{"tenant_id": t.ID, "slug": t.Slug, "name": t.Name}})
	})
}

// ErrTenantSuspended refuses a login into a suspended tenant (to a caller
// who proved the password; others get ErrBadCredentials).
func ErrTenantSuspended() *models.Error {
	return models.NewError(models.KindForbidden, "tenant_suspended", "This organisation's account is suspended. Contact your administrator.", nil)
}
