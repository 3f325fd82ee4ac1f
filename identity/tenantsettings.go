package identity

import (
	"context"
	"fmt"
	"net/url"
	"regexp"
	"strings"
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
}

// Own returns the principal's own tenant.
func (s *Tenants) Own(ctx context.Context, a Actor) (*models.Tenant, error) {
	return s.store.GetTenant(ctx, a.TenantID)
}

// UpdateOwn changes the presentation of the principal's own tenant: every
// bad field is named in one 422; the change and its audit row
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
	if len(bad) > 0 {
		return nil, models.ErrInvalid(bad)
	}
	if len(fields) == 0 {
		return nil, models.ErrInvalid(map[string]string{"name": "Send at least one of name, description, website, logo_url, primary_colour, default_locale."})
	}
	var t *models.Tenant
	err := s.tx.InTx(ctx, func(ctx context.Context) error {
		var err error
		if t, err = s.store.UpdateTenant(ctx, a.TenantID, fields); err != nil {
			return err
		}
		changed := make([]string, 0, len(fields))
		for _, k := range []string{"name", "description", "website", "logo_url", "primary_colour", "default_locale"} {
			if _, ok := fields[k]; ok {
				changed = append(changed, k)
			}
		}
		return s.audit.RecordActor(ctx, a, Event{Action: AuditTenantSelfUpdated, Metadata: map[string]any{"fields": changed}})
	})
	if err != nil {
		return nil, err
	}
	return t, nil
}
