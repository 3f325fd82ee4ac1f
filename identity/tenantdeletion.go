package identity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/identityd/identityd/models"
)

// A tenant's own deletion (issue 10 §3): its Owner asks for it with
// DELETE /api/tenant (identity.tenants.delete, a danger action), typing
// the tenant's slug to confirm. The deletion is scheduled for the end of a
// grace period (IDENTITY_TENANT_DELETION_GRACE, 30 days by default): at
// once every token, session, browser login and pending sign-in step of
// the tenant ends; until the grace period is over only its Owners sign in
// (Login.signInRules) and only the tenant's first-party client gets tokens
// (storage GetClient refuses its other clients), so an Owner can cancel
// with POST /api/tenant/restore. Then the pruner deletes the tenant and
// everything it owns, its audit rows included (Pruner.PruneTenants).

// Audit actions of a tenant's own deletion.
const (
	// AuditTenantDeletionScheduled: DELETE /api/tenant (metadata:
	// deletes_at).
	AuditTenantDeletionScheduled = "tenant.deletion_scheduled"
	// AuditTenantDeletionCancelled: POST /api/tenant/restore, or the
	// operator's identityd tenants restore.
	AuditTenantDeletionCancelled = "tenant.deletion_cancelled"
	// AuditTenantPurged: the pruner deleted the tenant at the end of its
	// grace period. Written by the system, with no tenant (the tenant's
	// own rows are gone): metadata tenant_id, slug, deletion_scheduled_at.
	AuditTenantPurged = "tenant.deleted"
)

// DefaultTenantDeletionGrace is how long a scheduled deletion waits.
const DefaultTenantDeletionGrace = 30 * 24 * time.Hour

// TenantDeletionStore is what a tenant's own deletion needs from storage.
type TenantDeletionStore interface {
	// DeleteTenantEvents deletes every outbox row of the tenant, in the
	// ctx transaction, and counts them (a deleted tenant's events go with
	// it; its tenant.deleted, written after, stays).
	DeleteTenantEvents(ctx context.Context, tenantID string) (int64, error)
	// ScheduleTenantDeletion sets deletion_scheduled_at (now) and
	// deletes_at and, in the same transaction, deletes the tenant's
	// tokens, codes, browser logins and pending login steps and revokes
	// its sessions (as SuspendTenant does). Conflict
	// tenant_pending_deletion when a deletion is already scheduled (of two
	// concurrent requests one wins); NotFound when the tenant is gone.
	ScheduleTenantDeletion(ctx context.Context, id string, now, deletesAt time.Time) (*models.Tenant, error)
	// CancelTenantDeletion clears both columns; Conflict
	// tenant_not_pending_deletion when none is scheduled, NotFound when
	// the tenant is gone (deleted by the pruner, say).
	CancelTenantDeletion(ctx context.Context, id string) (*models.Tenant, error)
	// ListTenantDeletions returns the tenants whose deletion is pending,
	// soonest first.
	ListTenantDeletions(ctx context.Context) ([]models.Tenant, error)
	// GetTenantBySlug returns the tenant with that slug, or NotFound.
	GetTenantBySlug(ctx context.Context, slug string) (*models.Tenant, error)
	// UsersWithRole returns the ids of the tenant's users holding the
	// role named roleName.
	UsersWithRole(ctx context.Context, tenantID, roleName string) ([]string, error)
	// GetUser returns the tenant's user, or NotFound.
	GetUser(ctx context.Context, tenantID, id string) (*models.User, error)
}

