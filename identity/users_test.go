package identity_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/identity/identitytest"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// dirEnv is a Directory over a fresh store, with two tenants and an Owner
// of the first.
type dirEnv struct {
	users    *identity.Users
	members  *identity.Memberships
	roles    *identity.Roles
	policies *identity.Policies
	admin    *identitytest.Fixtures
	st       *storage.Store
	tenant   *models.Tenant
	other    *models.Tenant
	owner    identity.Actor
}

func newDirEnv(t *testing.T, b storagetest.Backend) *dirEnv {
	t.Helper()
	a, st := adminOn(t, b) // tenant "acme"
	ctx := context.Background()
	acme, err := st.GetTenantBySlug(ctx, "acme")
	if err != nil {
		t.Fatal(err)
	}
	other, err := a.CreateTenant(ctx, "globex", "Globex")
	if err != nil {
		t.Fatal(err)
	}
	audit := identity.Auditor{Store: st}
	e := &dirEnv{admin: a, st: st, tenant: acme, other: other}
	e.users, err = identity.NewUsers(identity.UsersDeps{Store: st, Memberships: st, Tx: st, Auditor: audit, PasswordCost: bcrypt.MinCost, Push: st, Passkeys: st})
	if err != nil {
		t.Fatal(err)
	}
	if e.members, err = identity.NewMemberships(identity.MembershipsDeps{Users: st, Store: st, Tx: st, Auditor: audit}); err != nil {
		t.Fatal(err)
	}
	if e.roles, err = identity.NewRoles(identity.RolesDeps{Store: st, Tx: st, Auditor: audit}); err != nil {
		t.Fatal(err)
	}
	if e.policies, err = identity.NewPolicies(identity.PoliciesDeps{Store: st, Tx: st, Auditor: audit}); err != nil {
		t.Fatal(err)
	}
	e.owner = e.actor(t, e.user(t, "acme", "owner@acme.example", identity.RoleOwner))
	return e
}

// user creates a user (through Admin, as the CLI does) with a role.
func (e *dirEnv) user(t *testing.T, slug, email, role string) *models.User {
	t.Helper()
	u, err := e.admin.CreateUser(context.Background(), identitytest.NewUser{TenantSlug: slug, Email: email, Password: "long enough password", Role: role})
	if err != nil {
		t.Fatalf("create user %s: %v", email, err)
	}
	return u
}

// actor is u acting, with its permissions resolved from the store.
func (e *dirEnv) actor(t *testing.T, u *models.User) identity.Actor {
	t.Helper()
	perms, err := e.st.ResolvePermissions(context.Background(), u.TenantID, u.ID)
	if err != nil {
		t.Fatal(err)
	}
	return identity.Actor{Principal: identity.Principal{Kind: models.PrincipalUser, TenantID: u.TenantID, UserID: u.ID, SystemAdmin: u.IsSystemAdmin},
		Perms: perms, Meta: identity.Meta{IP: "192.0.2.1", UserAgent: "dir-test"}}
}

func (e *dirEnv) policy(t *testing.T, tenantID, name string) *models.Policy {
	t.Helper()
	ps, err := e.st.ListPolicies(context.Background(), tenantID)
	if err != nil {
		t.Fatal(err)
	}
	for i := range ps {
		if ps[i].Name == name {
			return &ps[i]
		}
	}
	t.Fatalf("no policy %q", name)
	return nil
}

func (e *dirEnv) role(t *testing.T, tenantID, name string) *models.Role {
	t.Helper()
	r, err := e.st.GetRoleByName(context.Background(), tenantID, name)
	if err != nil {
		t.Fatalf("role %s: %v", name, err)
	}
	return r
}

func (e *dirEnv) auditCount(t *testing.T, action, userID string) int {
	t.Helper()
	db, err := e.st.SQLDB()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow("SELECT count(*) FROM audit_logs WHERE action = $1 AND user_id = $2", action, userID).Scan(&n); err != nil {
		t.Fatalf("count audit: %v", err)
	}
	return n
}

