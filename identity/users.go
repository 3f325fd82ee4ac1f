package identity

import (
	"context"
	"crypto/rand"
	"fmt"
	"log/slog"
	"math/big"
	"regexp"
	"slices"
	"strings"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/models"
)

// UserStore is what Users needs from storage: a tenant's users. Every
// method takes the tenant; another tenant's user, or a malformed id, is
// models.ErrNotFound.
type UserStore interface {
	// GetUser returns the tenant's user, or NotFound.
	GetUser(ctx context.Context, tenantID, id string) (*models.User, error)
	// Create assigns the id; an e-mail address the tenant already has
	// is a Conflict (two concurrent creations: one wins, one Conflict).
	CreateUser(ctx context.Context, u *models.User) error
	// UpdateUser runs fn on the user in a transaction with the row locked
	// and writes back what fn left (storage.Store.UpdateUser): a missing
	// user, or another tenant's, is NotFound and fn is not called; fn's error
	// is returned and nothing is written; an e-mail address taken in the
	// tenant is a Conflict.
	UpdateUser(ctx context.Context, tenantID, userID string, fn func(u *models.User) error) (*models.User, error)
	// List returns one page ordered by e-mail and the total count; nil
	// filters are off, role is a role id or name. No match is an empty page.
	ListUsers(ctx context.Context, f models.UserFilter) ([]models.User, int, error)
	// StreamUsers calls fn with successive pages of every user matching
	// f's filters (its Offset and Limit are ignored), in ListUsers' order,
	// each page bounded in size and read before fn runs (fn may use the
	// store); the users carry no hash or sealed secret. fn's error stops
	// the stream and is returned; no match never calls fn.
	StreamUsers(ctx context.Context, f models.UserFilter, fn func([]models.User) error) error
	// DeleteUser deletes the user with its assignments; a missing user is NotFound.
	DeleteUser(ctx context.Context, tenantID, id string) error
	// RevokeUserSessions ends every session of the user but keepID (and
	// every OAuth grant when oauthGrants) and returns how many; none is 0.
	RevokeUserSessions(ctx context.Context, tenantID, userID, keepID string, oauthGrants bool) (int, error)
	// ReplaceRecoveryCodes replaces the user's recovery codes (nil: none).
	ReplaceRecoveryCodes(ctx context.Context, tenantID, userID string, hashes []string) error
	// UntrustUserDevices ends the trust of every device of the user; none is no error.
	UntrustUserDevices(ctx context.Context, tenantID, userID string) error
}

// Users manages a tenant's users: list, create, change, deactivate,
// delete, unlock, reset, and system administration. The tenant always
// comes from the acting principal. Every change is one transaction with
// its audit row.
//
// Besides the route's permission, two rules keep a tenant principal from
// raising its own power, both judged by pattern coverage (grants.go):
// nobody grants (through a role or policy they create, edit or assign) a
// pattern their own grants do not cover (CanGrant), and nobody changes a
// user whose effective permissions they do not cover (CanActOn); where a
// danger action is at stake the actor must also have stepped up. admin.*
// permissions come only with system administration, never from a role or
// policy. System admins pass both rules.
type Users struct {
	store   UserStore
	tenants TenantGetter
	grants  MembershipStore
	tx      Tx
	audit   Auditor
	push    PushRemover
	keys    PasskeyRemover
	mailer  Mailer
	cost    int
	log     *slog.Logger
}

// UsersDeps are what NewUsers needs; Mailer and Log are optional.
type UsersDeps struct {
	Store UserStore
	// Memberships resolves the roles a new user is given, a user's roles,
	// policies and permissions (the grant rules read them).
	Memberships MembershipStore
	Tx          Tx
	Auditor     Auditor
	// PasswordCost is the bcrypt cost (0: bcrypt.DefaultCost).
	PasswordCost int
	// Mailer tells a user's old address when an administrator changes it
	// (nil: no mail).
	Mailer Mailer
	Log    *slog.Logger
	// Tenants reads a tenant's settings (its password minimum) when a user
	// is created with a password; nil: the deployment's minimum.
	Tenants TenantGetter
	// Push removes (and audits) a deleted user's push registrations.
	Push PushRemover
	// Passkeys lists and deletes a user's passkeys: an administrator's
	// reset of the second factor removes them too (a passkey is one).
	Passkeys PasskeyRemover
}

