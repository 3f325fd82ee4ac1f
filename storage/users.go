package storage

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/identityd/identityd/models"
)

// CreateUser inserts a user; the e-mail is stored lower-cased.
func (s *Store) CreateUser(ctx context.Context, u *models.User) error {
	if u.ID == "" {
		u.ID = uuid.NewString()
	}
	u.Email = strings.ToLower(strings.TrimSpace(u.Email))
	u.IsActive = true
	now := s.now()
	u.CreatedAt, u.UpdatedAt = now, now
	if u.PasswordChangedAt == nil {
		u.PasswordChangedAt = &now
	}
	if err := s.db(ctx).Create(u).Error; err != nil {
		return fmt.Errorf("create user: %w", repoErr(err, "user"))
	}
	return nil
}

// GetUserByEmail returns the tenant's user with that e-mail (any case).
func (s *Store) GetUserByEmail(ctx context.Context, tenantID, email string) (*models.User, error) {
	var u models.User
	err := s.db(ctx).Where("tenant_id = ? AND email = ?", tenantID, strings.ToLower(strings.TrimSpace(email))).Take(&u).Error
	if err != nil {
		return nil, fmt.Errorf("get user: %w", repoErr(err, "user"))
	}
	return &u, nil
}

// GetUser returns the tenant's user with that id; another tenant's is NotFound.
func (s *Store) GetUser(ctx context.Context, tenantID, id string) (*models.User, error) {
	if !models.ValidID(id) {
		return nil, models.ErrNotFound("user")
	}
	var u models.User
	if err := s.db(ctx).Where("tenant_id = ? AND id = ?", tenantID, id).Take(&u).Error; err != nil {
		return nil, fmt.Errorf("get user: %w", repoErr(err, "user"))
	}
	return &u, nil
}

// GetUserAndTenantState returns the tenant's user and whether its tenant is
// suspended, in one query.
func (s *Store) GetUserAndTenantState(ctx context.Context, tenantID, id string) (*models.User, bool, error) {
	if !models.ValidID(id) {
		return nil, false, models.ErrNotFound("user")
	}
	var row struct {
		models.User
		TenantSuspended bool
	}
	err := s.db(ctx).Table("users").Select("users.*, tenants.suspended_at IS NOT NULL AS tenant_suspended").
		Joins("JOIN tenants ON tenants.id = users.tenant_id").
		Where("users.tenant_id = ? AND users.id = ?", tenantID, id).Take(&row).Error
	if err != nil {
		return nil, false, fmt.Errorf("get user: %w", repoErr(err, "user"))
	}
	return &row.User, row.TenantSuspended, nil
}

