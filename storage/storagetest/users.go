package storagetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync/atomic"
	"testing"
	"time"

	"github.com/identityd/identityd/models"
)

// UserStore is the users repository: CRUD, the filtered listing, the
// updater, and the atomic login-failure counters and password history that
// live on a user.
type UserStore interface {
	TenantCreator
	UserCreator
	RawStore
	// GetUser returns the tenant's user; another tenant's, unknown or
	// malformed is NotFound.
	GetUser(ctx context.Context, tenantID, id string) (*models.User, error)
	// GetUserByEmail matches the e-mail in any case; NotFound otherwise.
	GetUserByEmail(ctx context.Context, tenantID, email string) (*models.User, error)
	// GetUserAndTenantState returns the user and whether its tenant is
	// suspended, in one statement; NotFound as GetUser.
	GetUserAndTenantState(ctx context.Context, tenantID, id string) (*models.User, bool, error)
	// ListUsers returns a page ordered by e-mail and the total matching f.
	ListUsers(ctx context.Context, f models.UserFilter) ([]models.User, int, error)
	// StreamUsers calls fn with pages of every user matching f's filters,
	// ordered by e-mail then id (paging fields ignored), carrying no
	// secret; fn's error stops it and is returned.
	StreamUsers(ctx context.Context, f models.UserFilter, fn func([]models.User) error) error
	// DeleteUser deletes the user and its role and policy assignments;
	// NotFound as GetUser.
	DeleteUser(ctx context.Context, tenantID, id string) error
	// UpdateUser runs fn on the locked row and writes what it left, keeping
	// ID, TenantID and CreatedAt; fn's error writes nothing; NotFound (fn not
	// called) as GetUser; a taken e-mail is a Conflict.
	UpdateUser(ctx context.Context, tenantID, userID string, fn func(u *models.User) error) (*models.User, error)
	// RecordLoginFailure counts a failure in one statement, locking for
	// lockFor at max; an active lock is never extended, an expired one
	// restarts the count. NotFound for an unknown user.
	RecordLoginFailure(ctx context.Context, tenantID, userID string, max int, lockFor time.Duration) (models.FailureResult, error)
	// ClearLoginFailures resets the count unless locked (false then).
	ClearLoginFailures(ctx context.Context, tenantID, userID string) (bool, error)
	// AddPasswordHistory records a hash and keeps the newest keep.
	AddPasswordHistory(ctx context.Context, tenantID, userID, hash string, keep int) error
	// ListPasswordHistory returns the newest n hashes, newest first.
	ListPasswordHistory(ctx context.Context, tenantID, userID string, n int) ([]string, error)
	SuspendTenant(ctx context.Context, id string) (*models.Tenant, error)
	CreateRole(ctx context.Context, r *models.Role) error
	AssignRole(ctx context.Context, tenantID, principalID, principalType, roleID string) error
}

var _ = claim[UserStore]("RunUsersSuite", "CreateUser", "GetUser", "GetUserByEmail", "GetUserAndTenantState",
	"ListUsers", "StreamUsers", "DeleteUser", "UpdateUser", "RecordLoginFailure", "ClearLoginFailures",
	"AddPasswordHistory", "ListPasswordHistory")

// RunUsersSuite checks the users repository: create and get in any case of
// e-mail, tenant isolation, the listing filters and paging, deletion, the
// UpdateUser contract (Dex's updaters), and the login-failure counter,
// alone and under concurrent requests and updates.
func RunUsersSuite[S UserStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) UserStore { return newStore(t) }, []subTest[UserStore]{
		{"CreateGet", testUserCreateGet},
		{"GetUserAndTenantState", testUserAndTenantState},
		{"List", testUserList},
		{"Stream", testUserStream},
		{"Delete", testUserDelete},
		{"UpdateUser", testUpdateUser},
		{"UpdateUserConcurrentWithCounter", testUpdateUserConcurrentCounter},
		{"LoginFailures", testLoginFailures},
		{"LoginFailuresConcurrent", testLoginFailuresConcurrent},
		{"PasswordHistory", testPasswordHistory},
	})
}