// ScheduleOwnDeletion schedules the deletion of the principal's own
// tenant; confirm must be the tenant's slug (else 422 naming "confirm").
// One transaction sets the dates, ends every token and session of the
// tenant (the caller's too), writes tenant.deletion_scheduled and queues
// an e-mail to each Owner.
func (s *Tenants) ScheduleOwnDeletion(ctx context.Context, a Actor, confirm string) (*models.Tenant, error) {
	t, err := s.store.GetTenant(ctx, a.TenantID)
	if err != nil {
		return nil, err
	}
	if strings.TrimSpace(confirm) != t.Slug {
		return nil, models.ErrInvalid(map[string]string{"confirm": fmt.Sprintf("Type the organisation's short name, %s, to confirm.", t.Slug)})
	}
	if t.DeletesAt != nil {
		return nil, models.ErrTenantDeletionScheduled()
	}
	now := s.now().UTC()
	deletesAt := now.Add(s.grace)
	err = s.tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		if t, err = s.deletions.ScheduleTenantDeletion(ctx, a.TenantID, now, deletesAt); err != nil {
			return err
		}
		if err := s.audit.RecordActor(ctx, a, Event{Action: AuditTenantDeletionScheduled,
			Metadata: map[string]any{"deletes_at": deletesAt, "grace_days": int(s.grace / (24 * time.Hour))},
			Subject:  t.ID, Data: tenantData(t)}); err != nil {
			return err
		}
		return s.mailOwners(ctx, t, deletesAt)
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// mailOwners queues the notice of a scheduled deletion to every Owner of t
// (in the caller's transaction: the outbox commits with the schedule).
func (s *Tenants) mailOwners(ctx context.Context, t *models.Tenant, deletesAt time.Time) error {
	ids, err := s.deletions.UsersWithRole(ctx, t.ID, RoleOwner)
	if err != nil {
		return err
	}
	for _, id := range ids {
		u, err := s.deletions.GetUser(ctx, t.ID, id)
		if err != nil {
			if models.IsKind(err, models.KindNotFound) {
				continue
			}
			return err
		}
		text := fmt.Sprintf("Hello %s,\n\nThe organisation %q (%s) is scheduled to be deleted on %s.\n"+
			"Everyone has been signed out, and until then only its owners can sign in.\n"+
			"On that date the organisation, its people, apps and history are deleted for good.\n\n"+
			"If this is a mistake, sign in before then and cancel the deletion.\n",
			displayName(u), t.Name, t.Slug, deletesAt.UTC().Format("2 January 2006 15:04 MST"))
		if err := s.mailer.Send(ctx, Message{TenantID: u.TenantID, UserID: u.ID, To: u.Email, Subject: "Your organisation is scheduled for deletion", Text: text}); err != nil {
			return fmt.Errorf("mail owner: %w", err)
		}
	}
	return nil
}

func displayName(u *models.User) string {
	if n := strings.TrimSpace(u.Name); n != "" {
		return n
	}
	return u.Email
}

// RestoreOwn cancels the pending deletion of the principal's own tenant
// (POST /api/tenant/restore), audited tenant.deletion_cancelled. The
// tokens ended by the scheduling stay ended.
func (s *Tenants) RestoreOwn(ctx context.Context, a Actor) (*models.Tenant, error) {
	var t *models.Tenant
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		if t, err = s.deletions.CancelTenantDeletion(ctx, a.TenantID); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditTenantDeletionCancelled, Subject: t.ID, Data: tenantData(t)})
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// ListDeletions returns the tenants whose deletion is pending, soonest
// first (the operator's identityd tenants deletions).
func (s *Tenants) ListDeletions(ctx context.Context) ([]models.Tenant, error) {
	return s.deletions.ListTenantDeletions(ctx)
}

// Restore cancels the pending deletion of the tenant with slug, for the
// operator (identityd tenants restore): audited in that tenant.
func (s *Tenants) Restore(ctx context.Context, a Actor, slug string) (*models.Tenant, error) {
	t, err := s.deletions.GetTenantBySlug(ctx, strings.TrimSpace(slug))
	if err != nil {
		return nil, err
	}
	err = s.tx.InTx(ctx, func(ctx context.Context) error {
		if t, err = s.deletions.CancelTenantDeletion(ctx, t.ID); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, tenantEvent(a, t, AuditTenantDeletionCancelled, nil))
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}