func wantKind(t *testing.T, err error, kind models.Kind, code string) *models.Error {
	t.Helper()
	var me *models.Error
	if !errors.As(err, &me) || me.Kind != kind || (code != "" && me.Code != code) {
		t.Fatalf("error %v, want kind %v code %q", err, kind, code)
	}
	return me
}

const dirPassword = "Str0ng&Secure-pass"

func TestDirectoryUsers(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newDirEnv(t, b)
			ctx := context.Background()

			t.Run("password policy", func(t *testing.T) {
				_, err := e.users.Create(ctx, e.owner, identity.NewUser{Email: "weak@acme.example", Password: "short"})
				me := wantKind(t, err, models.KindInvalid, "")
				for _, f := range []string{"password.min_length", "password.uppercase", "password.digit", "password.special"} {
					if _, ok := me.Fields[f]; !ok {
						t.Errorf("fields %v lack %s", me.Fields, f)
					}
				}
				_, err = e.users.Create(ctx, e.owner, identity.NewUser{Email: "not-an-email", Password: dirPassword})
				wantInvalid(t, err, "email")
			})

			var ann *identity.CreatedUser
			t.Run("create with password and role", func(t *testing.T) {
				var err error
				ann, err = e.users.Create(ctx, e.owner, identity.NewUser{Email: " Ann@Acme.example ", Name: "Ann", Password: dirPassword, Roles: []string{identity.RoleMember}})
				if err != nil {
					t.Fatal(err)
				}
				if ann.InitialPassword != "" || ann.User.ForcePasswordChange || ann.User.Email != "ann@acme.example" || !ann.User.IsActive {
					t.Errorf("created %+v", ann.User)
				}
				if bcrypt.CompareHashAndPassword([]byte(ann.User.PasswordHash), []byte(dirPassword)) != nil {
					t.Error("password not stored as its bcrypt hash")
				}
				if len(ann.Roles) != 1 || ann.Roles[0].Name != identity.RoleMember {
					t.Errorf("roles %+v", ann.Roles)
				}
				if n := e.auditCount(t, identity.AuditUserCreated, ann.User.ID); n != 1 {
					t.Errorf("%d audit rows for the creation", n)
				}
				_, err = e.users.Create(ctx, e.owner, identity.NewUser{Email: "ann@acme.example", Password: dirPassword})
				wantKind(t, err, models.KindConflict, "")
			})

			t.Run("create with generated password", func(t *testing.T) {
				out, err := e.users.Create(ctx, e.owner, identity.NewUser{Email: "gen@acme.example"})
				if err != nil {
					t.Fatal(err)
				}
				if out.InitialPassword == "" || !out.User.ForcePasswordChange {
					t.Fatalf("generated password %q, force %v", out.InitialPassword, out.User.ForcePasswordChange)
				}
				if err := identity.CheckPassword(out.InitialPassword, "gen@acme.example"); err != nil {
					t.Errorf("generated password fails the policy: %v", err)
				}
				if bcrypt.CompareHashAndPassword([]byte(out.User.PasswordHash), []byte(out.InitialPassword)) != nil {
					t.Error("generated password is not the stored one")
				}
			})

			t.Run("unknown role", func(t *testing.T) {
				_, err := e.users.Create(ctx, e.owner, identity.NewUser{Email: "norole@acme.example", Password: dirPassword, Roles: []string{"Nope"}})
				wantInvalid(t, err, "roles")
				if _, err := e.st.GetUserByEmail(ctx, e.tenant.ID, "norole@acme.example"); !models.IsKind(err, models.KindNotFound) {
					t.Errorf("user created despite the bad role: %v", err)
				}
			})

			t.Run("list, search, filters, pages", func(t *testing.T) {
				for _, em := range []string{"p1@acme.example", "p2@acme.example", "p3@acme.example", "under_score@acme.example"} {
					if _, err := e.users.Create(ctx, e.owner, identity.NewUser{Email: em, Name: "Pager", Password: dirPassword}); err != nil {
						t.Fatal(err)
					}
				}
				e.user(t, "globex", "p9@globex.example", "")
				page, err := e.users.List(ctx, e.tenant.ID, identity.UserQuery{Q: "pager", PerPage: 2})
				if err != nil {
					t.Fatal(err)
				}
				if page.Total != 4 || len(page.Users) != 2 || page.Page != 1 {
					t.Errorf("page 1: total %d, %d users", page.Total, len(page.Users))
				}
				page, _ = e.users.List(ctx, e.tenant.ID, identity.UserQuery{Q: "pager", PerPage: 2, Page: 2})
				if page.Total != 4 || len(page.Users) != 2 {
					t.Errorf("page 2: total %d, %d users", page.Total, len(page.Users))
				}
				page, _ = e.users.List(ctx, e.tenant.ID, identity.UserQuery{Q: "_"})
				if page.Total != 1 || page.Users[0].Email != "under_score@acme.example" {
					t.Errorf("search for _ is a wildcard: %d users", page.Total)
				}
				page, _ = e.users.List(ctx, e.tenant.ID, identity.UserQuery{Q: "P9"})
				if page.Total != 0 {
					t.Error("another tenant's user is listed")
				}
				page, _ = e.users.List(ctx, e.tenant.ID, identity.UserQuery{Role: identity.RoleMember})
				if page.Total != 1 || page.Users[0].Email != "ann@acme.example" || len(page.Roles[page.Users[0].ID]) != 1 {
					t.Errorf("role filter: %d users", page.Total)
				}
				page, _ = e.users.List(ctx, e.tenant.ID, identity.UserQuery{Role: e.role(t, e.tenant.ID, identity.RoleOwner).ID})
				if page.Total != 1 || page.Users[0].Email != "owner@acme.example" {
					t.Errorf("role id filter: %d users", page.Total)
				}
				_, err = e.users.List(ctx, e.tenant.ID, identity.UserQuery{PerPage: 1000})
				wantInvalid(t, err, "per_page")
			})

			t.Run("locked, two-factor and unlock, reset", func(t *testing.T) {
				u := ann.User
				if _, err := e.st.RecordLoginFailure(ctx, e.tenant.ID, u.ID, 1, time.Hour); err != nil {
					t.Fatal(err)
				}
				if _, err := e.st.RecordPINFailure(ctx, e.tenant.ID, u.ID, 1, time.Hour); err != nil {
					t.Fatal(err)
				}
				sealed := []byte("sealed")
				if _, err := e.st.UpdateUser(ctx, e.tenant.ID, u.ID, func(u *models.User) error {
					u.TOTPEnabled, u.TOTPSecretSealed, u.Email2FAEnabled = true, sealed, true
					return nil
				}); err != nil {
					t.Fatal(err)
				}
				if err := e.st.ReplaceRecoveryCodes(ctx, e.tenant.ID, u.ID, []string{"h1", "h2"}); err != nil {
					t.Fatal(err)
				}
				dev := &models.Device{TenantID: e.tenant.ID, UserID: u.ID, TokenHash: "devhash", Name: "d"}
				if err := e.st.CreateDevice(ctx, dev); err != nil {
					t.Fatal(err)
				}
				until := time.Now().Add(time.Hour)
				if err := e.st.SetDeviceTrust(ctx, e.tenant.ID, u.ID, dev.ID, &until); err != nil {
					t.Fatal(err)
				}
				yes, no := true, false
				for _, q := range []identity.UserQuery{{Locked: &yes}, {TwoFactor: &yes}} {
					page, _ := e.users.List(ctx, e.tenant.ID, q)
					if page.Total != 1 || page.Users[0].ID != u.ID {
						t.Errorf("filter %+v: %d users", q, page.Total)
					}
				}
				page, _ := e.users.List(ctx, e.tenant.ID, identity.UserQuery{Locked: &no, TwoFactor: &no, Active: &yes})
				for _, x := range page.Users {
					if x.ID == u.ID {
						t.Error("locked user listed as unlocked")
					}
				}

				d, err := e.users.Unlock(ctx, e.owner, u.ID)
				if err != nil {
					t.Fatal(err)
				}
				if d.User.LockedUntil != nil || d.User.FailedLogins != 0 || d.User.PINLockedUntil != nil || d.User.PINFailed != 0 {
					t.Errorf("after unlock: %+v", d.User)
				}
				d, err = e.users.ResetTwoFactor(ctx, e.owner, u.ID)
				if err != nil {
					t.Fatal(err)
				}
				if d.User.TOTPEnabled || d.User.Email2FAEnabled || d.User.TOTPSecretSealed != nil {
					t.Errorf("after reset: %+v", d.User)
				}
				if n, _ := e.st.CountRecoveryCodes(ctx, e.tenant.ID, u.ID); n != 0 {
					t.Errorf("%d recovery codes left", n)
				}
				got, _ := e.st.GetDevice(ctx, e.tenant.ID, u.ID, dev.ID)
				if got.TrustedUntil != nil {
					t.Error("device still trusted")
				}
				for _, a := range []string{identity.AuditUserUnlocked, identity.AuditUser2FAReset} {
					if e.auditCount(t, a, u.ID) != 1 {
						t.Errorf("no audit row %s", a)
					}
				}
			})

			t.Run("update changes only its fields", func(t *testing.T) {
				name, email := "Ann B", "ann.b@acme.example"
				d, err := e.users.Update(ctx, e.owner, ann.User.ID, identity.UserPatch{Name: &name, Email: &email})
				if err != nil {
					t.Fatal(err)
				}
				if d.User.Name != name || d.User.Email != email || d.User.IsSystemAdmin || d.User.TenantID != e.tenant.ID {
					t.Errorf("after update: %+v", d.User)
				}
				taken := "owner@acme.example"
				_, err = e.users.Update(ctx, e.owner, ann.User.ID, identity.UserPatch{Email: &taken})
				wantKind(t, err, models.KindConflict, "email_taken")
			})

			t.Run("cross tenant is not found", func(t *testing.T) {
				stranger := e.user(t, "globex", "stranger@globex.example", identity.RoleMember)
				_, err := e.users.Get(ctx, e.tenant.ID, stranger.ID)
				wantKind(t, err, models.KindNotFound, "")
				_, err = e.users.Deactivate(ctx, e.owner, stranger.ID)
				wantKind(t, err, models.KindNotFound, "")
				err = e.users.Delete(ctx, e.owner, stranger.ID)
				wantKind(t, err, models.KindNotFound, "")
				_, err = e.members.AssignRole(ctx, e.owner, ann.User.ID, e.role(t, e.other.ID, identity.RoleMember).ID)
				wantInvalid(t, err, "role_id")
				_, err = e.members.AssignPolicy(ctx, e.owner, ann.User.ID, e.policy(t, e.other.ID, identity.DangerZonePolicy).ID)
				wantKind(t, err, models.KindNotFound, "")
				_, err = e.users.Get(ctx, e.tenant.ID, "not-a-uuid")
				wantKind(t, err, models.KindNotFound, "")
				if got, _ := e.st.GetUser(ctx, e.other.ID, stranger.ID); !got.IsActive {
					t.Error("another tenant's user was deactivated")
				}
			})

			t.Run("deactivate revokes sessions and delete removes", func(t *testing.T) {
				s := &models.Session{TenantID: e.tenant.ID, UserID: ann.User.ID, Kind: models.SessionAPI, ExpiresAt: time.Now().Add(time.Hour)}
				if err := e.st.CreateSession(ctx, s); err != nil {
					t.Fatal(err)
				}
				d, err := e.users.Deactivate(ctx, e.owner, ann.User.ID)
				if err != nil {
					t.Fatal(err)
				}
				if d.User.IsActive {
					t.Error("still active")
				}
				if ss, _ := e.st.ListSessions(ctx, e.tenant.ID, ann.User.ID); len(ss) != 0 {
					t.Errorf("%d sessions live after deactivation", len(ss))
				}
				_, err = e.users.Deactivate(ctx, e.owner, e.owner.UserID)
				wantKind(t, err, models.KindConflict, "cannot_target_self")
				if err := e.users.Delete(ctx, e.owner, ann.User.ID); err != nil {
					t.Fatal(err)
				}
				_, err = e.users.Get(ctx, e.tenant.ID, ann.User.ID)
				wantKind(t, err, models.KindNotFound, "")
				if n := adminCount(t, e.st, "role_assignments WHERE principal_id = '"+ann.User.ID+"'"); n != 0 {
					t.Errorf("%d role assignments left", n)
				}
				if e.auditCount(t, identity.AuditUserDeleted, ann.User.ID) != 1 || e.auditCount(t, identity.AuditUserDeactivated, ann.User.ID) != 1 {
					t.Error("deactivation or deletion not audited")
				}
			})
		})
	}
}