func testUserCreateGet(t *testing.T, s UserStore) {
	ctx := t.Context()
	t1, t2 := createTenant(t, s, "one"), createTenant(t, s, "two")
	u := &models.User{TenantID: t1.ID, Email: "  Alice@Example.COM ", PasswordHash: "h", Name: "Alice"}
	must(t, s.CreateUser(ctx, u), "create user")
	wantEqual(t, u.Email, "alice@example.com", "stored email")
	rows := rawRows(t, s, "users", "id = ?", u.ID)
	if len(rows) != 1 {
		t.Fatalf("%d user rows, want 1", len(rows))
	}
	wantEqual(t, rows[0]["email"], "alice@example.com", "users.email")

	got, err := s.GetUserByEmail(ctx, t1.ID, "ALICE@example.com")
	must(t, err, "get by email in any case")
	wantEqual(t, got.ID, u.ID, "user id by email")
	got, err = s.GetUser(ctx, t1.ID, u.ID)
	must(t, err, "get user")
	wantEqual(t, got.Name, "Alice", "user name")

	err = s.CreateUser(ctx, &models.User{TenantID: t1.ID, Email: "alice@EXAMPLE.com", PasswordHash: "h"})
	wantKind(t, err, models.KindConflict, "same email, same tenant")

	other := &models.User{TenantID: t2.ID, Email: "alice@example.com", PasswordHash: "h"}
	must(t, s.CreateUser(ctx, other), "same email in another tenant")

	tests := []struct {
		name string
		get  func() error
	}{
		{"other tenant's user", func() error { _, err := s.GetUser(ctx, t2.ID, u.ID); return err }},
		{"bad uuid", func() error { _, err := s.GetUser(ctx, t1.ID, "not-a-uuid"); return err }},
		{"unknown email", func() error {
			_, err := s.GetUserByEmail(ctx, t2.ID, "bob@example.com")
			return err
		}},
		{"unknown tenant", func() error {
			_, err := s.GetUser(ctx, "00000000-0000-4000-8000-000000000000", u.ID)
			return err
		}},
	}
	for _, tt := range tests {
		wantKind(t, tt.get(), models.KindNotFound, tt.name)
	}
	got, err = s.GetUserByEmail(ctx, t2.ID, "alice@example.com")
	must(t, err, "get by email in tenant two")
	wantEqual(t, got.ID, other.ID, "tenant two's alice")
}

func testUserAndTenantState(t *testing.T, s UserStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	u := newUser(t, s, tn.ID)
	got, suspended, err := s.GetUserAndTenantState(ctx, tn.ID, u.ID)
	must(t, err, "live tenant")
	wantEqual(t, got.ID, u.ID, "user id")
	wantEqual(t, suspended, false, "suspended")
	_, err = s.SuspendTenant(ctx, tn.ID)
	must(t, err, "suspend")
	_, suspended, err = s.GetUserAndTenantState(ctx, tn.ID, u.ID)
	must(t, err, "suspended tenant")
	wantEqual(t, suspended, true, "suspended")
	_, _, err = s.GetUserAndTenantState(ctx, other.ID, u.ID)
	wantNotFound(t, err, "another tenant's user")
	_, _, err = s.GetUserAndTenantState(ctx, tn.ID, "not-a-uuid")
	wantNotFound(t, err, "malformed id")
}

