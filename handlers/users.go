package handlers

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/models"
)

// UserService is the users of a tenant (identity.Users).
type UserService interface {
	List(ctx context.Context, tenantID string, q identity.UserQuery) (*identity.UserPage, error)
	Export(ctx context.Context, a identity.Actor, q identity.UserQuery, format string, fn func(u *models.User, roles []models.Role) error) (int, error)
	Get(ctx context.Context, tenantID, id string) (*identity.UserDetail, error)
	Create(ctx context.Context, a identity.Actor, in identity.NewUser) (*identity.CreatedUser, error)
	Update(ctx context.Context, a identity.Actor, id string, in identity.UserPatch) (*identity.UserDetail, error)
	Deactivate(ctx context.Context, a identity.Actor, id string) (*identity.UserDetail, error)
	Delete(ctx context.Context, a identity.Actor, id string) error
	ForcePasswordChange(ctx context.Context, a identity.Actor, id string) (*identity.UserDetail, error)
	Unlock(ctx context.Context, a identity.Actor, id string) (*identity.UserDetail, error)
	ResetTwoFactor(ctx context.Context, a identity.Actor, id string) (*identity.UserDetail, error)
	SetSystemAdmin(ctx context.Context, a identity.Actor, tenantID, userID string, on bool) (*identity.UserDetail, error)
}

// MembershipService gives users roles and policies (identity.Memberships).
type MembershipService interface {
	AssignRole(ctx context.Context, a identity.Actor, userID, roleRef string) (*identity.UserDetail, error)
	UnassignRole(ctx context.Context, a identity.Actor, userID, roleID string) (*identity.UserDetail, error)
	AssignPolicy(ctx context.Context, a identity.Actor, userID, policyID string) (*identity.UserDetail, error)
	UnassignPolicy(ctx context.Context, a identity.Actor, userID, policyID string) (*identity.UserDetail, error)
}

// roleRef is a role as a user's listing names it.
type roleRef struct {
	ID     string `json:"id"`
	Name   string `json:"name"`
	Global bool   `json:"global"`
}

// managedUserView is a user as its administrators see it: never a hash or a
// sealed secret.
type managedUserView struct {
	ID                  string     `json:"id"`
	TenantID            string     `json:"tenant_id"`
	Email               string     `json:"email"`
	Name                string     `json:"name"`
	EmailVerified       bool       `json:"email_verified"`
	IsActive            bool       `json:"is_active"`
	IsSystemAdmin       bool       `json:"is_system_admin"`
	Locked              bool       `json:"locked"`
	LockedUntil         *time.Time `json:"locked_until"`
	PINLocked           bool       `json:"pin_locked"`
	TwoFactorEnabled    bool       `json:"two_factor_enabled"`
	TwoFactorMethod     string     `json:"two_factor_method,omitempty"`
	ForcePasswordChange bool       `json:"force_password_change"`
	PasswordChangedAt   *time.Time `json:"password_changed_at"`
	Roles               []roleRef  `json:"roles"`
	CreatedAt           time.Time  `json:"created_at"`
	UpdatedAt           time.Time  `json:"updated_at"`
}

func (s *Server) viewManagedUser(u *models.User, roles []models.Role) managedUserView {
	now := s.Now().UTC()
	v := managedUserView{ID: u.ID, TenantID: u.TenantID, Email: u.Email, Name: u.Name, EmailVerified: u.EmailVerified,
		IsActive: u.IsActive, IsSystemAdmin: u.IsSystemAdmin, Locked: u.Locked(now), PINLocked: u.PINLockedUntil != nil && now.Before(*u.PINLockedUntil),
		TwoFactorEnabled: u.HasSecondFactor(), TwoFactorMethod: twoFactorMethod(u), ForcePasswordChange: u.ForcePasswordChange,
		PasswordChangedAt: u.PasswordChangedAt, Roles: []roleRef{}, CreatedAt: u.CreatedAt, UpdatedAt: u.UpdatedAt}
	if v.Locked {
		v.LockedUntil = u.LockedUntil
	}
	for _, r := range roles {
		v.Roles = append(v.Roles, roleRef{ID: r.ID, Name: r.Name, Global: r.TenantID == nil})
	}
	return v
}

