package identity

import (
	"context"
	"log/slog"
	"strings"
	"time"

	"github.com/identityd/identityd/models"
)

// ActivityStore reads a user's own audit trail.
type ActivityStore interface {
	// ListUserAuditLogs returns one page of the events whose subject is the
	// user, newest first: at most limit rows older than the keyset cursor
	// (beforeTime, beforeID; zero values for the first page). An unknown
	// user has none.
	ListUserAuditLogs(ctx context.Context, tenantID, userID string, limit int, beforeTime time.Time, beforeID string) ([]models.AuditLog, error)
}

// Account is a signed-in user's own profile: who they are (Me), their
// profile (UpdateMe, VerifyPhone), and their activity in the audit log.
type Account struct {
	users    UserLookup
	updater  UserUpdater
	sessions SessionStore
	activity ActivityStore
	tx       Tx
	audit    Auditor
	codes    EmailCodeStore
	keys     KeyedHasher
	sms      SMSSender
	limiter  Limiter
	cfg      ProfileConfig
	clock    func() time.Time
	log      *slog.Logger
}

// AccountServiceDeps are what NewAccount needs; every field is required
// but Config (DefaultProfileConfig when zero).
type AccountServiceDeps struct {
	Users    UserLookup
	Updater  UserUpdater
	Sessions SessionStore
	Activity ActivityStore
	Tx       Tx
	Auditor  Auditor
	// Codes keeps the phone verification codes (the e-mail code table,
	// purpose "phone"), hashed with Keys; SMS sends them, Limiter bounds
	// how many.
	Codes   EmailCodeStore
	Keys    KeyedHasher
	SMS     SMSSender
	Limiter Limiter
	Config  ProfileConfig
	Now     func() time.Time
	Log     *slog.Logger
}

// NewAccount builds the profile service.
func NewAccount(d AccountServiceDeps) (*Account, error) {
	if err := checkDeps("Account", dep{"Users", d.Users == nil}, dep{"Updater", d.Updater == nil}, dep{"Sessions", d.Sessions == nil},
		dep{"Activity", d.Activity == nil}, dep{"Tx", d.Tx == nil}, dep{"Auditor", d.Auditor.Store == nil},
		dep{"Codes", d.Codes == nil}, dep{"Keys", d.Keys == nil}, dep{"SMS", d.SMS == nil}, dep{"Limiter", d.Limiter == nil},
		dep{"Now", d.Now == nil}, dep{"Log", d.Log == nil}); err != nil {
		return nil, err
	}
	cfg := d.Config
	if cfg == (ProfileConfig{}) {
		cfg = DefaultProfileConfig()
	}
	return &Account{users: d.Users, updater: d.Updater, sessions: d.Sessions, activity: d.Activity, tx: d.Tx, audit: d.Auditor,
		codes: d.Codes, keys: d.Keys, sms: d.SMS, limiter: d.Limiter, cfg: cfg, clock: d.Now, log: d.Log}, nil
}

func (a *Account) now() time.Time { return a.clock().UTC() }

// Me returns the principal's user and session.
func (a *Account) Me(ctx context.Context, p Principal) (*models.User, *models.Session, error) {
	user, err := a.users.GetUser(ctx, p.TenantID, p.UserID)
	if err != nil {
		return nil, nil, err
	}
	var sess *models.Session
	if p.SessionID != "" {
		sess, _ = a.sessions.GetSession(ctx, p.TenantID, p.UserID, p.SessionID)
	}
	return user, sess, nil
}

// UpdateProfile changes the user's display name only (UpdateMe with Name).
func (a *Account) UpdateProfile(ctx context.Context, p Principal, name string, meta Meta) (*models.User, error) {
	return a.UpdateMe(ctx, p, ProfileChange{Name: &name}, meta)
}

// AuditPage is one page of the user's own activity, newest first.
type AuditPage struct {
	Items      []models.AuditLog
	NextCursor string
}

// Activity returns the user's audit events, newest first; cursor is the
// NextCursor of the previous page ("" for the first).
func (a *Account) Activity(ctx context.Context, p Principal, limit int, cursor string) (*AuditPage, error) {
	if limit <= 0 || limit > 100 {
		limit = 50
	}
	var before time.Time
	var beforeID string
	if cursor != "" {
		ts, id, ok := strings.Cut(cursor, "_")
		t, err := time.Parse(time.RFC3339Nano, ts)
		if !ok || err != nil || id == "" {
			return nil, models.ErrInvalid(map[string]string{"cursor": "Use the next_cursor of the previous page."})
		}
		before, beforeID = t, id
	}
	items, err := a.activity.ListUserAuditLogs(ctx, p.TenantID, p.UserID, limit+1, before, beforeID)
	if err != nil {
		return nil, err
	}
	page := &AuditPage{Items: items}
	if len(items) > limit {
		page.Items = items[:limit]
		last := page.Items[limit-1]
		page.NextCursor = last.CreatedAt.UTC().Format(time.RFC3339Nano) + "_" + last.ID
	}
	return page, nil
}

// User returns the tenant's user with that id.
func (a *Account) User(ctx context.Context, tenantID, userID string) (*models.User, error) {
	return a.users.GetUser(ctx, tenantID, userID)
}
