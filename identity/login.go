package identity

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"time"

	"github.com/mileusna/useragent"

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// ChallengeStore keeps the pending steps of a login (second factor, forced
// password change). A challenge is found by the hash of its token.
type ChallengeStore interface {
	// CreateChallenge stores a pending step; it gives c its id.
	CreateChallenge(ctx context.Context, c *models.AuthChallenge) error
	// GetChallenge returns the live (unexpired, unconsumed) challenge whose
	// token hashes to tokenHash, or NotFound "challenge".
	GetChallenge(ctx context.Context, tokenHash string) (*models.AuthChallenge, error)
	// ClaimChallengeAttempt takes one of the challenge's max attempts in one
	// statement; false when they are spent (concurrent claims included).
	ClaimChallengeAttempt(ctx context.Context, id string, max int) (bool, error)
	// ConsumeChallenge marks the challenge used; false if it already was
	// (by a concurrent request too): only one caller completes a step.
	ConsumeChallenge(ctx context.Context, id string) (bool, error)
}

// BrowserSessionStore keeps the browser logins behind the session cookie,
// found by the hash of the cookie's token.
type BrowserSessionStore interface {
	// CreateLoginSession stores a browser login; TokenHash must be set.
	CreateLoginSession(ctx context.Context, ls *models.LoginSession) error
	// GetLoginSession returns the unexpired browser login whose cookie
	// token hashes to tokenHash, or NotFound "login_session" (also once its
	// session is revoked).
	GetLoginSession(ctx context.Context, tokenHash string) (*models.LoginSession, error)
	// DeleteLoginSession removes it; an unknown hash is not an error.
	DeleteLoginSession(ctx context.Context, tokenHash string) error
}

// UserStateLookup answers bearer authentication's question about a user.
type UserStateLookup interface {
	// GetUserAndTenantState returns the tenant's user and whether the
	// tenant is suspended, in one query (bearer authentication asks it on
	// every request); NotFound "user" for an unknown user or another
	// tenant's.
	GetUserAndTenantState(ctx context.Context, tenantID, id string) (*models.User, bool, error)
}

// Login signs users in: password login with lockout, the second-factor
// step, PIN login from a known device, the forced password change, and the
// browser sessions a login leaves. One implementation serves the JSON API
// and the HTML pages.
type Login struct {
	*credentials
	tx         Tx
	sessions   SessionStore
	revoker    SessionRevoker
	devices    DeviceStore
	challenges ChallengeStore
	browser    BrowserSessionStore
	state      UserStateLookup
	tokens     TokenIssuer
	roles      RoleHolderLookup
	issuer     string
}

// LoginDeps are what NewLogin needs; every field is required. Besides the
// credential checks' stores, a login needs the pending steps (Challenges)
// and the devices, sessions and browser logins a completed login creates.
type LoginDeps struct {
	AccountDeps
	CredentialStores
	Tx         Tx
	Sessions   SessionStore
	Revoker    SessionRevoker
	Devices    DeviceStore
	Challenges ChallengeStore
	Browser    BrowserSessionStore
	// UserState answers ActiveUser (bearer authentication).
	UserState UserStateLookup
	// Tokens mints the first-party access token of an API login.
	Tokens TokenIssuer
	// Roles tells which roles a user holds (the tenant's sign-in rules:
	// forced second-factor enrolment, a pending deletion).
	Roles RoleHolderLookup
	// Issuer names this service in authenticator apps (forced enrolment).
	Issuer string
}

// RoleHolderLookup reads the roles principals hold.
type RoleHolderLookup interface {
	// PrincipalRoles returns the roles each principal holds in the tenant
	// (the tenant's and global ones), keyed by principal id, in one query.
	PrincipalRoles(ctx context.Context, tenantID string, principalIDs []string) (map[string][]models.Role, error)
}

// NewLogin builds the login service.
func NewLogin(d LoginDeps) (*Login, error) {
	c, err := newCredentials("NewLogin", d.CredentialStores, d.AccountDeps)
	if err != nil {
		return nil, err
	}
	if err := checkDeps("Login", dep{"Tx", d.Tx == nil}, dep{"Sessions", d.Sessions == nil}, dep{"Revoker", d.Revoker == nil},
		dep{"Devices", d.Devices == nil}, dep{"Challenges", d.Challenges == nil}, dep{"Browser", d.Browser == nil},
		dep{"UserState", d.UserState == nil}, dep{"Tokens", d.Tokens == nil}, dep{"Roles", d.Roles == nil}, dep{"Issuer", d.Issuer == ""}); err != nil {
		return nil, err
	}
	return &Login{credentials: c, tx: d.Tx, sessions: d.Sessions, revoker: d.Revoker, devices: d.Devices, challenges: d.Challenges,
		browser: d.Browser, state: d.UserState, tokens: d.Tokens, roles: d.Roles, issuer: d.Issuer}, nil
}