func testUserList(t *testing.T, s UserStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	mk := func(email, name string) *models.User {
		t.Helper()
		u := &models.User{TenantID: tn.ID, Email: email, Name: name, PasswordHash: "x"}
		must(t, s.CreateUser(ctx, u), "create "+email)
		return u
	}
	alice := mk("alice@example.com", "Alice Liddell")
	bob := mk("bob@example.com", "Bob")
	carol := mk("carol@example.com", "Carol")
	dave := mk("dave@example.com", "Dave")
	eve := mk("eve@example.com", "Eve 100%")
	must(t, s.CreateUser(ctx, &models.User{TenantID: other.ID, Email: "alice@example.com", PasswordHash: "x"}), "other tenant's alice")

	_, err := s.UpdateUser(ctx, tn.ID, bob.ID, func(u *models.User) error { u.IsActive = false; return nil })
	must(t, err, "deactivate bob")
	_, err = s.RecordLoginFailure(ctx, tn.ID, carol.ID, 1, time.Hour)
	must(t, err, "lock carol")
	_, err = s.UpdateUser(ctx, tn.ID, dave.ID, func(u *models.User) error { u.TOTPEnabled = true; return nil })
	must(t, err, "dave's totp")
	role := &models.Role{TenantID: &tn.ID, Name: "auditor"}
	must(t, s.CreateRole(ctx, role), "create role")
	must(t, s.AssignRole(ctx, tn.ID, eve.ID, models.PrincipalUser, role.ID), "assign role")

	emails := func(f models.UserFilter) ([]string, int) {
		t.Helper()
		f.TenantID = tn.ID
		if f.Limit == 0 {
			f.Limit = 50
		}
		out, total, err := s.ListUsers(ctx, f)
		must(t, err, "list users")
		var got []string
		for _, u := range out {
			got = append(got, u.Email)
		}
		return got, total
	}
	all := []string{alice.Email, bob.Email, carol.Email, dave.Email, eve.Email}
	tests := []struct {
		name      string
		f         models.UserFilter
		want      []string
		wantTotal int
	}{
		{"all by email", models.UserFilter{}, all, 5},
		{"page", models.UserFilter{Offset: 1, Limit: 2}, []string{bob.Email, carol.Email}, 5},
		{"query email", models.UserFilter{Query: "ALI"}, []string{alice.Email}, 1},
		{"query name", models.UserFilter{Query: "liddell"}, []string{alice.Email}, 1},
		{"query wildcard is literal", models.UserFilter{Query: "%"}, []string{eve.Email}, 1},
		{"inactive", models.UserFilter{Active: ptr(false)}, []string{bob.Email}, 1},
		{"active", models.UserFilter{Active: ptr(true)}, []string{alice.Email, carol.Email, dave.Email, eve.Email}, 4},
		{"locked", models.UserFilter{Locked: ptr(true)}, []string{carol.Email}, 1},
		{"not locked", models.UserFilter{Locked: ptr(false)}, []string{alice.Email, bob.Email, dave.Email, eve.Email}, 4},
		{"two factor", models.UserFilter{TwoFactor: ptr(true)}, []string{dave.Email}, 1},
		{"no two factor", models.UserFilter{TwoFactor: ptr(false)}, []string{alice.Email, bob.Email, carol.Email, eve.Email}, 4},
		{"role by id", models.UserFilter{Role: role.ID}, []string{eve.Email}, 1},
		{"role by name", models.UserFilter{Role: "auditor"}, []string{eve.Email}, 1},
		{"unknown role", models.UserFilter{Role: "nobody"}, nil, 0},
	}
	for _, tt := range tests {
		got, total := emails(tt.f)
		if !slices.Equal(got, tt.want) || total != tt.wantTotal {
			t.Errorf("%s: ListUsers = %v (total %d), want %v (total %d)", tt.name, got, total, tt.want, tt.wantTotal)
		}
		// The export applies the same filters, ignoring the paging.
		f := tt.f
		f.TenantID = tn.ID
		var streamed []string
		must(t, s.StreamUsers(ctx, f, func(page []models.User) error {
			for _, u := range page {
				streamed = append(streamed, u.Email)
			}
			return nil
		}), "stream users")
		want := tt.want
		if tt.f.Limit > 0 {
			want, _ = emails(models.UserFilter{Query: tt.f.Query, Active: tt.f.Active, Locked: tt.f.Locked, TwoFactor: tt.f.TwoFactor, Role: tt.f.Role})
		}
		if !slices.Equal(streamed, want) {
			t.Errorf("%s: StreamUsers = %v, want %v", tt.name, streamed, want)
		}
	}
}