// UpdateUser runs fn on the tenant's user inside a transaction with the row
// locked (SELECT … FOR UPDATE on PostgreSQL; SQLite's one writer serialises
// it), then writes back what fn left in the row, and returns the row as
// written. The contract, as Dex's updaters:
//   - an unknown user, or one of another tenant, is NotFound "user" and fn
//     is not called;
//   - fn's error is returned as it is and nothing is written;
//   - fn may change any field but ID, TenantID and CreatedAt (those are
//     kept); Email is stored lower-cased, and one already taken in the
//     tenant is a Conflict;
//   - the atomic counters are written from the locked row, so no concurrent
//     increment is lost: their single-statement methods wait for the lock.
//
// Inside InTx the update joins the caller's transaction.
func (s *Store) UpdateUser(ctx context.Context, tenantID, userID string, fn func(u *models.User) error) (*models.User, error) {
	if !models.ValidID(userID) {
		return nil, models.ErrNotFound("user")
	}
	var u models.User
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		if err := db.Scopes(s.forUpdate).Where("tenant_id = ? AND id = ?", tenantID, userID).Take(&u).Error; err != nil {
			return fmt.Errorf("update user: %w", repoErr(err, "user"))
		}
		id, tenant, created := u.ID, u.TenantID, u.CreatedAt
		if err := fn(&u); err != nil {
			return err
		}
		u.ID, u.TenantID, u.CreatedAt = id, tenant, created
		u.Email = strings.ToLower(strings.TrimSpace(u.Email))
		u.UpdatedAt = s.now()
		res := db.Model(&models.User{}).Where("tenant_id = ? AND id = ?", tenantID, userID).Updates(userColumns(&u))
		if res.Error != nil {
			return fmt.Errorf("update user: %w", repoErr(res.Error, "user"))
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return &u, nil
}

// userColumns is every column UpdateUser writes. Empty factor session ids
// are stored as NULL, as they were inserted.
func userColumns(u *models.User) map[string]any {
	return map[string]any{
		"email": u.Email, "password_hash": u.PasswordHash, "name": u.Name,
		"email_verified": u.EmailVerified, "is_active": u.IsActive, "is_system_admin": u.IsSystemAdmin,
		"failed_logins": u.FailedLogins, "locked_until": u.LockedUntil,
		"password_changed_at": u.PasswordChangedAt, "force_password_change": u.ForcePasswordChange,
		"totp_enabled": u.TOTPEnabled, "totp_secret_sealed": u.TOTPSecretSealed,
		"totp_pending_sealed": u.TOTPPendingSealed, "totp_last_step": u.TOTPLastStep,
		"email_2fa_enabled": u.Email2FAEnabled, "pin_hash": u.PINHash, "pin_failed": u.PINFailed,
		"pin_locked_until": u.PINLockedUntil, "totp_session_id": nullString(u.TOTPSessionID),
		"email_2fa_session_id": nullString(u.Email2FASessionID), "pin_session_id": nullString(u.PINSessionID),
		"given_name": u.GivenName, "family_name": u.FamilyName, "locale": u.Locale, "zoneinfo": u.Zoneinfo,
		"picture": u.Picture, "phone_number": u.PhoneNumber, "phone_number_verified": u.PhoneNumberVerified,
		"marketing_emails": u.MarketingEmails, "profile_visible_to_colleagues": u.ProfileVisibleToColleagues,
		"profile_updated_at": u.ProfileUpdatedAt,
		"updated_at":         u.UpdatedAt,
	}
}

func nullString(s string) any {
	if s == "" {
		return nil
	}
	return s
}

// likePattern escapes LIKE wildcards in a search term and wraps it in %…%
// (the query uses ESCAPE '\').
func likePattern(q string) string {
	r := strings.NewReplacer(`\`, `\\`, `%`, `\%`, `_`, `\_`)
	return "%" + r.Replace(strings.ToLower(q)) + "%"
}

// ListUsers returns one page of the tenant's users ordered by e-mail, and
// how many match in all. f.Query searches e-mail and name
// (case-insensitive); nil filters are off; f.Role is a role id or a role
// name (tenant or global).
func (s *Store) ListUsers(ctx context.Context, f models.UserFilter) ([]models.User, int, error) {
	q := s.userQuery(ctx, f)
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count users: %w", repoErr(err, "user"))
	}
	var out []models.User
	if err := q.Order("users.email, users.id").Offset(f.Offset).Limit(f.Limit).Find(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("list users: %w", repoErr(err, "user"))
	}
	return out, int(total), nil
}

// userQuery is the tenant's users matching f's filters (not its paging):
// the one WHERE clause of the listing and the export.
func (s *Store) userQuery(ctx context.Context, f models.UserFilter) *gorm.DB {
	now := s.now()
	q := s.db(ctx).Model(&models.User{}).Where("users.tenant_id = ?", f.TenantID)
	if f.Query != "" {
		p := likePattern(f.Query)
		q = q.Where(`(LOWER(users.email) LIKE ? ESCAPE '\' OR LOWER(users.name) LIKE ? ESCAPE '\')`, p, p)
	}
	if f.Active != nil {
		q = q.Where("users.is_active = ?", *f.Active)
	}
	if f.Locked != nil {
		if *f.Locked {
			q = q.Where("users.locked_until IS NOT NULL AND users.locked_until > ?", now)
		} else {
			q = q.Where("(users.locked_until IS NULL OR users.locked_until <= ?)", now)
		}
	}
	if f.TwoFactor != nil {
		if *f.TwoFactor {
			q = q.Where("(users.totp_enabled OR users.email_2fa_enabled)")
		} else {
			q = q.Where("NOT (users.totp_enabled OR users.email_2fa_enabled)")
		}
	}
	if f.Role != "" {
		sub := `EXISTS (SELECT 1 FROM role_assignments a JOIN roles r ON r.id = a.role_id
			WHERE a.principal_id = users.id AND a.tenant_id = ? AND (r.tenant_id = ? OR r.tenant_id IS NULL) AND `
		if models.ValidID(f.Role) {
			q = q.Where(sub+"r.id = ?)", f.TenantID, f.TenantID, f.Role)
		} else {
			q = q.Where(sub+"r.name = ?)", f.TenantID, f.TenantID, f.Role)
		}
	}
	return q
}

// userStreamChunk is how many users one page of StreamUsers reads.
const userStreamChunk = 500

// userExportColumns are the columns StreamUsers reads: no hash, sealed
// secret or session binding is ever loaded.
var userExportColumns = []string{"users.id", "users.tenant_id", "users.email", "users.name", "users.email_verified",
	"users.is_active", "users.is_system_admin", "users.locked_until", "users.password_changed_at",
	"users.force_password_change", "users.totp_enabled", "users.email_2fa_enabled", "users.created_at", "users.updated_at"}

// StreamUsers calls fn with every user matching f's filters (f.Offset and
// f.Limit are ignored), in pages of at most userStreamChunk ordered by
// e-mail, each page read by keyset after the last one: memory
// stays flat however many users match, and no connection (SQLite has
// one) is held while fn runs, so fn may query the store. The users carry
// no secret (PasswordHash, PINHash and the sealed TOTP secrets are empty).
// fn's error stops the stream and is returned; no match calls fn never.
func (s *Store) StreamUsers(ctx context.Context, f models.UserFilter, fn func([]models.User) error) error {
	after := ""
	for {
		// E-mail addresses are unique in a tenant (users_tenant_email_key),
		// so the e-mail alone is the keyset: a range on that index, where
		// an OR with the id would make each page scan from the start.
		q := s.userQuery(ctx, f).Select(userExportColumns)
		if after != "" {
			q = q.Where("users.email > ?", after)
		}
		page := make([]models.User, 0, userStreamChunk)
		if err := q.Order("users.email").Limit(userStreamChunk).Find(&page).Error; err != nil {
			return fmt.Errorf("stream users: %w", repoErr(err, "user"))
		}
		if len(page) == 0 {
			return nil
		}
		if err := fn(page); err != nil {
			return err
		}
		if len(page) < userStreamChunk {
			return nil
		}
		after = page[len(page)-1].Email
	}
}

// DeleteUser deletes a tenant's user with its role and policy assignments
// (sessions, devices and codes go with it by cascade). The caller revokes
// tokens first, in the same transaction.
func (s *Store) DeleteUser(ctx context.Context, tenantID, id string) error {
	if !models.ValidID(id) {
		return models.ErrNotFound("user")
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		if err := db.Where("tenant_id = ? AND principal_id = ?", tenantID, id).Delete(&models.RoleAssignment{}).Error; err != nil {
			return fmt.Errorf("delete user roles: %w", repoErr(err, "role_assignment"))
		}
		if err := db.Where("tenant_id = ? AND principal_id = ?", tenantID, id).Delete(&models.PolicyAssignment{}).Error; err != nil {
			return fmt.Errorf("delete user policies: %w", repoErr(err, "policy_assignment"))
		}
		res := db.Where("tenant_id = ? AND id = ?", tenantID, id).Delete(&models.User{})
		if res.Error != nil {
			return fmt.Errorf("delete user: %w", repoErr(res.Error, "user"))
		}
		if res.RowsAffected == 0 {
			return models.ErrNotFound("user")
		}
		return nil
	})
}

// Counters that guard brute force change in one SQL statement each, so
// concurrent requests cannot slip past a limit (DESIGN.md, security model).

// failureSQL counts one failure and locks at the limit, in one statement. An
// expired lock restarts the count; an active lock is never extended.
const failureSQL = `UPDATE users SET
  %[1]s = CASE WHEN %[2]s IS NOT NULL AND %[2]s <= @now THEN 1 ELSE %[1]s + 1 END,
  %[2]s = CASE
    WHEN %[2]s IS NOT NULL AND %[2]s > @now THEN %[2]s
    WHEN (CASE WHEN %[2]s IS NOT NULL AND %[2]s <= @now THEN 1 ELSE %[1]s + 1 END) >= @max THEN @until
    ELSE NULL END,
  updated_at = @now
WHERE id = @id AND tenant_id = @tenant
RETURNING %[1]s, %[2]s`

func (s *Store) countFailure(ctx context.Context, counter, lockCol, tenantID, userID string, max int, lockFor time.Duration) (models.FailureResult, error) {
	now := s.now()
	var row struct {
		Count int
		Until *time.Time
	}
	q := fmt.Sprintf(failureSQL, counter, lockCol)
	res := s.db(ctx).Raw(q, map[string]any{"now": now, "max": max, "until": now.Add(lockFor), "id": userID, "tenant": tenantID}).Row()
	if err := res.Scan(&row.Count, &row.Until); err != nil {
		if errors.Is(err, gorm.ErrRecordNotFound) || err.Error() == "sql: no rows in result set" {
			return models.FailureResult{}, models.ErrNotFound("user")
		}
		return models.FailureResult{}, fmt.Errorf("count %s: %w", counter, repoErr(err, "user"))
	}
	return models.FailureResult{Failures: row.Count, JustLocked: row.Count == max && row.Until != nil, LockedUntil: row.Until}, nil
}

// RecordLoginFailure counts a failed password and locks the account for
// lockFor when the count reaches max.
func (s *Store) RecordLoginFailure(ctx context.Context, tenantID, userID string, max int, lockFor time.Duration) (models.FailureResult, error) {
	return s.countFailure(ctx, "failed_logins", "locked_until", tenantID, userID, max, lockFor)
}

// ClearLoginFailures resets the counter after a correct password, unless the
// account is locked: it reports false then, and the login must be refused.
func (s *Store) ClearLoginFailures(ctx context.Context, tenantID, userID string) (bool, error) {
	now := s.now()
	res := s.db(ctx).Exec(`UPDATE users SET failed_logins = 0, locked_until = NULL
		WHERE id = ? AND tenant_id = ? AND (locked_until IS NULL OR locked_until <= ?)`, userID, tenantID, now)
	if res.Error != nil {
		return false, fmt.Errorf("clear login failures: %w", repoErr(res.Error, "user"))
	}
	return res.RowsAffected == 1, nil
}

// updateUser resets counter columns in one statement (UnlockPIN); the
// fields are this package's own, never a caller's.
func (s *Store) updateUser(ctx context.Context, tenantID, userID string, fields map[string]any) error {
	fields["updated_at"] = s.now()
	res := s.db(ctx).Model(&models.User{}).Where("id = ? AND tenant_id = ?", userID, tenantID).Updates(fields)
	if res.Error != nil {
		return fmt.Errorf("update user: %w", repoErr(res.Error, "user"))
	}
	if res.RowsAffected == 0 {
		return models.ErrNotFound("user")
	}
	return nil
}

// AddPasswordHistory records a password hash and keeps the newest keep.
func (s *Store) AddPasswordHistory(ctx context.Context, tenantID, userID, hash string, keep int) error {
	db := s.db(ctx)
	h := models.PasswordHistory{ID: uuid.NewString(), TenantID: tenantID, UserID: userID, Hash: hash, CreatedAt: s.now()}
	if err := db.Create(&h).Error; err != nil {
		return fmt.Errorf("add password history: %w", repoErr(err, "password_history"))
	}
	var ids []string
	if err := db.Model(&models.PasswordHistory{}).Where("user_id = ?", userID).
		Order("created_at DESC").Offset(keep).Pluck("id", &ids).Error; err != nil {
		return fmt.Errorf("trim password history: %w", repoErr(err, "password_history"))
	}
	if len(ids) > 0 {
		if err := db.Where("id IN ?", ids).Delete(&models.PasswordHistory{}).Error; err != nil {
			return fmt.Errorf("trim password history: %w", repoErr(err, "password_history"))
		}
	}
	return nil
}

// ListPasswordHistory returns the newest n hashes of a user.
func (s *Store) ListPasswordHistory(ctx context.Context, tenantID, userID string, n int) ([]string, error) {
	var hashes []string
	err := s.db(ctx).Model(&models.PasswordHistory{}).Where("tenant_id = ? AND user_id = ?", tenantID, userID).
		Order("created_at DESC").Limit(n).Pluck("hash", &hashes).Error
	if err != nil {
		return nil, fmt.Errorf("list password history: %w", repoErr(err, "password_history"))
	}
	return hashes, nil
}

// erasedUserTables are the tables of rows that belong to one user: every
// credential, code, device, session and consent (push registrations are
// removed and audited by identity first; their entry here is a backstop).
// EraseUser deletes them
// by hand rather than trusting ON DELETE CASCADE, so an erasure never
// depends on a foreign key being enforced.
var erasedUserTables = []string{
	"password_history", "recovery_codes", "email_codes", "one_time_codes", "email_verifications", "auth_challenges",
	"push_devices", "federation_logins", "federation_role_grants", "login_sessions", "sessions", "devices", "consents", "user_identities", "webauthn_credentials",
}

// EraseUser deletes the user and everything stored for them: every OAuth
// code, token and session issued to them (the lookup cache is
// invalidated), their credentials, codes, devices, sessions, push
// registrations, consents, password history, role and policy
// assignments, and the user row. Unknown is NotFound "user". The audit
// trail is left to PseudonymizeAuditLogs.
func (s *Store) EraseUser(ctx context.Context, tenantID, id string) error {
	if !models.ValidID(id) || !models.ValidID(tenantID) {
		return models.ErrNotFound("user")
	}
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		for _, t := range []string{tableCodes, tableAccess, tableRefresh, tableOIDC, tablePKCE} {
			if err := db.Table(t).Where("tenant_id = ? AND subject = ?", tenantID, id).Delete(&requestRow{}).Error; err != nil {
				return fmt.Errorf("erase user tokens: %w", mapErr(err))
			}
		}
		s.invalidateLookups(ctx, TokenLookups)
		for _, t := range erasedUserTables {
			if err := db.Exec("DELETE FROM "+t+" WHERE tenant_id = ? AND user_id = ?", tenantID, id).Error; err != nil {
				return fmt.Errorf("erase user %s: %w", t, repoErr(err, "user"))
			}
		}
		for _, t := range []string{"role_assignments", "policy_assignments"} {
			if err := db.Exec("DELETE FROM "+t+" WHERE tenant_id = ? AND principal_id = ?", tenantID, id).Error; err != nil {
				return fmt.Errorf("erase user %s: %w", t, repoErr(err, "user"))
			}
		}
		res := db.Where("tenant_id = ? AND id = ?", tenantID, id).Delete(&models.User{})
		if res.Error != nil {
			return fmt.Errorf("erase user: %w", repoErr(res.Error, "user"))
		}
		if res.RowsAffected == 0 {
			return models.ErrNotFound("user")
		}
		return nil
	})
}