// PasskeyRemover lists and deletes a user's passkeys (storage implements it).
type PasskeyRemover interface {
	ListWebAuthnCredentials(ctx context.Context, tenantID, userID string) ([]models.WebAuthnCredential, error)
	DeleteWebAuthnCredential(ctx context.Context, tenantID, userID, id string) error
}

// NewUsers checks d and returns the service.
func NewUsers(d UsersDeps) (*Users, error) {
	if err := checkDeps("Users", dep{"Store", d.Store == nil}, dep{"Memberships", d.Memberships == nil},
		dep{"Tx", d.Tx == nil}, dep{"Auditor", d.Auditor.Store == nil}, dep{"Push", d.Push == nil},
		dep{"Passkeys", d.Passkeys == nil}); err != nil {
		return nil, err
	}
	cost := d.PasswordCost
	if cost == 0 {
		cost = bcrypt.DefaultCost
	}
	return &Users{store: d.Store, tenants: d.Tenants, grants: d.Memberships, tx: d.Tx, audit: d.Auditor, push: d.Push, keys: d.Passkeys, mailer: d.Mailer, cost: cost, log: logOr(d.Log)}, nil
}

// SetMailer replaces where the old-address notice goes (tests capture it).
func (s *Users) SetMailer(m Mailer) { s.mailer = m }

// mail sends m after the change it reports has committed; a failure is
// logged, not returned, because the change already happened.
func (s *Users) mail(ctx context.Context, m Message) {
	if s.mailer == nil {
		return
	}
	if err := s.mailer.Send(ctx, m); err != nil {
		s.log.ErrorContext(ctx, "send mail", "subject", m.Subject, "err", err)
	}
}

// target loads a user of the actor's tenant that the actor is about to
// change: a system admin can be changed only by a system admin, and any
// other user only by an actor whose grants cover the user's effective
// permissions (CanActOn). Every change of another user goes through here.
func target(ctx context.Context, users UserStore, grants MembershipStore, a Actor, id string) (*models.User, error) {
	u, err := users.GetUser(ctx, a.TenantID, id)
	if err != nil {
		return nil, err
	}
	if a.SystemAdmin {
		return u, nil
	}
	if u.IsSystemAdmin {
		return nil, models.ErrForbidden("").WithMessage("Only a system admin can change a system admin.")
	}
	if u.ID == a.UserID {
		return u, nil
	}
	perms, err := grants.ResolvePermissions(ctx, a.TenantID, u.ID)
	if err != nil {
		return nil, err
	}
	if err := CanActOn(ctx, a, perms); err != nil {
		return nil, err
	}
	return u, nil
}

func errSelf(action string) *models.Error {
	return models.ErrCannotTargetSelf(action)
}

var uuidRE = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)

// UserDetail is a user with what it holds in its tenant.
type UserDetail struct {
	User        *models.User
	Roles       []models.Role
	Policies    []models.Policy
	Permissions []string
}

// UserQuery selects a page of users: Q searches e-mail and name; nil
// filters are off; Role is a role id or name.
type UserQuery struct {
	Q         string
	Active    *bool
	Locked    *bool
	TwoFactor *bool
	Role      string
	Page      int
	PerPage   int
}

// UserPage is one page of users with their roles.
type UserPage struct {
	Users   []models.User
	Roles   map[string][]models.Role
	Page    int
	PerPage int
	Total   int
}

// Paging defaults and bounds.
const (
	DefaultPerPage = 20
	MaxPerPage     = 100
)

// checkPage applies the paging defaults of every page/per_page listing
// (users, invitations) and names a bad value in fields.
func checkPage(fields map[string]string, page, perPage int) (int, int) {
	if page == 0 {
		page = 1
	}
	if perPage == 0 {
		perPage = DefaultPerPage
	}
	if page < 1 || page > 1_000_000 {
		fields["page"] = "Use a whole number from 1."
	}
	if perPage < 1 || perPage > MaxPerPage {
		fields["per_page"] = fmt.Sprintf("Use a whole number from 1 to %d.", MaxPerPage)
	}
	return page, perPage
}

