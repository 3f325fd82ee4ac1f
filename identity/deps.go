package identity

import (
	"context"
	"time"

	"github.com/identityd/identityd/models"
)

// AccountStore is what the account-security services need from storage.
type AccountStore interface {
	InTx(ctx context.Context, fn func(ctx context.Context) error) error

	GetTenantBySlug(ctx context.Context, slug string) (*models.Tenant, error)
	GetTenant(ctx context.Context, id string) (*models.Tenant, error)
	GetUserByEmail(ctx context.Context, tenantID, email string) (*models.User, error)
	GetUser(ctx context.Context, tenantID, id string) (*models.User, error)
	// GetUserAndTenantState returns the tenant's user and whether the
	// tenant is suspended, in one query (bearer authentication asks it on
	// every request).
	GetUserAndTenantState(ctx context.Context, tenantID, id string) (*models.User, bool, error)
	UpdateUserFields(ctx context.Context, tenantID, userID string, fields map[string]any) error

	RecordLoginFailure(ctx context.Context, tenantID, userID string, max int, lockFor time.Duration) (models.FailureResult, error)
	ClearLoginFailures(ctx context.Context, tenantID, userID string) (bool, error)
	RecordPINFailure(ctx context.Context, tenantID, userID string, max int, lockFor time.Duration) (models.FailureResult, error)
	ClearPINFailures(ctx context.Context, tenantID, userID string) (bool, error)
	UnlockPIN(ctx context.Context, tenantID, userID string) error
	ClaimTOTPStep(ctx context.Context, tenantID, userID string, step int64) (bool, error)

	AddPasswordHistory(ctx context.Context, tenantID, userID, hash string, keep int) error
	ListPasswordHistory(ctx context.Context, tenantID, userID string, n int) ([]string, error)

	ReplaceRecoveryCodes(ctx context.Context, tenantID, userID string, hashes []string) error
	ClaimRecoveryCode(ctx context.Context, tenantID, userID, hash string) (bool, error)
	CountRecoveryCodes(ctx context.Context, tenantID, userID string) (int, error)

	CreateEmailCode(ctx context.Context, c *models.EmailCode) error
	LatestEmailCode(ctx context.Context, tenantID, userID, purpose string) (*models.EmailCode, error)
	ClaimEmailCodeAttempt(ctx context.Context, id string, max int) (bool, error)
	ConsumeEmailCode(ctx context.Context, id string) (bool, error)

	CreateChallenge(ctx context.Context, c *models.AuthChallenge) error
	GetChallenge(ctx context.Context, tokenHash string) (*models.AuthChallenge, error)
	ClaimChallengeAttempt(ctx context.Context, id string, max int) (bool, error)
	ConsumeChallenge(ctx context.Context, id string) (bool, error)

	CreateDevice(ctx context.Context, d *models.Device) error
	GetDeviceByToken(ctx context.Context, tenantID, userID, tokenHash string) (*models.Device, error)
	GetDevice(ctx context.Context, tenantID, userID, id string) (*models.Device, error)
	SetDeviceTrust(ctx context.Context, tenantID, userID, id string, until *time.Time) error
	TouchDevice(ctx context.Context, id string) error
	ListDevices(ctx context.Context, tenantID, userID string) ([]models.Device, error)
	RevokeDevice(ctx context.Context, tenantID, userID, id string) error

	CreateSession(ctx context.Context, s *models.Session) error
	GetSession(ctx context.Context, tenantID, userID, id string) (*models.Session, error)
	ListSessions(ctx context.Context, tenantID, userID string) ([]models.Session, error)
	TouchSession(ctx context.Context, id string, interval time.Duration) error
	RevokeSession(ctx context.Context, tenantID, userID, id string) error
	RevokeUserSessions(ctx context.Context, tenantID, userID, keepID string, oauthGrants bool) (int, error)

	CreateLoginSession(ctx context.Context, ls *models.LoginSession) error
	GetLoginSession(ctx context.Context, tokenHash string) (*models.LoginSession, error)
	DeleteLoginSession(ctx context.Context, tokenHash string) error

	CreateAuditLog(ctx context.Context, a *models.AuditLog) error
	ListUserAuditLogs(ctx context.Context, tenantID, userID string, limit int, beforeTime time.Time, beforeID string) ([]models.AuditLog, error)
}
