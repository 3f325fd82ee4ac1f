package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/labstack/echo/v4"
	"go.opentelemetry.io/otel/trace"

	"github.com/identityd/identityd/handlers"
	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/mailer"
	"github.com/identityd/identityd/metrics"
	"github.com/identityd/identityd/oauth"
	"github.com/identityd/identityd/storage"
)

// App is a wired server: every part built from one Config.
type App struct {
	Config *Config
	Log    *slog.Logger
	// Metrics is this server's Prometheus registry (GET /metrics).
	Metrics    *metrics.Metrics
	Store      *storage.Store
	Cache      storage.Cache
	Ring       *keyring.Keyring
	Keys       *oauth.KeyManager
	Hasher     *oauth.Hasher
	Provider   *oauth.Provider
	Login      *identity.Login
	Account    *identity.Account
	Password   *identity.Password
	TwoFactor  *identity.TwoFactor
	PIN        *identity.PIN
	Sessions   *identity.Sessions
	StepUp     *identity.StepUp
	Authorizer *identity.Authorizer
	ClientAuth *identity.ClientAuthThrottle
	// Auditor writes every audit row of the services below.
	Auditor         identity.Auditor
	Authenticator   *identity.Authenticator
	Users           *identity.Users
	Memberships     *identity.Memberships
	Roles           *identity.Roles
	Policies        *identity.Policies
	Clients         *identity.Clients
	ServiceAccounts *identity.ServiceAccounts
	APIKeys         *identity.APIKeys
	Tenants         *identity.Tenants
	Impersonation   *identity.Impersonation
	AuditLog        *identity.AuditLog
	PushDevices     *identity.PushDevices
	Invitations     *identity.Invitations
	Consents        *identity.Consents
	Privacy         *identity.Privacy
	Pruner          *identity.Pruner
	Limiter         identity.Limiter
	Mailer          identity.Mailer
	// MailQueue is the Mailer the services use: the outbox that serve's
	// mail worker (MailQueue.Run) drains into Mailer.
	MailQueue *identity.MailQueue
	Echo      *echo.Echo
	closers   []func() error

	// extraJobs are the worker jobs the optional parts add (WorkerJobs);
	// worker is the one StartWorker started, for the readiness check.
	extraJobs []Job
	worker    atomic.Pointer[Worker]
	// health is /api/health's checks, built once in Build, for the main
	// listener and the operations listener (IDENTITY_METRICS_ADDR) alike.
	health []handlers.HealthCheck

	// Federation is issue 12 §1's sign-in through upstream providers.
	Federation *identity.Federation

	// AccountMail is the Mailer the account services send through: the
	// outbox (MailQueue); tests point it at a capturing mailer (Use).
	AccountMail *mailRelay

	// OneTimeCodes generates and verifies codes for other services (issue 10 §6).
	OneTimeCodes *identity.OneTimeCodes
	// SMS sends the phone verification codes: the log sender (there is no
	// SMS provider); tests point it at a capturing sender (Use).
	SMS *smsRelay

	// Webhooks manages the tenants' webhooks (issue 11 §3).
	Webhooks *identity.Webhooks
	// Issue 12 §1 (wire_identityproviders.go): the tenants' upstream
	// identity providers, and the signed-in person's linked identities.
	IdentityProviders *identity.IdentityProviders
	LinkedIdentities  *identity.LinkedIdentities
	// Passkeys registers and verifies WebAuthn credentials (issue 12 §2).
	Passkeys *identity.Passkeys

	// Registration is sign-up (issue 10 §1).
	Registration *identity.Registration
	// EmailVerification proves addresses and changes them (issue 10 §2);
	// sign-up calls its StartVerification for a new user.
	EmailVerification *identity.EmailVerification

	// TracerProvider is the provider of this server's spans (issue 11 §7;
	// wire_tracing.go); nil when tracing is off.
	TracerProvider trace.TracerProvider
}

