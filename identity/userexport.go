package identity

import (
	"context"
	"slices"
	"strings"

	"github.com/identityd/identityd/models"
)

// UserExportFormats are the formats Users.Export writes (the caller
// renders them; the service only records which).
var UserExportFormats = []string{"csv", "xlsx"}

// exportFilter checks the filters of an export, the listing's without its
// paging.
func exportFilter(tenantID string, q UserQuery) (models.UserFilter, error) {
	fields := map[string]string{}
	q.Q = strings.TrimSpace(q.Q)
	if len(q.Q) > 200 {
		fields["q"] = "Use at most 200 characters."
	}
	if len(q.Role) > 100 {
		fields["role"] = "Use a role id or name."
	}
	if len(fields) > 0 {
		return models.UserFilter{}, models.ErrInvalid(fields)
	}
	return models.UserFilter{TenantID: tenantID, Query: q.Q, Active: q.Active, Locked: q.Locked, TwoFactor: q.TwoFactor, Role: q.Role}, nil
}

// Export streams every user of the actor's tenant matching q's filters
// (its paging is ignored) to fn, ordered by e-mail, with each user's roles;
// pages are read from storage one at a time (StreamUsers), so memory does
// not grow with the tenant. It returns how many users fn accepted.
//
// The export is audited (user.exported) once it ends, because the row
// count is known only then: with the format, the filters, the rows
// written and whether the export completed. An export that fails or is
// cut short by the client is still recorded (complete false), through a
// context that outlives the request's cancellation.
func (s *Users) Export(ctx context.Context, a Actor, q UserQuery, format string, fn func(u *models.User, roles []models.Role) error) (int, error) {
	if !slices.Contains(UserExportFormats, format) {
		return 0, models.ErrInvalid(map[string]string{"format": "Use csv or xlsx."})
	}
	f, err := exportFilter(a.TenantID, q)
	if err != nil {
		return 0, err
	}
	n := 0
	streamErr := s.store.StreamUsers(ctx, f, func(page []models.User) error {
		ids := make([]string, len(page))
		for i := range page {
			ids[i] = page[i].ID
		}
		roles, err := s.grants.PrincipalRoles(ctx, a.TenantID, ids)
		if err != nil {
			return err
		}
		for i := range page {
			if err := fn(&page[i], roles[page[i].ID]); err != nil {
				return err
			}
			n++
		}
		return nil
	})
	md := map[string]any{"format": format, "rows": n, "complete": streamErr == nil, "filters": exportFilterMetadata(f)}
	if err := s.audit.RecordActor(context.WithoutCancel(ctx), a, Event{UserID: a.UserID, Action: AuditUserExported, Metadata: md}); err != nil {
		if streamErr != nil {
			return n, streamErr
		}
		return n, err
	}
	return n, streamErr
}

// exportFilterMetadata is the filters an export applied, as its audit row
// records them (only those set).
func exportFilterMetadata(f models.UserFilter) map[string]any {
	out := map[string]any{}
	if f.Query != "" {
		out["q"] = f.Query
	}
	for name, v := range map[string]*bool{"is_active": f.Active, "locked": f.Locked, "two_factor": f.TwoFactor} {
		if v != nil {
			out[name] = *v
		}
	}
	if f.Role != "" {
		out["role"] = f.Role
	}
	return out
}
