package identity

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/mileusna/useragent"
	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// AccountsConfig holds the tunables of account security.
type AccountsConfig struct {
	PasswordCost       int
	MaxFailedLogins    int
	LockoutDuration    time.Duration
	TokenTTL           time.Duration // first-party token, 24 h
	RememberTTL        time.Duration // with remember, 30 days
	BrowserTTL         time.Duration // browser login session
	BrowserRememberTTL time.Duration
	TrustDeviceTTL     time.Duration // 30 days
	ChallengeTTL       time.Duration
	MaxCodeAttempts    int // per challenge and per e-mail code
	EmailCodeTTL       time.Duration
	MaxPINFailures     int
	PINLockout         time.Duration
	PasswordHistory    int
	ActivityInterval   time.Duration
	LoginLimit         Limit
	TwoFactorLimit     Limit
	PINLimit           Limit
	ForgotLimit        Limit
	// IPFailureLimit is the per-IP budget of failed attempts, shared by
	// every account behind the address (successes do not count).
	IPFailureLimit Limit
	// ClientAuthFailureLimit is the budget of failed client authentications
	// (wrong client secrets at the token, introspection and revocation
	// endpoints) per client id and, apart, per IP.
	ClientAuthFailureLimit Limit
}

// DefaultAccountsConfig is the documented default policy.
func DefaultAccountsConfig() AccountsConfig {
	return AccountsConfig{
		PasswordCost: bcrypt.DefaultCost, MaxFailedLogins: 5, LockoutDuration: 15 * time.Minute,
		TokenTTL: 24 * time.Hour, RememberTTL: 30 * 24 * time.Hour,
		BrowserTTL: 24 * time.Hour, BrowserRememberTTL: 30 * 24 * time.Hour,
		TrustDeviceTTL: 30 * 24 * time.Hour, ChallengeTTL: 10 * time.Minute, MaxCodeAttempts: 5,
		EmailCodeTTL: 10 * time.Minute, MaxPINFailures: 5, PINLockout: 15 * time.Minute,
		PasswordHistory: 5, ActivityInterval: time.Minute,
		LoginLimit:     Limit{Name: "login", Rate: 5, Period: time.Minute},
		TwoFactorLimit: Limit{Name: "2fa", Rate: 5, Period: time.Minute},
		PINLimit:       Limit{Name: "pin", Rate: 5, Period: time.Minute},
		ForgotLimit:    Limit{Name: "forgot", Rate: 5, Period: time.Hour},
		// Issue 8: failure budgets.
		IPFailureLimit:         Limit{Name: "ipfail", Rate: 30, Period: time.Minute},
		ClientAuthFailureLimit: Limit{Name: "client_auth", Rate: 10, Period: time.Minute},
	}
}

// Accounts is account security: login with lockout and second factors,
// passwords, TOTP, recovery and e-mail codes, PIN, devices and sessions. One
// implementation serves the JSON API and the HTML pages.
type Accounts struct {
	Store   AccountStore
	Tokens  TokenIssuer
	Limiter Limiter
	Mailer  Mailer
	Sealer  Sealer
	// StepUps is where step-up flags live (the Authorizer's cache): a
	// step-up done with the password stands in for the password when a
	// factor is enrolled.
	StepUps StepUpCache
	Log     *slog.Logger
	Now     func() time.Time
	Config  AccountsConfig
	// Issuer names this service in authenticator apps.
	Issuer string

	dummyOnce sync.Once
	dummy     []byte
}

func (a *Accounts) now() time.Time {
	if a.Now != nil {
		return a.Now().UTC()
	}
	return time.Now().UTC()
}

func (a *Accounts) log() *slog.Logger {
	if a.Log == nil {
		return slog.New(slog.DiscardHandler)
	}
	return a.Log
}

// dummyHash is what an unknown account's password is compared against, so
// it costs the same bcrypt time as a wrong password.
func (a *Accounts) dummyHash() []byte {
	a.dummyOnce.Do(func() {
		a.dummy, _ = bcrypt.GenerateFromPassword([]byte("no such account: timing equaliser"), a.Config.PasswordCost)
	})
	return a.dummy
}

func sha(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}

// Principal is an authenticated caller as the API sees it: a user (Kind
// "" or models.PrincipalUser) or a service account (UserID then holds the
// service account's id).
type Principal struct {
	Kind        string
	SystemAdmin bool
	// ActorID is the system admin acting through an impersonation token.
	ActorID   string
	TenantID  string
	UserID    string
	SessionID string
	ClientID  string
	Token     string
	AuthTime  time.Time
	AMR       []string
}

