package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/identity/identity/keyring"
	"github.com/identity/identity/models"
)

// LoginStore is what Login needs from storage.
type LoginStore interface {
	GetTenantBySlug(ctx context.Context, slug string) (*models.Tenant, error)
	GetTenant(ctx context.Context, id string) (*models.Tenant, error)
	GetUserByEmail(ctx context.Context, tenantID, email string) (*models.User, error)
	GetUser(ctx context.Context, tenantID, id string) (*models.User, error)
	CreateLoginSession(ctx context.Context, ls *models.LoginSession) error
	GetLoginSession(ctx context.Context, tokenHash string) (*models.LoginSession, error)
	DeleteLoginSession(ctx context.Context, tokenHash string) error
}

// Login checks passwords and keeps browser login sessions.
type Login struct {
	Store        LoginStore
	PasswordCost int
	// SessionTTL is a browser session's life; RememberTTL with "remember me".
	SessionTTL  time.Duration
	RememberTTL time.Duration
	Now         func() time.Time

	dummyOnce sync.Once
	dummy     []byte
}

// ErrBadCredentials is the one answer to a wrong tenant, e-mail or password,
// so that none of them can be told apart.
func ErrBadCredentials() *models.Error {
	return models.NewError(models.KindUnauthenticated, "invalid_credentials", "The e-mail address or password is not correct.", nil)
}

func (l *Login) now() time.Time {
	if l.Now != nil {
		return l.Now().UTC()
	}
	return time.Now().UTC()
}

// dummyHash is compared against when the account does not exist, so an
// unknown e-mail costs the same bcrypt time as a wrong password.
func (l *Login) dummyHash() []byte {
	l.dummyOnce.Do(func() {
		cost := l.PasswordCost
		if cost == 0 {
			cost = bcrypt.DefaultCost
		}
		l.dummy, _ = bcrypt.GenerateFromPassword([]byte("dummy password for timing equality"), cost)
	})
	return l.dummy
}

// Authenticate returns the user of tenantSlug with email and password.
func (l *Login) Authenticate(ctx context.Context, tenantSlug, email, password string) (*models.User, error) {
	hash := l.dummyHash()
	var user *models.User
	t, err := l.Store.GetTenantBySlug(ctx, tenantSlug)
	if err != nil && !models.IsKind(err, models.KindNotFound) {
		return nil, err
	}
	if t != nil {
		u, err := l.Store.GetUserByEmail(ctx, t.ID, email)
		if err != nil && !models.IsKind(err, models.KindNotFound) {
			return nil, err
		}
		if u != nil {
			user, hash = u, []byte(u.PasswordHash)
		}
	}
	if len(password) > 72 {
		// bcrypt reads only 72 bytes and no stored password is longer: refuse,
		// after the same work as any other failure.
		user, hash, password = nil, l.dummyHash(), ""
	}
	if bcrypt.CompareHashAndPassword(hash, []byte(password)) != nil || user == nil {
		return nil, ErrBadCredentials()
	}
	return user, nil
}

// BrowserSession is a started login session with the cookie token (shown
// once, stored only as its SHA-256).
type BrowserSession struct {
	Session *models.LoginSession
	Token   string
}

func hashToken(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// StartSession records that user signed in now from a browser.
func (l *Login) StartSession(ctx context.Context, user *models.User, remember bool) (*BrowserSession, error) {
	token, err := keyring.RandomToken(32)
	if err != nil {
		return nil, models.ErrInternal(err)
	}
	ttl := l.SessionTTL
	if remember {
		ttl = l.RememberTTL
	}
	now := l.now()
	ls := &models.LoginSession{TokenHash: hashToken(token), TenantID: user.TenantID, UserID: user.ID,
		AuthTime: now, Remember: remember, ExpiresAt: now.Add(ttl)}
	if err := l.Store.CreateLoginSession(ctx, ls); err != nil {
		return nil, err
	}
	return &BrowserSession{Session: ls, Token: token}, nil
}

// Session returns the live session of a cookie token and its user, or a
// NotFound error.
func (l *Login) Session(ctx context.Context, token string) (*models.LoginSession, *models.User, error) {
	if token == "" {
		return nil, nil, models.ErrNotFound("login_session")
	}
	ls, err := l.Store.GetLoginSession(ctx, hashToken(token))
	if err != nil {
		return nil, nil, err
	}
	u, err := l.Store.GetUser(ctx, ls.TenantID, ls.UserID)
	if err != nil {
		return nil, nil, err
	}
	return ls, u, nil
}

// User returns the tenant's user with that id.
func (l *Login) User(ctx context.Context, tenantID, userID string) (*models.User, error) {
	return l.Store.GetUser(ctx, tenantID, userID)
}

// EndSession signs the browser out.
func (l *Login) EndSession(ctx context.Context, token string) error {
	if token == "" {
		return nil
	}
	return l.Store.DeleteLoginSession(ctx, hashToken(token))
}