func TestDirectoryEscalation(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newDirEnv(t, b)
			ctx := context.Background()
			adminUser := e.user(t, "acme", "admin@acme.example", identity.RoleAdmin)
			admin := e.actor(t, adminUser)
			manager := e.actor(t, e.user(t, "acme", "manager@acme.example", identity.RoleManager))
			member := e.user(t, "acme", "member@acme.example", identity.RoleMember)
			danger := e.policy(t, e.tenant.ID, identity.DangerZonePolicy)

			// Admin holds no danger actions, so cannot grant them.
			_, err := e.members.AssignPolicy(ctx, admin, adminUser.ID, danger.ID)
			me := wantKind(t, err, models.KindForbidden, "forbidden")
			if !identity.IsDangerAction(me.RequiredPermission) {
				t.Errorf("required permission %q", me.RequiredPermission)
			}
			// Nor the Owner role's permissions.
			_, err = e.members.AssignRole(ctx, admin, member.ID, identity.RoleOwner)
			wantKind(t, err, models.KindForbidden, "forbidden")
			// Nor may it change an Owner.
			name := "pwned"
			_, err = e.users.Update(ctx, admin, e.owner.UserID, identity.UserPatch{Name: &name})
			wantKind(t, err, models.KindForbidden, "forbidden")
			// A Manager may update but not deactivate through the update.
			off := false
			_, err = e.users.Update(ctx, manager, member.ID, identity.UserPatch{IsActive: &off})
			me = wantKind(t, err, models.KindForbidden, "forbidden")
			if me.RequiredPermission != "identity.users.deactivate" {
				t.Errorf("required permission %q", me.RequiredPermission)
			}
			if got, _ := e.st.GetUser(ctx, e.tenant.ID, member.ID); !got.IsActive {
				t.Error("member deactivated")
			}
			// The Owner cannot grant danger actions it lacks either.
			_, err = e.members.AssignPolicy(ctx, e.owner, e.owner.UserID, danger.ID)
			wantKind(t, err, models.KindForbidden, "forbidden")
			_, err = e.roles.Create(ctx, e.owner, identity.RoleInput{Name: "Deleters", Permissions: []string{"identity.users.delete"}})
			wantKind(t, err, models.KindForbidden, "forbidden")
			// A system admin can.
			sys := e.owner
			sys.SystemAdmin = true
			if _, err := e.members.AssignPolicy(ctx, sys, e.owner.UserID, danger.ID); err != nil {
				t.Fatalf("system admin assigns danger zone: %v", err)
			}
			// admin.* never goes into a role or policy, not even by a system admin.
			for _, p := range []string{"*", "admin.*", "admin.users.system_admin", "*.users.system_admin", "*.*.*"} {
				_, err = e.roles.Create(ctx, sys, identity.RoleInput{Name: "Escalate", Permissions: []string{p}})
				wantInvalid(t, err, "permissions")
				_, err = e.policies.Create(ctx, sys, identity.PolicyInput{Name: "Escalate", Permissions: []string{p}})
				wantInvalid(t, err, "permissions")
			}
			// Setting system admin needs a system admin.
			_, err = e.users.SetSystemAdmin(ctx, e.owner, "", member.ID, true)
			wantKind(t, err, models.KindForbidden, "")
			d, err := e.users.SetSystemAdmin(ctx, sys, e.tenant.ID, member.ID, true)
			if err != nil || !d.User.IsSystemAdmin {
				t.Fatalf("grant: %v", err)
			}
			if e.auditCount(t, identity.AuditSystemAdminGranted, member.ID) != 1 {
				t.Error("grant not audited")
			}
			// Tenant principals cannot change a system admin.
			_, err = e.users.ForcePasswordChange(ctx, e.owner, member.ID)
			wantKind(t, err, models.KindForbidden, "")
			_, err = e.users.SetSystemAdmin(ctx, sys, "", member.ID, false)
			if err != nil {
				t.Fatal(err)
			}
			if e.auditCount(t, identity.AuditSystemAdminRevoked, member.ID) != 1 {
				t.Error("revoke not audited")
			}
			_, err = e.users.SetSystemAdmin(ctx, sys, "bad", member.ID, true)
			wantInvalid(t, err, "tenant_id")
			_, err = e.users.SetSystemAdmin(ctx, sys, e.other.ID, member.ID, true)
			wantKind(t, err, models.KindNotFound, "")
		})
	}
}