// ErrBadCredentials is the one answer to a wrong tenant, e-mail or password,
// so that none of them can be told apart.
func ErrBadCredentials() *models.Error {
	return models.ErrInvalidCredentials()
}

// BrowserSession returns the live browser login of a session cookie and its
// user, or a NotFound error.
func (l *Login) BrowserSession(ctx context.Context, cookieToken string) (*models.LoginSession, *models.User, error) {
	if cookieToken == "" {
		return nil, nil, models.ErrNotFound("login_session")
	}
	ls, err := l.browser.GetLoginSession(ctx, sha(cookieToken))
	if err != nil {
		return nil, nil, err
	}
	u, err := l.users.GetUser(ctx, ls.TenantID, ls.UserID)
	if err != nil {
		return nil, nil, err
	}
	if l.checkActive(ctx, u) != nil {
		return nil, nil, models.ErrNotFound("login_session")
	}
	return ls, u, nil
}

// BrowserSessionAMR returns how the login behind a browser session was
// authenticated (its session's methods), or just a password when unknown.
func (l *Login) BrowserSessionAMR(ctx context.Context, ls *models.LoginSession) []string {
	if ls == nil || ls.SessionID == nil {
		return []string{"pwd"}
	}
	s, err := l.sessions.GetSession(ctx, ls.TenantID, ls.UserID, *ls.SessionID)
	if err != nil || len(s.AuthMethods) == 0 {
		return []string{"pwd"}
	}
	return s.AuthMethods
}

// LoginInput is a password login from the API or the login page.
type LoginInput struct {
	Tenant     string
	Email      string
	Password   string
	DeviceName string
	// Remember keeps the login for the longer lifetime ("keep me signed
	// in"): a page login's cookie, and an API login's session, which then
	// also gets a refresh token (the access token keeps the usual lifetime).
	Remember    bool
	DeviceToken string // the device token the client presented, if any
	Browser     bool   // a page login: a cookie session instead of a bearer token
	// WebSession: an API login that also starts the browser session (the
	// cookie the sign-in page sets), bound to the same login session as
	// its tokens, so signing out of either ends both.
	WebSession bool
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
	// RefreshToken is set for a remembered API login (and a refresh).
	RefreshToken string
	// BrowserExpiresAt is when the browser session (BrowserToken) ends.
	BrowserExpiresAt time.Time
	// A pending step: ChallengeKind is models.Challenge*, Challenge its token.
	Challenge     string
	ChallengeKind string
	Methods       []string
	// RecoveryCodes are the new recovery codes of a login that completed
	// a forced second-factor enrolment, shown once.
	RecoveryCodes []string
}

// challengeData is the login context a challenge carries to its next step.
type challengeData struct {
	Browser    bool     `json:"browser"`
	WebSession bool     `json:"web_session,omitempty"`
	Remember   bool     `json:"remember"`
	DeviceName string   `json:"device_name"`
	DeviceID   string   `json:"device_id"`
	AMR        []string `json:"amr"`
	AuthTime   int64    `json:"auth_time_ns"` // nanoseconds: prompt=login compares at that precision
	// MultiFactor: the first step was already multi-factor (a passkey that
	// verified its user, an upstream provider that reported MFA); it
	// satisfies a tenant's required second factor (SignInExternal).
	MultiFactor bool `json:"multi_factor,omitempty"`
}

// ErrPasswordChangeRequired refuses a login path that cannot change the
// password (a PIN) while an administrator's forced change is pending.
func ErrPasswordChangeRequired() *models.Error {
	return models.ErrPasswordChangeRequired()
}

// WithPassword checks a password and completes the login or names the next step.
// Rate limit → user in the tenant → lock → bcrypt (a dummy hash for unknown
// accounts) → forced password change → second factor → session.
func (l *Login) WithPassword(ctx context.Context, in LoginInput) (*LoginResult, error) {
	at, err := l.beginAttempt(ctx, l.cfg.LoginLimit, in.Meta.IP, accountKey(in.Tenant, in.Email))
	if err != nil {
		return nil, err
	}
	res, err := l.withPassword(ctx, in)
	at.finish(ctx, err)
	return res, err
}

