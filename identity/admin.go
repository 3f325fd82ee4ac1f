package identity

import (
	"context"
	"fmt"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/models"
)

// AdminStore is what Admin needs from storage.
type AdminStore interface {
	CreateTenant(ctx context.Context, t *models.Tenant) error
	GetTenantBySlug(ctx context.Context, slug string) (*models.Tenant, error)
	CreateUser(ctx context.Context, u *models.User) error
	CreateClient(ctx context.Context, c *models.Client) error
	GetTenantClient(ctx context.Context, tenantID, id string) (*models.Client, error)
	RotateClientSecret(ctx context.Context, tenantID, id, newHash string, keepOldUntil *time.Time) error
	SeedTenantRoles(ctx context.Context, tenantID string, roles map[string][]string, dangerPolicy string, danger []string) error
	TenantsWithoutRoles(ctx context.Context) ([]string, error)
	GetRoleByName(ctx context.Context, tenantID, name string) (*models.Role, error)
	AssignRole(ctx context.Context, tenantID, principalID, principalType, roleID string) error
	CreateAuditLog(ctx context.Context, a *models.AuditLog) error
	InTx(ctx context.Context, fn func(ctx context.Context) error) error
}

// Admin creates tenants, users and clients.
type Admin struct {
	Store        AdminStore
	Hasher       SecretHasher
	PasswordCost int
	// RotationWindow is how long a rotated client secret stays valid.
	RotationWindow time.Duration
	Now            func() time.Time
}

// NewUser is what CreateUser takes.
type NewUser struct {
	TenantSlug string
	Email      string
	Password   string
	Name       string
	// SystemAdmin and Role are for test fixtures: the HTTP API and the
	// command line grant system administration only through the audited
	// Directory.SetSystemAdmin.
	SystemAdmin bool
	Role        string
}

// CreateUser creates a user in the tenant with a bcrypt password hash. It
// applies neither the password policy nor the role rules and writes no
// user.created row: it is the storage-level fixture tests build users with.
// Every real path (the API, and the command line as the system principal)
// goes through Directory.CreateUser.
func (a *Admin) CreateUser(ctx context.Context, in NewUser) (*models.User, error) {
	fields := map[string]string{}
	email := strings.ToLower(strings.TrimSpace(in.Email))
	if !emailRE.MatchString(email) || len(email) > 254 {
		fields["email"] = "Give a valid e-mail address."
	}
	if len(in.Password) < 8 {
		fields["password"] = "Use at least 8 characters."
	} else if len(in.Password) > 72 {
		fields["password"] = "Use at most 72 bytes."
	}
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	t, err := a.Store.GetTenantBySlug(ctx, in.TenantSlug)
	if err != nil {
		return nil, err
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(in.Password), a.cost())
	if err != nil {
		return nil, models.ErrInternal(fmt.Errorf("hash password: %w", err))
	}
	u := &models.User{TenantID: t.ID, Email: email, PasswordHash: string(hash), Name: strings.TrimSpace(in.Name), IsSystemAdmin: in.SystemAdmin}
	err = a.Store.InTx(ctx, func(ctx context.Context) error {
		if err := a.Store.CreateUser(ctx, u); err != nil {
			return err
		}
		if in.Role != "" {
			r, err := a.Store.GetRoleByName(ctx, t.ID, in.Role)
			if err != nil {
				if models.IsKind(err, models.KindNotFound) {
					return models.ErrInvalid(map[string]string{"role": fmt.Sprintf("No role %q in this tenant.", in.Role)})
				}
				return err
			}
			if err := a.Store.AssignRole(ctx, t.ID, u.ID, models.PrincipalUser, r.ID); err != nil {
				return err
			}
		}
		if in.SystemAdmin {
			return WriteAudit(ctx, a.Store, Event{TenantID: t.ID, UserID: u.ID, ActorID: "cli", Action: AuditSystemAdminGranted, Metadata: map[string]any{"via": "cli"}})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

func (a *Admin) cost() int {
	if a.PasswordCost == 0 {
		return bcrypt.DefaultCost
	}
	return a.PasswordCost
}

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
