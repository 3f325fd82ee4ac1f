package identity

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/text/language"

	"github.com/identityd/identityd/models"
)

// A tenant's self-management (issue 10 §3): the principal's own tenant,
// read by identity.tenants.read and changed by identity.tenants.update (a
// danger action). The tenant is always the principal's: no method takes a
// tenant id.

// AuditTenantSelfUpdated: a tenant's own Owner changed its presentation
// (PATCH /api/tenant); metadata names the changed fields.
const AuditTenantSelfUpdated = "tenant.updated"

// The bounds of the tenant's presentation fields.
const (
	maxTenantDescriptionLen = 1000
	maxTenantURLLen         = 2000
)

var colourRE = regexp.MustCompile(`^#[0-9a-fA-F]{6}$`)

// TenantProfile names the presentation fields to change; nil leaves a
// field alone, "" clears it (the name cannot be cleared).
type TenantProfile struct {
	Name          *string
	Description   *string
	Website       *string
	LogoURL       *string
	PrimaryColour *string
	DefaultLocale *string
	// Settings changes the settings named in it (nil: none).
	Settings *TenantSettingsPatch
}

// Own returns the principal's own tenant.
func (s *Tenants) Own(ctx context.Context, a Actor) (*models.Tenant, error) {
	return s.store.GetTenant(ctx, a.TenantID)
}

// UpdateOwn changes the presentation and settings of the principal's own
// tenant: every bad field is named in one 422 and nothing is saved; the change and its audit row
// (tenant.updated, the changed field names) are one transaction.
func (s *Tenants) UpdateOwn(ctx context.Context, a Actor, in TenantProfile) (*models.Tenant, error) {
	fields := map[string]any{}
	bad := map[string]string{}
	if in.Name != nil {
		name := strings.TrimSpace(*in.Name)
		if name == "" || utf8.RuneCountInString(name) > 200 || BadText(name, false) {
			bad["name"] = "Give a name of 1 to 200 characters."
		}
		fields["name"] = name
	}
	if in.Description != nil {
		d := strings.TrimSpace(*in.Description)
		switch {
		case BadText(d, false):
			bad["description"] = "Remove the control characters."
		case utf8.RuneCountInString(d) > maxTenantDescriptionLen:
			bad["description"] = fmt.Sprintf("Use at most %d characters.", maxTenantDescriptionLen)
		}
		fields["description"] = d
	}
	webURL := func(key string, v *string) {
		if v == nil {
			return
		}
		p := strings.TrimSpace(*v)
		fields[key] = p
		if p == "" {
			return
		}
		u, err := url.Parse(p)
		switch {
		case len(p) > maxTenantURLLen:
			bad[key] = fmt.Sprintf("Use a web address of at most %d characters.", maxTenantURLLen)
		case err != nil || BadText(p, false) || u.Scheme != "https" || u.Hostname() == "" || u.User != nil || u.Opaque != "":
			bad[key] = "Use a web address that starts with https://."
		}
	}
	webURL("website", in.Website)
	webURL("logo_url", in.LogoURL)
	if in.PrimaryColour != nil {
		c := strings.TrimSpace(*in.PrimaryColour)
		if c != "" && !colourRE.MatchString(c) {
			bad["primary_colour"] = "Use a colour such as #1a2b3c."
		}
		fields["primary_colour"] = strings.ToLower(c)
	}
	if in.DefaultLocale != nil {
		l := strings.TrimSpace(*in.DefaultLocale)
		if l != "" {
			tag, err := language.Parse(l)
			if err != nil || len(l) > maxLocaleLen || BadText(l, false) {
				bad["default_locale"] = "Use a language tag such as en, en-GB or pt-BR."
			} else {
				l = tag.String()
			}
		}
		fields["default_locale"] = l
	}
	if len(bad) > 0 && in.Settings.empty() {
		return nil, models.ErrInvalid(bad)
	}
	if len(fields) == 0 && in.Settings.empty() {
		return nil, models.ErrInvalid(map[string]string{"name": "Send at least one of name, description, website, logo_url, primary_colour, default_locale, settings."})
	}
	var t *models.Tenant
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		changed := make([]string, 0, len(fields))
		for _, k := range []string{"name", "description", "website", "logo_url", "primary_colour", "default_locale"} {
			if _, ok := fields[k]; ok {
				changed = append(changed, k)
			}
		}
		if !in.Settings.empty() {
			// Settings are read, merged and written back: the empty update
			// locks the tenant's row first, so two concurrent changes of
			// different settings both land.
			cur, err := s.store.UpdateTenant(ctx, a.TenantID, map[string]any{})
			if err != nil {
				return err
			}
			more, err := s.applySettings(ctx, cur, in.Settings, fields, bad)
			if err != nil {
				return err
			}
			changed = append(changed, more...)
		}
		if len(bad) > 0 {
			return models.ErrInvalid(bad)
		}
		var err error
		if t, err = s.store.UpdateTenant(ctx, a.TenantID, fields); err != nil {
			return err
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditTenantSelfUpdated, Metadata: map[string]any{"fields": changed},
			Subject: t.ID, Data: mergeData(tenantData(t), map[string]any{"fields": changed})})
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}