func (l *Login) withPassword(ctx context.Context, in LoginInput) (*LoginResult, error) {
	var user *models.User
	hash := l.dummyHash()
	tenant, err := l.users.GetTenantBySlug(ctx, strings.TrimSpace(in.Tenant))
	if err != nil && !models.IsKind(err, models.KindNotFound) {
		return nil, err
	}
	if tenant != nil {
		u, err := l.users.GetUserByEmail(ctx, tenant.ID, in.Email)
		if err != nil && !models.IsKind(err, models.KindNotFound) {
			return nil, err
		}
		if u != nil {
			user, hash = u, []byte(u.PasswordHash)
		}
	}
	pw := in.Password
	if len(pw) > maxPasswordBytes {
		user, hash, pw = nil, l.dummyHash(), ""
	}
	match, err := passwordMatches(ctx, hash, pw)
	if err != nil {
		return nil, err
	}
	now := l.now()
	if user == nil {
		ev := Event{Action: AuditLoginFailed, Meta: in.Meta, Metadata: map[string]any{"reason": "unknown_account"}}
		if tenant != nil {
			ev.TenantID = tenant.ID
		}
		l.recordOutside(ctx, Principal{}, ev)
		return nil, ErrBadCredentials()
	}
	if tenant.SuspendedAt != nil {
		// A suspended tenant refuses every login. Only a caller who knows
		// the password learns why (tenant_suspended); anyone else gets the
		// generic answer, and nothing is counted towards a lockout.
		l.recordOutside(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditLoginFailed, Meta: in.Meta, Metadata: map[string]any{"reason": "tenant_suspended"}})
		if !match {
			return nil, ErrBadCredentials()
		}
		return nil, ErrTenantSuspended()
	}
	if user.Locked(now) {
		l.recordOutside(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditLoginFailed, Meta: in.Meta, Metadata: map[string]any{"reason": "locked"}})
		if !match {
			// Only the right password learns of the lock: a wrong one gets
			// the answer every wrong password gets, so a lock reveals
			// neither that the account exists nor that it is locked.
			return nil, ErrBadCredentials()
		}
		return nil, models.ErrAccountLocked(user.LockedUntil.Sub(now))
	}
	if !match {
		res, err := l.counters.RecordLoginFailure(ctx, user.TenantID, user.ID, l.cfg.MaxFailedLogins, l.cfg.LockoutDuration)
		if err != nil {
			return nil, err
		}
		l.recordOutside(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditLoginFailed, Meta: in.Meta,
			Metadata: map[string]any{"reason": "bad_password", "failures": res.Failures}})
		if res.JustLocked {
			l.onLocked(ctx, Principal{}, user, *res.LockedUntil, in.Meta)
		}
		return nil, ErrBadCredentials()
	}
	if !user.IsActive {
		l.recordOutside(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditLoginFailed, Meta: in.Meta, Metadata: map[string]any{"reason": "inactive"}})
		return nil, ErrBadCredentials()
	}
	ok, err := l.counters.ClearLoginFailures(ctx, user.TenantID, user.ID)
	if err != nil {
		return nil, err
	}
	if !ok { // locked by a concurrent failure after we read the user
		return nil, models.ErrAccountLocked(l.cfg.LockoutDuration)
	}
	// Told before any further step, to a caller who proved the password:
	// complete asks again on every path.
	if _, err := l.signInRules(ctx, tenant, user); err != nil {
		l.refused(ctx, user, in.Meta, err)
		return nil, err
	}
	data := challengeData{Browser: in.Browser, WebSession: in.WebSession && !in.Browser, Remember: in.Remember, DeviceName: in.DeviceName,
		AMR: []string{"pwd"}, AuthTime: now.UnixNano()}
	if in.DeviceToken != "" {
		if d, err := l.devices.GetDeviceByToken(ctx, user.TenantID, user.ID, sha(in.DeviceToken)); err == nil {
			data.DeviceID = d.ID
			if d.Trusted(now) && user.HasSecondFactor() && !in.ForceSecondFactor {
				data.AMR = append(data.AMR, "trusted_device")
			}
		}
	}
	if user.ForcePasswordChange {
		return l.newChallenge(ctx, user, models.ChallengePasswordChange, data, nil)
	}
	return l.afterPassword(ctx, user, data, in.Meta)
}

// afterPassword asks for the second factor when one is on and the device is
// not trusted, and completes the login otherwise.
func (l *Login) afterPassword(ctx context.Context, user *models.User, data challengeData, meta Meta) (*LoginResult, error) {
	trusted := false
	for _, m := range data.AMR {
		trusted = trusted || m == "trusted_device"
	}
	if user.HasSecondFactor() && !trusted {
		methods := l.methods(ctx, user)
		res, err := l.newChallenge(ctx, user, models.ChallengeTwoFactor, data, methods)
		if err != nil {
			return nil, err
		}
		if user.Email2FAEnabled && !user.TOTPEnabled {
			if err := l.sendEmailCode(ctx, user, "2fa"); err != nil {
				return nil, err
			}
		}
		return res, nil
	}
	return l.complete(ctx, user, data, false, meta)
}

