package identity

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/identityd/identityd/models"
)

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

// ImpersonationIssuer mints an access token acting as a user on behalf of
// an actor (oauth implements it): the token's session carries
// {"act": {"sub": actor user id, "tenant_id": actor tenant}} (RFC 8693 §4.1),
// which introspection reports.
type ImpersonationIssuer interface {
	IssueImpersonationToken(ctx context.Context, u *models.User, actorID, actorTenantID string, ttl time.Duration) (token string, expiresAt time.Time, err error)
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

// ImpersonationInput is what Impersonate takes.
type ImpersonationInput struct {
	TenantID string
	UserID   string
	Reason   string
	Meta     Meta
}

// Impersonation is a token acting as a user.
type Impersonation struct {
	Token     string
	ExpiresAt time.Time
	User      *models.User
}

// Impersonate gives a system admin an access token acting as a user for
// ImpersonationTTL. Only a system admin signed in as themself may do it (an
// impersonation token cannot start another); system admins cannot be
// impersonated, nor users of a suspended tenant or inactive users. Audited
// on both sides: admin.impersonation_started in the admin's tenant and
// user.impersonated in the target's, in one transaction with the token.
func (o *Operator) Impersonate(ctx context.Context, p Principal, in ImpersonationInput) (*Impersonation, error) {
	if !p.SystemAdmin || p.ActorID != "" || p.Kind == models.PrincipalServiceAccount {
		return nil, &models.Error{Kind: models.KindForbidden, Code: "forbidden", Msg: "Only a system administrator may impersonate.", RequiredPermission: "admin.users.impersonate"}
	}
	bad := map[string]string{}
	reason := strings.TrimSpace(in.Reason)
	if reason == "" || len(reason) > 500 {
		bad["reason"] = "Say why, in 1 to 500 characters."
	}
	if strings.TrimSpace(in.TenantID) == "" {
		bad["tenant_id"] = "Required."
	}
	if strings.TrimSpace(in.UserID) == "" {
		bad["user_id"] = "Required."
	}
	if len(bad) > 0 {
		return nil, models.ErrInvalid(bad)
	}
	t, err := o.Store.GetTenant(ctx, in.TenantID)
	if err != nil {
		return nil, err
	}
	if t.SuspendedAt != nil {
		return nil, models.NewError(models.KindConflict, "tenant_suspended", "The tenant is suspended.", nil)
	}
	u, err := o.Store.GetUser(ctx, t.ID, in.UserID)
	if err != nil {
		return nil, err
	}
	if u.IsSystemAdmin || u.ID == p.UserID {
		return nil, models.NewError(models.KindForbidden, "cannot_impersonate", "System administrators cannot be impersonated.", nil)
	}
	if !u.IsActive {
		return nil, models.NewError(models.KindConflict, "user_inactive", "The user is deactivated.", nil)
	}
	ttl := o.ImpersonationTTL
	if ttl <= 0 {
		ttl = 15 * time.Minute
	}
	out := &Impersonation{User: u}
	err = o.Store.InTx(ctx, func(ctx context.Context) error {
		var err error
		if out.Token, out.ExpiresAt, err = o.Tokens.IssueImpersonationToken(ctx, u, p.UserID, p.TenantID, ttl); err != nil {
			return err
		}
		if err := WriteAudit(ctx, o.Store, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditImpersonationStarted, Meta: in.Meta,
			Metadata: map[string]any{"target_tenant_id": t.ID, "target_user_id": u.ID, "reason": reason, "expires_at": out.ExpiresAt}}); err != nil {
			return err
		}
		return WriteAudit(ctx, o.Store, Event{TenantID: t.ID, UserID: u.ID, ActorID: p.UserID, Action: AuditImpersonated, Meta: in.Meta,
			Metadata: map[string]any{"actor_tenant_id": p.TenantID, "reason": reason, "expires_at": out.ExpiresAt}})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}

// AuditQueryPage is one page of audit rows, newest first.
type AuditQueryPage struct {
	Items      []models.AuditLog
	NextCursor string
}

// Audit returns one page of the audit log matching f (f.TenantID "" is every
// tenant: callers set it from the principal on the tenant-scoped API).
func (o *Operator) Audit(ctx context.Context, f models.AuditFilter, limit int) (*AuditQueryPage, error) {
	if err := checkAuditFilter(f); err != nil {
		return nil, err
	}
	items, err := o.Store.ListAuditLogs(ctx, f, limit+1)
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

// ExportAudit streams every row matching f to fn, newest first, and records
// the export in the audit log (before the first row: an export that fails
// half-way was still attempted).
func (o *Operator) ExportAudit(ctx context.Context, p Principal, f models.AuditFilter, format string, meta Meta, fn func(*models.AuditLog) error) error {
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
	ev := Event{TenantID: p.TenantID, UserID: p.UserID, ActorID: p.ActorID, Action: AuditExported, Meta: meta, Metadata: md}
	if p.Kind == models.PrincipalServiceAccount {
		ev.UserID, ev.ActorID = "", p.UserID
	}
	if err := WriteAudit(ctx, o.Store, ev); err != nil {
		return err
	}
	return o.Store.StreamAuditLogs(ctx, f, fn)
}

// AuditPruneResult is what one audit prune did.
type AuditPruneResult struct {
	Deleted              int64 `json:"deleted"`
	DefaultRetentionDays int   `json:"default_retention_days"`
}

// PruneAudit deletes audit rows older than their tenant's retention, in
// batches.
func (o *Operator) PruneAudit(ctx context.Context) (AuditPruneResult, error) {
	days := o.AuditRetentionDays
	if days <= 0 {
		days = DefaultAuditRetentionDays
	}
	batch := o.AuditPruneBatch
	if batch <= 0 {
		batch = DefaultAuditPruneBatch
	}
	n, err := o.Store.PruneAuditLogs(ctx, days, batch)
	return AuditPruneResult{Deleted: n, DefaultRetentionDays: days}, err
}

// TokenPruneResult is what one token prune did, per table.
type TokenPruneResult struct {
	Deleted map[string]int64 `json:"deleted"`
	Total   int64            `json:"total"`
}

// PruneTokens deletes expired tokens, codes, challenges and sessions in
// short batches, so token issuance never waits behind it.
func (o *Operator) PruneTokens(ctx context.Context) (TokenPruneResult, error) {
	batch := o.TokenPruneBatch
	if batch <= 0 {
		batch = DefaultTokenPruneBatch
	}
	m, err := o.Store.PruneExpired(ctx, models.PruneOptions{Batch: batch, SessionRetention: o.SessionRetention})
	res := TokenPruneResult{Deleted: m}
	for _, n := range m {
		res.Total += n
	}
	return res, err
}

// ErrTenantSuspended refuses a login into a suspended tenant (to a caller
// who proved the password; others get ErrBadCredentials).
func ErrTenantSuspended() *models.Error {
	return models.NewError(models.KindForbidden, "tenant_suspended", "This organisation's account is suspended. Contact your administrator.", nil)
}