// TenantLimits are the deployment's bounds on a tenant's own settings: a
// tenant may only shorten them.
type TenantLimits struct {
	// AuditRetentionDays is the deployment's audit retention
	// (AUDIT_RETENTION_DAYS).
	AuditRetentionDays int
	// SessionTTL and RememberTTL are the deployment's login session
	// lifetimes without and with "keep me signed in"
	// (IDENTITY_SESSION_TTL, IDENTITY_REMEMBER_TTL).
	SessionTTL, RememberTTL time.Duration
	// MinAuditRetentionDays is the fewest days a tenant may keep its
	// audit rows (AUDIT_RETENTION_MIN_DAYS, default 1).
	MinAuditRetentionDays int
}

// DefaultTenantLimits are the deployment defaults of TenantLimits.
func DefaultTenantLimits() TenantLimits {
	return TenantLimits{AuditRetentionDays: 365, SessionTTL: 24 * time.Hour, RememberTTL: 720 * time.Hour}
}

func (l TenantLimits) withDefaults() TenantLimits {
	d := DefaultTenantLimits()
	if l.AuditRetentionDays <= 0 {
		l.AuditRetentionDays = d.AuditRetentionDays
	}
	if l.SessionTTL <= 0 {
		l.SessionTTL = d.SessionTTL
	}
	if l.RememberTTL <= 0 {
		l.RememberTTL = d.RememberTTL
	}
	l.MinAuditRetentionDays = min(max(l.MinAuditRetentionDays, 1), l.AuditRetentionDays)
	return l
}

// The bounds of the settings that are not the deployment's.
const (
	// MaxTenantPasswordMinLength: bcrypt reads 72 bytes, and a minimum
	// close to that leaves no room for multi-byte characters.
	MaxTenantPasswordMinLength = 64
	// MinTenantSessionTTL is the shortest session lifetime a tenant may
	// set (the deployment's own lower bound).
	MinTenantSessionTTL = 5 * time.Minute
)

// TenantSettings are a tenant's own settings, stored as one JSON object
// in tenants.settings; an absent member takes its default
// (DefaultTenantSettings), so a tenant that never set any behaves as
// before. Who reads them: PasswordMinLength (every password set in the
// tenant, sign-up included), the session lifetimes (at login),
// SelfRegistration and DefaultRole (sign-up: Registration),
// AllowUnverifiedSignIn and Require2FARoles (every sign-in and refresh:
// Login.signInRules). The audit retention is the
// tenants.audit_retention_days column the pruner reads.
type TenantSettings struct {
	SelfRegistration      bool   `json:"self_registration"`
	DefaultRole           string `json:"default_role"`
	AllowUnverifiedSignIn bool   `json:"allow_unverified_sign_in"`
	PasswordMinLength     int    `json:"password_min_length"`
	// SessionTTLSeconds and RememberTTLSeconds shorten the login session
	// lifetimes without and with "keep me signed in" (0: the deployment's).
	SessionTTLSeconds  int `json:"session_ttl_seconds"`
	RememberTTLSeconds int `json:"remember_ttl_seconds"`
	// Require2FARoles names roles of the tenant whose holders must have a
	// second factor: one who has none enrols one at their next sign-in,
	// before any token (Login.complete; none: nobody is forced).
	Require2FARoles []string `json:"require_2fa_roles"`
	// AuditRetentionDays keeps the tenant's audit rows this many days (0:
	// the deployment's AUDIT_RETENTION_DAYS). Its one home is the column
	// tenants.audit_retention_days, which the pruner reads per tenant
	// (never below AUDIT_RETENTION_MIN_DAYS): SettingsOf copies it in, and
	// it is never written into the settings JSON.
	AuditRetentionDays int `json:"-"`
}