// methods are the second steps a 2FA challenge offers.
func (l *Login) methods(ctx context.Context, user *models.User) []string {
	var m []string
	if user.TOTPEnabled {
		m = append(m, "totp")
	} else if user.Email2FAEnabled {
		m = append(m, "email")
	}
	if user.Passkeys > 0 {
		m = append(m, "webauthn")
	}
	if n, err := l.recovery.CountRecoveryCodes(ctx, user.TenantID, user.ID); err == nil && n > 0 {
		m = append(m, "recovery_code")
	}
	return m
}

func (l *Login) newChallenge(ctx context.Context, user *models.User, kind string, data challengeData, methods []string) (*LoginResult, error) {
	token, err := keyring.RandomToken(32)
	if err != nil {
		return nil, models.ErrInternal(err)
	}
	raw, err := json.Marshal(data)
	if err != nil {
		return nil, models.ErrInternal(err)
	}
	c := &models.AuthChallenge{TokenHash: sha(token), TenantID: user.TenantID, UserID: user.ID, Kind: kind, Data: string(raw), ExpiresAt: l.now().Add(l.cfg.ChallengeTTL)}
	if err := l.challenges.CreateChallenge(ctx, c); err != nil {
		return nil, err
	}
	return &LoginResult{User: user, Challenge: token, ChallengeKind: kind, Methods: methods}, nil
}

