package app

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"go.opentelemetry.io/otel/trace"

	"github.com/identityd/identityd/events"
	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/telemetry"
)

// SplitComma splits a comma-separated list, trimming each item and
// dropping empty ones: the shape of every list variable and CLI flag.
func SplitComma(s string) []string {
	var out []string
	for _, p := range strings.Split(s, ",") {
		if p = strings.TrimSpace(p); p != "" {
			out = append(out, p)
		}
	}
	return out
}

// validOrigin accepts scheme://host[:port] with an optional leading "*." label.
func validOrigin(o string) bool {
	u, err := url.Parse(strings.Replace(o, "://*.", "://wildcard.", 1))
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != "" && u.Path == "" && u.RawQuery == "" && u.User == nil
}

// validDomain accepts a DNS name of at least two labels (letters, digits,
// inner hyphens).
func validDomain(d string) bool {
	labels := strings.Split(d, ".")
	if len(d) > 253 || len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if l == "" || len(l) > 63 || l[0] == '-' || l[len(l)-1] == '-' {
			return false
		}
		for _, r := range l {
			if (r < 'a' || r > 'z') && (r < '0' || r > '9') && r != '-' {
				return false
			}
		}
	}
	return true
}

// parseRate reads "N/duration" (5/1m, 100/1h).
func parseRate(v string) (identity.Limit, error) {
	n, per, ok := strings.Cut(v, "/")
	count, err := strconv.Atoi(n)
	if !ok || err != nil || count < 1 || count > 100000 {
		return identity.Limit{}, fmt.Errorf("%q must look like 5/1m (count/duration)", v)
	}
	d, err := time.ParseDuration(per)
	if err != nil || d < time.Second || d > 24*time.Hour {
		return identity.Limit{}, fmt.Errorf("%q must look like 5/1m with a duration from 1s to 24h", v)
	}
	return identity.Limit{Rate: count, Period: d}, nil
}

// Secret is a configuration value that never prints.
type Secret string

// LogValue hides the secret from slog.
func (Secret) LogValue() slog.Value { return slog.StringValue("[redacted]") }

// String hides the secret from fmt.
func (Secret) String() string { return "[redacted]" }