func TestDirectoryRolesAndPolicies(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newDirEnv(t, b)
			ctx := context.Background()
			u := e.user(t, "acme", "user@acme.example", "")
			// The Owner grants only what it holds (issue 8): give it the
			// tenant permissions this test hands out.
			e.owner.Perms = append(slices.Clone(e.owner.Perms), "tenant.*.crm.contacts.read", "tenant.*.reports.read",
				"tenant.acme.warehouse.items.read", "tenant.acme.warehouse.items.update")

			r, err := e.roles.Create(ctx, e.owner, identity.RoleInput{Name: "CRM", Description: "crm", Permissions: []string{"tenant.*.crm.contacts.read", "tenant.*.crm.contacts.read"}})
			if err != nil {
				t.Fatal(err)
			}
			if len(r.Permissions) != 1 || r.TenantID == nil || *r.TenantID != e.tenant.ID {
				t.Errorf("role %+v", r)
			}
			_, err = e.roles.Create(ctx, e.owner, identity.RoleInput{Name: "CRM"})
			wantKind(t, err, models.KindConflict, "name_taken")
			_, err = e.roles.Create(ctx, e.owner, identity.RoleInput{Name: "Bad", Permissions: []string{"Bad Perm"}})
			wantInvalid(t, err, "permissions")
			_, err = e.roles.Create(ctx, e.owner, identity.RoleInput{Name: ""})
			wantInvalid(t, err, "name")
			_, err = e.roles.Create(ctx, e.owner, identity.RoleInput{Name: "G", Global: true})
			wantKind(t, err, models.KindForbidden, "")

			sys := e.owner
			sys.SystemAdmin = true
			global, err := e.roles.Create(ctx, sys, identity.RoleInput{Name: "Global Reader", Global: true, Permissions: []string{"tenant.*.reports.read"}})
			if err != nil {
				t.Fatal(err)
			}
			if global.TenantID != nil {
				t.Fatal("global role has a tenant")
			}
			p, err := e.policies.Create(ctx, e.owner, identity.PolicyInput{Name: "Warehouse", Permissions: []string{"tenant.acme.warehouse.items.read"}})
			if err != nil {
				t.Fatal(err)
			}

			// The union: a tenant role, a global role, a direct policy.
			for _, ref := range []string{r.ID, global.ID} {
				if _, err := e.members.AssignRole(ctx, e.owner, u.ID, ref); err != nil {
					t.Fatal(err)
				}
			}
			_, err = e.members.AssignRole(ctx, e.owner, u.ID, r.ID)
			wantKind(t, err, models.KindConflict, "role_already_assigned")
			d, err := e.members.AssignPolicy(ctx, e.owner, u.ID, p.ID)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{"tenant.*.crm.contacts.read", "tenant.*.reports.read", "tenant.acme.warehouse.items.read"}
			if !slices.Equal(d.Permissions, want) {
				t.Errorf("permissions %v, want %v", d.Permissions, want)
			}
			if len(d.Roles) != 2 || len(d.Policies) != 1 {
				t.Errorf("roles %d, policies %d", len(d.Roles), len(d.Policies))
			}

			// Global roles: readable, assignable, not editable by the tenant.
			roles, _ := e.roles.List(ctx, e.tenant.ID)
			if !slices.ContainsFunc(roles, func(x models.Role) bool { return x.ID == global.ID }) {
				t.Error("global role not listed")
			}
			gname := "Mine now"
			_, err = e.roles.Update(ctx, e.owner, global.ID, identity.RolePatch{Name: &gname})
			wantKind(t, err, models.KindForbidden, "")
			err = e.roles.Delete(ctx, e.owner, global.ID)
			wantKind(t, err, models.KindForbidden, "")

			// System roles: no rename, no delete; description is fine.
			owner := e.role(t, e.tenant.ID, identity.RoleOwner)
			newName := "Boss"
			_, err = e.roles.Update(ctx, e.owner, owner.ID, identity.RolePatch{Name: &newName})
			wantKind(t, err, models.KindConflict, "system_role")
			desc := "The owners"
			if _, err := e.roles.Update(ctx, e.owner, owner.ID, identity.RolePatch{Description: &desc}); err != nil {
				t.Fatal(err)
			}
			err = e.roles.Delete(ctx, sys, owner.ID)
			wantKind(t, err, models.KindConflict, "system_role")

			// Another tenant's roles and policies are not found.
			otherRole := e.role(t, e.other.ID, identity.RoleMember)
			_, err = e.roles.Get(ctx, e.tenant.ID, otherRole.ID)
			wantKind(t, err, models.KindNotFound, "")
			_, err = e.roles.Update(ctx, e.owner, otherRole.ID, identity.RolePatch{Description: &desc})
			wantKind(t, err, models.KindNotFound, "")
			otherPolicy := e.policy(t, e.other.ID, identity.DangerZonePolicy)
			err = e.policies.Delete(ctx, sys, otherPolicy.ID)
			wantKind(t, err, models.KindNotFound, "")

			// Update and delete a policy, a role; assignments go with them.
			perms := []string{"tenant.acme.warehouse.items.read", "tenant.acme.warehouse.items.update"}
			if p, err = e.policies.Update(ctx, e.owner, p.ID, identity.RolePatch{Permissions: &perms}); err != nil || len(p.Permissions) != 2 {
				t.Fatalf("update policy: %v", err)
			}
			if _, err := e.members.UnassignRole(ctx, e.owner, u.ID, global.ID); err != nil {
				t.Fatal(err)
			}
			_, err = e.members.UnassignRole(ctx, e.owner, u.ID, global.ID)
			wantKind(t, err, models.KindNotFound, "")
			err = e.roles.Delete(ctx, e.owner, r.ID)
			if err != nil {
				t.Fatal(err)
			}
			if err := e.policies.Delete(ctx, e.owner, p.ID); err != nil {
				t.Fatal(err)
			}
			got, _ := e.users.Get(ctx, e.tenant.ID, u.ID)
			if len(got.Permissions) != 0 || len(got.Roles) != 0 || len(got.Policies) != 0 {
				t.Errorf("after deletes: %v %v %v", got.Permissions, got.Roles, got.Policies)
			}
			if n := adminCount(t, e.st, "audit_logs WHERE action LIKE 'role.%' OR action LIKE 'policy.%'"); n < 9 {
				t.Errorf("%d role/policy audit rows", n)
			}
		})
	}
}

