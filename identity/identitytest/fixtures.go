// Package identitytest builds test fixtures through the identity services:
// tenants, users and clients made the quick way, for tests that are about
// something else. It is for tests only.
package identitytest

import (
	"context"
	"fmt"
	"regexp"
	"strings"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// Store is what Fixtures needs: *storage.Store.
type Store interface {
	identity.Tx
	identity.AuditWriter
	identity.TenantStore
	identity.TenantDeletionStore
	identity.ClientStore
	GetTenantBySlug(ctx context.Context, slug string) (*models.Tenant, error)
	CreateUser(ctx context.Context, u *models.User) error
	GetRoleByName(ctx context.Context, tenantID, name string) (*models.Role, error)
	AssignRole(ctx context.Context, tenantID, principalID, principalType, roleID string) error
}

// Fixtures creates tenants, users and clients for tests. Tenants and
// clients go through identity.Tenants and identity.Clients as the system
// principal (the same validation as every other path) but write no audit
// row, so a test's audit log holds only what the test did. Users are made
// at the storage level, without the password policy (see CreateUser).
type Fixtures struct {
	Store        Store
	Hasher       identity.SecretHasher
	PasswordCost int
	// RotationWindow is how long a secret rotated by RotateClientSecret
	// stays valid.
	RotationWindow time.Duration
}

// discard is an audit writer that keeps nothing.
type discard struct{}

// CreateAuditLog keeps nothing.
func (discard) CreateAuditLog(context.Context, *models.AuditLog) error { return nil }

// Send sends nothing.
func (discard) Send(context.Context, identity.Message) error { return nil }

func (f *Fixtures) tenants() (*identity.Tenants, error) {
	return identity.NewTenants(identity.TenantsDeps{Store: f.Store, Tx: f.Store, Auditor: identity.Auditor{Store: discard{}},
		Deletions: f.Store, Mailer: discard{}})
}

func (f *Fixtures) clients() (*identity.Clients, error) {
	return identity.NewClients(identity.ClientsDeps{Store: f.Store, Tx: f.Store, Auditor: identity.Auditor{Store: discard{}},
		Hasher: f.Hasher, RotationWindow: f.RotationWindow})
}

// CreateTenant creates a tenant with its system roles (Tenants.Create).
func (f *Fixtures) CreateTenant(ctx context.Context, slug, name string) (*models.Tenant, error) {
	ts, err := f.tenants()
	if err != nil {
		return nil, err
	}
	return ts.Create(ctx, identity.SystemActor(""), slug, name)
}

// NewUser is what CreateUser takes.
type NewUser struct {
	TenantSlug string
	Email      string
	Password   string
	Name       string
	// SystemAdmin makes the user a system administrator (audited as the
	// command line's grant); Role names a role of the tenant to assign.
	SystemAdmin bool
	Role        string
}

var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)

// CreateUser creates a user in the tenant with a bcrypt password hash. It
// applies neither the password policy (8 to 72 bytes is enough) nor the
// role rules, and writes no user.created row: it is the storage-level
// fixture tests build users with. Every real path (the API, and the
// command line as the system principal) goes through identity.Users.Create.
func (f *Fixtures) CreateUser(ctx context.Context, in NewUser) (*models.User, error) {
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
	t, err := f.Store.GetTenantBySlug(ctx, in.TenantSlug)
	if err != nil {
		return nil, err
	}
	cost := f.PasswordCost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(in.Password), cost)
	if err != nil {
		return nil, models.ErrInternal(fmt.Errorf("hash password: %w", err))
	}
	u := &models.User{TenantID: t.ID, Email: email, PasswordHash: string(hash), Name: strings.TrimSpace(in.Name), IsSystemAdmin: in.SystemAdmin}
	err = f.Store.InTx(ctx, func(ctx context.Context) error {
		if err := f.Store.CreateUser(ctx, u); err != nil {
			return err
		}
		if in.Role != "" {
			r, err := f.Store.GetRoleByName(ctx, t.ID, in.Role)
			if err != nil {
				if models.IsKind(err, models.KindNotFound) {
					return models.ErrInvalid(map[string]string{"role": fmt.Sprintf("No role %q in this tenant.", in.Role)})
				}
				return err
			}
			if err := f.Store.AssignRole(ctx, t.ID, u.ID, models.PrincipalUser, r.ID); err != nil {
				return err
			}
		}
		if in.SystemAdmin {
			return identity.Auditor{Store: f.Store}.Record(ctx, identity.SystemPrincipal(t.ID), identity.Event{
				UserID: u.ID, Action: identity.AuditSystemAdminGranted, Meta: identity.SystemMeta(), Metadata: map[string]any{"via": "cli"}})
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	return u, nil
}

// CreateClient creates a client in the tenant in.TenantSlug names
// (Clients.Create as the system principal: in.ID and in.Secret are kept).
func (f *Fixtures) CreateClient(ctx context.Context, in identity.NewClient) (*identity.CreatedClient, error) {
	t, err := f.Store.GetTenantBySlug(ctx, in.TenantSlug)
	if err != nil {
		return nil, err
	}
	cs, err := f.clients()
	if err != nil {
		return nil, err
	}
	return cs.Create(ctx, identity.SystemActor(t.ID), in)
}

// RotateClientSecret gives a confidential client a new generated secret
// (Clients.RotateSecret as the system principal); the previous one keeps
// working for RotationWindow (0: it stops at once).
func (f *Fixtures) RotateClientSecret(ctx context.Context, tenantID, clientID string) (string, error) {
	cs, err := f.clients()
	if err != nil {
		return "", err
	}
	secret, _, err := cs.RotateSecret(ctx, identity.SystemActor(tenantID), clientID)
	return secret, err
}