// DefaultTenantSettings are the settings of a tenant that set none.
func DefaultTenantSettings() TenantSettings {
	return TenantSettings{DefaultRole: RoleMember, AllowUnverifiedSignIn: true, PasswordMinLength: MinPasswordLen}
}

// SettingsOf returns t's settings, the defaults filled in. A stored value
// outside its bounds (a hand-edited row) never weakens the deployment's:
// the password minimum is at least MinPasswordLen and a negative lifetime
// is the deployment's.
func SettingsOf(t *models.Tenant) TenantSettings {
	s := DefaultTenantSettings()
	if t != nil && t.Settings != "" {
		_ = json.Unmarshal([]byte(t.Settings), &s) // a broken object: the defaults
	}
	if s.PasswordMinLength < MinPasswordLen {
		s.PasswordMinLength = MinPasswordLen
	}
	if s.DefaultRole == "" {
		s.DefaultRole = RoleMember
	}
	s.SessionTTLSeconds, s.RememberTTLSeconds = max(s.SessionTTLSeconds, 0), max(s.RememberTTLSeconds, 0)
	if s.Require2FARoles == nil {
		s.Require2FARoles = []string{}
	}
	if t != nil {
		s.AuditRetentionDays = max(t.AuditRetentionDays, 0)
	}
	return s
}

// RequiresSecondFactor reports whether a holder of roles must have a second
// factor in a tenant with these settings.
func (s TenantSettings) RequiresSecondFactor(roles []string) bool {
	for _, r := range roles {
		if slices.Contains(s.Require2FARoles, r) {
			return true
		}
	}
	return false
}

// SessionTTL returns the lifetime of a login session of the tenant: the
// deployment's ttl, shortened by the tenant's setting for remembered or
// plain sessions.
func (s TenantSettings) SessionTTL(ttl time.Duration, remember bool) time.Duration {
	set := s.SessionTTLSeconds
	if remember {
		set = s.RememberTTLSeconds
	}
	if set > 0 && time.Duration(set)*time.Second < ttl {
		return time.Duration(set) * time.Second
	}
	return ttl
}

// TenantSettingsPatch names the settings to change; nil leaves one alone.
type TenantSettingsPatch struct {
	SelfRegistration      *bool
	DefaultRole           *string
	AllowUnverifiedSignIn *bool
	AuditRetentionDays    *int
	PasswordMinLength     *int
	SessionTTLSeconds     *int
	RememberTTLSeconds    *int
	// Require2FARoles replaces the list (an empty list: nobody is forced).
	Require2FARoles *[]string
}

// maxRequire2FARoles bounds settings.require_2fa_roles.
const maxRequire2FARoles = 50

func (p *TenantSettingsPatch) empty() bool {
	return p == nil || *p == TenantSettingsPatch{}
}