// TestDirectoryCoverageRule: grants and changes of users are judged by
// pattern coverage, outside the catalogue too, and the danger part needs
// the actor to have stepped up (issue 8).
func TestDirectoryCoverageRule(t *testing.T) {
	t.Parallel()
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newDirEnv(t, b)
			ctx := context.Background()
			manager := e.actor(t, e.user(t, "acme", "manager@acme.example", identity.RoleManager))
			payer := e.user(t, "acme", "payer@acme.example", identity.RoleMember)
			sys := e.owner
			sys.SystemAdmin = true
			payouts, err := e.policies.Create(ctx, sys, identity.PolicyInput{Name: "Payouts", Permissions: []string{"billing.payouts.approve"}})
			if err != nil {
				t.Fatal(err)
			}
			if _, err := e.members.AssignPolicy(ctx, sys, payer.ID, payouts.ID); err != nil {
				t.Fatal(err)
			}

			// The Owner cannot make a policy of its tenant's whole namespace,
			// nor of a permission outside the catalogue it does not hold.
			for _, perm := range []string{"tenant.acme.*", "tenant.*", "billing.payouts.approve", "billing.*", "identity.*"} {
				_, err := e.policies.Create(ctx, e.owner, identity.PolicyInput{Name: "Mine " + perm, Permissions: []string{perm}})
				if me := wantKind(t, err, models.KindForbidden, "forbidden"); me.RequiredPermission != perm {
					t.Errorf("%s: required permission %q", perm, me.RequiredPermission)
				}
			}
			_, err = e.members.AssignPolicy(ctx, e.owner, e.owner.UserID, payouts.ID)
			if me := wantKind(t, err, models.KindForbidden, "forbidden"); me.RequiredPermission != "billing.payouts.approve" {
				t.Errorf("required permission %q", me.RequiredPermission)
			}
			// A Manager cannot change the e-mail (nor anything) of a user
			// holding a permission outside the catalogue it lacks.
			mail := "attacker@evil.example"
			_, err = e.users.Update(ctx, manager, payer.ID, identity.UserPatch{Email: &mail})
			if me := wantKind(t, err, models.KindForbidden, "forbidden"); me.RequiredPermission != "billing.payouts.approve" {
				t.Errorf("required permission %q", me.RequiredPermission)
			}
			if got, _ := e.st.GetUser(ctx, e.tenant.ID, payer.ID); got.Email != "payer@acme.example" {
				t.Errorf("e-mail changed to %s", got.Email)
			}
			_, err = e.users.Unlock(ctx, manager, payer.ID)
			wantKind(t, err, models.KindForbidden, "forbidden")
			// Holding the pattern is enough, wherever it came from.
			payMgr := manager
			payMgr.Perms = append(slices.Clone(manager.Perms), "billing.*")
			if _, err := e.users.Update(ctx, payMgr, payer.ID, identity.UserPatch{Email: &mail}); err != nil {
				t.Fatalf("covering manager: %v", err)
			}

			// Danger actions: held and stepped up, or refused with step-up.
			elevated := false
			dz := e.owner
			dz.Perms = append(slices.Clone(e.owner.Perms), identity.DangerActions...)
			dz.Elevated = func(context.Context) (bool, error) { return elevated, nil }
			danger := e.policy(t, e.tenant.ID, identity.DangerZonePolicy)
			member := e.user(t, "acme", "member@acme.example", identity.RoleMember)
			_, err = e.members.AssignPolicy(ctx, dz, member.ID, danger.ID)
			if me := wantKind(t, err, models.KindStepUpRequired, "step_up_required"); !identity.IsDangerAction(me.RequiredPermission) {
				t.Errorf("required permission %q", me.RequiredPermission)
			}
			_, err = e.roles.Create(ctx, dz, identity.RoleInput{Name: "Deleters", Permissions: []string{"identity.users.delete"}})
			wantKind(t, err, models.KindStepUpRequired, "step_up_required")
			// Not elevated, a non-danger grant still works.
			if _, err := e.roles.Create(ctx, dz, identity.RoleInput{Name: "Readers", Permissions: []string{"identity.users.read"}}); err != nil {
				t.Fatal(err)
			}
			elevated = true
			if _, err := e.members.AssignPolicy(ctx, dz, member.ID, danger.ID); err != nil {
				t.Fatalf("elevated: %v", err)
			}
			// Now member holds danger actions: changing it needs the step-up too.
			elevated = false
			name := "Member"
			_, err = e.users.Update(ctx, dz, member.ID, identity.UserPatch{Name: &name})
			wantKind(t, err, models.KindStepUpRequired, "step_up_required")
			_, err = e.users.Update(ctx, e.owner, member.ID, identity.UserPatch{Name: &name})
			wantKind(t, err, models.KindForbidden, "forbidden")
		})
	}
}