// UsersWithRole returns the ids of the tenant's users holding the role
// named roleName (the tenant's or a global one). On PostgreSQL it first
// locks the tenant row, so two transactions that each check "someone else
// still holds it" before removing a holder run one after the other.
func (s *Store) UsersWithRole(ctx context.Context, tenantID, roleName string) ([]string, error) {
	if !models.ValidID(tenantID) {
		return nil, models.ErrNotFound("tenant")
	}
	db := s.db(ctx)
	var tid []string
	if err := s.forUpdate(db.Model(&models.Tenant{}).Where("id = ?", tenantID)).Pluck("id", &tid).Error; err != nil {
		return nil, fmt.Errorf("lock tenant: %w", repoErr(err, "tenant"))
	}
	if len(tid) == 0 {
		return nil, models.ErrNotFound("tenant")
	}
	var ids []string
	err := db.Table("role_assignments").
		Joins("JOIN roles ON roles.id = role_assignments.role_id").
		Where("role_assignments.tenant_id = ? AND role_assignments.principal_type = ? AND roles.name = ? AND (roles.tenant_id = ? OR roles.tenant_id IS NULL)",
			tenantID, models.PrincipalUser, roleName, tenantID).
		Distinct().Pluck("role_assignments.principal_id", &ids).Error
	if err != nil {
		return nil, fmt.Errorf("users with role: %w", repoErr(err, "role"))
	}
	return ids, nil
}