// LoginInput is a password login from the API or the login page.
type LoginInput struct {
	Tenant      string
	Email       string
	Password    string
	DeviceName  string
	Remember    bool
	DeviceToken string // the device token the client presented, if any
	Browser     bool   // a page login: a cookie session instead of a bearer token
	// ForceSecondFactor asks for the second factor even on a trusted device
	// (a relying party's acr_values asked for multi-factor).
	ForceSecondFactor bool
	Meta              Meta
}

// LoginResult is a completed login or the next step it needs.
type LoginResult struct {
	User *models.User
	// A completed login: its session, and either a bearer token (API) or a
	// browser cookie token; DeviceToken is set when a new device token was issued.
	Session      *models.Session
	AccessToken  string
	ExpiresAt    time.Time
	BrowserToken string
	DeviceToken  string
	Remember     bool
	// A pending step: ChallengeKind is models.Challenge*, Challenge its token.
	Challenge     string
	ChallengeKind string
	Methods       []string
}

// challengeData is the login context a challenge carries to its next step.
type challengeData struct {
	Browser    bool     `json:"browser"`
	Remember   bool     `json:"remember"`
	DeviceName string   `json:"device_name"`
	DeviceID   string   `json:"device_id"`
	AMR        []string `json:"amr"`
	AuthTime   int64    `json:"auth_time_ns"` // nanoseconds: prompt=login compares at that precision
}

// ErrPasswordChangeRequired refuses a login path that cannot change the
// password (a PIN) while an administrator's forced change is pending.
func ErrPasswordChangeRequired() *models.Error {
	return models.NewError(models.KindForbidden, "password_change_required", "Your administrator asked you to choose a new password: sign in with your password.", nil)
}

// ErrLocked reports a locked account or PIN.
func ErrLocked(code, msg string, until time.Time, now time.Time) *models.Error {
	return &models.Error{Kind: models.KindLocked, Code: code, Msg: msg, RetryAfter: until.Sub(now)}
}

func (a *Accounts) limit(ctx context.Context, l Limit, keys ...string) error {
	if a.Limiter == nil {
		return nil
	}
	for _, k := range keys {
		ok, retry, err := a.Limiter.Allow(ctx, l.Name+":"+k, l)
		if err != nil {
			return models.ErrInternal(fmt.Errorf("rate limit %s: %w", l.Name, err))
		}
		if !ok {
			return models.ErrRateLimited(retry)
		}
	}
	return nil
}

func accountKey(tenant, email string) string {
	return "acct:" + strings.ToLower(strings.TrimSpace(tenant)) + ":" + strings.ToLower(strings.TrimSpace(email))
}

// Login checks a password and completes the login or names the next step.
// Rate limit → user in the tenant → lock → bcrypt (a dummy hash for unknown
// accounts) → forced password change → second factor → session.
func (a *Accounts) Login(ctx context.Context, in LoginInput) (*LoginResult, error) {
	at, err := a.beginAttempt(ctx, a.Config.LoginLimit, in.Meta.IP, accountKey(in.Tenant, in.Email))
	if err != nil {
		return nil, err
	}
	res, err := a.login(ctx, in)
	at.finish(ctx, err)
	return res, err
}