// loadChallenge returns a live challenge of kind and its data.
func (l *Login) loadChallenge(ctx context.Context, token, kind string) (*models.AuthChallenge, *models.User, challengeData, error) {
	var data challengeData
	bad := models.ErrInvalidChallenge()
	if token == "" {
		return nil, nil, data, bad
	}
	c, err := l.challenges.GetChallenge(ctx, sha(token))
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
	u, err := l.users.GetUser(ctx, c.TenantID, c.UserID)
	if err != nil {
		return nil, nil, data, bad
	}
	// Deactivated or suspended since the step began: the login stops here.
	if err := l.checkActive(ctx, u); err != nil {
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
func (l *Login) complete(ctx context.Context, user *models.User, data challengeData, trust bool, meta Meta) (*LoginResult, error) {
	if data.WebSession && !meta.SameOrigin {
		// The step that finishes a login that asked for a browser session
		// must come from the same origin too, or a page elsewhere could
		// finish someone else's login in its visitor's browser.
		return nil, models.ErrSameOriginRequired()
	}
	// Every way in (password, second factor, forced change, PIN, trusted
	// device) ends here: a user deactivated, a tenant suspended or a
	// password change forced since the first step is honoured too.
	fresh, err := l.users.GetUser(ctx, user.TenantID, user.ID)
	if err != nil {
		return nil, err
	}
	if err := l.mayStaySignedIn(ctx, fresh); err != nil {
		if errors.Is(err, ErrPasswordChangeRequired()) {
			for _, m := range data.AMR {
				if m == "pwd" { // the password was proven: change it now
					return l.newChallenge(ctx, fresh, models.ChallengePasswordChange, data, nil)
				}
			}
		}
		return nil, err
	}
	tenant, err := l.users.GetTenant(ctx, fresh.TenantID)
	if err != nil {
		return nil, err
	}
	enrol, err := l.signInRules(ctx, tenant, fresh)
	if err != nil {
		l.refused(ctx, fresh, meta, err)
		return nil, err
	}
	if enrol && !data.MultiFactor {
		if slices.Contains(data.AMR, "pwd") { // the password was proven: enrol now
			return l.newChallenge(ctx, fresh, models.ChallengeTwoFactorEnrolment, data, enrolmentMethods)
		}
		return nil, models.ErrTwoFactorEnrolmentRequired()
	}
	user = fresh
	now := l.now()
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
	settings := SettingsOf(tenant) // its session lifetimes shorten the deployment's
	bearer, web := !data.Browser, data.Browser || data.WebSession
	if p, ok := l.tokens.(tokenPreparer); ok && bearer {
		if err := p.PrepareTenant(ctx, user.TenantID); err != nil {
			return nil, err
		}
	}
	err = l.tx.InTx(ctx, func(ctx context.Context) error {
		deviceID := data.DeviceID
		if deviceID == "" {
			token, err := keyring.RandomToken(32)
			if err != nil {
				return models.ErrInternal(err)
			}
			d := &models.Device{TenantID: user.TenantID, UserID: user.ID, TokenHash: sha(token), Name: truncate(name, 100), Browser: truncate(browser, 100), OS: truncate(osName, 100)}
			if err := l.devices.CreateDevice(ctx, d); err != nil {
				return err
			}
			deviceID, res.DeviceToken = d.ID, token
			if err := l.audit.Record(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditDeviceAdded, Meta: meta, Metadata: map[string]any{"device_id": d.ID, "name": d.Name}, Publish: []string{}}); err != nil {
				return err
			}
		} else if err := l.devices.TouchDevice(ctx, deviceID); err != nil {
			return err
		}
		if trust {
			until := now.Add(l.cfg.TrustDeviceTTL)
			if err := l.devices.SetDeviceTrust(ctx, user.TenantID, user.ID, deviceID, &until); err != nil {
				return err
			}
			if err := l.audit.Record(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditDeviceTrusted, Meta: meta, Metadata: map[string]any{"device_id": deviceID, "until": until}}); err != nil {
				return err
			}
		}
		// The session's lifetime: an API login's (longer with remember), or
		// a browser's when the login leaves a browser session (the page, or
		// an API login that asked for one); the tenant may shorten either.
		ttl := l.cfg.TokenTTL
		kind := models.SessionAPI
		if data.Remember {
			ttl = l.cfg.RememberTTL
		}
		if web {
			kind = models.SessionBrowser
			ttl = l.cfg.BrowserTTL
			if data.Remember {
				ttl = l.cfg.BrowserRememberTTL
			}
		}
		ttl = settings.SessionTTL(ttl, data.Remember)
		amr := dedupe(data.AMR)
		s := &models.Session{TenantID: user.TenantID, UserID: user.ID, DeviceID: &deviceID, Kind: kind,
			DeviceName: truncate(name, 100), Browser: truncate(browser, 100), OS: truncate(osName, 100),
			IPAddress: truncate(meta.IP, 64), UserAgent: truncate(meta.UserAgent, 512), AuthMethods: amr, ExpiresAt: now.Add(ttl)}
		if err := l.sessions.CreateSession(ctx, s); err != nil {
			return err
		}
		res.Session = s
		authTime := time.Unix(0, data.AuthTime).UTC()
		if data.AuthTime == 0 {
			authTime = now
		}
		if web {
			token, err := keyring.RandomToken(32)
			if err != nil {
				return models.ErrInternal(err)
			}
			sid := s.ID
			ls := &models.LoginSession{TokenHash: sha(token), TenantID: user.TenantID, UserID: user.ID, AuthTime: authTime,
				Remember: data.Remember, ExpiresAt: s.ExpiresAt, SessionID: &sid}
			if err := l.browser.CreateLoginSession(ctx, ls); err != nil {
				return err
			}
			res.BrowserToken, res.ExpiresAt, res.BrowserExpiresAt = token, s.ExpiresAt, s.ExpiresAt
		}
		if bearer {
			// Without remember the token lives as long as its session; with
			// it, the usual lifetime, and a refresh token lasts the
			// session out.
			accessTTL, refreshUntil := ttl, time.Time{}
			if data.Remember {
				accessTTL, refreshUntil = l.accessTTL(settings, s.ExpiresAt), s.ExpiresAt
			} else if web {
				accessTTL = l.accessTTL(settings, s.ExpiresAt)
			}
			token, refresh, exp, err := l.tokens.IssueUserTokens(ctx, user, s.ID, amr, authTime, accessTTL, refreshUntil)
			if err != nil {
				return err
			}
			res.AccessToken, res.RefreshToken, res.ExpiresAt = token, refresh, exp
		}
		return l.audit.Record(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditLogin, Meta: meta,
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

// TokenIssuer mints, refreshes and revokes first-party tokens (oauth
// implements it).
type TokenIssuer interface {
	// IssueUserTokens mints an access token for the user under the
	// tenant's first-party client, bound to the login session sessionID,
	// and, when refreshUntil is set, a refresh token of the same grant
	// valid until then ("" otherwise).
	IssueUserTokens(ctx context.Context, u *models.User, sessionID string, amr []string, authTime time.Time, ttl time.Duration,
		refreshUntil time.Time) (access, refresh string, expiresAt time.Time, err error)
	// RefreshUserToken rotates a first-party refresh token by the token
	// endpoint's one rule (rotation, reuse revokes the whole grant, one
	// winner among concurrent refreshes). check runs once the token is
	// accepted and before it is rotated, with the grant's tenant, user and
	// login session; its error is returned unchanged and rotates nothing;
	// it answers when the session ends and the new access token's lifetime.
	// A refused token is models.ErrInvalidRefreshToken.
	RefreshUserToken(ctx context.Context, refreshToken string,
		check func(ctx context.Context, tenantID, userID, sessionID string) (sessionEnds time.Time, accessTTL time.Duration, err error),
	) (access, refresh string, expiresAt time.Time, err error)
	TokenRevoker
}

// accessTTL is the usual lifetime of a first-party access token (a plain
// API login's, which the tenant may shorten), never past its session's end.
func (l *Login) accessTTL(settings TenantSettings, sessionEnds time.Time) time.Duration {
	ttl := settings.SessionTTL(l.cfg.TokenTTL, false)
	if left := time.Until(sessionEnds); left < ttl {
		ttl = left
	}
	return ttl
}

// mayStaySignedIn is the one rule on the user's state that every way into
// a session (each login step's completion) and every refresh of one
// applies: the user exists and is active, the tenant is not suspended, the
// account is not locked, and no password change is pending.
func (l *Login) mayStaySignedIn(ctx context.Context, u *models.User) error {
	if err := l.checkActive(ctx, u); err != nil {
		return err
	}
	if now := l.now(); u.Locked(now) {
		return models.ErrAccountLocked(u.LockedUntil.Sub(now))
	}
	if u.ForcePasswordChange {
		return ErrPasswordChangeRequired()
	}
	return nil
}

// Refresh rotates the refresh token of a remembered first-party login
// (POST /api/auth/refresh): the token endpoint's rotation and reuse rule
// (TokenIssuer.RefreshUserToken), then mayStaySignedIn for the grant's
// user and a live login session (a logout, a revoked device or session,
// an erasure all end it). A user who is gone, deactivated or whose tenant
// is suspended gets ErrInvalidRefreshToken like a bad token; a lock or a
// pending password change its own error, and the token is not rotated.
// The new refresh token ends with the session; the access token has the
// usual lifetime.
func (l *Login) Refresh(ctx context.Context, refreshToken string) (*LoginResult, error) {
	res := &LoginResult{Remember: true}
	access, refresh, exp, err := l.tokens.RefreshUserToken(ctx, refreshToken,
		func(ctx context.Context, tenantID, userID, sessionID string) (time.Time, time.Duration, error) {
			dead := models.ErrInvalidRefreshToken()
			u, err := l.users.GetUser(ctx, tenantID, userID)
			if models.IsKind(err, models.KindNotFound) {
				return time.Time{}, 0, dead
			}
			if err != nil {
				return time.Time{}, 0, err
			}
			if err := l.mayStaySignedIn(ctx, u); err != nil {
				if models.IsKind(err, models.KindInternal) || models.IsKind(err, models.KindLocked) || models.IsKind(err, models.KindUnavailable) ||
					errors.Is(err, ErrPasswordChangeRequired()) {
					return time.Time{}, 0, err
				}
				return time.Time{}, 0, dead.WithCause(err)
			}
			s, err := l.sessions.GetSession(ctx, tenantID, userID, sessionID)
			if models.IsKind(err, models.KindNotFound) {
				return time.Time{}, 0, dead
			}
			if err != nil {
				return time.Time{}, 0, err
			}
			tenant, err := l.users.GetTenant(ctx, tenantID)
			if err != nil {
				return time.Time{}, 0, err
			}
			// The tenant's sign-in rules hold for a refresh as for a
			// sign-in: a refresh never outlives them (a verified address
			// required since, a pending deletion, a second factor now
			// required: sign in with the password to enrol).
			enrol, err := l.signInRules(ctx, tenant, u)
			if err != nil {
				return time.Time{}, 0, err
			}
			if enrol {
				return time.Time{}, 0, models.ErrTwoFactorEnrolmentRequired()
			}
			res.User, res.Session = u, s
			return s.ExpiresAt, l.accessTTL(SettingsOf(tenant), s.ExpiresAt), nil
		})
	if err != nil {
		return nil, err
	}
	res.AccessToken, res.RefreshToken, res.ExpiresAt = access, refresh, exp
	return res, nil
}

// VerifyInput is the second step of a login.
type VerifyInput struct {
	Challenge    string
	Code         string // a TOTP or e-mail code
	RecoveryCode string
	TrustDevice  bool
	Meta         Meta
}

// VerifySecondFactor checks the code of a 2FA challenge and completes the
// login. Each challenge allows MaxCodeAttempts tries, claimed atomically.
func (l *Login) VerifySecondFactor(ctx context.Context, in VerifyInput) (*LoginResult, error) {
	first, err := l.beginAttempt(ctx, l.cfg.TwoFactorLimit, in.Meta.IP, "")
	if err != nil {
		return nil, err
	}
	c, user, data, err := l.loadChallenge(ctx, in.Challenge, models.ChallengeTwoFactor)
	if err != nil {
		first.failed(ctx)
		return nil, err
	}
	at, err := l.claimCodeAttempt(ctx, c, user, in.Meta.IP)
	if err != nil {
		return nil, err
	}
	method, ok, err := l.checkSecondFactor(ctx, user, in.Code, in.RecoveryCode)
	if err != nil {
		return nil, err
	}
	if !ok {
		at.failed(ctx)
		l.recordOutside(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: Audit2FAFailed, Meta: in.Meta, Metadata: map[string]any{"method": method}})
		return nil, errInvalidCode()
	}
	at.succeeded(ctx)
	if consumed, err := l.challenges.ConsumeChallenge(ctx, c.ID); err != nil {
		return nil, err
	} else if !consumed {
		return nil, models.ErrInvalidChallenge().WithMessage("This sign-in step was already completed.")
	}
	l.recordOutside(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: Audit2FAVerified, Meta: in.Meta, Metadata: map[string]any{"method": method}})
	if method == "recovery_code" {
		left, _ := l.recovery.CountRecoveryCodes(ctx, user.TenantID, user.ID)
		l.recordOutside(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: Audit2FARecoveryUsed, Meta: in.Meta, Metadata: map[string]any{"remaining": left}})
	}
	data.AMR = append(data.AMR, "otp")
	if method == "recovery_code" {
		data.AMR = append(data.AMR[:len(data.AMR)-1], "otp", "recovery")
	}
	return l.complete(ctx, user, data, in.TrustDevice, in.Meta)
}

// SecondFactorMethods returns the second steps a live 2FA challenge offers
// (what WithPassword returned with it), or nil when the challenge is dead:
// a page shown again after a wrong code offers the same choices.
func (l *Login) SecondFactorMethods(ctx context.Context, challenge string) []string {
	_, user, _, err := l.loadChallenge(ctx, challenge, models.ChallengeTwoFactor)
	if err != nil {
		return nil
	}
	return l.methods(ctx, user)
}

// ResendEmailCode sends a fresh e-mail code for a pending 2FA challenge.
func (l *Login) ResendEmailCode(ctx context.Context, challenge string, meta Meta) error {
	at, err := l.beginAttempt(ctx, l.cfg.TwoFactorLimit, meta.IP, "")
	if err != nil {
		return err
	}
	_, user, _, err := l.loadChallenge(ctx, challenge, models.ChallengeTwoFactor)
	if err != nil {
		at.failed(ctx)
		return err
	}
	if !user.Email2FAEnabled {
		return models.ErrEmail2FANotEnabled()
	}
	if err := l.limit(ctx, l.cfg.TwoFactorLimit, "send:"+user.ID); err != nil {
		return err
	}
	return l.sendEmailCode(ctx, user, "2fa")
}

// PINLoginInput is a quick login with the PIN from a device the user signed
// in on with the password.
type PINLoginInput struct {
	Tenant      string
	Email       string
	PIN         string
	DeviceToken string
	// Remember and WebSession mean what they mean in LoginInput.
	Remember   bool
	WebSession bool
	Meta       Meta
}

// WithPIN signs in with the PIN; it needs the device token of a device
// where the user signed in with the password before.
func (l *Login) WithPIN(ctx context.Context, in PINLoginInput) (*LoginResult, error) {
	at, err := l.beginAttempt(ctx, l.cfg.PINLimit, in.Meta.IP, accountKey(in.Tenant, in.Email))
	if err != nil {
		return nil, err
	}
	res, err := l.withPIN(ctx, in)
	at.finish(ctx, err)
	return res, err
}

func (l *Login) withPIN(ctx context.Context, in PINLoginInput) (*LoginResult, error) {
	bad := models.ErrInvalidCredentials().WithMessage("The PIN is not correct, or this device cannot sign in with a PIN.")
	tenant, err := l.users.GetTenantBySlug(ctx, strings.TrimSpace(in.Tenant))
	if err != nil {
		_, _ = passwordMatches(ctx, l.dummyHash(), in.PIN)
		return nil, bad
	}
	user, err := l.users.GetUserByEmail(ctx, tenant.ID, in.Email)
	if err != nil || !user.IsActive || user.PINHash == "" || in.DeviceToken == "" {
		_, _ = passwordMatches(ctx, l.dummyHash(), in.PIN)
		return nil, bad
	}
	device, err := l.devices.GetDeviceByToken(ctx, user.TenantID, user.ID, sha(in.DeviceToken))
	if err != nil {
		_, _ = passwordMatches(ctx, l.dummyHash(), in.PIN)
		return nil, bad
	}
	if user.Locked(l.now()) {
		return nil, models.ErrAccountLocked(user.LockedUntil.Sub(l.now()))
	}
	if err := l.comparePIN(ctx, Principal{}, user, in.PIN, in.Meta); err != nil {
		return nil, err
	}
	l.recordOutside(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditPINVerified, Meta: in.Meta, Metadata: map[string]any{"purpose": "login"}})
	return l.complete(ctx, user, challengeData{DeviceID: device.ID, AMR: []string{"pin"}, AuthTime: l.now().UnixNano(),
		Remember: in.Remember, WebSession: in.WebSession}, false, in.Meta)
}