// List returns one page of the tenant's users.
func (s *Users) List(ctx context.Context, tenantID string, q UserQuery) (*UserPage, error) {
	fields := map[string]string{}
	q.Page, q.PerPage = checkPage(fields, q.Page, q.PerPage)
	q.Q = strings.TrimSpace(q.Q)
	if len(q.Q) > 200 {
		fields["q"] = "Use at most 200 characters."
	}
	if len(q.Role) > 100 {
		fields["role"] = "Use a role id or name."
	}
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	users, total, err := s.store.ListUsers(ctx, models.UserFilter{TenantID: tenantID, Query: q.Q, Active: q.Active, Locked: q.Locked,
		TwoFactor: q.TwoFactor, Role: q.Role, Offset: (q.Page - 1) * q.PerPage, Limit: q.PerPage})
	if err != nil {
		return nil, err
	}
	ids := make([]string, len(users))
	for i, u := range users {
		ids[i] = u.ID
	}
	roles, err := s.grants.PrincipalRoles(ctx, tenantID, ids)
	if err != nil {
		return nil, err
	}
	return &UserPage{Users: users, Roles: roles, Page: q.Page, PerPage: q.PerPage, Total: total}, nil
}

// Get returns a user of the tenant with its roles, policies and
// resolved permissions.
func (s *Users) Get(ctx context.Context, tenantID, id string) (*UserDetail, error) {
	u, err := s.store.GetUser(ctx, tenantID, id)
	if err != nil {
		return nil, err
	}
	return userDetail(ctx, s.grants, u)
}

func userDetail(ctx context.Context, grants MembershipStore, u *models.User) (*UserDetail, error) {
	roles, err := grants.PrincipalRoles(ctx, u.TenantID, []string{u.ID})
	if err != nil {
		return nil, err
	}
	policies, err := grants.PrincipalPolicies(ctx, u.TenantID, u.ID)
	if err != nil {
		return nil, err
	}
	perms, err := grants.ResolvePermissions(ctx, u.TenantID, u.ID)
	if err != nil {
		return nil, err
	}
	if perms == nil {
		perms = []string{}
	}
	slices.Sort(perms)
	return &UserDetail{User: u, Roles: roles[u.ID], Policies: policies, Permissions: perms}, nil
}

// NewUser is what Users.Create takes. Without a password one is
// generated, returned once, and must be changed at the first login.
type NewUser struct {
	Email               string
	Name                string
	Password            string
	ForcePasswordChange bool
	// Roles are role ids or names; the caller has checked that the actor
	// may assign roles (identity.membership.assign_role, with step-up).
	Roles []string
}

// CreatedUser is a new user; InitialPassword is set (and shown once) when
// the password was generated.
type CreatedUser struct {
	*UserDetail
	InitialPassword string
}

func checkName(fields map[string]string, name string) string {
	name = strings.TrimSpace(name)
	if len(name) > 200 {
		fields["name"] = "Use at most 200 characters."
	}
	return name
}

func checkEmail(fields map[string]string, email string) string {
	email = strings.ToLower(strings.TrimSpace(email))
	if !emailRE.MatchString(email) || len(email) > 254 {
		fields["email"] = "Give a valid e-mail address."
	}
	return email
}

// Create creates a user in the actor's tenant, with the password
// policy applied, and assigns the roles given.
func (s *Users) Create(ctx context.Context, a Actor, in NewUser) (*CreatedUser, error) {
	fields := map[string]string{}
	email := checkEmail(fields, in.Email)
	name := checkName(fields, in.Name)
	if len(in.Roles) > 20 {
		fields["roles"] = "Give at most 20 roles."
	}
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	out := &CreatedUser{}
	pw, force := in.Password, in.ForcePasswordChange
	if pw == "" {
		var err error
		if pw, err = generatePassword(email); err != nil {
			return nil, models.ErrInternal(err)
		}
		out.InitialPassword, force = pw, true
	} else if err := checkTenantPassword(ctx, s.tenants, a.TenantID, pw, email); err != nil {
		return nil, err
	}
	hash, err := hashPassword(ctx, pw, s.cost)
	if err != nil {
		return nil, err
	}
	u := &models.User{TenantID: a.TenantID, Email: email, Name: name, PasswordHash: string(hash), ForcePasswordChange: force}
	err = s.tx.InTx(ctx, func(ctx context.Context) error {
		roles, err := grantableRoles(ctx, s.grants, a, in.Roles)
		if err != nil {
			return err
		}
		if err := s.store.CreateUser(ctx, u); err != nil {
			return err
		}
		names := []string{}
		for _, r := range roles {
			if err := s.grants.AssignRole(ctx, a.TenantID, u.ID, models.PrincipalUser, r.ID); err != nil {
				return err
			}
			names = append(names, r.Name)
		}
		data := userData(u)
		data["roles"] = names
		return s.audit.RecordActor(ctx, a, Event{UserID: u.ID, Action: AuditUserCreated, Metadata: map[string]any{
			"email": u.Email, "roles": names, "generated_password": out.InitialPassword != "", "force_password_change": force}, Data: data})
	})
	if err != nil {
		return nil, err
	}
	if out.UserDetail, err = userDetail(ctx, s.grants, u); err != nil {
		return nil, err
	}
	return out, nil
}