// testUserStream: StreamUsers pages through more users than one page
// holds, each once, in e-mail order, never another tenant's, without a
// secret; the callback may use the store between pages; its error stops
// the stream.
func testUserStream(t *testing.T, s UserStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	const n = 1203
	for i := range n {
		u := &models.User{TenantID: tn.ID, Email: fmt.Sprintf("user%05d@example.com", i), Name: "U", PasswordHash: "secret-hash", PINHash: "pin-hash",
			TOTPSecretSealed: []byte("sealed")}
		must(t, s.CreateUser(ctx, u), "create user")
	}
	newUser(t, s, other.ID)
	var got []string
	pages := 0
	must(t, s.StreamUsers(ctx, models.UserFilter{TenantID: tn.ID, Limit: 3, Offset: 7}, func(page []models.User) error {
		pages++
		for _, u := range page {
			if u.TenantID != tn.ID {
				t.Errorf("user %s of tenant %s streamed", u.Email, u.TenantID)
			}
			if u.PasswordHash != "" || u.PINHash != "" || len(u.TOTPSecretSealed) != 0 || u.CreatedAt.IsZero() {
				t.Errorf("user %s: hash %q, pin %q, totp %q, created %v", u.Email, u.PasswordHash, u.PINHash, u.TOTPSecretSealed, u.CreatedAt)
			}
			got = append(got, u.Email)
		}
		// The store is free between pages (SQLite has one connection).
		_, err := s.GetUser(ctx, tn.ID, page[0].ID)
		return err
	}), "stream users")
	if len(got) != n || pages < 2 {
		t.Fatalf("streamed %d users in %d pages, want %d in several", len(got), pages, n)
	}
	for i, e := range got {
		if want := fmt.Sprintf("user%05d@example.com", i); e != want {
			t.Fatalf("user %d is %s, want %s", i, e, want)
		}
	}
	stop := errors.New("stop")
	calls := 0
	err := s.StreamUsers(ctx, models.UserFilter{TenantID: tn.ID}, func([]models.User) error { calls++; return stop })
	if !errors.Is(err, stop) || calls != 1 {
		t.Errorf("callback error: %v after %d calls, want stop after 1", err, calls)
	}
	must(t, s.StreamUsers(ctx, models.UserFilter{TenantID: tn.ID, Query: "nobody"}, func([]models.User) error {
		t.Error("no match calls fn")
		return nil
	}), "stream nothing")
}

func testUserDelete(t *testing.T, s UserStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	u, keep := newUser(t, s, tn.ID), newUser(t, s, tn.ID)
	role := &models.Role{TenantID: &tn.ID, Name: "r"}
	must(t, s.CreateRole(ctx, role), "create role")
	must(t, s.AssignRole(ctx, tn.ID, u.ID, models.PrincipalUser, role.ID), "assign")
	must(t, s.AssignRole(ctx, tn.ID, keep.ID, models.PrincipalUser, role.ID), "assign keep")

	wantNotFound(t, s.DeleteUser(ctx, other.ID, u.ID), "delete another tenant's user")
	_, err := s.GetUser(ctx, tn.ID, u.ID)
	must(t, err, "user after a cross-tenant delete")

	must(t, s.DeleteUser(ctx, tn.ID, u.ID), "delete")
	_, err = s.GetUser(ctx, tn.ID, u.ID)
	wantNotFound(t, err, "deleted user")
	wantEqual(t, countRows(t, s, "role_assignments", "principal_id = ?", u.ID), 0, "assignments of the deleted user")
	wantEqual(t, countRows(t, s, "role_assignments", "principal_id = ?", keep.ID), 1, "assignments of another user")
	wantNotFound(t, s.DeleteUser(ctx, tn.ID, u.ID), "delete twice")
	wantNotFound(t, s.DeleteUser(ctx, tn.ID, "not-a-uuid"), "delete a malformed id")
}