// userDetailView adds the policies and the resolved permissions.
type userDetailView struct {
	managedUserView
	Policies    []roleRef `json:"policies"`
	Permissions []string  `json:"permissions"`
}

func (s *Server) viewUserDetail(d *identity.UserDetail) userDetailView {
	v := userDetailView{managedUserView: s.viewManagedUser(d.User, d.Roles), Policies: []roleRef{}, Permissions: d.Permissions}
	for _, p := range d.Policies {
		v.Policies = append(v.Policies, roleRef{ID: p.ID, Name: p.Name})
	}
	return v
}

// parseBoolFilter reads an optional true/false query parameter.
func parseBoolFilter(c echo.Context, name string, fields map[string]string) *bool {
	raw := c.QueryParam(name)
	if raw == "" {
		return nil
	}
	b, err := strconv.ParseBool(raw)
	if err != nil {
		fields[name] = "Use true or false."
		return nil
	}
	return &b
}

func parseIntParam(c echo.Context, name string, fields map[string]string) int {
	raw := c.QueryParam(name)
	if raw == "" {
		return 0
	}
	n, err := strconv.Atoi(raw)
	if err != nil || n < 1 {
		fields[name] = "Use a whole number from 1."
		return 0
	}
	return n
}

// userFilters reads the filters of the users listing and export: q,
// is_active, locked, two_factor, role.
func userFilters(c echo.Context, fields map[string]string) identity.UserQuery {
	return identity.UserQuery{
		Q:         c.QueryParam("q"),
		Active:    parseBoolFilter(c, "is_active", fields),
		Locked:    parseBoolFilter(c, "locked", fields),
		TwoFactor: parseBoolFilter(c, "two_factor", fields),
		Role:      c.QueryParam("role"),
	}
}

func (s *Server) apiListUsers(c echo.Context) error {
	fields := map[string]string{}
	q := userFilters(c, fields)
	q.Page, q.PerPage = parseIntParam(c, "page", fields), parseIntParam(c, "per_page", fields)
	if len(fields) > 0 {
		return models.ErrInvalid(fields)
	}
	page, err := s.Users.List(c.Request().Context(), principal(c).TenantID, q)
	if err != nil {
		return err
	}
	users := make([]managedUserView, 0, len(page.Users))
	for i := range page.Users {
		users = append(users, s.viewManagedUser(&page.Users[i], page.Roles[page.Users[i].ID]))
	}
	return c.JSON(http.StatusOK, map[string]any{"users": users, "page": page.Page, "per_page": page.PerPage, "total": page.Total})
}

func (s *Server) apiGetUser(c echo.Context) error {
	d, err := s.Users.Get(c.Request().Context(), principal(c).TenantID, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.viewUserDetail(d))
}

func (s *Server) apiCreateUser(c echo.Context) error {
	// Only these fields are read: is_system_admin, tenant_id, is_active or
	// a password hash in the body change nothing.
	var in struct {
		Email               string   `json:"email"`
		Name                string   `json:"name"`
		Password            string   `json:"password"`
		ForcePasswordChange bool     `json:"force_password_change"`
		Roles               []string `json:"roles"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if len(in.Roles) > 0 {
		// Giving roles is assigning roles: that permission, with its step-up.
		if err := s.require(identity.PermMembershipAssignRole)(func(echo.Context) error { return nil })(c); err != nil {
			return err
		}
	}
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	out, err := s.Users.Create(c.Request().Context(), a, identity.NewUser{
		Email: in.Email, Name: in.Name, Password: in.Password, ForcePasswordChange: in.ForcePasswordChange, Roles: in.Roles})
	if err != nil {
		return err
	}
	body := map[string]any{"user": s.viewUserDetail(out.UserDetail)}
	if out.InitialPassword != "" {
		body["initial_password"] = out.InitialPassword
		c.Response().Header().Set("Cache-Control", "no-store")
	}
	return c.JSON(http.StatusCreated, body)
}

func (s *Server) apiUpdateUser(c echo.Context) error {
	// Only name, email and is_active are decoded: anything else in the body
	// (is_system_admin, tenant_id, password_hash…) changes nothing.
	var in struct {
		Name     *string `json:"name"`
		Email    *string `json:"email"`
		IsActive *bool   `json:"is_active"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	d, err := s.Users.Update(c.Request().Context(), a, c.Param("id"), identity.UserPatch{Name: in.Name, Email: in.Email, IsActive: in.IsActive})
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.viewUserDetail(d))
}

