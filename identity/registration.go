package identity

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"slices"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"golang.org/x/crypto/bcrypt"
	"golang.org/x/text/language"
	"golang.org/x/text/unicode/norm"

	"github.com/identityd/identityd/models"
)

// Audit actions of sign-up (issue 10 §1). Both are written in the tenant
// the person signed up to, with the new user as subject and actor: nobody
// signed in did it, and the person is the one who acted.
const (
	// AuditUserRegistered: a person created their own account (metadata:
	// e-mail, mode "company" or "join", the roles and policies given).
	AuditUserRegistered = "user.registered"
	// AuditTenantSignedUp: a person created a tenant by signing up
	// (metadata: slug, name). An operator's creation is admin.tenant_created.
	AuditTenantSignedUp = "tenant.created"
)

// DefaultRegisterLimit is IDENTITY_RATE_REGISTER's default: sign-up
// attempts per IP, successes and failures alike.
var DefaultRegisterLimit = Limit{Name: "register", Rate: 10, Period: time.Hour}

// registrationNotices bounds the "someone tried to register with your
// address" e-mails one address receives, whatever the callers' addresses:
// the answer never changes, only the mail stops.
var registrationNotices = Limit{Name: "register_notice", Rate: 3, Period: time.Hour}

// RegistrationStore is what Registration needs of tenants, users, roles
// and policies: the methods the operator's tenant creation, user creation
// and role assignment already use, composed in one transaction.
type RegistrationStore interface {
	// GetTenantBySlug returns the tenant with that slug, or NotFound.
	GetTenantBySlug(ctx context.Context, slug string) (*models.Tenant, error)
	// CreateTenant assigns the id; a slug already taken is a Conflict (of
	// concurrent creations one wins, the others Conflict).
	CreateTenant(ctx context.Context, t *models.Tenant) error
	// SeedTenantRoles creates the system roles and the danger-zone policy.
	SeedTenantRoles(ctx context.Context, tenantID string, roles map[string][]string, dangerPolicy string, danger []string) error
	// GetUserByEmail returns the tenant's user with that address, or NotFound.
	GetUserByEmail(ctx context.Context, tenantID, email string) (*models.User, error)
	// CreateUser assigns the id; an address the tenant has is a Conflict.
	CreateUser(ctx context.Context, u *models.User) error
	// GetRoleByName returns the tenant's (else a global) role, or NotFound.
	GetRoleByName(ctx context.Context, tenantID, name string) (*models.Role, error)
	// AssignRole gives the principal the role (held already: Conflict).
	AssignRole(ctx context.Context, tenantID, principalID, principalType, roleID string) error
	// ListPolicies returns the tenant's policies, by name.
	ListPolicies(ctx context.Context, tenantID string) ([]models.Policy, error)
	// AssignPolicy gives the principal the policy (held already: Conflict).
	AssignPolicy(ctx context.Context, tenantID, principalID, principalType, policyID string) error
}

// VerificationStarter sends the new user the verification message (the
// e-mail verification service of issue 10 §2): called after the sign-up
// has committed, for a new account only.
type VerificationStarter interface {
	StartVerification(ctx context.Context, tenantID, userID string) error
}

// RegistrationConfig is the deployment's sign-up settings.
type RegistrationConfig struct {
	// Enabled turns sign-up on (IDENTITY_SIGNUP_ENABLED).
	Enabled bool
	// CompanyCreation lets sign-up create a tenant
	// (IDENTITY_SIGNUP_COMPANY_CREATION).
	CompanyCreation bool
	// AllowedDomains, when not empty, are the only e-mail domains that may
	// sign up, matched exactly and lower-case (IDENTITY_SIGNUP_ALLOWED_DOMAINS).
	AllowedDomains []string
	// Limit bounds sign-up attempts per IP (IDENTITY_RATE_REGISTER; zero:
	// DefaultRegisterLimit).
	Limit Limit
}

// Registration lets a person sign up: with a company name it creates the
// tenant (its system roles seeded) and the person as its Owner, holding
// the danger-zone policy as the founding Owner (docs/security.md); with a
// tenant's slug it joins that tenant with its default role, where the
// tenant allows self-registration. Either way the account's e-mail is not
// verified; the verification message is sent after the commit.
//
// An address that already has an account in the tenant joined gets the
// same answer as a new one and an e-mail telling its owner; an unknown
// tenant and one closed to sign-up get the same refusal.
type Registration struct {
	store  RegistrationStore
	tx     Tx
	audit  Auditor
	mailer Mailer
	limit  Limiter
	verify VerificationStarter
	cfg    RegistrationConfig
	issuer string
	cost   int
	log    *slog.Logger
}