func (a *Accounts) login(ctx context.Context, in LoginInput) (*LoginResult, error) {
	var user *models.User
	hash := a.dummyHash()
	tenant, err := a.Store.GetTenantBySlug(ctx, strings.TrimSpace(in.Tenant))
	if err != nil && !models.IsKind(err, models.KindNotFound) {
		return nil, err
	}
	if tenant != nil {
		u, err := a.Store.GetUserByEmail(ctx, tenant.ID, in.Email)
		if err != nil && !models.IsKind(err, models.KindNotFound) {
			return nil, err
		}
		if u != nil {
			user, hash = u, []byte(u.PasswordHash)
		}
	}
	pw := in.Password
	if len(pw) > maxPasswordBytes {
		user, hash, pw = nil, a.dummyHash(), ""
	}
	match := bcrypt.CompareHashAndPassword(hash, []byte(pw)) == nil
	now := a.now()
	if user == nil {
		ev := Event{Action: AuditLoginFailed, Meta: in.Meta, Metadata: map[string]any{"reason": "unknown_account"}}
		if tenant != nil {
			ev.TenantID = tenant.ID
		}
		a.audit(ctx, ev)
		return nil, ErrBadCredentials()
	}
	if tenant.SuspendedAt != nil {
		// A suspended tenant refuses every login. Only a caller who knows
		// the password learns why (tenant_suspended); anyone else gets the
		// generic answer, and nothing is counted towards a lockout.
		a.audit(ctx, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditLoginFailed, Meta: in.Meta, Metadata: map[string]any{"reason": "tenant_suspended"}})
		if !match {
			return nil, ErrBadCredentials()
		}
		return nil, ErrTenantSuspended()
	}
	if user.Locked(now) {
		a.audit(ctx, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditLoginFailed, Meta: in.Meta, Metadata: map[string]any{"reason": "locked"}})
		if !match {
			// Only the right password learns of the lock: a wrong one gets
			// the answer every wrong password gets, so a lock reveals
			// neither that the account exists nor that it is locked.
			return nil, ErrBadCredentials()
		}
		return nil, ErrLocked("account_locked", "This account is locked after too many failed sign-in attempts. Try again later.", *user.LockedUntil, now)
	}
	if !match {
		res, err := a.Store.RecordLoginFailure(ctx, user.TenantID, user.ID, a.Config.MaxFailedLogins, a.Config.LockoutDuration)
		if err != nil {
			return nil, err
		}
		a.audit(ctx, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditLoginFailed, Meta: in.Meta,
			Metadata: map[string]any{"reason": "bad_password", "failures": res.Failures}})
		if res.JustLocked {
			a.onLocked(ctx, user, *res.LockedUntil, in.Meta)
		}
		return nil, ErrBadCredentials()
	}
	if !user.IsActive {
		a.audit(ctx, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditLoginFailed, Meta: in.Meta, Metadata: map[string]any{"reason": "inactive"}})
		return nil, ErrBadCredentials()
	}
	ok, err := a.Store.ClearLoginFailures(ctx, user.TenantID, user.ID)
	if err != nil {
		return nil, err
	}
	if !ok { // locked by a concurrent failure after we read the user
		return nil, ErrLocked("account_locked", "This account is locked after too many failed sign-in attempts. Try again later.", now.Add(a.Config.LockoutDuration), now)
	}
	data := challengeData{Browser: in.Browser, Remember: in.Remember, DeviceName: in.DeviceName, AMR: []string{"pwd"}, AuthTime: now.UnixNano()}
	if in.DeviceToken != "" {
		if d, err := a.Store.GetDeviceByToken(ctx, user.TenantID, user.ID, sha(in.DeviceToken)); err == nil {
			data.DeviceID = d.ID
			if d.Trusted(now) && user.TwoFactorEnabled() && !in.ForceSecondFactor {
				data.AMR = append(data.AMR, "trusted_device")
			}
		}
	}
	if user.ForcePasswordChange {
		return a.newChallenge(ctx, user, models.ChallengePasswordChange, data, nil)
	}
	return a.afterPassword(ctx, user, data, in.Meta)
}