// generatePassword makes a 20-character password that meets the policy.
func generatePassword(email string) (string, error) {
	const (
		lower   = "abcdefghijkmnopqrstuvwxyz"
		upper   = "ABCDEFGHJKLMNPQRSTUVWXYZ"
		digits  = "23456789"
		special = "!#$%*+-=?@^_"
	)
	all := lower + upper + digits + special
	pick := func(set string) (byte, error) {
		n, err := rand.Int(rand.Reader, big.NewInt(int64(len(set))))
		if err != nil {
			return 0, err
		}
		return set[n.Int64()], nil
	}
	for {
		b := make([]byte, 0, 20)
		for _, set := range []string{lower, upper, digits, special} {
			c, err := pick(set)
			if err != nil {
				return "", fmt.Errorf("generate password: %w", err)
			}
			b = append(b, c)
		}
		for len(b) < 20 {
			c, err := pick(all)
			if err != nil {
				return "", fmt.Errorf("generate password: %w", err)
			}
			b = append(b, c)
		}
		for i := len(b) - 1; i > 0; i-- { // Fisher–Yates
			j, err := rand.Int(rand.Reader, big.NewInt(int64(i+1)))
			if err != nil {
				return "", fmt.Errorf("generate password: %w", err)
			}
			b[i], b[j.Int64()] = b[j.Int64()], b[i]
		}
		if CheckPassword(string(b), email) == nil {
			return string(b), nil
		}
	}
}

// UserPatch is what UpdateUser may change: nothing else, whatever a request
// body carries.
type UserPatch struct {
	Name     *string
	Email    *string
	IsActive *bool
}

// Update changes a user's name, e-mail or active flag. Changing the
// active flag needs identity.users.deactivate too, and deactivating ends
// every session and token of the user. A changed e-mail address is audited
// on its own (user.email_changed) and the old address is told, so a
// takeover through a changed mailbox does not go unnoticed.
func (s *Users) Update(ctx context.Context, a Actor, id string, in UserPatch) (*UserDetail, error) {
	fields := map[string]string{}
	set := map[string]any{}
	if in.Name != nil {
		set["name"] = checkName(fields, *in.Name)
	}
	if in.Email != nil {
		set["email"] = checkEmail(fields, *in.Email)
	}
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	var u *models.User
	oldEmail := ""
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		if u, err = target(ctx, s.store, s.grants, a, id); err != nil {
			return err
		}
		if e, ok := set["email"]; ok && e == u.Email {
			delete(set, "email")
		} else if ok {
			set["email_verified"] = false
		}
		deactivate := false
		if in.IsActive != nil && *in.IsActive != u.IsActive {
			if !a.SystemAdmin && !a.Perms.Has(PermUsersDeactivate) {
				return errForbidden("Changing whether a user is active needs another permission.", PermUsersDeactivate)
			}
			if u.ID == a.UserID {
				return errSelf("deactivate")
			}
			set["is_active"] = *in.IsActive
			deactivate = !*in.IsActive
		}
		if len(set) == 0 {
			return nil
		}
		after, err := s.store.UpdateUser(ctx, a.TenantID, u.ID, func(row *models.User) error {
			if v, ok := set["name"]; ok {
				row.Name = v.(string)
			}
			if v, ok := set["email"]; ok {
				setEmail(row, v.(string), false) // set without proof: unverified
			}
			if v, ok := set["is_active"]; ok {
				row.IsActive = v.(bool)
			}
			return nil
		})
		if err != nil {
			if models.IsKind(err, models.KindConflict) {
				return models.ErrEmailTaken()
			}
			return err
		}
		changed := make([]string, 0, len(set))
		for k := range set {
			changed = append(changed, k)
		}
		slices.Sort(changed)
		md := map[string]any{"fields": changed}
		// One update may be several changes for consumers: the user's new
		// state (user.updated), and turned off or on (with its sessions).
		publish := []string{EventUserUpdated}
		if _, ok := set["is_active"]; ok && deactivate {
			publish = append(publish, EventUserDeactivated, EventSessionsRevoked)
		} else if ok {
			publish = append(publish, EventUserReactivated)
		}
		data := userData(after)
		data["fields"] = changed
		if deactivate {
			n, err := s.store.RevokeUserSessions(ctx, a.TenantID, u.ID, "", true)
			if err != nil {
				return err
			}
			md["sessions_revoked"] = n
		}
		if e, ok := set["email"]; ok {
			oldEmail = u.Email
			if err := s.audit.RecordActor(ctx, a, Event{UserID: u.ID, Action: AuditUserEmailChanged, Metadata: map[string]any{
				"old_email": u.Email, "new_email": e, "old_address_notified": s.mailer != nil}, Publish: []string{}}); err != nil {
				return err
			}
		}
		return s.audit.RecordActor(ctx, a, Event{UserID: u.ID, Action: AuditUserUpdated, Metadata: md, Publish: publish, Data: data})
	})
	if err != nil {
		return nil, err
	}
	if oldEmail != "" {
		s.mail(ctx, Message{TenantID: a.TenantID, UserID: id, To: oldEmail, Subject: "The e-mail address of your account was changed",
			Text: fmt.Sprintf("Hello,\n\nAn administrator changed the e-mail address of your account from %s to %s.\n"+
				"Messages about your account now go to the new address. If you did not expect this, contact your administrator at once.\n",
				oldEmail, set["email"])})
	}
	return s.Get(ctx, a.TenantID, id)
}