// ChangeRequiredPassword completes a forced password change started by
// WithPassword; the login then continues (a second factor if one is on).
func (l *Login) ChangeRequiredPassword(ctx context.Context, challenge, newPassword string, meta Meta) (*LoginResult, error) {
	c, user, data, err := l.loadChallenge(ctx, challenge, models.ChallengePasswordChange)
	if err != nil {
		return nil, err
	}
	hash, err := l.newPasswordHash(ctx, user, newPassword)
	if err != nil {
		return nil, err
	}
	err = l.tx.InTx(ctx, func(ctx context.Context) error {
		ok, err := l.challenges.ConsumeChallenge(ctx, c.ID)
		if err != nil {
			return err
		}
		if !ok {
			return models.ErrInvalidChallenge().WithMessage("This sign-in step was already completed.")
		}
		if err := l.storePassword(ctx, user, hash); err != nil {
			return err
		}
		if _, err := l.revoker.RevokeUserSessions(ctx, user.TenantID, user.ID, "", true); err != nil {
			return err
		}
		return l.audit.Record(ctx, Principal{}, Event{TenantID: user.TenantID, UserID: user.ID, Action: AuditPasswordChanged, Meta: meta, Metadata: map[string]any{"forced": true},
			Publish: []string{EventPasswordChanged, EventSessionsRevoked}, Data: map[string]any{"reason": "password_changed"}})
	})
	if err != nil {
		return nil, err
	}
	user, err = l.users.GetUser(ctx, user.TenantID, user.ID)
	if err != nil {
		return nil, err
	}
	return l.afterPassword(ctx, user, data, meta)
}