// Config is everything identityd reads from the environment.
type Config struct {
	Addr              string
	Issuer            string
	DatabaseURL       Secret
	RedisURL          Secret
	RedisPrefix       string
	Secret            Secret
	DataDir           string
	AccessTokenTTL    time.Duration
	RefreshTokenTTL   time.Duration
	AuthCodeTTL       time.Duration
	IDTokenTTL        time.Duration
	RefreshGrace      time.Duration
	BcryptCost        int
	SecretRotation    time.Duration
	SecretCacheTTL    time.Duration
	SessionTTL        time.Duration
	RememberTTL       time.Duration
	KeyReloadInterval time.Duration
	DBMaxConns        int
	SQLiteReadConns   int
	LookupCacheSize   int
	DBTimeout         time.Duration
	MaxInFlight       int
	RedisTimeout      time.Duration
	ShutdownGrace     time.Duration
	SMTPURL           Secret
	LockoutThreshold  int
	LockoutDuration   time.Duration
	LoginTokenTTL     time.Duration
	LoginRememberTTL  time.Duration
	TrustedDeviceTTL  time.Duration
	PINLockThreshold  int
	PINLockDuration   time.Duration
	RateLogin         identity.Limit
	Rate2FA           identity.Limit
	RatePIN           identity.Limit
	RateForgot        identity.Limit
	StepUpTTL         time.Duration
	ImpersonationTTL  time.Duration
	AuditRetention    int // days
	// AuditRetentionMin is the fewest days a tenant may keep its audit
	// rows (AUDIT_RETENTION_MIN_DAYS).
	AuditRetentionMin int
	CORSOrigins       []string
	IPDenyList        []*net.IPNet
	TrustedProxies    []*net.IPNet
	RedirectOrigins   []string
	PruneInterval     time.Duration
	// Events outbox (issue 11 §1): delivered outbox rows are pruned
	// after EventRetention (IDENTITY_EVENT_RETENTION).
	EventRetention  time.Duration
	LogLevel        slog.Level
	LogFormat       string
	generatedSecret bool
	secretFile      string

	// Issue 8: failure budgets (successes never count).
	// RateIPFailures is the per-IP budget of failed credential checks
	// (login, re-checked passwords, 2FA, PIN, reset codes); successes
	// never count against it.
	RateIPFailures identity.Limit
	// RateClientAuthFailures is the budget of failed client
	// authentications per client id and per IP.
	RateClientAuthFailures identity.Limit
	// Issue 10 §6: one-time codes for other services. RateOTPGenerate
	// bounds new codes per (user, purpose), RateOTPCaller per caller,
	// RateOTPVerify verification attempts per user. OTPTTL is the codes'
	// lifetime: 5 minutes (seed 001), no variable; tests shorten it.
	RateOTPGenerate identity.Limit
	RateOTPCaller   identity.Limit
	RateOTPVerify   identity.Limit
	OTPTTL          time.Duration
	// InvitationTTL is how long an invitation link lasts (issue 10 §4).
	InvitationTTL time.Duration
	// Issue 10 §1: sign-up. SignupEnabled turns POST /api/auth/register
	// and /register on, SignupCompanyCreation lets them create a tenant,
	// SignupAllowedDomains (lower-case; empty: any) limits the e-mail
	// domains, RateRegister bounds attempts per IP.
	SignupEnabled         bool
	SignupCompanyCreation bool
	SignupAllowedDomains  []string
	RateRegister          identity.Limit
	// Issue 10 §2: e-mail verification. EmailVerificationTTL is how long a
	// link and its code work; RateEmailVerificationSend bounds the messages
	// per address (resend, change of address), RateEmailVerificationVerify
	// the verification attempts per IP and per address.
	EmailVerificationTTL        time.Duration
	RateEmailVerificationSend   identity.Limit
	RateEmailVerificationVerify identity.Limit
	// TenantDeletionGrace is how long a tenant's own deletion waits before
	// the pruner deletes it (issue 10 §3).
	TenantDeletionGrace time.Duration
	// DevLogMail allows the log mailer with PostgreSQL and lets it log the
	// whole message (one-time codes included) at debug level.
	DevLogMail bool

	// Issue 11 §2 and §4 (the relay to RabbitMQ, the OTP request queue).
	// RabbitMQURLs are the brokers tried in order: RABBITMQ_URL first, then
	// RABBITMQ_URIS (duplicates dropped); none: nothing is relayed (events
	// stay in the outbox) and no OTP request queue is consumed.
	// RabbitMQTimeout bounds a dial, a channel opening and a publish's
	// confirm. RelayBatch and RelayInterval tune the relay; OTPQueue names
	// the OTP request queue, OTPQueueRetries its requeues after transient
	// failures.
	RabbitMQURLs    []Secret
	RabbitMQTimeout time.Duration
	RelayBatch      int
	RelayInterval   time.Duration
	OTPQueue        string
	OTPQueueRetries int

	// Issue 11 §3: webhooks. WebhookTimeout bounds one delivery attempt,
	// WebhookDisableAfter is the consecutive failed attempts that disable a
	// webhook, WebhookAllowPrivate lets webhooks reach http:// and private,
	// loopback and link-local targets (development and tests). The other
	// tunables have no variable (tests shorten them; 0: the defaults of
	// package webhook): the poll interval, the batch, the backoff's base
	// and cap, and how long a delivery is retried.
	WebhookTimeout      time.Duration
	WebhookDisableAfter int
	WebhookAllowPrivate bool
	WebhookInterval     time.Duration
	WebhookBatch        int
	WebhookBackoffBase  time.Duration
	WebhookBackoffCap   time.Duration
	WebhookMaxAge       time.Duration
	// Issue 12 §1: FederationTimeout bounds each call to an upstream
	// identity provider (discovery, token, JWKS, userinfo).
	FederationTimeout time.Duration
	// Issue 11 §7 tracing: Tracing is read from the standard OTEL_*
	// variables (telemetry.FromEnv; off unless an OTLP endpoint is set).
	// TracerProvider, never from the environment, is one a test injects
	// (an SDK provider with a span recorder): used instead of Tracing, and
	// never installed as the global provider.
	Tracing        telemetry.Settings
	TracerProvider trace.TracerProvider
	// Issue 11 §6 (metrics): MetricsEnabled records metrics at all;
	// MetricsAddr, when set, moves GET /metrics (and the probes) to a
	// listener of their own; MetricsToken, when set, is the bearer token
	// /metrics requires.
	MetricsEnabled bool
	MetricsAddr    string
	MetricsToken   Secret
	// Issue 12 §2 (passkeys): WebAuthnAttestation is the attestation
	// conveyance asked of authenticators (none, indirect, direct);
	// WebAuthnRPName the relying party name they show. The RP ID and
	// origin are the issuer's host and origin.
	WebAuthnAttestation string
	WebAuthnRPName      string
}

// envVar documents one variable: its name, default and meaning. The README's
// table is written from the same list.
type envVar struct {
	name, def, help string
}