// Build connects to the database (migrating it) and Redis, loads the keys,
// and builds the provider, services and routes.
func Build(ctx context.Context, cfg *Config, log *slog.Logger) (*App, error) {
	// Every service's log lines carry the request id and trace id of the
	// context they are logged with.
	log = handlers.WithRequestContext(log)
	a := &App{Config: cfg, Log: log, Metrics: metrics.New()}
	if err := cfg.ensureDevSecret(); err != nil {
		return nil, err
	}
	if cfg.generatedSecret {
		log.Warn("IDENTITY_SECRET is not set: using a development secret generated into the data directory. Set IDENTITY_SECRET (at least 32 bytes) in production; losing that file invalidates every token and signing key.", "file", cfg.secretFile)
	}
	ring, err := keyring.New([]byte(cfg.Secret))
	if err != nil {
		return nil, fmt.Errorf("IDENTITY_SECRET: %w", err)
	}
	a.Ring = ring
	a.Store, err = storage.Open(ctx, storage.Options{
		DatabaseURL:        string(cfg.DatabaseURL),
		RefreshGracePeriod: cfg.RefreshGrace,
		MaxOpenConns:       cfg.DBMaxConns,
		SQLiteReadConns:    cfg.SQLiteReadConns,
		QueryTimeout:       cfg.DBTimeout,
		Logger:             log,
		OutboxRelayed:      len(cfg.RabbitMQURLs) > 0,
	})
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	a.closers = append(a.closers, a.Store.Close)
	if err := a.Store.Migrate(ctx); err != nil {
		a.Close()
		return nil, err
	}
	releaseStartupGarbage()
	health := []handlers.HealthCheck{{Name: "database", Check: a.Store.Ping}}
	if cfg.RedisURL != "" {
		rc, err := storage.OpenRedis(ctx, string(cfg.RedisURL), storage.RedisOptions{Timeout: cfg.RedisTimeout, Logger: log})
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("REDIS_URL: %w", err)
		}
		rc.SetPrefix(cfg.RedisPrefix)
		a.Cache = rc
		a.closers = append(a.closers, rc.Close)
		health = append(health, handlers.HealthCheck{Name: "redis", Check: rc.Ping})
	} else {
		a.Cache = storage.NewMemoryCache()
	}
	health = append(health, handlers.HealthCheck{Name: "cache", Check: cacheRoundTrip(a.Cache)})
	switch {
	case cfg.LookupCacheSize <= 0:
	case a.Store.Dialect() != storage.Postgres && cfg.RedisURL != "":
		// Several instances on one SQLite file (what REDIS_URL beside
		// SQLite means) have no channel to hear each other's
		// invalidations: the cache stays off rather than answer stale.
		log.Info("lookup cache off: SQLite with REDIS_URL may be several instances, and SQLite has no invalidation channel")
	default:
		// SQLite alone is one instance: an in-process counter. On
		// PostgreSQL the instances sharing the database hear each other's
		// invalidations through it (LISTEN/NOTIFY); Redis is not on this
		// path.
		var gen storage.Generation = &storage.MemoryGeneration{}
		if a.Store.Dialect() == storage.Postgres {
			lg, err := a.Store.ListenGeneration(ctx, storage.ListenOptions{})
			switch {
			case errors.Is(err, storage.ErrNotificationsLost):
				// Correct without the cache, only slower: say so and go on.
				log.Error("lookup cache off: invalidations cannot travel between instances", "err", err)
				gen = nil
			case err != nil:
				a.Close()
				return nil, fmt.Errorf("lookup cache: %w", err)
			default:
				a.closers = append(a.closers, lg.Close)
				gen = lg
			}
		}
		if gen != nil {
			if err := a.Store.EnableLookupCache(gen, cfg.LookupCacheSize); err != nil {
				a.Close()
				return nil, err
			}
		}
	}

	a.Keys = &oauth.KeyManager{
		Store:       a.Store,
		Ring:        ring,
		ReloadEvery: cfg.KeyReloadInterval,
		Retain:      max(cfg.IDTokenTTL, cfg.AccessTokenTTL) + cfg.KeyReloadInterval,
	}
	if err := a.Keys.Ensure(ctx); err != nil {
		a.Close()
		return nil, err
	}
	a.Hasher = &oauth.Hasher{Cost: cfg.BcryptCost, Cache: a.Cache, Ring: ring, TTL: cfg.SecretCacheTTL}
	if cfg.SecretCacheTTL == 0 {
		a.Hasher.Cache = nil
	} else if err := a.Hasher.EnableLocalCache(4096); err != nil {
		a.Close()
		return nil, err
	}
	a.Provider, err = oauth.New(oauth.Deps{
		Issuer: cfg.Issuer,
		Lifespans: oauth.Lifespans{
			AccessToken: cfg.AccessTokenTTL, RefreshToken: cfg.RefreshTokenTTL,
			AuthorizeCode: cfg.AuthCodeTTL, IDToken: cfg.IDTokenTTL,
		},
		Ring: ring, Store: a.Store, Keys: a.Keys, Hasher: a.Hasher,
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	if cfg.SMTPURL != "" {
		m, err := mailer.NewSMTP(string(cfg.SMTPURL))
		if err != nil {
			a.Close()
			return nil, err
		}
		a.Mailer = m
	} else {
		a.Mailer = &mailer.LogMailer{Log: log, ShowBody: cfg.DevLogMail}
	}
	if a.MailQueue, err = identity.NewMailQueue(identity.MailQueueDeps{Store: a.Store, Sealer: ring, Deliver: a.Mailer, Now: time.Now, Log: log}); err != nil {
		a.Close()
		return nil, err
	}
	if rc, ok := a.Cache.(*storage.RedisCache); ok {
		a.Limiter = storage.NewRedisLimiter(rc.Client(), cfg.RedisPrefix+"rl:")
	} else {
		a.Limiter = storage.NewMemoryLimiter()
	}
	// One Auditor for every service: the audit row and the change's
	// CloudEvents (the outbox) in the use case's transaction.
	a.Auditor = identity.Auditor{Store: a.Store, Events: a.Store, Source: cfg.Issuer, Now: time.Now}
	// Issue 11 §6: the metrics hooks (wire_metrics.go).
	if err := a.wireMetrics(); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.buildAccounts(cfg, log); err != nil {
		a.Close()
		return nil, err
	}
	a.Store.OnRefreshReuse = func(ctx context.Context, tenantID, subject, clientID, requestID string) {
		ev := identity.Event{TenantID: tenantID, Action: identity.AuditRefreshReuse, Meta: identity.MetaFrom(ctx),
			Metadata: map[string]any{"client_id": clientID, "grant_id": requestID}}
		if subject != clientID {
			ev.UserID = subject
		}
		if err := a.Auditor.Record(ctx, identity.Principal{}, ev); err != nil {
			log.ErrorContext(ctx, "audit refresh reuse", "err", err)
		}
	}
	if err := a.buildServices(ctx, cfg); err != nil {
		a.Close()
		return nil, err
	}
	if err := a.wireRelay(&health); err != nil { // issue 11 §2, §4: RabbitMQ
		a.Close()
		return nil, err
	}
	if err := a.buildWebhooks(cfg); err != nil { // issue 11 §3
		a.Close()
		return nil, err
	}
	if err := a.buildPasskeys(cfg); err != nil { // issue 12 §2
		a.Close()
		return nil, err
	}
	if err := a.buildFederation(cfg); err != nil { // issue 12 §1
		a.Close()
		return nil, err
	}
	if err := a.buildTracing(ctx); err != nil {
		a.Close()
		return nil, err
	}
	a.health = health
	a.Echo, err = handlers.New(a.metricsDeps(handlers.Deps{
		Issuer: cfg.Issuer, Provider: a.Provider, Activity: a.Cache,
		Login: a.Login, Account: a.Account, Password: a.Password, TwoFactor: a.TwoFactor, PIN: a.PIN,
		Sessions: a.Sessions, StepUp: a.StepUp, Authorizer: a.Authorizer, ClientAuth: a.ClientAuth,
		Authenticator: a.Authenticator, Users: a.Users, Memberships: a.Memberships, Roles: a.Roles, Policies: a.Policies,
		ClientRegistry: a.Clients, ServiceAccounts: a.ServiceAccounts, APIKeys: a.APIKeys, TenantRegistry: a.Tenants,
		Impersonation: a.Impersonation, AuditLog: a.AuditLog,
		OneTimeCodes:    a.OneTimeCodes,
		PushDevices:     a.PushDevices,
		Invitations:     a.Invitations,
		Registration:    a.Registration,
		ConsentRegistry: a.Consents,
		Privacy:         a.Privacy,
		RequestContext:  storage.WithLookupSnapshot,
		Clients:         a.Store, Consents: a.Store, Tenants: a.Store,
		Ring: ring, Health: health, Logger: log,
		CORSOrigins: cfg.CORSOrigins, IPDenyList: cfg.IPDenyList, TrustedProxies: cfg.TrustedProxies,
		RedirectOrigins: cfg.RedirectOrigins,
		MaxInFlight:     maxInFlight(cfg),

		// Issue 10 §2: e-mail verification.
		EmailVerification: a.EmailVerification,

		// Issue 11 §3: webhooks.
		Webhooks: a.Webhooks,
		// Issue 12 §1: identity providers, admin and account side.
		IdentityProviders: a.IdentityProviders, LinkedIdentities: a.LinkedIdentities,
		// Issue 12 §2: passkeys.
		Passkeys: a.Passkeys,
		// Issue 12 §1: sign-in through upstream providers.
		Federation: a.Federation,
		// Issue 11 §7: tracing (nil: off).
		TracerProvider: a.TracerProvider,
	}))
	if err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// buildServices builds the per-aggregate services over the store, each
// checked by its constructor, and seeds the system roles of tenants that
// have none.
func (a *App) buildServices(ctx context.Context, cfg *Config) error {
	var err error
	audit := a.Auditor
	if a.Authenticator, err = identity.NewAuthenticator(identity.AuthenticatorDeps{
		Tokens: handlers.TokenIntrospector(a.Provider), Store: a.Store, Keys: a.Ring, Log: a.Log}); err != nil {
		return err
	}
	if a.Users, err = identity.NewUsers(identity.UsersDeps{Store: a.Store, Memberships: a.Store, Tx: a.Store, Auditor: audit,
		PasswordCost: cfg.BcryptCost, Mailer: a.MailQueue, Log: a.Log, Tenants: a.Store, Push: a.Store, Passkeys: a.Store}); err != nil {
		return err
	}
	if a.Memberships, err = identity.NewMemberships(identity.MembershipsDeps{Users: a.Store, Store: a.Store, Tx: a.Store, Auditor: audit}); err != nil {
		return err
	}
	if a.Roles, err = identity.NewRoles(identity.RolesDeps{Store: a.Store, Tx: a.Store, Auditor: audit}); err != nil {
		return err
	}
	if a.Policies, err = identity.NewPolicies(identity.PoliciesDeps{Store: a.Store, Tx: a.Store, Auditor: audit}); err != nil {
		return err
	}
	if a.Clients, err = identity.NewClients(identity.ClientsDeps{Store: a.Store, Tx: a.Store, Auditor: audit,
		Hasher: a.Hasher, RotationWindow: cfg.SecretRotation}); err != nil {
		return err
	}
	if a.ServiceAccounts, err = identity.NewServiceAccounts(identity.ServiceAccountsDeps{Store: a.Store, Tx: a.Store, Auditor: audit}); err != nil {
		return err
	}
	if a.APIKeys, err = identity.NewAPIKeys(identity.APIKeysDeps{Store: a.Store, Tx: a.Store, Auditor: audit, Keys: a.Ring}); err != nil {
		return err
	}
	if a.Tenants, err = identity.NewTenants(identity.TenantsDeps{Store: a.Store, Tx: a.Store, Auditor: audit,
		Limits: identity.TenantLimits{AuditRetentionDays: cfg.AuditRetention, SessionTTL: cfg.SessionTTL, RememberTTL: cfg.RememberTTL,
			MinAuditRetentionDays: cfg.AuditRetentionMin},
		Deletions: a.Store, Mailer: a.AccountMail, DeletionGrace: cfg.TenantDeletionGrace, Now: time.Now}); err != nil {
		return err
	}
	if a.Impersonation, err = identity.NewImpersonation(identity.ImpersonationDeps{Store: a.Store, Tx: a.Store, Auditor: audit,
		Tokens: &oauth.FirstParty{Provider: a.Provider, Clients: a.Store}, TTL: cfg.ImpersonationTTL}); err != nil {
		return err
	}
	if a.PushDevices, err = identity.NewPushDevices(identity.PushDevicesDeps{Store: a.Store, Tx: a.Store, Auditor: audit, Sealer: a.Ring}); err != nil {
		return err
	}
	if a.Consents, err = identity.NewConsents(identity.ConsentsDeps{Store: a.Store, Tx: a.Store, Auditor: audit}); err != nil {
		return err
	}
	if a.AuditLog, err = identity.NewAuditLog(identity.AuditLogDeps{Store: a.Store, Auditor: audit}); err != nil {
		return err
	}
	// The background prune starts in serve (never in tests or one-shot commands).
	if a.Pruner, err = identity.NewPruner(identity.PrunerDeps{Store: a.Store, Interval: cfg.PruneInterval, Holder: pruneHolder(),
		AuditRetentionDays: cfg.AuditRetention, MinAuditRetentionDays: cfg.AuditRetentionMin, Log: a.Log,
		Tx: a.Store, Auditor: audit, Now: time.Now,
		// With a broker, a row is pruned only once it was relayed.
		EventRetention: cfg.EventRetention, RelayConfigured: len(cfg.RabbitMQURLs) > 0}); err != nil {
		return err
	}
	// One-time codes mail through AccountMail (the outbox; tests capture it).
	if a.OneTimeCodes, err = identity.NewOneTimeCodes(identity.OneTimeCodesDeps{Store: a.Store, Tx: a.Store, Auditor: audit,
		Keys: a.Ring, Mailer: a.AccountMail, Limiter: a.Limiter, Log: a.Log, Config: identity.OneTimeCodesConfig{
			TTL: cfg.OTPTTL, GenerateLimit: cfg.RateOTPGenerate, CallerLimit: cfg.RateOTPCaller, VerifyLimit: cfg.RateOTPVerify}}); err != nil {
		return err
	}
	// Invitations mail through AccountMail and sign the new member in
	// through Login's completion.
	if a.Invitations, err = identity.NewInvitations(identity.InvitationsDeps{Store: a.Store, People: a.Store, Memberships: a.Store,
		Tx: a.Store, Auditor: audit, Keys: a.Ring, Mailer: a.AccountMail, SignIn: a.Login, Issuer: cfg.Issuer,
		TTL: cfg.InvitationTTL, PasswordCost: cfg.BcryptCost, Log: a.Log}); err != nil {
		return err
	}
	// Sign-up mails through AccountMail; each new account gets its
	// verification message from EmailVerification.
	if a.Registration, err = identity.NewRegistration(identity.RegistrationDeps{Store: a.Store, Tx: a.Store, Auditor: audit,
		Verification: a.EmailVerification, Mailer: a.AccountMail, Limiter: a.Limiter, Issuer: cfg.Issuer, PasswordCost: cfg.BcryptCost, Log: a.Log,
		Config: identity.RegistrationConfig{Enabled: cfg.SignupEnabled, CompanyCreation: cfg.SignupCompanyCreation,
			AllowedDomains: cfg.SignupAllowedDomains, Limit: cfg.RateRegister}}); err != nil {
		return err
	}
	return a.Tenants.SeedMissingRoles(ctx)
}

// pruneHolder names this instance in the prune's job lease: host, pid and a
// random suffix (two processes on one host, or one restarted, differ).
func pruneHolder() string {
	host, _ := os.Hostname()
	suffix, _ := keyring.RandomToken(6)
	return host + ":" + strconv.Itoa(os.Getpid()) + ":" + suffix
}

// buildAccounts builds the account services from one AccountDeps: one
// clock, one logger, one configuration of account security.
func (a *App) buildAccounts(cfg *Config, log *slog.Logger) error {
	acfg := identity.DefaultAccountsConfig()
	acfg.PasswordCost = cfg.BcryptCost
	acfg.MaxFailedLogins, acfg.LockoutDuration = cfg.LockoutThreshold, cfg.LockoutDuration
	acfg.TokenTTL, acfg.RememberTTL = cfg.LoginTokenTTL, cfg.LoginRememberTTL
	acfg.BrowserTTL, acfg.BrowserRememberTTL = cfg.SessionTTL, cfg.RememberTTL
	acfg.TrustDeviceTTL = cfg.TrustedDeviceTTL
	acfg.MaxPINFailures, acfg.PINLockout = cfg.PINLockThreshold, cfg.PINLockDuration
	acfg.LoginLimit, acfg.TwoFactorLimit, acfg.PINLimit, acfg.ForgotLimit = cfg.RateLogin, cfg.Rate2FA, cfg.RatePIN, cfg.RateForgot
	acfg.IPFailureLimit, acfg.ClientAuthFailureLimit = cfg.RateIPFailures, cfg.RateClientAuthFailures
	a.AccountMail = &mailRelay{}
	a.AccountMail.Use(a.MailQueue)
	deps := identity.AccountDeps{
		Limiter: a.Limiter, Mailer: a.AccountMail, Sealer: a.Ring,
		StepUps: a.Cache, // a password step-up stands in for the password at factor enrolment
		Config:  acfg, Now: time.Now, Log: log,
	}
	audit := a.Auditor
	creds := identity.CredentialStores{Users: a.Store, Updater: a.Store, Codes: a.Store, Recovery: a.Store, Counters: a.Store, Auditor: audit}
	tokens := &oauth.FirstParty{Provider: a.Provider, Clients: a.Store}
	var err error
	if a.Login, err = identity.NewLogin(identity.LoginDeps{AccountDeps: deps, CredentialStores: creds, Tx: a.Store,
		Sessions: a.Store, Revoker: a.Store, Devices: a.Store, Challenges: a.Store, Browser: a.Store, UserState: a.Store, Tokens: tokens,
		Roles: a.Store, Issuer: issuerName(cfg.Issuer)}); err != nil {
		return err
	}
	a.SMS = &smsRelay{}
	a.SMS.Use(&mailer.LogSMS{Log: log, ShowBody: cfg.DevLogMail})
	if a.Account, err = identity.NewAccount(identity.AccountServiceDeps{Users: a.Store, Updater: a.Store, Sessions: a.Store,
		Activity: a.Store, Tx: a.Store, Auditor: audit, Codes: a.Store, Keys: a.Ring, SMS: a.SMS, Limiter: a.Limiter,
		Config: identity.ProfileConfig{PhoneCodeTTL: acfg.EmailCodeTTL, MaxCodeAttempts: acfg.MaxCodeAttempts,
			PhoneCodeLimit: identity.DefaultProfileConfig().PhoneCodeLimit}, Now: time.Now, Log: log}); err != nil {
		return err
	}
	if a.Password, err = identity.NewPassword(identity.PasswordDeps{AccountDeps: deps, CredentialStores: creds, Tx: a.Store, Revoker: a.Store,
		ResetURL: cfg.Issuer + "/reset-password"}); err != nil {
		return err
	}
	if a.TwoFactor, err = identity.NewTwoFactor(identity.TwoFactorDeps{AccountDeps: deps, CredentialStores: creds, Tx: a.Store, Issuer: issuerName(cfg.Issuer)}); err != nil {
		return err
	}
	if a.PIN, err = identity.NewPIN(identity.PINDeps{AccountDeps: deps, CredentialStores: creds, Tx: a.Store, PINs: a.Store}); err != nil {
		return err
	}
	if a.Sessions, err = identity.NewSessions(identity.SessionsDeps{Sessions: a.Store, Devices: a.Store, Revoker: a.Store, Tx: a.Store,
		Auditor: audit, Tokens: tokens, Push: a.Store, Now: time.Now, ActivityInterval: acfg.ActivityInterval}); err != nil {
		return err
	}
	if a.StepUp, err = identity.NewStepUp(identity.StepUpDeps{AccountDeps: deps, CredentialStores: creds, TTL: cfg.StepUpTTL}); err != nil {
		return err
	}
	if err := a.buildIdentityProviders(cfg, deps, creds); err != nil { // issue 12 §1
		return err
	}
	if a.Privacy, err = identity.NewPrivacy(identity.PrivacyDeps{AccountDeps: deps, CredentialStores: creds, Store: a.Store, Eraser: a.Store, Tx: a.Store}); err != nil {
		return err
	}
	// E-mail verification mails through AccountMail; a change of address
	// re-checks the password with the shared lockout.
	if a.EmailVerification, err = identity.NewEmailVerification(identity.EmailVerificationDeps{AccountDeps: deps, CredentialStores: creds,
		Store: a.Store, Tx: a.Store, Issuer: cfg.Issuer, Config: identity.EmailVerificationConfig{TTL: cfg.EmailVerificationTTL,
			SendLimit: cfg.RateEmailVerificationSend, VerifyLimit: cfg.RateEmailVerificationVerify}}); err != nil {
		return err
	}
	if a.Authorizer, err = identity.NewAuthorizer(identity.AuthorizerDeps{Store: a.Store, StepUps: a.Cache, Now: time.Now}); err != nil {
		return err
	}
	a.ClientAuth, err = identity.NewClientAuthThrottle(identity.ClientAuthThrottleDeps{Limiter: a.Limiter, Limit: acfg.ClientAuthFailureLimit, Log: log})
	return err
}

// The Store implements every small store interface of the account
// services.
var (
	_ identity.UserLookup          = (*storage.Store)(nil)
	_ identity.UserUpdater         = (*storage.Store)(nil)
	_ identity.EmailCodeStore      = (*storage.Store)(nil)
	_ identity.RecoveryCodeStore   = (*storage.Store)(nil)
	_ identity.CounterStore        = (*storage.Store)(nil)
	_ identity.SessionStore        = (*storage.Store)(nil)
	_ identity.SessionRevoker      = (*storage.Store)(nil)
	_ identity.DeviceStore         = (*storage.Store)(nil)
	_ identity.ChallengeStore      = (*storage.Store)(nil)
	_ identity.BrowserSessionStore = (*storage.Store)(nil)
	_ identity.UserStateLookup     = (*storage.Store)(nil)
	_ identity.PINStore            = (*storage.Store)(nil)
	_ identity.OneTimeCodeStore    = (*storage.Store)(nil)
	_ identity.ActivityStore       = (*storage.Store)(nil)
	_ identity.AuthzStore          = (*storage.Store)(nil)
)

// mailRelay is a Mailer that forwards to the one Use set last.
type mailRelay struct{ to atomic.Value }

type mailTarget struct{ identity.Mailer }

// Use sends every later message through m.
func (r *mailRelay) Use(m identity.Mailer) { r.to.Store(mailTarget{m}) }

// Send implements identity.Mailer.
func (r *mailRelay) Send(ctx context.Context, m identity.Message) error {
	return r.to.Load().(mailTarget).Send(ctx, m)
}

// smsRelay is an SMSSender that forwards to the one Use set last.
type smsRelay struct{ to atomic.Value }

type smsTarget struct{ identity.SMSSender }

// Use sends every later text message through m.
func (r *smsRelay) Use(m identity.SMSSender) { r.to.Store(smsTarget{m}) }

// SendSMS implements identity.SMSSender.
func (r *smsRelay) SendSMS(ctx context.Context, m identity.SMS) error {
	return r.to.Load().(smsTarget).SendSMS(ctx, m)
}

// *storage.Store implements every store interface of the services, and
// the shared transaction and audit interfaces (storage does not import
// identity: these lines check it at compile time).
var (
	_ identity.Tx                  = (*storage.Store)(nil)
	_ identity.AuditWriter         = (*storage.Store)(nil)
	_ identity.EventWriter         = (*storage.Store)(nil)
	_ identity.UserStore           = (*storage.Store)(nil)
	_ identity.MembershipStore     = (*storage.Store)(nil)
	_ identity.RoleStore           = (*storage.Store)(nil)
	_ identity.PolicyStore         = (*storage.Store)(nil)
	_ identity.ClientStore         = (*storage.Store)(nil)
	_ identity.ServiceAccountStore = (*storage.Store)(nil)
	_ identity.APIKeyStore         = (*storage.Store)(nil)
	_ identity.TenantStore         = (*storage.Store)(nil)
	_ identity.ImpersonationStore  = (*storage.Store)(nil)
	_ identity.AuditLogStore       = (*storage.Store)(nil)
	_ identity.PruneStore          = (*storage.Store)(nil)
	_ identity.AuthenticatorStore  = (*storage.Store)(nil)
	_ identity.PushDeviceStore     = (*storage.Store)(nil)
	_ identity.PushRemover         = (*storage.Store)(nil)
	_ identity.InvitationStore     = (*storage.Store)(nil)
	_ identity.InvitationPeople    = (*storage.Store)(nil)
	_ identity.ConsentStore        = (*storage.Store)(nil)
	_ identity.PrivacyStore        = (*storage.Store)(nil)
	_ identity.ErasureStore        = (*storage.Store)(nil)
	_ identity.RegistrationStore   = (*storage.Store)(nil)
	// Issue 10 §2.
	_ identity.EmailVerificationStore = (*storage.Store)(nil)
	// Issue 10 §3: a tenant's own deletion, the sign-in rules' roles.
	_ identity.TenantDeletionStore = (*storage.Store)(nil)
	_ identity.RoleHolderLookup    = (*storage.Store)(nil)
)

// maxInFlight is IDENTITY_MAX_INFLIGHT, or 8 requests per database
// connection (at least 128) when it is 0.
func maxInFlight(cfg *Config) int {
	if cfg.MaxInFlight > 0 {
		return cfg.MaxInFlight
	}
	n := 1
	if strings.HasPrefix(string(cfg.DatabaseURL), "postgres") {
		n = cfg.DBMaxConns
	}
	return max(128, 8*n)
}

// issuerName is how authenticator apps label this service: the issuer's host.
func issuerName(issuer string) string {
	if u, err := url.Parse(issuer); err == nil && u.Host != "" {
		return "Identity (" + u.Host + ")"
	}
	return "Identity"
}

// cacheRoundTrip is the cache health check: a write and a read back.
func cacheRoundTrip(c storage.Cache) func(ctx context.Context) error {
	return func(ctx context.Context) error {
		key := "health:" + time.Now().Format(time.RFC3339Nano)
		if err := c.Set(ctx, key, []byte("ok"), 10*time.Second); err != nil {
			return err
		}
		v, ok, err := c.Get(ctx, key)
		if err != nil {
			return err
		}
		if !ok || string(v) != "ok" {
			return fmt.Errorf("cache read back %q", v)
		}
		return c.Delete(ctx, key)
	}
}

// Close releases connections.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		if err := a.closers[i](); err != nil {
			a.Log.Warn("close", "err", err)
		}
	}
	a.closers = nil
}

// NewLogger builds the process logger: JSON (or text) at the configured level.
func NewLogger(cfg *Config, w interface{ Write([]byte) (int, error) }) *slog.Logger {
	opts := &slog.HandlerOptions{Level: cfg.LogLevel}
	if strings.EqualFold(cfg.LogFormat, "text") {
		return slog.New(slog.NewTextHandler(w, opts))
	}
	return slog.New(slog.NewJSONHandler(w, opts))
}

// releaseStartupGarbage hands the migration step's garbage back to the
// operating system. goose parses every migration with pooled scan buffers
// of several megabytes each (12 MB in all); they are garbage once it is
// done, but an idle server allocates too little to run the two collections
// that empty a sync.Pool, so they would hold its resident memory up for
// minutes (issue 14: idle RSS). Two collections and a scavenge cost a few
// milliseconds, once, before the server listens.
func releaseStartupGarbage() {
	runtime.GC()
	debug.FreeOSMemory()
}