// afterPassword asks for the second factor when one is on and the device is
// not trusted, and completes the login otherwise.
func (a *Accounts) afterPassword(ctx context.Context, user *models.User, data challengeData, meta Meta) (*LoginResult, error) {
	trusted := false
	for _, m := range data.AMR {
		trusted = trusted || m == "trusted_device"
	}
	if user.TwoFactorEnabled() && !trusted {
		methods := a.methods(ctx, user)
		res, err := a.newChallenge(ctx, user, models.ChallengeTwoFactor, data, methods)
		if err != nil {
			return nil, err
		}
		if user.Email2FAEnabled && !user.TOTPEnabled {
			if err := a.sendEmailCode(ctx, user, "2fa"); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
	return a.complete(ctx, user, data, false, meta)
}

func (a *Accounts) methods(ctx context.Context, user *models.User) []string {
	var m []string
	if user.TOTPEnabled {
		m = append(m, "totp")
	} else if user.Email2FAEnabled {
		m = append(m, "email")
	}
	if n, err := a.Store.CountRecoveryCodes(ctx, user.TenantID, user.ID); err == nil && n > 0 {
		m = append(m, "recovery_code")
	}
	return m
}

func (a *Accounts) newChallenge(ctx context.Context, user *models.User, kind string, data challengeData, methods []string) (*LoginResult, error) {
	token, err := keyring.RandomToken(32)
	if err != nil {
		return nil, models.ErrInternal(err)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, models.ErrInternal(err)
	}
	c := &models.AuthChallenge{TokenHash: sha(token), TenantID: user.TenantID, UserID: user.ID, Kind: kind, Data: string(raw), ExpiresAt: a.now().Add(a.Config.ChallengeTTL)}
	if err := a.Store.CreateChallenge(ctx, c); err != nil {
		return nil, err
	}
	return &LoginResult{User: user, Challenge: token, ChallengeKind: kind, Methods: methods}, nil
}

// loadChallenge returns a live challenge of kind and its data.
func (a *Accounts) loadChallenge(ctx context.Context, token, kind string) (*models.AuthChallenge, *models.User, challengeData, error) {
	var data challengeData
	bad := models.NewError(models.KindUnauthenticated, "invalid_challenge", "This sign-in step has expired. Sign in again.", nil)
	if token == "" {
		return nil, nil, data, bad
	}
	c, err := a.Store.GetChallenge(ctx, sha(token))
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			return nil, nil, data, bad
		}
		return nil, nil, data, err
	}
	if c.Kind != kind {
		return nil, nil, data, bad
	}
	if err := json.Unmarshal([]byte(c.Data), &data); err != nil {
		return nil, nil, data, models.ErrInternal(err)
	}
	u, err := a.Store.GetUser(ctx, c.TenantID, c.UserID)
	if err != nil {
		return nil, nil, data, bad
	}
	// Deactivated or suspended since the step began: the login stops here.
	if err := a.checkActive(ctx, u); err != nil {
		return nil, nil, data, err
	}
	return c, u, data, nil
}

// tokenPreparer is a TokenIssuer that readies what IssueUserToken needs
// (the tenant's first-party client) outside the login transaction: on
// PostgreSQL, the INSERT that loses a race between two first logins of a
// tenant would abort the transaction it ran in.
type tokenPreparer interface {
	PrepareTenant(ctx context.Context, tenantID string) error
}