var envVars = []envVar{
	{"IDENTITY_ADDR", "127.0.0.1:8000", "listen address (host:port)"},
	{"IDENTITY_ISSUER", "http://localhost:8000", "public base URL; the OIDC issuer. https makes cookies Secure"},
	{"DATABASE_URL", "sqlite:$IDENTITY_DATA_DIR/identity.db", "postgres://… for PostgreSQL, or sqlite:PATH"},
	{"REDIS_URL", "", "redis://… for shared cache state; unset: in-process"},
	{"IDENTITY_REDIS_PREFIX", "identity:", "prefix of every Redis key (to share one Redis between deployments)"},
	{"IDENTITY_SECRET", "", "root secret, at least 32 bytes; required with PostgreSQL. Unset with SQLite: generated into the data dir"},
	{"IDENTITY_DATA_DIR", "./data", "where the SQLite database and a generated dev secret live"},
	{"IDENTITY_ACCESS_TOKEN_TTL", "1h", "access token lifetime"},
	{"IDENTITY_REFRESH_TOKEN_TTL", "168h", "refresh token lifetime"},
	{"IDENTITY_AUTH_CODE_TTL", "10m", "authorization code lifetime"},
	{"IDENTITY_ID_TOKEN_TTL", "1h", "ID token lifetime"},
	{"IDENTITY_REFRESH_GRACE_PERIOD", "0s", "how long a rotated refresh token still works (0: strict; at most 5m)"},
	{"IDENTITY_BCRYPT_COST", "12", "bcrypt cost for passwords and client secrets (10..16)"},
	{"IDENTITY_CLIENT_SECRET_ROTATION_WINDOW", "24h", "how long a rotated client secret stays valid"},
	{"IDENTITY_SECRET_CACHE_TTL", "5m", "how long a verified client secret skips bcrypt (0 disables)"},
	{"IDENTITY_SESSION_TTL", "24h", "browser login session lifetime"},
	{"IDENTITY_REMEMBER_TTL", "720h", "browser login session lifetime with \"keep me signed in\""},
	{"IDENTITY_KEY_RELOAD_INTERVAL", "10s", "how often an instance reloads signing keys from the database"},
	{"IDENTITY_DB_MAX_CONNS", "20", "PostgreSQL connection pool size"},
	{"IDENTITY_SQLITE_READ_CONNS", "4", "SQLite read connections beside the one writer (reads outside a transaction)"},
	{"IDENTITY_LOOKUP_CACHE_SIZE", "20000", "access tokens kept in each instance's lookup cache (invalidated through Redis on any revocation; 0 disables)"},
	{"IDENTITY_DB_TIMEOUT", "5s", "deadline of every PostgreSQL statement and transaction (pool wait included); past it the request answers 503"},
	{"IDENTITY_MAX_INFLIGHT", "0", "requests served at once before the rest are shed with 503 (0: 8 per database connection, at least 128)"},
	{"IDENTITY_REDIS_TIMEOUT", "250ms", "deadline of every Redis call; a circuit breaker then skips Redis while it is down"},
	{"IDENTITY_SHUTDOWN_GRACE", "15s", "on SIGTERM, how long in-flight requests may take to finish before the process exits"},
	{"SMTP_URL", "", "smtp://[user:pass@]host[:port]?from=addr[&tls=starttls|tls|none]; unset: e-mail is written to the log"},
	{"IDENTITY_DEV_LOG_MAIL", "0", "1: development only. Allows PostgreSQL without SMTP_URL, and lets the log mailer write whole messages (one-time codes included) and the SMS log sender the texts of phone codes at debug level; otherwise they log recipient and subject only"},
	{"IDENTITY_LOCKOUT_THRESHOLD", "5", "failed logins that lock an account"},
	{"IDENTITY_LOCKOUT_DURATION", "15m", "how long a locked account stays locked"},
	{"IDENTITY_LOGIN_TOKEN_TTL", "24h", "lifetime of a token from POST /api/auth/login"},
	{"IDENTITY_LOGIN_REMEMBER_TTL", "720h", "session lifetime of a login with remember: true (its refresh token ends with it; the access token keeps IDENTITY_LOGIN_TOKEN_TTL)"},
	{"IDENTITY_TRUSTED_DEVICE_TTL", "720h", "how long a trusted device skips the second factor"},
	{"IDENTITY_PIN_LOCKOUT_THRESHOLD", "5", "wrong PINs that lock the PIN"},
	{"IDENTITY_PIN_LOCKOUT_DURATION", "15m", "how long a locked PIN stays locked"},
	{"IDENTITY_RATE_LOGIN", "5/1m", "login attempts per (IP, account) pair (N/duration); a successful login clears the pair"},
	{"IDENTITY_RATE_2FA", "5/1m", "second-factor attempts per (IP, account) pair; a success clears the pair"},
	{"IDENTITY_RATE_PIN", "5/1m", "PIN attempts per (IP, account) pair; a success clears the pair"},
	{"IDENTITY_RATE_FORGOT", "5/1h", "password-reset requests per (IP, account) pair"},
	{"IDENTITY_RATE_LOGIN_IP_FAILURES", "30/1m", "failed credential checks per IP, across all accounts (login, 2FA, PIN, reset; each flow counted apart); successes do not count"},
	{"IDENTITY_RATE_OTP_GENERATE", "5/15m", "one-time codes (POST /api/otp/generate) per (user, purpose)"},
	{"IDENTITY_RATE_OTP_CALLER", "300/1m", "one-time codes generated per caller (a user or a service account), whatever the user"},
	{"IDENTITY_RATE_OTP_VERIFY", "30/15m", "one-time code verifications per user, whatever the purpose (each code also allows only 5)"},
	{"IDENTITY_RATE_CLIENT_AUTH_FAILURES", "10/1m", "failed client authentications at the token, introspection and revocation endpoints, per client id and per IP; then 429"},
	{"IDENTITY_SIGNUP_ENABLED", "1", "1: people may sign up (POST /api/auth/register, /register); 0: only operators and invitations add people"},
	{"IDENTITY_SIGNUP_COMPANY_CREATION", "1", "1: sign-up may create a new organisation (tenant) with the person as its Owner; 0: sign-up only joins tenants that allow self-registration"},
	{"IDENTITY_SIGNUP_ALLOWED_DOMAINS", "", "comma-separated e-mail domains that may sign up (exact match, e.g. example.com); empty: any"},
	{"IDENTITY_RATE_REGISTER", "10/1h", "sign-up attempts per IP, successful or not"},
	{"IDENTITY_INVITATION_TTL", "168h", "how long an invitation link lasts (a resend makes a new link with a new expiry)"},
	{"IDENTITY_EMAIL_VERIFICATION_TTL", "24h", "how long an e-mail verification link and its 6-digit code work (a new message replaces the old one)"},
	{"IDENTITY_RATE_EMAIL_VERIFICATION_SEND", "5/1h", "verification messages per address (resend, change of address)"},
	{"IDENTITY_RATE_EMAIL_VERIFICATION_VERIFY", "30/15m", "e-mail verification attempts (link or code) per IP, and per address for codes (each code also allows only 5)"},
	{"IDENTITY_TENANT_DELETION_GRACE", "720h", "how long a tenant's own deletion (DELETE /api/tenant) waits before the pruner deletes it; an Owner can restore it until then"},
	{"IDENTITY_STEP_UP_TTL", "300s", "how long a step-up elevation lasts"},
	{"IMPERSONATION_TTL_MINUTES", "15", "lifetime of an impersonation token, in minutes"},
	{"AUDIT_RETENTION_DAYS", "365", "default audit-log retention per tenant, in days"},
	{"AUDIT_RETENTION_MIN_DAYS", "1", "the shortest audit retention a tenant may set for itself, in days (up to AUDIT_RETENTION_DAYS); the pruner never keeps a tenant's rows for less"},
	{"IDENTITY_CORS_ORIGINS", "", "comma-separated origins allowed by CORS; https://*.example.com allows subdomains"},
	{"IDENTITY_IP_DENY_LIST", "", "comma-separated CIDRs (or IPs) refused with 403 before anything else runs"},
	{"IDENTITY_TRUSTED_PROXIES", "", "comma-separated CIDRs (or IPs) of reverse proxies whose X-Forwarded-For is believed; unset: the client is the connection's address"},
	{"IDENTITY_REDIRECT_ALLOWED_ORIGINS", "", "comma-separated origins allowed as post-login and post-logout redirect targets (wildcard subdomains allowed)"},
	{"IDENTITY_PRUNE_INTERVAL", "24h", "how often one instance prunes expired tokens, sessions and old audit rows (0 disables)"},
	{"IDENTITY_EVENT_RETENTION", "168h", "how long the pruner keeps an outbox event once it is delivered (dispatched to webhooks and, with a broker, confirmed by it); undelivered events are never pruned"},
	{"IDENTITY_WEBHOOK_TIMEOUT", "10s", "deadline of one webhook delivery attempt (connect, send, answer); 1s..60s"},
	{"IDENTITY_WEBHOOK_DISABLE_AFTER", "50", "consecutive failed delivery attempts (across a webhook's deliveries) that disable the webhook and mail the tenant's Owners"},
	{"IDENTITY_WEBHOOK_ALLOW_PRIVATE", "0", "1: development and tests only. Webhooks may use http:// and reach private, loopback and link-local addresses; otherwise https only and such addresses are refused at creation and at connect time"},
	{"IDENTITY_LOG_LEVEL", "info", "debug, info, warn or error"},
	{"IDENTITY_LOG_FORMAT", "json", "json or text"},
	// Issue 11 §2 and §4: RabbitMQ.
	{"RABBITMQ_URL", "", "amqp://user:pass@host:5672/vhost (amqps:// for TLS): relay the outbox to RabbitMQ and consume the OTP request queue; unset: events stay in the outbox"},
	{"RABBITMQ_URIS", "", "comma-separated AMQP URLs tried in order for failover (seed 001's name), after RABBITMQ_URL when both are set"},
	{"IDENTITY_RABBITMQ_TIMEOUT", "5s", "deadline of a RabbitMQ dial, channel opening and publisher confirm"},
	{"IDENTITY_RELAY_BATCH", "100", "outbox rows the relay takes per round (1..10000)"},
	{"IDENTITY_RELAY_INTERVAL", "1s", "how often the relay looks at an empty outbox, and a waiting instance for the relay's lease"},
	{"IDENTITY_OTP_QUEUE", "identity.otp.requests", "the OTP request queue consumed when RabbitMQ is configured (dead letters: <queue>.dead)"},
	{"IDENTITY_OTP_QUEUE_RETRIES", "5", "times an OTP request is put back on the queue after a transient failure before it is dead-lettered (0..100)"},
	// Issue 11 §6: metrics.
	{"IDENTITY_METRICS_ENABLED", "1", "1: record Prometheus metrics and serve GET /metrics; 0: record nothing (/metrics answers 404)"},
	{"IDENTITY_METRICS_ADDR", "", "host:port of a separate listener for GET /metrics and the health probes (the main listener then has no /metrics); `identityd worker` serves them only there. Unset: /metrics on IDENTITY_ADDR"},
	{"IDENTITY_METRICS_TOKEN", "", "when set, GET /metrics requires Authorization: Bearer <token> (401 otherwise)"},
	// Issue 12 §2: passkeys.
	{"IDENTITY_WEBAUTHN_ATTESTATION", "none", "attestation asked of passkeys at registration: none, indirect or direct (the RP ID is the issuer's host; an IP-address issuer has no passkeys)"},
	{"IDENTITY_WEBAUTHN_RP_NAME", "Identity", "the service name authenticators show when a passkey is created"},
	// Issue 12 §1: sign-in through upstream identity providers.
	{"IDENTITY_FEDERATION_TIMEOUT", "10s", "deadline of each call to an upstream identity provider (discovery, token, keys, userinfo); 1s..60s. Past it the sign-in answers 503"},
}