// RegistrationDeps are what NewRegistration needs; PasswordCost (0:
// bcrypt's default) and Log are optional.
type RegistrationDeps struct {
	Store   RegistrationStore
	Tx      Tx
	Auditor Auditor
	// Mailer sends the notice to an address that already has an account.
	Mailer  Mailer
	Limiter Limiter
	Config  RegistrationConfig
	// Issuer is the public base URL the notice's links are built on.
	Issuer       string
	Verification VerificationStarter
	PasswordCost int
	Log          *slog.Logger
}

// NewRegistration checks d and returns the service.
func NewRegistration(d RegistrationDeps) (*Registration, error) {
	if err := checkDeps("Registration", dep{"Store", d.Store == nil}, dep{"Tx", d.Tx == nil}, dep{"Auditor", d.Auditor.Store == nil},
		dep{"Mailer", d.Mailer == nil}, dep{"Limiter", d.Limiter == nil}, dep{"Issuer", d.Issuer == ""},
		dep{"Verification", d.Verification == nil}); err != nil {
		return nil, err
	}
	cfg := d.Config
	if cfg.Limit.Rate <= 0 || cfg.Limit.Period <= 0 {
		cfg.Limit = DefaultRegisterLimit
	}
	cfg.Limit.Name = DefaultRegisterLimit.Name
	domains := make([]string, 0, len(cfg.AllowedDomains))
	for _, dom := range cfg.AllowedDomains {
		if dom = strings.ToLower(strings.TrimSpace(dom)); dom != "" {
			domains = append(domains, dom)
		}
	}
	cfg.AllowedDomains = domains
	if d.PasswordCost == 0 {
		d.PasswordCost = bcrypt.DefaultCost
	}
	return &Registration{store: d.Store, tx: d.Tx, audit: d.Auditor, mailer: d.Mailer, limit: d.Limiter, verify: d.Verification,
		cfg: cfg, issuer: strings.TrimRight(d.Issuer, "/"), cost: d.PasswordCost, log: logOr(d.Log)}, nil
}

// RegistrationOptions is what the sign-up page may offer.
type RegistrationOptions struct {
	Enabled, CompanyCreation bool
}

// Options reports whether sign-up, and the creation of a company, are on.
func (s *Registration) Options() RegistrationOptions {
	return RegistrationOptions{Enabled: s.cfg.Enabled, CompanyCreation: s.cfg.Enabled && s.cfg.CompanyCreation}
}

// RegisterInput is a sign-up: CompanyName (with an optional CompanySlug)
// creates a tenant; Tenant (a slug) joins one. Exactly one of the two.
type RegisterInput struct {
	Email       string
	Password    string
	Name        string
	CompanyName string
	CompanySlug string
	Tenant      string
	Locale      string
	Meta        Meta
}

// Registered is the answer to a sign-up. It is the same whether the
// address was new or already had an account in the tenant joined, so it
// names no user.
type Registered struct {
	TenantID   string
	TenantSlug string
	TenantName string
	Email      string
	// NewTenant is true when the sign-up created the tenant.
	NewTenant bool
}

// errAlreadyRegistered ends a joining sign-up's transaction when a
// concurrent one created the address first.
var errAlreadyRegistered = errors.New("registration: address already registered")

