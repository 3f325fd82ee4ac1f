package identity

import (
	"context"
	"strings"
	"time"

	"github.com/identityd/identityd/models"
)

// Me returns the principal's user and session.
func (a *Accounts) Me(ctx context.Context, p Principal) (*models.User, *models.Session, error) {
	user, err := a.Store.GetUser(ctx, p.TenantID, p.UserID)
	if err != nil {
		return nil, nil, err
	}
	var sess *models.Session
	if p.SessionID != "" {
		sess, _ = a.Store.GetSession(ctx, p.TenantID, p.UserID, p.SessionID)
	}
	return user, sess, nil
}

// UpdateProfile changes the user's display name (the only self-editable field).
func (a *Accounts) UpdateProfile(ctx context.Context, p Principal, name string, meta Meta) (*models.User, error) {
	name = strings.TrimSpace(name)
	if len(name) > 200 {
		return nil, models.ErrInvalid(map[string]string{"name": "Use at most 200 characters."})
	}
	err := a.Store.InTx(ctx, func(ctx context.Context) error {
		if err := a.Store.UpdateUserFields(ctx, p.TenantID, p.UserID, map[string]any{"name": name}); err != nil {
			return err
		}
		return a.auditTx(ctx, Event{TenantID: p.TenantID, UserID: p.UserID, Action: AuditProfileUpdated, Meta: meta, Metadata: map[string]any{"fields": []string{"name"}}})
	})
	if err != nil {
		return nil, err
	}
	return a.Store.GetUser(ctx, p.TenantID, p.UserID)
}

// AuditPage is one page of the user's own activity, newest first.
type AuditPage struct {
	Items      []models.AuditLog
	NextCursor string
}

// MyActivity returns the user's audit events, newest first; cursor is the
// NextCursor of the previous page ("" for the first).
func (a *Accounts) MyActivity(ctx context.Context, p Principal, limit int, cursor string) (*AuditPage, error) {
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	var before time.Time
	var beforeID string
	if cursor != "" {
		ts, id, ok := strings.Cut(cursor, "_")
		t, err := time.Parse(time.RFC3339Nano, ts)
		if !ok || err != nil || id == "" {
			return nil, models.ErrInvalid(map[string]string{"cursor": "Use the next_cursor of the previous page."})
		}
		before, beforeID = t, id
	}
	items, err := a.Store.ListUserAuditLogs(ctx, p.TenantID, p.UserID, limit+1, before, beforeID)
	if err != nil {
		return nil, err
	}
	page := &AuditPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		last := page.Items[limit-1]
		page.NextCursor = last.CreatedAt.UTC().Format(time.RFC3339Nano) + "_" + last.ID
	}
	return page, nil
}

// User returns the tenant's user with that id.
func (a *Accounts) User(ctx context.Context, tenantID, userID string) (*models.User, error) {
	return a.Store.GetUser(ctx, tenantID, userID)
}