// EndBrowserSession signs a browser out: its cookie and the session behind
// it (with every token issued under it) end together.
func (l *Login) EndBrowserSession(ctx context.Context, cookieToken string, meta Meta) error {
	if cookieToken == "" {
		return nil
	}
	ls, err := l.browser.GetLoginSession(ctx, sha(cookieToken))
	if err != nil {
		if models.IsKind(err, models.KindNotFound) {
			return nil
		}
		return err
	}
	return l.tx.InTx(ctx, func(ctx context.Context) error {
		if err := l.browser.DeleteLoginSession(ctx, ls.TokenHash); err != nil {
			return err
		}
		if ls.SessionID != nil {
			if err := l.revoker.RevokeSession(ctx, ls.TenantID, ls.UserID, *ls.SessionID); err != nil && !models.IsKind(err, models.KindNotFound) {
				return err
			}
		}
		md := map[string]any{"kind": "browser"}
		if ls.SessionID != nil {
			md["session_id"] = *ls.SessionID
		}
		return l.audit.Record(ctx, Principal{}, Event{TenantID: ls.TenantID, UserID: ls.UserID, Action: AuditLogout, Meta: meta, Metadata: md,
			Publish: sessionEvents(ls.SessionID != nil, EventSessionRevoked), Data: map[string]any{"reason": "logout"}})
	})
}