func testUpdateUser(t *testing.T, s UserStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	u, taken := newUser(t, s, tn.ID), newUser(t, s, tn.ID)
	orig, err := s.GetUser(ctx, tn.ID, u.ID)
	must(t, err, "get")

	got, err := s.UpdateUser(ctx, tn.ID, u.ID, func(m *models.User) error {
		m.Name = "Renamed"
		m.Email = "  NEW@Example.com "
		m.ForcePasswordChange = true
		m.PINSessionID = "pin-session"
		// What fn may not change is kept.
		m.ID, m.TenantID, m.CreatedAt = unknownID, other.ID, base
		return nil
	})
	must(t, err, "update")
	wantEqual(t, got.Name, "Renamed", "returned name")
	wantEqual(t, got.ID, u.ID, "returned id")
	back, err := s.GetUser(ctx, tn.ID, u.ID)
	must(t, err, "get after update")
	wantEqual(t, back.Name, "Renamed", "stored name")
	wantEqual(t, back.Email, "new@example.com", "stored e-mail, lower-cased")
	wantEqual(t, back.ForcePasswordChange, true, "stored force_password_change")
	wantEqual(t, back.PINSessionID, "pin-session", "stored pin_session_id")
	wantEqual(t, back.TenantID, tn.ID, "tenant kept")
	wantTime(t, back.CreatedAt.Truncate(time.Microsecond), orig.CreatedAt.Truncate(time.Microsecond), "created_at kept")

	// The profile columns (issue 10 part 5) round-trip, and clear again.
	wantEqual(t, back.ProfileVisibleToColleagues, false, "profile hidden from colleagues by default")
	at := base.Add(time.Hour)
	_, err = s.UpdateUser(ctx, tn.ID, u.ID, func(m *models.User) error {
		m.GivenName, m.FamilyName, m.Locale, m.Zoneinfo = "Ada", "Lovelace", "en-GB", "Europe/London"
		m.Picture, m.PhoneNumber, m.PhoneNumberVerified = "https://example.com/a.png", "+447700900123", true
		m.MarketingEmails, m.ProfileVisibleToColleagues, m.ProfileUpdatedAt = true, true, &at
		return nil
	})
	must(t, err, "update profile")
	back, err = s.GetUser(ctx, tn.ID, u.ID)
	must(t, err, "get after profile update")
	wantEqual(t, [...]string{back.GivenName, back.FamilyName, back.Locale, back.Zoneinfo, back.Picture, back.PhoneNumber},
		[...]string{"Ada", "Lovelace", "en-GB", "Europe/London", "https://example.com/a.png", "+447700900123"}, "stored profile")
	wantEqual(t, [...]bool{back.PhoneNumberVerified, back.MarketingEmails, back.ProfileVisibleToColleagues}, [...]bool{true, true, true}, "stored profile flags")
	if back.ProfileUpdatedAt == nil {
		t.Fatal("profile_updated_at not stored")
	}
	wantTime(t, back.ProfileUpdatedAt.Truncate(time.Microsecond), at.Truncate(time.Microsecond), "profile_updated_at")
	_, err = s.UpdateUser(ctx, tn.ID, u.ID, func(m *models.User) error {
		m.PhoneNumber, m.PhoneNumberVerified, m.ProfileVisibleToColleagues = "", false, false
		return nil
	})
	must(t, err, "clear phone")
	back, err = s.GetUser(ctx, tn.ID, u.ID)
	must(t, err, "get after clearing")
	wantEqual(t, [...]any{back.PhoneNumber, back.PhoneNumberVerified, back.ProfileVisibleToColleagues, back.GivenName}, [...]any{"", false, false, "Ada"}, "cleared phone, kept name")

	boom := errors.New("boom")
	_, err = s.UpdateUser(ctx, tn.ID, u.ID, func(m *models.User) error { m.Name = "Lost"; return boom })
	wantErrIs(t, err, boom, "updater error")
	back, err = s.GetUser(ctx, tn.ID, u.ID)
	must(t, err, "get")
	wantEqual(t, back.Name, "Renamed", "name after a failed updater")

	_, err = s.UpdateUser(ctx, tn.ID, u.ID, func(m *models.User) error { m.Email = taken.Email; m.Name = "Dup"; return nil })
	wantKind(t, err, models.KindConflict, "taken e-mail")
	back, err = s.GetUser(ctx, tn.ID, u.ID)
	must(t, err, "get")
	wantEqual(t, back.Name, "Renamed", "name after a conflict")

	for _, tt := range []struct{ name, tenant, id string }{
		{"another tenant's user", other.ID, u.ID},
		{"unknown id", tn.ID, unknownID},
		{"malformed id", tn.ID, "not-a-uuid"},
	} {
		called := false
		_, err := s.UpdateUser(ctx, tt.tenant, tt.id, func(*models.User) error { called = true; return nil })
		wantNotFound(t, err, tt.name)
		if called {
			t.Fatalf("%s: the updater was called", tt.name)
		}
	}
}

