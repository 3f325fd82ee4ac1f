package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/url"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/identityd/identityd/handlers"
	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/mailer"
	"github.com/identityd/identityd/oauth"
	"github.com/identityd/identityd/storage"
)

// App is a wired server: every part built from one Config.
type App struct {
	Config     *Config
	Log        *slog.Logger
	Store      *storage.Store
	Cache      storage.Cache
	Ring       *keyring.Keyring
	Keys       *oauth.KeyManager
	Hasher     *oauth.Hasher
	Provider   *oauth.Provider
	Admin      *identity.Admin
	Accounts   *identity.Accounts
	Authorizer *identity.Authorizer
	Directory  *identity.Directory
	Operator   *identity.Operator
	Machines   *identity.Machines
	Pruner     *identity.Pruner
	Limiter    identity.Limiter
	Mailer     identity.Mailer
	// MailQueue is the Mailer the services use: the outbox that serve's
	// mail worker (MailQueue.Run) drains into Mailer.
	MailQueue *identity.MailQueue
	Echo      *echo.Echo
	closers   []func() error
}

// Build connects to the database (migrating it) and Redis, loads the keys,
// and builds the provider, services and routes.
func Build(ctx context.Context, cfg *Config, log *slog.Logger) (*App, error) {
	// Every service's log lines carry the request id and trace id of the
	// context they are logged with.
	log = handlers.WithRequestContext(log)
	a := &App{Config: cfg, Log: log}
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
		QueryTimeout:       cfg.DBTimeout,
		Logger:             log,
	})
	if err != nil {
		return nil, fmt.Errorf("DATABASE_URL: %w", err)
	}
	a.closers = append(a.closers, a.Store.Close)
	if err := a.Store.Migrate(ctx); err != nil {
		a.Close()
		return nil, err
	}
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
	if cfg.LookupCacheSize > 0 {
		var gen storage.Generation = &storage.MemoryGeneration{}
		if rc, ok := a.Cache.(*storage.RedisCache); ok {
			gen = storage.NewRedisGeneration(rc.Client(), cfg.RedisPrefix+"lookup-gen")
		}
		if err := a.Store.EnableLookupCache(gen, cfg.LookupCacheSize); err != nil {
			a.Close()
			return nil, err
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
	a.Admin = &identity.Admin{Store: a.Store, Hasher: a.Hasher, PasswordCost: cfg.BcryptCost, RotationWindow: cfg.SecretRotation}
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
	a.MailQueue = &identity.MailQueue{Store: a.Store, Sealer: ring, Deliver: a.Mailer, Log: log}
	if rc, ok := a.Cache.(*storage.RedisCache); ok {
		a.Limiter = storage.NewRedisLimiter(rc.Client(), cfg.RedisPrefix+"rl:")
	} else {
		a.Limiter = storage.NewMemoryLimiter()
	}
	acfg := identity.DefaultAccountsConfig()
	acfg.PasswordCost = cfg.BcryptCost
	acfg.MaxFailedLogins, acfg.LockoutDuration = cfg.LockoutThreshold, cfg.LockoutDuration
	acfg.TokenTTL, acfg.RememberTTL = cfg.LoginTokenTTL, cfg.LoginRememberTTL
	acfg.BrowserTTL, acfg.BrowserRememberTTL = cfg.SessionTTL, cfg.RememberTTL
	acfg.TrustDeviceTTL = cfg.TrustedDeviceTTL
	acfg.MaxPINFailures, acfg.PINLockout = cfg.PINLockThreshold, cfg.PINLockDuration
	acfg.LoginLimit, acfg.TwoFactorLimit, acfg.PINLimit, acfg.ForgotLimit = cfg.RateLogin, cfg.Rate2FA, cfg.RatePIN, cfg.RateForgot
	acfg.IPFailureLimit, acfg.ClientAuthFailureLimit = cfg.RateIPFailures, cfg.RateClientAuthFailures
	a.Accounts = &identity.Accounts{
		Store: a.Store, Tokens: &oauth.FirstParty{Provider: a.Provider, Clients: a.Store},
		Limiter: a.Limiter, Mailer: a.MailQueue, Sealer: ring, Log: log, Config: acfg, Issuer: issuerName(cfg.Issuer),
	}
	a.Store.OnRefreshReuse = func(ctx context.Context, tenantID, subject, clientID, requestID string) {
		ev := identity.Event{TenantID: tenantID, Action: identity.AuditRefreshReuse, Meta: identity.MetaFrom(ctx),
			Metadata: map[string]any{"client_id": clientID, "grant_id": requestID}}
		if subject != clientID {
			ev.UserID = subject
		}
		if err := identity.WriteAudit(ctx, a.Store, ev); err != nil {
			log.ErrorContext(ctx, "audit refresh reuse", "err", err)
		}
	}
	a.Authorizer = &identity.Authorizer{Store: a.Store, Cache: a.Cache, Accounts: a.Accounts, StepUpTTL: cfg.StepUpTTL}
	a.Accounts.StepUps = a.Cache // a password step-up stands in for the password at factor enrolment
	a.Operator = &identity.Operator{Store: a.Store, Admin: a.Admin, Tokens: &oauth.FirstParty{Provider: a.Provider, Clients: a.Store},
		ImpersonationTTL: cfg.ImpersonationTTL, AuditRetentionDays: cfg.AuditRetention, Log: log}
	// The background prune starts in serve (never in tests or one-shot commands).
	a.Pruner = &identity.Pruner{Operator: a.Operator, Interval: cfg.PruneInterval}
	if err := a.Admin.SeedMissingRoles(ctx); err != nil {
		a.Close()
		return nil, err
	}
	directory := &identity.Directory{Store: a.Store, PasswordCost: cfg.BcryptCost, Mailer: a.MailQueue, Log: log}
	machines := &identity.Machines{Store: a.Store, Admin: a.Admin, Keys: ring, Log: log}
	a.Directory, a.Machines = directory, machines
	a.Echo, err = handlers.New(handlers.Deps{
		Issuer: cfg.Issuer, Provider: a.Provider, Accounts: a.Accounts, Activity: a.Cache, Authorizer: a.Authorizer, Directory: directory,
		RequestContext: storage.WithLookupSnapshot,
		Clients:        a.Store, Consents: a.Store, Tenants: a.Store,
		Ring: ring, Health: health, Logger: log, Operator: a.Operator, Machines: machines,
		CORSOrigins: cfg.CORSOrigins, IPDenyList: cfg.IPDenyList, TrustedProxies: cfg.TrustedProxies,
		RedirectOrigins: cfg.RedirectOrigins,
		MaxInFlight:     maxInFlight(cfg),
	})
	if err != nil {
		a.Close()
		return nil, err
	}
	return a, nil
}

// Machines serves both the bearer lookup and the machine administration.
var (
	_ handlers.MachineAuth  = (*identity.Machines)(nil)
	_ handlers.MachineAdmin = (*identity.Machines)(nil)
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