// KnownVariable reports whether name is one of the environment variables
// LoadConfig reads (the README's table). Packaging tests use it to keep
// docker-compose.yml, .env.example and the Helm chart to real variables.
// The OTEL_* tracing variables are read by package telemetry, not here.
func KnownVariable(name string) bool {
	for _, e := range envVars {
		if e.name == name {
			return true
		}
	}
	return false
}

// WithDefaults wraps getenv so that DATABASE_URL, when unset, is the SQLite
// database under IDENTITY_DATA_DIR (./data by default): what LoadConfig is
// given at start-up.
func WithDefaults(getenv func(string) string) func(string) string {
	return func(name string) string {
		v := getenv(name)
		if name == "DATABASE_URL" && strings.TrimSpace(v) == "" {
			dir := strings.TrimSpace(getenv("IDENTITY_DATA_DIR"))
			if dir == "" {
				dir = "./data"
			}
			return "sqlite:" + filepath.Join(dir, "identity.db")
		}
		return v
	}
}

// LoadConfig reads and validates the environment, reporting every problem at
// once, each naming its variable.
func LoadConfig(getenv func(string) string) (*Config, error) {
	get := func(name string) string {
		if v := strings.TrimSpace(getenv(name)); v != "" {
			return v
		}
		for _, e := range envVars {
			if e.name == name {
				return e.def
			}
		}
		return ""
	}
	var problems []string
	bad := func(name, format string, args ...any) {
		problems = append(problems, name+": "+fmt.Sprintf(format, args...))
	}
	dur := func(name string, min, max time.Duration) time.Duration {
		d, err := time.ParseDuration(get(name))
		if err != nil {
			bad(name, "%q is not a duration (use e.g. 30s, 15m, 1h)", get(name))
			return 0
		}
		if d < min || (max > 0 && d > max) {
			if max > 0 {
				bad(name, "%s is outside %s..%s", d, min, max)
			} else {
				bad(name, "%s is below %s", d, min)
			}
		}
		return d
	}
	integer := func(name string, min, max int) int {
		n, err := strconv.Atoi(get(name))
		if err != nil || n < min || n > max {
			bad(name, "%q must be a whole number from %d to %d", get(name), min, max)
		}
		return n
	}
	c := &Config{
		Addr:              get("IDENTITY_ADDR"),
		Issuer:            strings.TrimRight(get("IDENTITY_ISSUER"), "/"),
		DatabaseURL:       Secret(get("DATABASE_URL")),
		RedisURL:          Secret(get("REDIS_URL")),
		RedisPrefix:       get("IDENTITY_REDIS_PREFIX"),
		Secret:            Secret(getenv("IDENTITY_SECRET")),
		DataDir:           get("IDENTITY_DATA_DIR"),
		AccessTokenTTL:    dur("IDENTITY_ACCESS_TOKEN_TTL", time.Minute, 24*time.Hour),
		RefreshTokenTTL:   dur("IDENTITY_REFRESH_TOKEN_TTL", time.Hour, 365*24*time.Hour),
		AuthCodeTTL:       dur("IDENTITY_AUTH_CODE_TTL", 30*time.Second, time.Hour),
		IDTokenTTL:        dur("IDENTITY_ID_TOKEN_TTL", time.Minute, 24*time.Hour),
		RefreshGrace:      dur("IDENTITY_REFRESH_GRACE_PERIOD", 0, 5*time.Minute),
		BcryptCost:        integer("IDENTITY_BCRYPT_COST", 10, 16),
		SecretRotation:    dur("IDENTITY_CLIENT_SECRET_ROTATION_WINDOW", 0, 30*24*time.Hour),
		SecretCacheTTL:    dur("IDENTITY_SECRET_CACHE_TTL", 0, time.Hour),
		SessionTTL:        dur("IDENTITY_SESSION_TTL", 5*time.Minute, 0),
		RememberTTL:       dur("IDENTITY_REMEMBER_TTL", 5*time.Minute, 0),
		KeyReloadInterval: dur("IDENTITY_KEY_RELOAD_INTERVAL", time.Second, 10*time.Minute),
		DBMaxConns:        integer("IDENTITY_DB_MAX_CONNS", 1, 1000),
		SQLiteReadConns:   integer("IDENTITY_SQLITE_READ_CONNS", 1, 64),
		LookupCacheSize:   integer("IDENTITY_LOOKUP_CACHE_SIZE", 0, 10000000),
		DBTimeout:         dur("IDENTITY_DB_TIMEOUT", 100*time.Millisecond, 5*time.Minute),
		MaxInFlight:       integer("IDENTITY_MAX_INFLIGHT", 0, 1000000),
		RedisTimeout:      dur("IDENTITY_REDIS_TIMEOUT", 10*time.Millisecond, time.Minute),
		ShutdownGrace:     dur("IDENTITY_SHUTDOWN_GRACE", 0, 10*time.Minute),
		LogFormat:         get("IDENTITY_LOG_FORMAT"),
		SMTPURL:           Secret(get("SMTP_URL")),
		LockoutThreshold:  integer("IDENTITY_LOCKOUT_THRESHOLD", 1, 100),
		LockoutDuration:   dur("IDENTITY_LOCKOUT_DURATION", time.Minute, 24*time.Hour),
		LoginTokenTTL:     dur("IDENTITY_LOGIN_TOKEN_TTL", 5*time.Minute, 30*24*time.Hour),
		LoginRememberTTL:  dur("IDENTITY_LOGIN_REMEMBER_TTL", 5*time.Minute, 365*24*time.Hour),
		TrustedDeviceTTL:  dur("IDENTITY_TRUSTED_DEVICE_TTL", time.Hour, 365*24*time.Hour),
		PINLockThreshold:  integer("IDENTITY_PIN_LOCKOUT_THRESHOLD", 1, 100),
		PINLockDuration:   dur("IDENTITY_PIN_LOCKOUT_DURATION", time.Minute, 24*time.Hour),
	}
	boolean := func(name string) bool {
		switch strings.ToLower(get(name)) {
		case "1", "true", "yes", "on":
			return true
		case "0", "false", "no", "off":
		default:
			bad(name, "use 1 or 0")
		}
		return false
	}
	rate := func(name, limitName string) identity.Limit {
		l, err := parseRate(get(name))
		if err != nil {
			bad(name, "%v", err)
		}
		l.Name = limitName
		return l
	}
	c.StepUpTTL = dur("IDENTITY_STEP_UP_TTL", 30*time.Second, time.Hour)
	c.InvitationTTL = dur("IDENTITY_INVITATION_TTL", time.Hour, 90*24*time.Hour)
	c.EmailVerificationTTL = dur("IDENTITY_EMAIL_VERIFICATION_TTL", 5*time.Minute, 30*24*time.Hour)
	c.TenantDeletionGrace = dur("IDENTITY_TENANT_DELETION_GRACE", time.Hour, 365*24*time.Hour)
	c.ImpersonationTTL = time.Duration(integer("IMPERSONATION_TTL_MINUTES", 1, 24*60)) * time.Minute
	c.AuditRetention = integer("AUDIT_RETENTION_DAYS", 1, 100*365)
	c.AuditRetentionMin = integer("AUDIT_RETENTION_MIN_DAYS", 1, 100*365)
	if c.AuditRetentionMin > c.AuditRetention && c.AuditRetention > 0 {
		bad("AUDIT_RETENTION_MIN_DAYS", "%d is above AUDIT_RETENTION_DAYS (%d)", c.AuditRetentionMin, c.AuditRetention)
	}
	c.PruneInterval = dur("IDENTITY_PRUNE_INTERVAL", 0, 7*24*time.Hour)
	c.EventRetention = dur("IDENTITY_EVENT_RETENTION", time.Hour, 365*24*time.Hour)
	for _, o := range SplitComma(get("IDENTITY_CORS_ORIGINS")) {
		if !validOrigin(o) {
			bad("IDENTITY_CORS_ORIGINS", "%q is not an origin (scheme://host[:port], * allowed as the first label)", o)
		}
		c.CORSOrigins = append(c.CORSOrigins, o)
	}
	for _, o := range SplitComma(get("IDENTITY_REDIRECT_ALLOWED_ORIGINS")) {
		if !validOrigin(o) {
			bad("IDENTITY_REDIRECT_ALLOWED_ORIGINS", "%q is not an origin (scheme://host[:port], * allowed as the first label)", o)
		}
		c.RedirectOrigins = append(c.RedirectOrigins, o)
	}
	cidrs := func(name string) []*net.IPNet {
		var out []*net.IPNet
		for _, cidr := range SplitComma(get(name)) {
			if !strings.Contains(cidr, "/") {
				if ip := net.ParseIP(cidr); ip != nil {
					if ip.To4() != nil {
						cidr += "/32"
					} else {
						cidr += "/128"
					}
				}
			}
			_, n, err := net.ParseCIDR(cidr)
			if err != nil {
				bad(name, "%q is not a CIDR or IP address", cidr)
				continue
			}
			out = append(out, n)
		}
		return out
	}
	c.IPDenyList = cidrs("IDENTITY_IP_DENY_LIST")
	c.TrustedProxies = cidrs("IDENTITY_TRUSTED_PROXIES")
	c.RateLogin = rate("IDENTITY_RATE_LOGIN", "login")
	c.Rate2FA = rate("IDENTITY_RATE_2FA", "2fa")
	c.RatePIN = rate("IDENTITY_RATE_PIN", "pin")
	c.RateForgot = rate("IDENTITY_RATE_FORGOT", "forgot")
	c.RateIPFailures = rate("IDENTITY_RATE_LOGIN_IP_FAILURES", "ipfail")
	c.RateClientAuthFailures = rate("IDENTITY_RATE_CLIENT_AUTH_FAILURES", "client_auth")
	c.RateOTPGenerate = rate("IDENTITY_RATE_OTP_GENERATE", "otp_generate")
	c.RateOTPCaller = rate("IDENTITY_RATE_OTP_CALLER", "otp_caller")
	c.RateOTPVerify = rate("IDENTITY_RATE_OTP_VERIFY", "otp_verify")
	c.OTPTTL = identity.DefaultOTPTTL
	c.RateRegister = rate("IDENTITY_RATE_REGISTER", "register")
	c.SignupEnabled = boolean("IDENTITY_SIGNUP_ENABLED")
	c.SignupCompanyCreation = boolean("IDENTITY_SIGNUP_COMPANY_CREATION")
	for _, d := range SplitComma(get("IDENTITY_SIGNUP_ALLOWED_DOMAINS")) {
		d = strings.ToLower(strings.TrimPrefix(d, "@"))
		if !validDomain(d) {
			bad("IDENTITY_SIGNUP_ALLOWED_DOMAINS", "%q is not a domain name (such as example.com)", d)
		}
		c.SignupAllowedDomains = append(c.SignupAllowedDomains, d)
	}
	c.RateEmailVerificationSend = rate("IDENTITY_RATE_EMAIL_VERIFICATION_SEND", "email_verification_send")
	c.RateEmailVerificationVerify = rate("IDENTITY_RATE_EMAIL_VERIFICATION_VERIFY", "email_verification_verify")
	if u := string(c.SMTPURL); u != "" && !strings.HasPrefix(u, "smtp://") && !strings.HasPrefix(u, "smtps://") {
		bad("SMTP_URL", "must start with smtp:// or smtps://")
	}
	switch strings.ToLower(get("IDENTITY_DEV_LOG_MAIL")) {
	case "1", "true", "yes", "on":
		c.DevLogMail = true
	case "0", "false", "no", "off":
	default:
		bad("IDENTITY_DEV_LOG_MAIL", "use 1 or 0")
	}
	// Issue 11 §3: webhooks.
	c.WebhookTimeout = dur("IDENTITY_WEBHOOK_TIMEOUT", time.Second, time.Minute)
	c.WebhookDisableAfter = integer("IDENTITY_WEBHOOK_DISABLE_AFTER", 1, 10000)
	c.WebhookAllowPrivate = boolean("IDENTITY_WEBHOOK_ALLOW_PRIVATE")
	// Issue 12 §1: upstream identity providers.
	c.FederationTimeout = dur("IDENTITY_FEDERATION_TIMEOUT", time.Second, time.Minute)
	if _, _, err := net.SplitHostPort(c.Addr); err != nil {
		bad("IDENTITY_ADDR", "%q is not host:port", c.Addr)
	}
	if u, err := url.Parse(c.Issuer); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.RawQuery != "" || u.Fragment != "" {
		bad("IDENTITY_ISSUER", "%q must be an http(s) URL with no query or fragment", c.Issuer)
	}
	db := string(c.DatabaseURL)
	isPostgres := strings.HasPrefix(db, "postgres://") || strings.HasPrefix(db, "postgresql://")
	if !isPostgres && !strings.HasPrefix(db, "sqlite:") {
		bad("DATABASE_URL", "must start with postgres:// or sqlite:")
	}
	if isPostgres && c.SMTPURL == "" && !c.DevLogMail {
		// The log mailer would write reset and sign-in codes into a
		// production log.
		bad("SMTP_URL", "is required with PostgreSQL (without it e-mail, one-time codes included, would go to the log); set SMTP_URL, or IDENTITY_DEV_LOG_MAIL=1 on a development machine")
	}
	if r := string(c.RedisURL); r != "" && !strings.HasPrefix(r, "redis://") && !strings.HasPrefix(r, "rediss://") {
		bad("REDIS_URL", "must start with redis:// or rediss://")
	}
	switch {
	case c.Secret != "" && len(c.Secret) < keyring.MinSecretLen:
		bad("IDENTITY_SECRET", "must be at least %d bytes (got %d)", keyring.MinSecretLen, len(c.Secret))
	case c.Secret == "" && isPostgres:
		bad("IDENTITY_SECRET", "is required with PostgreSQL (at least %d bytes; e.g. openssl rand -base64 48)", keyring.MinSecretLen)
	}
	if err := c.LogLevel.UnmarshalText([]byte(get("IDENTITY_LOG_LEVEL"))); err != nil {
		bad("IDENTITY_LOG_LEVEL", "use debug, info, warn or error")
	}
	if c.LogFormat != "json" && c.LogFormat != "text" {
		bad("IDENTITY_LOG_FORMAT", "use json or text")
	}
	// Issue 12 §2: passkeys.
	c.WebAuthnAttestation = strings.ToLower(get("IDENTITY_WEBAUTHN_ATTESTATION"))
	if c.WebAuthnAttestation != "none" && c.WebAuthnAttestation != "indirect" && c.WebAuthnAttestation != "direct" {
		bad("IDENTITY_WEBAUTHN_ATTESTATION", "use none, indirect or direct")
	}
	c.WebAuthnRPName = get("IDENTITY_WEBAUTHN_RP_NAME")
	// Issue 11 §2 and §4: RabbitMQ. A bad URL is named by its variable and
	// position, never printed (it may hold a password).
	seen := map[string]bool{}
	for _, name := range []string{"RABBITMQ_URL", "RABBITMQ_URIS"} {
		for i, u := range SplitComma(getenv(name)) {
			if err := events.CheckURL(u); err != nil {
				if name == "RABBITMQ_URIS" {
					bad(name, "URL %d %v", i+1, err)
				} else {
					bad(name, "%v", err)
				}
				continue
			}
			if !seen[u] {
				seen[u] = true
				c.RabbitMQURLs = append(c.RabbitMQURLs, Secret(u))
			}
		}
	}
	c.RabbitMQTimeout = dur("IDENTITY_RABBITMQ_TIMEOUT", 100*time.Millisecond, time.Minute)
	c.RelayBatch = integer("IDENTITY_RELAY_BATCH", 1, 10000)
	c.RelayInterval = dur("IDENTITY_RELAY_INTERVAL", 10*time.Millisecond, time.Minute)
	c.OTPQueue = get("IDENTITY_OTP_QUEUE")
	if q := c.OTPQueue; len(q) > 250 || strings.HasPrefix(q, "amq.") || strings.ContainsAny(q, " \t\r\n") {
		bad("IDENTITY_OTP_QUEUE", "%q must be a queue name of at most 250 bytes, without spaces, not starting with amq.", q)
	}
	c.OTPQueueRetries = integer("IDENTITY_OTP_QUEUE_RETRIES", 0, 100)
	// Issue 11 §7: the OTEL_* variables.
	if ts, err := telemetry.FromEnv(getenv); err != nil {
		problems = append(problems, err.Error())
	} else {
		c.Tracing = ts
	}
	// Issue 11 §6: metrics.
	c.MetricsEnabled = boolean("IDENTITY_METRICS_ENABLED")
	c.MetricsAddr = get("IDENTITY_METRICS_ADDR")
	c.MetricsToken = Secret(get("IDENTITY_METRICS_TOKEN"))
	if c.MetricsAddr != "" {
		if _, _, err := net.SplitHostPort(c.MetricsAddr); err != nil {
			bad("IDENTITY_METRICS_ADDR", "%q is not host:port", c.MetricsAddr)
		} else if c.MetricsAddr == c.Addr {
			bad("IDENTITY_METRICS_ADDR", "must differ from IDENTITY_ADDR (unset it to serve /metrics on the main listener)")
		}
	}
	if len(problems) > 0 {
		return nil, errors.New("configuration: " + strings.Join(problems, "; "))
	}
	return c, nil
}