// testUpdateUserConcurrentCounter races updaters against the atomic failure
// counter: the updater writes failed_logins from the row it locked, so a
// failure counted meanwhile must wait for the lock, never be overwritten.
func testUpdateUserConcurrentCounter(t *testing.T, s UserStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	u := newUser(t, s, tn.ID)
	const n = 8
	errs := race(2*n, func(i int) error {
		if i%2 == 0 {
			_, err := s.UpdateUser(ctx, tn.ID, u.ID, func(m *models.User) error { m.Name = fmt.Sprintf("name-%d", i); return nil })
			return err
		}
		_, err := s.RecordLoginFailure(ctx, tn.ID, u.ID, 1000, time.Hour)
		return err
	})
	for _, err := range errs {
		must(t, err, "racer")
	}
	back, err := s.GetUser(ctx, tn.ID, u.ID)
	must(t, err, "get")
	wantEqual(t, back.FailedLogins, n, "failures counted while updaters ran")
}

func testLoginFailures(t *testing.T, s UserStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	u := newUser(t, s, tn.ID)
	for i := 1; i <= 2; i++ {
		r, err := s.RecordLoginFailure(ctx, tn.ID, u.ID, 3, time.Hour)
		must(t, err, "failure")
		wantEqual(t, r.Failures, i, "failures")
		if r.JustLocked || r.LockedUntil != nil {
			t.Fatalf("failure %d locked: %+v", i, r)
		}
	}
	ok, err := s.ClearLoginFailures(ctx, tn.ID, u.ID)
	must(t, err, "clear")
	wantEqual(t, ok, true, "clear an unlocked account")
	back, _ := s.GetUser(ctx, tn.ID, u.ID)
	wantEqual(t, back.FailedLogins, 0, "failures after clear")

	var lockedUntil time.Time
	for i := 1; i <= 3; i++ {
		r, err := s.RecordLoginFailure(ctx, tn.ID, u.ID, 3, time.Hour)
		must(t, err, "failure")
		if i == 3 {
			if !r.JustLocked || r.LockedUntil == nil {
				t.Fatalf("third failure of three: %+v, want just locked", r)
			}
			lockedUntil = *r.LockedUntil
		}
	}
	r, err := s.RecordLoginFailure(ctx, tn.ID, u.ID, 3, 10*time.Hour)
	must(t, err, "failure while locked")
	wantEqual(t, r.Failures, 4, "failures while locked")
	wantEqual(t, r.JustLocked, false, "just locked again")
	if r.LockedUntil == nil || !r.LockedUntil.Equal(lockedUntil) {
		t.Fatalf("an active lock moved from %v to %v", lockedUntil, r.LockedUntil)
	}
	ok, err = s.ClearLoginFailures(ctx, tn.ID, u.ID)
	must(t, err, "clear while locked")
	wantEqual(t, ok, false, "clear a locked account")

	// An administrator's unlock (identity.Users.Unlock) goes through the
	// updater, under the row lock.
	_, err = s.UpdateUser(ctx, tn.ID, u.ID, func(u *models.User) error {
		u.FailedLogins, u.LockedUntil = 0, nil
		return nil
	})
	must(t, err, "unlock")
	back, _ = s.GetUser(ctx, tn.ID, u.ID)
	wantEqual(t, back.FailedLogins, 0, "failures after unlock")
	if back.LockedUntil != nil {
		t.Fatalf("locked_until after unlock = %v", back.LockedUntil)
	}

	// A lock that has expired restarts the count.
	_, err = s.RecordLoginFailure(ctx, tn.ID, u.ID, 1, -time.Second)
	must(t, err, "failure with an already expired lock")
	r, err = s.RecordLoginFailure(ctx, tn.ID, u.ID, 3, time.Hour)
	must(t, err, "failure after the lock expired")
	wantEqual(t, r.Failures, 1, "failures after an expired lock")

	_, err = s.RecordLoginFailure(ctx, other.ID, u.ID, 3, time.Hour)
	wantNotFound(t, err, "another tenant's user")
	_, err = s.UpdateUser(ctx, other.ID, u.ID, func(*models.User) error { return nil })
	wantNotFound(t, err, "unlock another tenant's user")
	ok, err = s.ClearLoginFailures(ctx, other.ID, u.ID)
	must(t, err, "clear another tenant's user")
	wantEqual(t, ok, false, "clear another tenant's user")
}