// Deactivate turns a user off and ends every session and token of it.
func (s *Users) Deactivate(ctx context.Context, a Actor, id string) (*UserDetail, error) {
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		u, err := target(ctx, s.store, s.grants, a, id)
		if err != nil {
			return err
		}
		if u.ID == a.UserID {
			return errSelf("deactivate")
		}
		after, err := s.store.UpdateUser(ctx, a.TenantID, u.ID, func(row *models.User) error {
			row.IsActive = false
			return nil
		})
		if err != nil {
			return err
		}
		n, err := s.store.RevokeUserSessions(ctx, a.TenantID, u.ID, "", true)
		if err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{UserID: u.ID, Action: AuditUserDeactivated, Metadata: map[string]any{"sessions_revoked": n}, Data: userData(after)})
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, a.TenantID, id)
}

// Delete deletes a user, its sessions, tokens, push registrations (each
// audited as push_device.removed) and assignments.
func (s *Users) Delete(ctx context.Context, a Actor, id string) error {
	return s.tx.InTx(ctx, func(ctx context.Context) error {
		u, err := target(ctx, s.store, s.grants, a, id)
		if err != nil {
			return err
		}
		if u.ID == a.UserID {
			return errSelf("delete")
		}
		if _, err := s.store.RevokeUserSessions(ctx, a.TenantID, u.ID, "", true); err != nil {
			return err
		}
		if _, err := removePushDevices(ctx, s.push, s.audit, a.Principal, a.Meta,
			models.PushDeviceFilter{TenantID: a.TenantID, UserID: u.ID}, PushRemovedUserDeleted); err != nil {
			return err
		}
		if err := s.store.DeleteUser(ctx, a.TenantID, u.ID); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{UserID: u.ID, Action: AuditUserDeleted, Metadata: map[string]any{"email": u.Email}, Data: userData(u)})
	})
}

// ForcePasswordChange makes the user choose a new password at the next
// login, and ends every session and token of the user (OAuth grants
// included), so no token issued before the force keeps working.
func (s *Users) ForcePasswordChange(ctx context.Context, a Actor, id string) (*UserDetail, error) {
	return s.simpleChange(ctx, a, id, AuditUserForcePasswordChange, func(u *models.User) { u.ForcePasswordChange = true },
		func(ctx context.Context, u *models.User) error {
			_, err := s.store.RevokeUserSessions(ctx, a.TenantID, u.ID, "", true)
			return err
		})
}

// Unlock lifts the login lock and the PIN lock, with their counters.
// Like every change of a user it needs the actor to cover the user's
// permissions: unlocking a more powerful account would reopen it to
// password guessing.
func (s *Users) Unlock(ctx context.Context, a Actor, id string) (*UserDetail, error) {
	return s.simpleChange(ctx, a, id, AuditUserUnlocked,
		func(u *models.User) { u.FailedLogins, u.LockedUntil, u.PINFailed, u.PINLockedUntil = 0, nil, 0, nil }, nil)
}