// ActiveUser returns the user of a bearer token, or an error when the user
// no longer exists, is deactivated, or its tenant is suspended.
func (l *Login) ActiveUser(ctx context.Context, tenantID, userID string) (*models.User, error) {
	u, suspended, err := l.state.GetUserAndTenantState(ctx, tenantID, userID)
	if err != nil {
		return nil, err
	}
	if !u.IsActive {
		return nil, errInactive()
	}
	if suspended {
		return nil, ErrTenantSuspended()
	}
	return u, nil
}

// SignInAccepted completes the sign-in of a user who has just set their
// password by accepting an invitation (Invitations.Accept): the same
// completion as a password login (device, session, audit, token or
// browser session), with the second factor asked for when one is on.
func (l *Login) SignInAccepted(ctx context.Context, user *models.User, browser bool, deviceName string, meta Meta) (*LoginResult, error) {
	return l.afterPassword(ctx, user, challengeData{Browser: browser, DeviceName: deviceName, AMR: []string{"pwd"}}, meta)
}

// claimCodeAttempt is the budget of one code entered at a login step (the
// second factor, or a forced enrolment's first code): the 2FA rate limits
// of the IP and the (IP, user) pair, then one of the step's
// MaxCodeAttempts, claimed atomically; a step out of attempts is dead.
func (l *Login) claimCodeAttempt(ctx context.Context, c *models.AuthChallenge, user *models.User, ip string) (*attempt, error) {
	at, err := l.beginAttempt(ctx, l.cfg.TwoFactorLimit, ip, "user:"+user.ID)
	if err != nil {
		return nil, err
	}
	ok, err := l.challenges.ClaimChallengeAttempt(ctx, c.ID, l.cfg.MaxCodeAttempts)
	if err != nil {
		return nil, err
	}
	if !ok {
		at.failed(ctx)
		return nil, models.ErrInvalidChallenge().WithMessage("Too many wrong codes. Sign in again.")
	}
	return at, nil
}