// ensureDevSecret gives the embedded default a secret: read from, or
// generated into, the data directory (mode 0600).
func (c *Config) ensureDevSecret() error {
	if c.Secret != "" {
		return nil
	}
	c.secretFile = filepath.Join(c.DataDir, "identity.secret")
	if b, err := os.ReadFile(c.secretFile); err == nil {
		s := strings.TrimSpace(string(b))
		if len(s) < keyring.MinSecretLen {
			return fmt.Errorf("IDENTITY_SECRET: %s holds fewer than %d bytes", c.secretFile, keyring.MinSecretLen)
		}
		c.Secret = Secret(s)
		c.generatedSecret = true
		return nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("IDENTITY_SECRET: read %s: %w", c.secretFile, err)
	}
	raw := make([]byte, 48)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("IDENTITY_SECRET: generate: %w", err)
	}
	s := base64.RawURLEncoding.EncodeToString(raw)
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("IDENTITY_DATA_DIR: create %s: %w", c.DataDir, err)
	}
	if err := os.WriteFile(c.secretFile, []byte(s+"\n"), 0o600); err != nil {
		return fmt.Errorf("IDENTITY_SECRET: write %s: %w", c.secretFile, err)
	}
	c.Secret = Secret(s)
	c.generatedSecret = true
	return nil
}