// applySettings validates p against the limits and the tenant's roles and
// writes the changes into fields ("settings", "audit_retention_days"),
// naming each changed setting in changed and each bad one in bad.
func (s *Tenants) applySettings(ctx context.Context, t *models.Tenant, p *TenantSettingsPatch, fields map[string]any, bad map[string]string) ([]string, error) {
	if p.empty() {
		return nil, nil
	}
	cur := SettingsOf(t)
	var changed []string
	key := func(k string) string { changed = append(changed, "settings."+k); return "settings." + k }
	if p.SelfRegistration != nil {
		key("self_registration")
		cur.SelfRegistration = *p.SelfRegistration
	}
	if p.AllowUnverifiedSignIn != nil {
		key("allow_unverified_sign_in")
		cur.AllowUnverifiedSignIn = *p.AllowUnverifiedSignIn
	}
	if p.DefaultRole != nil {
		k := key("default_role")
		name := strings.TrimSpace(*p.DefaultRole)
		switch {
		case name == "" || len(name) > 100 || BadText(name, false):
			bad[k] = "Name a role of this tenant."
		case name == RoleOwner:
			bad[k] = "A new user is never an Owner: name another role."
		default:
			r, err := s.store.GetRoleByName(ctx, t.ID, name)
			switch {
			case models.IsKind(err, models.KindNotFound) || (err == nil && (r.TenantID == nil || *r.TenantID != t.ID)):
				bad[k] = fmt.Sprintf("No role %q in this tenant.", truncate(name, 100))
			case err != nil:
				return nil, err
			}
		}
		cur.DefaultRole = name
	}
	if p.AuditRetentionDays != nil {
		k := key("audit_retention_days")
		lo, hi := s.limits.MinAuditRetentionDays, s.limits.AuditRetentionDays
		if d := *p.AuditRetentionDays; d != 0 && (d < lo || d > hi) {
			bad[k] = fmt.Sprintf("Use 0 (the deployment's %d days) or %d to %d days.", hi, lo, hi)
		}
		fields["audit_retention_days"] = *p.AuditRetentionDays
	}
	if p.PasswordMinLength != nil {
		k := key("password_min_length")
		if n := *p.PasswordMinLength; n < MinPasswordLen || n > MaxTenantPasswordMinLength {
			bad[k] = fmt.Sprintf("Use %d to %d characters (the minimum can only be raised).", MinPasswordLen, MaxTenantPasswordMinLength)
		}
		cur.PasswordMinLength = *p.PasswordMinLength
	}
	ttl := func(name string, v *int, bound time.Duration, dst *int) {
		if v == nil {
			return
		}
		k := key(name)
		if n := *v; n != 0 && (n < int(MinTenantSessionTTL/time.Second) || time.Duration(n)*time.Second > bound) {
			bad[k] = fmt.Sprintf("Use 0 (the deployment's %d seconds) or %d to %d seconds.", int(bound/time.Second), int(MinTenantSessionTTL/time.Second), int(bound/time.Second))
		}
		*dst = *v
	}
	ttl("session_ttl_seconds", p.SessionTTLSeconds, s.limits.SessionTTL, &cur.SessionTTLSeconds)
	ttl("remember_ttl_seconds", p.RememberTTLSeconds, s.limits.RememberTTL, &cur.RememberTTLSeconds)
	if p.Require2FARoles != nil {
		k := key("require_2fa_roles")
		names, err := s.require2FARoles(ctx, t.ID, *p.Require2FARoles, k, bad)
		if err != nil {
			return nil, err
		}
		cur.Require2FARoles = names
	}
	raw, err := json.Marshal(cur)
	if err != nil {
		return nil, models.ErrInternal(err)
	}
	if len(changed) > 0 && (p.AuditRetentionDays == nil || len(changed) > 1) {
		fields["settings"] = string(raw)
	}
	return changed, nil
}

// require2FARoles validates the roles of settings.require_2fa_roles: each
// must be a role of the tenant (its system roles included); the bad ones
// are named in one message under key. It returns the names trimmed and
// without duplicates, in the order given.
func (s *Tenants) require2FARoles(ctx context.Context, tenantID string, in []string, key string, bad map[string]string) ([]string, error) {
	if len(in) > maxRequire2FARoles {
		bad[key] = fmt.Sprintf("Name at most %d roles.", maxRequire2FARoles)
		return nil, nil
	}
	names := make([]string, 0, len(in))
	var unknown []string
	for _, raw := range in {
		name := strings.TrimSpace(raw)
		if slices.Contains(names, name) {
			continue
		}
		names = append(names, name)
		if name == "" || len(name) > 100 || BadText(name, false) {
			unknown = append(unknown, fmt.Sprintf("%q", truncate(name, 100)))
			continue
		}
		r, err := s.store.GetRoleByName(ctx, tenantID, name)
		switch {
		case models.IsKind(err, models.KindNotFound) || (err == nil && (r.TenantID == nil || *r.TenantID != tenantID)):
			unknown = append(unknown, fmt.Sprintf("%q", name))
		case err != nil:
			return nil, err
		}
	}
	if len(unknown) > 0 {
		bad[key] = fmt.Sprintf("No role %s in this tenant.", strings.Join(unknown, ", "))
	}
	return names, nil
}