// ResetTwoFactor clears every second factor of the user: TOTP (confirmed
// and pending), e-mail 2FA, the recovery codes, the passkeys (each removal
// audited, with its event) and the trust of every device. It is the way
// back for a person who lost their authenticator. A person left with no
// password signs in again through a linked identity or sets a password
// with "forgot password".
func (s *Users) ResetTwoFactor(ctx context.Context, a Actor, id string) (*UserDetail, error) {
	return s.simpleChange(ctx, a, id, AuditUser2FAReset,
		func(u *models.User) {
			u.TOTPEnabled, u.TOTPSecretSealed, u.TOTPPendingSealed, u.Email2FAEnabled = false, nil, nil, false
		},
		func(ctx context.Context, u *models.User) error {
			if err := s.store.ReplaceRecoveryCodes(ctx, a.TenantID, u.ID, nil); err != nil {
				return err
			}
			keys, err := s.keys.ListWebAuthnCredentials(ctx, a.TenantID, u.ID)
			if err != nil {
				return err
			}
			for _, k := range keys {
				if err := s.keys.DeleteWebAuthnCredential(ctx, a.TenantID, u.ID, k.ID); err != nil {
					return err
				}
				if err := s.audit.Record(ctx, a.Principal, Event{TenantID: a.TenantID, UserID: u.ID, Action: AuditPasskeyRemoved, Meta: a.Meta,
					Metadata: map[string]any{"credential_id": k.ID, "name": k.Name, "reason": "2fa_reset"}}); err != nil {
					return err
				}
			}
			return s.store.UntrustUserDevices(ctx, a.TenantID, u.ID)
		})
}

// simpleChange applies change to a user the actor may act on, then more
// (other rows of the same change), and audits action, in one transaction.
func (s *Users) simpleChange(ctx context.Context, a Actor, id string, action string, change func(u *models.User), more func(ctx context.Context, u *models.User) error) (*UserDetail, error) {
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		u, err := target(ctx, s.store, s.grants, a, id)
		if err != nil {
			return err
		}
		after, err := s.store.UpdateUser(ctx, a.TenantID, u.ID, func(row *models.User) error {
			change(row)
			return nil
		})
		if err != nil {
			return err
		}
		if more != nil {
			if err := more(ctx, u); err != nil {
				return err
			}
		}
		data := userData(after)
		switch action {
		case AuditUserUnlocked:
			data["lock"] = "all"
		case AuditUser2FAReset:
			data["method"] = "all"
		}
		return s.audit.RecordActor(ctx, a, Event{UserID: u.ID, Action: action, Data: data})
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, a.TenantID, id)
}

// SetSystemAdmin grants or revokes system administration: only a system
// admin may, for a user of any tenant (tenantID "": the actor's). A change
// is audited in the user's tenant; a system admin cannot revoke itself.
func (s *Users) SetSystemAdmin(ctx context.Context, a Actor, tenantID, userID string, on bool) (*UserDetail, error) {
	if !a.SystemAdmin {
		return nil, errForbidden("Only a system admin can do this.", PermAdminUsersSystemAdmin)
	}
	if tenantID == "" {
		tenantID = a.TenantID
	}
	if !uuidRE.MatchString(tenantID) {
		return nil, models.ErrInvalid(map[string]string{"tenant_id": "Give a tenant id (a UUID)."})
	}
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		u, err := s.store.GetUser(ctx, tenantID, userID)
		if err != nil {
			return err
		}
		if u.IsSystemAdmin == on {
			return nil
		}
		if !on && u.ID == a.UserID && u.TenantID == a.TenantID {
			return errSelf("revoke system administration of")
		}
		after, err := s.store.UpdateUser(ctx, tenantID, u.ID, func(row *models.User) error {
			row.IsSystemAdmin = on
			return nil
		})
		if err != nil {
			return err
		}
		action := AuditSystemAdminGranted
		if !on {
			action = AuditSystemAdminRevoked
		}
		return s.audit.RecordActor(ctx, a, Event{TenantID: tenantID, UserID: u.ID, Action: action, Metadata: map[string]any{"actor_tenant_id": a.TenantID},
			Data: mergeData(userData(after), map[string]any{"fields": []string{"is_system_admin"}})})
	})
	if err != nil {
		return nil, err
	}
	return s.Get(ctx, tenantID, userID)
}

var emailRE = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