// Register signs a person up (see Registration). Refusals: sign-up off
// (403 signup_disabled), company creation off (403
// company_signup_disabled), an unknown, suspended or closed tenant (403
// registration_closed, the same for each), too many attempts from the IP
// (429), bad fields (422, the password rules as password.<rule>), a slug
// taken (409 slug_taken).
func (s *Registration) Register(ctx context.Context, in RegisterInput) (*Registered, error) {
	if !s.cfg.Enabled {
		return nil, models.ErrSignupDisabled()
	}
	if err := s.allow(ctx, s.cfg.Limit, "ip:"+in.Meta.IP); err != nil {
		return nil, err
	}
	company, tenant := strings.TrimSpace(in.CompanyName), strings.ToLower(strings.TrimSpace(in.Tenant))
	if company != "" && !s.cfg.CompanyCreation {
		return nil, models.ErrCompanySignupDisabled()
	}
	fields := map[string]string{}
	email := checkEmail(fields, in.Email)
	if _, ok := fields["email"]; !ok && !s.domainAllowed(email) {
		fields["email"] = "Sign-up is open only to addresses of some domains: use your work address."
	}
	name := strings.TrimSpace(in.Name)
	if name == "" || utf8.RuneCountInString(name) > 200 || BadText(name, false) {
		fields["name"] = "Give your name (1 to 200 characters)."
	}
	locale, ok := canonicalLocale(in.Locale)
	if !ok {
		fields["locale"] = "Use a language tag such as en, en-GB or pt-BR."
	}
	slug := strings.ToLower(strings.TrimSpace(in.CompanySlug))
	switch {
	case company != "" && tenant != "":
		fields["tenant"] = "Send either company_name (a new organisation) or tenant (one to join), not both."
	case company == "" && tenant == "" && s.cfg.CompanyCreation:
		fields["company_name"] = "Give your organisation's name (or the tenant to join)."
	case company == "" && tenant == "":
		fields["tenant"] = "Give the organisation to join."
	case company != "":
		if utf8.RuneCountInString(company) > 200 || BadText(company, false) {
			fields["company_name"] = "Give a name of 1 to 200 characters."
		}
		if slug == "" {
			slug = DeriveSlug(company)
		}
		if !slugRE.MatchString(slug) {
			fields["company_slug"] = "Choose a short name of 1 to 63 lower-case letters, digits and inner hyphens."
		}
	case slug != "":
		fields["company_slug"] = "Only with company_name."
	case len(tenant) > 63 || BadText(tenant, false):
		fields["tenant"] = "Give the organisation's short name."
	}
	if in.Password == "" {
		fields["password"] = "Required: choose a password."
	} else if err := CheckPassword(in.Password, email); err != nil {
		var me *models.Error
		if !errors.As(err, &me) || len(fields) == 0 {
			return nil, err
		}
		for k, v := range me.Fields {
			fields[k] = v
		}
	}
	if len(fields) > 0 {
		return nil, models.ErrInvalid(fields)
	}
	u := &models.User{Email: email, Name: name, Locale: locale, IsActive: true}
	if company != "" {
		return s.createCompany(ctx, in, u, company, slug)
	}
	return s.join(ctx, in, u, tenant)
}

// allow takes one event of l for key.
func (s *Registration) allow(ctx context.Context, l Limit, key string) error {
	ok, retry, err := s.limit.Allow(ctx, l.Name+":"+key, l)
	if err != nil {
		return models.ErrInternal(fmt.Errorf("rate limit %s: %w", l.Name, err))
	}
	if !ok {
		return models.ErrRateLimited(retry)
	}
	return nil
}

func (s *Registration) domainAllowed(email string) bool {
	if len(s.cfg.AllowedDomains) == 0 {
		return true
	}
	_, domain, _ := strings.Cut(email, "@")
	return slices.Contains(s.cfg.AllowedDomains, domain)
}

// canonicalLocale returns a BCP 47 tag in canonical form ("" stays "").
func canonicalLocale(l string) (string, bool) {
	l = strings.TrimSpace(l)
	if l == "" {
		return "", true
	}
	tag, err := language.Parse(l)
	if err != nil || len(l) > maxLocaleLen || BadText(l, false) {
		return "", false
	}
	return tag.String(), true
}

// slugLetters spells the Latin letters that have no decomposition.
var slugLetters = strings.NewReplacer("ø", "o", "æ", "ae", "œ", "oe", "ß", "ss", "đ", "d", "ð", "d", "ł", "l", "þ", "th", "ı", "i")

// DeriveSlug makes a tenant slug of a company name: lower-case ASCII
// letters and digits, accents dropped (ø as o, ß as ss), every other run of characters one
// hyphen, at most 63 characters; "" when nothing is left.
func DeriveSlug(name string) string {
	var b strings.Builder
	hyphen := false
	for _, r := range norm.NFKD.String(slugLetters.Replace(strings.ToLower(name))) {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
			hyphen = false
		case unicode.Is(unicode.Mn, r): // a combining accent: dropped
		case b.Len() > 0 && !hyphen:
			b.WriteByte('-')
			hyphen = true
		}
	}
	out := b.String()
	if len(out) > 63 {
		out = out[:63]
	}
	return strings.TrimRight(out, "-")
}

