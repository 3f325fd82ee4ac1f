package identity

import (
	"context"

	"github.com/identityd/identityd/models"
)

// ErrBadCredentials is the one answer to a wrong tenant, e-mail or password,
// so that none of them can be told apart.
func ErrBadCredentials() *models.Error {
	return models.NewError(models.KindUnauthenticated, "invalid_credentials", "The e-mail address or password is not correct.", nil)
}

// BrowserSession returns the live browser login of a session cookie and its
// user, or a NotFound error.
func (a *Accounts) BrowserSession(ctx context.Context, cookieToken string) (*models.LoginSession, *models.User, error) {
	if cookieToken == "" {
		return nil, nil, models.ErrNotFound("login_session")
	}
	ls, err := a.Store.GetLoginSession(ctx, sha(cookieToken))
	if err != nil {
		return nil, nil, err
	}
	u, err := a.Store.GetUser(ctx, ls.TenantID, ls.UserID)
	if err != nil {
		return nil, nil, err
	}
	if a.checkActive(ctx, u) != nil {
		return nil, nil, models.ErrNotFound("login_session")
	}
	return ls, u, nil
}

// User returns the tenant's user with that id.
func (a *Accounts) User(ctx context.Context, tenantID, userID string) (*models.User, error) {
	return a.Store.GetUser(ctx, tenantID, userID)
}

// BrowserSessionAMR returns how the login behind a browser session was
// authenticated (its session's methods), or just a password when unknown.
func (a *Accounts) BrowserSessionAMR(ctx context.Context, ls *models.LoginSession) []string {
	if ls == nil || ls.SessionID == nil {
		return []string{"pwd"}
	}
	s, err := a.Store.GetSession(ctx, ls.TenantID, ls.UserID, *ls.SessionID)
	if err != nil || len(s.AuthMethods) == 0 {
		return []string{"pwd"}
	}
	return s.AuthMethods
}