// complete creates the device (if new), the session and the token or
// browser session, in one transaction with their audit rows.
func (a *Accounts) complete(ctx context.Context, user *models.User, data challengeData, trust bool, meta Meta) (*LoginResult, error) {
	// Every way in (password, second factor, forced change, PIN, trusted
	// device) ends here: a user deactivated, a tenant suspended or a
	// password change forced since the first step is honoured too.
	fresh, err := a.Store.GetUser(ctx, user.TenantID, user.ID)
	if err != nil {
		return nil, err
	}
	if err := a.checkActive(ctx, fresh); err != nil {
		return nil, err
	}
	if fresh.ForcePasswordChange {
		for _, m := range data.AMR {
			if m == "pwd" { // the password was proven: change it now
				return a.newChallenge(ctx, fresh, models.ChallengePasswordChange, data, nil)
			}
		}
		return nil, ErrPasswordChangeRequired()
	}
	user = fresh
	now := a.now()
	ua := useragent.Parse(meta.UserAgent)
	browser := strings.TrimSpace(ua.Name + " " + ua.Version)
	osName := strings.TrimSpace(ua.OS + " " + ua.OSVersion)
	name := strings.TrimSpace(data.DeviceName)
	if name == "" {
		name = strings.TrimSpace(ua.Name + " on " + ua.OS)
		if ua.Name == "" || ua.OS == "" {
			name = "Unknown device"
		}
	}
	res := &LoginResult{User: user, Remember: data.Remember}
	if p, ok := a.Tokens.(tokenPreparer); ok && !data.Browser {
		if err := p.PrepareTenant(ctx, user.TenantID); err != nil {
			return nil, err
		}
	}
	err = a.Store.InTx(ctx, func(ctx context.Context) error {
		deviceID := data.DeviceID
		if deviceID == "" {
			token, err := keyring.RandomToken(32)
			if err != nil {
				return models.ErrInternal(err)
			}
			d := &models.Device{TenantID: user.TenantID, UserID: user.ID, TokenHash: sha(token), Name: truncate(name, 100), Browser: truncate(browser, 100), OS: truncate(osName, 100)}
			if err := a.Store.CreateDevice(ctx, d); err != nil {
				return err
			}
			deviceID, res.DeviceToken = d.ID, token
			if err := a.auditTx(ctx, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditDeviceAdded, Meta: meta, Metadata: map[string]any{"device_id": d.ID, "name": d.Name}}); err != nil {
				return err
			}
		} else if err := a.Store.TouchDevice(ctx, deviceID); err != nil {
			return err
		}
		if trust {
			until := now.Add(a.Config.TrustDeviceTTL)
			if err := a.Store.SetDeviceTrust(ctx, user.TenantID, user.ID, deviceID, &until); err != nil {
				return err
			}
			if err := a.auditTx(ctx, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditDeviceTrusted, Meta: meta, Metadata: map[string]any{"device_id": deviceID, "until": until}}); err != nil {
				return err
			}
		}
		ttl := a.Config.TokenTTL
		kind := models.SessionAPI
		if data.Remember {
			ttl = a.Config.RememberTTL
		}
		if data.Browser {
			kind = models.SessionBrowser
			ttl = a.Config.BrowserTTL
			if data.Remember {
				ttl = a.Config.BrowserRememberTTL
			}
		}
		amr := dedupe(data.AMR)
		s := &models.Session{TenantID: user.TenantID, UserID: user.ID, DeviceID: &deviceID, Kind: kind,
			DeviceName: truncate(name, 100), Browser: truncate(browser, 100), OS: truncate(osName, 100),
			IPAddress: truncate(meta.IP, 64), UserAgent: truncate(meta.UserAgent, 512), AuthMethods: amr, ExpiresAt: now.Add(ttl)}
		if err := a.Store.CreateSession(ctx, s); err != nil {
			return err
		}
		res.Session = s
		authTime := time.Unix(0, data.AuthTime).UTC()
		if data.AuthTime == 0 {
			authTime = now
		}
		if data.Browser {
			token, err := keyring.RandomToken(32)
			if err != nil {
				return models.ErrInternal(err)
			}
			sid := s.ID
			ls := &models.LoginSession{TokenHash: sha(token), TenantID: user.TenantID, UserID: user.ID, AuthTime: authTime,
				Remember: data.Remember, ExpiresAt: s.ExpiresAt, SessionID: &sid}
			if err := a.Store.CreateLoginSession(ctx, ls); err != nil {
				return err
			}
			res.BrowserToken, res.ExpiresAt = token, s.ExpiresAt
		} else {
			token, exp, err := a.Tokens.IssueUserToken(ctx, user, s.ID, amr, authTime, ttl)
			if err != nil {
				return err
			}
			res.AccessToken, res.ExpiresAt = token, exp
		}
		return a.auditTx(ctx, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditLogin, Meta: meta,
			Metadata: map[string]any{"session_id": s.ID, "device_id": deviceID, "kind": kind, "amr": amr}})
	})
	if err != nil {
		return nil, err
	}
	return res, nil
}

func dedupe(in []string) []string {
	out := make([]string, 0, len(in))
	for _, v := range in {
		dup := false
		for _, o := range out {
			dup = dup || o == v
		}
		if !dup {
			out = append(out, v)
		}
	}
	return out
}

// onLocked records the lock and tells the user by e-mail.
func (a *Accounts) onLocked(ctx context.Context, user *models.User, until time.Time, meta Meta) {
	a.audit(ctx, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditLocked, Meta: meta, Metadata: map[string]any{"until": until}})
	a.mail(ctx, Message{To: user.Email, Subject: "Your account was locked",
		Text: fmt.Sprintf("Hello,\n\nAfter %d failed sign-in attempts your account was locked until %s UTC.\nIf this was not you, change your password when the lock ends.\n",
			a.Config.MaxFailedLogins, until.Format("2006-01-02 15:04"))})
}

// audit writes an event outside any transaction; a failure is logged, not
// returned, because the action it records already happened.
func (a *Accounts) audit(ctx context.Context, ev Event) {
	if err := WriteAudit(ctx, a.Store, ev); err != nil {
		a.log().ErrorContext(ctx, "write audit log", "action", ev.Action, "err", err)
	}
}

// auditTx writes an event inside the caller's transaction.
func (a *Accounts) auditTx(ctx context.Context, ev Event) error { return WriteAudit(ctx, a.Store, ev) }

func (a *Accounts) mail(ctx context.Context, m Message) {
	if a.Mailer == nil {
		return
	}
	if err := a.Mailer.Send(ctx, m); err != nil {
		a.log().ErrorContext(ctx, "send mail", "subject", m.Subject, "err", err)
	}
}