func (s *Registration) hash(ctx context.Context, pw string) (string, error) {
	h, err := hashPassword(ctx, pw, s.cost)
	if err != nil {
		return "", err
	}
	return string(h), nil
}

// createCompany creates the tenant, seeds its roles and creates the
// person as its Owner with the danger-zone policy: one transaction with
// both audit rows. Of concurrent sign-ups for one slug one wins; the
// others are 409 slug_taken.
func (s *Registration) createCompany(ctx context.Context, in RegisterInput, u *models.User, company, slug string) (*Registered, error) {
	var err error
	if u.PasswordHash, err = s.hash(ctx, in.Password); err != nil {
		return nil, err
	}
	t := &models.Tenant{Slug: slug, Name: company}
	err = s.tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateTenant(ctx, t); err != nil {
			if models.IsKind(err, models.KindConflict) {
				return models.ErrSlugTaken()
			}
			return err
		}
		if err := s.store.SeedTenantRoles(ctx, t.ID, SystemRoles(), DangerZonePolicy, DangerActions); err != nil {
			return err
		}
		u.TenantID = t.ID
		if err := s.store.CreateUser(ctx, u); err != nil {
			return err
		}
		owner, err := s.store.GetRoleByName(ctx, t.ID, RoleOwner)
		if err != nil {
			return fmt.Errorf("registration: the new tenant's Owner role: %w", err)
		}
		if err := s.store.AssignRole(ctx, t.ID, u.ID, models.PrincipalUser, owner.ID); err != nil {
			return err
		}
		policies, err := s.store.ListPolicies(ctx, t.ID)
		if err != nil {
			return err
		}
		given := []string{}
		for _, p := range policies {
			if p.Name == DangerZonePolicy {
				if err := s.store.AssignPolicy(ctx, t.ID, u.ID, models.PrincipalUser, p.ID); err != nil {
					return err
				}
				given = append(given, p.Name)
			}
		}
		if err := s.audit.Record(ctx, Principal{}, Event{TenantID: t.ID, UserID: u.ID, Action: AuditTenantSignedUp, Meta: in.Meta,
			Metadata: map[string]any{"slug": t.Slug, "name": t.Name, "self_service": true},
			Subject:  t.ID, Data: mergeData(tenantData(t), map[string]any{"self_service": true})}); err != nil {
			return err
		}
		return s.audit.Record(ctx, Principal{}, Event{TenantID: t.ID, UserID: u.ID, Action: AuditUserRegistered, Meta: in.Meta,
			Metadata: map[string]any{"email": u.Email, "mode": "company", "roles": []string{RoleOwner}, "policies": given},
			Data:     mergeData(userData(u), map[string]any{"registered": true, "roles": []string{RoleOwner}})})
	})
	if err != nil {
		return nil, err
	}
	s.startVerification(ctx, u)
	return &Registered{TenantID: t.ID, TenantSlug: t.Slug, TenantName: t.Name, Email: u.Email, NewTenant: true}, nil
}