func testLoginFailuresConcurrent(t *testing.T, s UserStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	u := newUser(t, s, tn.ID)
	const n, max = 12, 5
	var locked atomic.Int64
	for _, err := range race(n, func(int) error {
		r, err := s.RecordLoginFailure(ctx, tn.ID, u.ID, max, time.Hour)
		if r.JustLocked {
			locked.Add(1)
		}
		return err
	}) {
		must(t, err, "racer")
	}
	back, err := s.GetUser(ctx, tn.ID, u.ID)
	must(t, err, "get")
	wantEqual(t, back.FailedLogins, n, "failures")
	wantEqual(t, locked.Load(), int64(1), "requests that saw the account just locked")
}

func testPasswordHistory(t *testing.T, s UserStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	u := newUser(t, s, tn.ID)
	// Each hash is added in its own statement after the last returned, so
	// created_at strictly increases (PostgreSQL keeps microseconds).
	for _, h := range []string{"h1", "h2", "h3", "h4"} {
		must(t, s.AddPasswordHistory(ctx, tn.ID, u.ID, h, 3), "add "+h)
	}
	got, err := s.ListPasswordHistory(ctx, tn.ID, u.ID, 10)
	must(t, err, "list")
	if !slices.Equal(got, []string{"h4", "h3", "h2"}) {
		t.Fatalf("history = %v, want [h4 h3 h2] (newest three, newest first)", got)
	}
	got, err = s.ListPasswordHistory(ctx, tn.ID, u.ID, 2)
	must(t, err, "list two")
	if !slices.Equal(got, []string{"h4", "h3"}) {
		t.Fatalf("history(2) = %v, want [h4 h3]", got)
	}
	got, err = s.ListPasswordHistory(ctx, other.ID, u.ID, 10)
	must(t, err, "list of another tenant")
	if len(got) != 0 {
		t.Fatalf("history leaked across tenants: %v", got)
	}
}