// userAction runs one service method on the user named in the path.
func (s *Server) userAction(c echo.Context, fn func(a identity.Actor, id string) (*identity.UserDetail, error)) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	d, err := fn(a, c.Param("id"))
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.viewUserDetail(d))
}

func (s *Server) apiDeactivateUser(c echo.Context) error {
	return s.userAction(c, func(a identity.Actor, id string) (*identity.UserDetail, error) {
		return s.Users.Deactivate(c.Request().Context(), a, id)
	})
}

func (s *Server) apiForcePasswordChange(c echo.Context) error {
	return s.userAction(c, func(a identity.Actor, id string) (*identity.UserDetail, error) {
		return s.Users.ForcePasswordChange(c.Request().Context(), a, id)
	})
}

func (s *Server) apiUnlockUser(c echo.Context) error {
	return s.userAction(c, func(a identity.Actor, id string) (*identity.UserDetail, error) {
		return s.Users.Unlock(c.Request().Context(), a, id)
	})
}

func (s *Server) apiResetUser2FA(c echo.Context) error {
	return s.userAction(c, func(a identity.Actor, id string) (*identity.UserDetail, error) {
		return s.Users.ResetTwoFactor(c.Request().Context(), a, id)
	})
}

func (s *Server) apiDeleteUser(c echo.Context) error {
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	if err := s.Users.Delete(c.Request().Context(), a, c.Param("id")); err != nil {
		return err
	}
	return c.NoContent(http.StatusNoContent)
}

func (s *Server) apiAssignUserRole(c echo.Context) error {
	var in struct {
		RoleID string `json:"role_id"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if in.RoleID == "" {
		return models.ErrInvalid(map[string]string{"role_id": "Required."})
	}
	return s.userAction(c, func(a identity.Actor, id string) (*identity.UserDetail, error) {
		return s.Memberships.AssignRole(c.Request().Context(), a, id, in.RoleID)
	})
}

func (s *Server) apiUnassignUserRole(c echo.Context) error {
	return s.userAction(c, func(a identity.Actor, id string) (*identity.UserDetail, error) {
		return s.Memberships.UnassignRole(c.Request().Context(), a, id, c.Param("role_id"))
	})
}

func (s *Server) apiAssignUserPolicy(c echo.Context) error {
	return s.userAction(c, func(a identity.Actor, id string) (*identity.UserDetail, error) {
		return s.Memberships.AssignPolicy(c.Request().Context(), a, id, c.Param("policy_id"))
	})
}

func (s *Server) apiUnassignUserPolicy(c echo.Context) error {
	return s.userAction(c, func(a identity.Actor, id string) (*identity.UserDetail, error) {
		return s.Memberships.UnassignPolicy(c.Request().Context(), a, id, c.Param("policy_id"))
	})
}

// apiSetSystemAdmin is the one way to grant or revoke system
// administration over HTTP; tenant_id names the user's tenant when it is not
// the caller's.
func (s *Server) apiSetSystemAdmin(c echo.Context) error {
	var in struct {
		IsSystemAdmin *bool  `json:"is_system_admin"`
		TenantID      string `json:"tenant_id"`
	}
	if err := bind(c, &in); err != nil {
		return err
	}
	if in.IsSystemAdmin == nil {
		return models.ErrInvalid(map[string]string{"is_system_admin": "Required: true or false."})
	}
	a, err := s.actor(c)
	if err != nil {
		return err
	}
	d, err := s.Users.SetSystemAdmin(c.Request().Context(), a, in.TenantID, c.Param("id"), *in.IsSystemAdmin)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, s.viewUserDetail(d))
}
