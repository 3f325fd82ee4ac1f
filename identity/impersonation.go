package identity

import (
	"context"
	"strings"
	"time"

	"github.com/identityd/identityd/models"
)

// ImpersonationIssuer mints an access token acting as a user on behalf of
// an actor (oauth implements it): the token's session carries
// {"act": {"sub": actor user id, "tenant_id": actor tenant}} (RFC 8693 §4.1),
// which introspection reports.
type ImpersonationIssuer interface {
	IssueImpersonationToken(ctx context.Context, u *models.User, actorID, actorTenantID string, ttl time.Duration) (token string, expiresAt time.Time, err error)
}

// ImpersonationStore is what Impersonation needs from storage.
type ImpersonationStore interface {
	// GetTenant returns the target tenant, suspended or not, or NotFound
	// (a malformed id too).
	GetTenant(ctx context.Context, id string) (*models.Tenant, error)
	// GetUser returns the tenant's user, or NotFound.
	GetUser(ctx context.Context, tenantID, id string) (*models.User, error)
}

// Impersonation lets a system administrator act as a user for a short
// while, audited on both sides.
type Impersonation struct {
	store  ImpersonationStore
	tx     Tx
	audit  Auditor
	tokens ImpersonationIssuer
	ttl    time.Duration
}

// ImpersonationDeps are what NewImpersonation needs; TTL is optional.
type ImpersonationDeps struct {
	Store   ImpersonationStore
	Tx      Tx
	Auditor Auditor
	Tokens  ImpersonationIssuer
	// TTL is the lifetime of an impersonation token (0: 15 minutes).
	TTL time.Duration
}

// NewImpersonation checks d and returns the service.
func NewImpersonation(d ImpersonationDeps) (*Impersonation, error) {
	if err := checkDeps("Impersonation", dep{"Store", d.Store == nil}, dep{"Tx", d.Tx == nil},
		dep{"Auditor", d.Auditor.Store == nil}, dep{"Tokens", d.Tokens == nil}); err != nil {
		return nil, err
	}
	ttl := d.TTL
	if ttl <= 0 {
		ttl = 15 * time.Minute
	}
	return &Impersonation{store: d.Store, tx: d.Tx, audit: d.Auditor, tokens: d.Tokens, ttl: ttl}, nil
}

// ImpersonationInput is what Impersonate takes.
type ImpersonationInput struct {
	TenantID string
	UserID   string
	Reason   string
	Meta     Meta
}

// ImpersonationToken is a token acting as a user.
type ImpersonationToken struct {
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
func (s *Impersonation) Impersonate(ctx context.Context, p Principal, in ImpersonationInput) (*ImpersonationToken, error) {
	if !p.SystemAdmin || p.ActorID != "" || p.Kind == models.PrincipalServiceAccount {
		return nil, models.ErrForbidden(PermAdminUsersImpersonate).WithMessage("Only a system administrator may impersonate.")
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
	t, err := s.store.GetTenant(ctx, in.TenantID)
	if err != nil {
		return nil, err
	}
	if t.SuspendedAt != nil {
		return nil, models.ErrTargetTenantSuspended()
	}
	u, err := s.store.GetUser(ctx, t.ID, in.UserID)
	if err != nil {
		return nil, err
	}
	if u.IsSystemAdmin || u.ID == p.UserID {
		return nil, models.ErrCannotImpersonate()
	}
	if !u.IsActive {
		return nil, models.ErrUserInactive()
	}
	ttl := s.ttl
	out := &ImpersonationToken{User: u}
	err = s.tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		if out.Token, out.ExpiresAt, err = s.tokens.IssueImpersonationToken(ctx, u, p.UserID, p.TenantID, ttl); err != nil {
			return err
		}
		if err := s.audit.Record(ctx, p, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditImpersonationStarted, Meta: in.Meta,
			Metadata: map[string]any{"target_tenant_id": t.ID, "target_user_id": u.ID, "reason": reason, "expires_at": out.ExpiresAt}}); err != nil {
			return err
		}
		return s.audit.Record(ctx, p, Event{TenantID: t.ID, UserID: u.ID, Action: AuditImpersonated, Meta: in.Meta,
			Metadata: map[string]any{"actor_tenant_id": p.TenantID, "reason": reason, "expires_at": out.ExpiresAt}})
	})
	if err != nil {
		return nil, err
	}
	return out, nil
}