// join adds the person to an open tenant with its default role; an
// address the tenant has is told by e-mail instead, and the answer is the
// same.
func (s *Registration) join(ctx context.Context, in RegisterInput, u *models.User, slug string) (*Registered, error) {
	t, err := s.store.GetTenantBySlug(ctx, slug)
	if err != nil && !models.IsKind(err, models.KindNotFound) {
		return nil, err
	}
	if err != nil || t.SuspendedAt != nil || !SettingsOf(t).SelfRegistration {
		return nil, models.ErrRegistrationClosed()
	}
	if err := CheckPasswordMin(in.Password, u.Email, SettingsOf(t).PasswordMinLength); err != nil {
		return nil, err
	}
	// The hash is made whether or not the address is known: both answers
	// take the same bcrypt work.
	if u.PasswordHash, err = s.hash(ctx, in.Password); err != nil {
		return nil, err
	}
	out := &Registered{TenantID: t.ID, TenantSlug: t.Slug, TenantName: t.Name, Email: u.Email}
	role, err := s.defaultRole(ctx, t)
	if err != nil {
		return nil, err
	}
	existing, err := s.store.GetUserByEmail(ctx, t.ID, u.Email)
	switch {
	case err == nil:
		s.notifyExisting(ctx, t, existing)
		return out, nil
	case !models.IsKind(err, models.KindNotFound):
		return nil, err
	}
	u.TenantID = t.ID
	err = s.tx.InTx(ctx, func(ctx context.Context) error {
		if err := s.store.CreateUser(ctx, u); err != nil {
			if models.IsKind(err, models.KindConflict) {
				return errAlreadyRegistered
			}
			return err
		}
		roles := []string{}
		if role != nil {
			if err := s.store.AssignRole(ctx, t.ID, u.ID, models.PrincipalUser, role.ID); err != nil {
				return err
			}
			roles = append(roles, role.Name)
		}
		return s.audit.Record(ctx, Principal{}, Event{TenantID: t.ID, UserID: u.ID, Action: AuditUserRegistered, Meta: in.Meta,
			Metadata: map[string]any{"email": u.Email, "mode": "join", "roles": roles},
			Data:     mergeData(userData(u), map[string]any{"registered": true, "roles": roles})})
	})
	if errors.Is(err, errAlreadyRegistered) {
		if existing, err := s.store.GetUserByEmail(ctx, t.ID, u.Email); err == nil {
			s.notifyExisting(ctx, t, existing)
		}
		return out, nil
	}
	if err != nil {
		return nil, err
	}
	s.startVerification(ctx, u)
	return out, nil
}

// defaultRole is the role a joining person gets: the tenant's
// default_role when it names one of the tenant's own roles other than
// Owner, else the tenant's Member role (the least privileged system
// role); nil when even that is gone (the person joins with no role).
func (s *Registration) defaultRole(ctx context.Context, t *models.Tenant) (*models.Role, error) {
	for _, name := range []string{SettingsOf(t).DefaultRole, RoleMember} {
		if name == RoleOwner {
			continue
		}
		r, err := s.store.GetRoleByName(ctx, t.ID, name)
		switch {
		case err == nil && r.TenantID != nil && *r.TenantID == t.ID:
			return r, nil
		case err != nil && !models.IsKind(err, models.KindNotFound):
			return nil, err
		}
		s.log.WarnContext(ctx, "sign-up default role missing", "tenant_id", t.ID, "role", truncate(name, 100))
	}
	return nil, nil
}

// notifyExisting tells the owner of an address that already has an
// account that someone tried to sign up with it (at most
// registrationNotices per address; a deactivated account is not told).
func (s *Registration) notifyExisting(ctx context.Context, t *models.Tenant, u *models.User) {
	if !u.IsActive {
		return
	}
	if err := s.allow(ctx, registrationNotices, t.ID+":"+u.Email); err != nil {
		return
	}
	login := s.issuer + "/login?" + url.Values{"tenant": {t.Slug}}.Encode()
	forgot := s.issuer + "/forgot-password?" + url.Values{"tenant": {t.Slug}, "email": {u.Email}}.Encode()
	m := Message{TenantID: u.TenantID, UserID: u.ID, To: u.Email, Subject: "Someone tried to sign up with your e-mail address",
		Text: fmt.Sprintf("Hello,\n\nSomeone, perhaps you, tried to create a new account at %s with this address (%s). "+
			"You already have an account there, so no new one was made.\n\n"+
			"If it was you, sign in:\n%s\n\nForgot your password? Choose a new one here:\n%s\n\n"+
			"If it was not you, you can ignore this e-mail: nothing has changed.\n", t.Name, u.Email, login, forgot)}
	if err := s.mailer.Send(ctx, m); err != nil {
		s.log.ErrorContext(ctx, "send sign-up notice", "tenant_id", t.ID, "err", err)
	}
}

// startVerification asks for the new user's verification message; a
// failure is logged (the account exists, and the message can be resent).
func (s *Registration) startVerification(ctx context.Context, u *models.User) {
	if err := s.verify.StartVerification(ctx, u.TenantID, u.ID); err != nil {
		s.log.ErrorContext(ctx, "start e-mail verification", "tenant_id", u.TenantID, "user_id", u.ID, "err", err)
	}
}
