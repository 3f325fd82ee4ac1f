package oauth

import (
	"errors"
	"net/url"
	"slices"
	"testing"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/models"
)

// decisionClient is a tenant's client, optionally one that skips consent.
type decisionClient struct {
	*fosite.DefaultClient
	tenant string
	skip   bool
}

func (c *decisionClient) GetTenantID() string  { return c.tenant }
func (c *decisionClient) GetSkipConsent() bool { return c.skip }

// TestDecide walks the authorization decision's table: prompt × max_age ×
// acr_values × the login and consent state, over plain inputs.
func TestDecide(t *testing.T) {
	now := time.Date(2026, 5, 6, 12, 0, 0, 0, time.UTC)
	requestedAt := now.Add(-2 * time.Minute) // first seen before the login page
	sid := "session-1"
	user := &models.User{ID: "user-1", TenantID: "tenant-1", Email: "ada@example.com", EmailVerified: true, Name: "Ada"}
	loginAt := func(at time.Time) *models.LoginSession {
		return &models.LoginSession{TenantID: "tenant-1", UserID: user.ID, AuthTime: at, SessionID: &sid}
	}
	old := loginAt(now.Add(-time.Hour))     // signed in before the request
	fresh := loginAt(now.Add(-time.Minute)) // signed in for this request
	elsewhere := &models.LoginSession{TenantID: "tenant-2", UserID: "user-9", AuthTime: now}
	granted := &models.Consent{Scopes: models.StringList{"openid", "email", "profile"}}
	partial := &models.Consent{Scopes: models.StringList{"openid"}}
	noTenant := fosite.Client(&fosite.DefaultClient{ID: "client-1"})

	type state struct {
		login        *models.LoginSession
		amr          []string
		consent      *models.Consent
		consentedNow bool
		skipConsent  bool
		client       fosite.Client // default: a tenant-1 client
	}
	tests := []struct {
		name  string
		form  url.Values
		state state
		want  Outcome
		err   error // for OutcomeRefuse
	}{
		{"signed out", nil, state{}, OutcomeLogin, nil},
		{"signed out, prompt=none", url.Values{"prompt": {"none"}}, state{}, OutcomeRefuse, fosite.ErrLoginRequired},
		{"signed in to another tenant", nil, state{login: elsewhere}, OutcomeLogin, nil},
		{"client without a tenant", nil, state{login: old, client: noTenant}, OutcomeRefuse, fosite.ErrServerError},

		{"prompt=login, login older than the request", url.Values{"prompt": {"login"}}, state{login: old, consent: granted}, OutcomeLogin, nil},
		{"prompt=login, signed in for this request", url.Values{"prompt": {"login"}}, state{login: fresh, consent: granted}, OutcomeIssue, nil},
		{"prompt=login none, login older", url.Values{"prompt": {"login none"}}, state{login: old, consent: granted}, OutcomeRefuse, fosite.ErrLoginRequired},

		{"max_age not a number", url.Values{"max_age": {"soon"}}, state{login: old, consent: granted}, OutcomeRefuse, fosite.ErrInvalidRequest},
		{"max_age negative", url.Values{"max_age": {"-1"}}, state{login: old, consent: granted}, OutcomeRefuse, fosite.ErrInvalidRequest},
		{"max_age met", url.Values{"max_age": {"7200"}}, state{login: old, consent: granted}, OutcomeIssue, nil},
		{"max_age exceeded", url.Values{"max_age": {"60"}}, state{login: old, consent: granted}, OutcomeLogin, nil},
		{"max_age exceeded, prompt=none", url.Values{"max_age": {"60"}, "prompt": {"none"}}, state{login: old, consent: granted}, OutcomeRefuse, fosite.ErrLoginRequired},
		{"max_age=0, signed in for this request", url.Values{"max_age": {"0"}}, state{login: fresh, consent: granted}, OutcomeIssue, nil},
		{"max_age=0, login older", url.Values{"max_age": {"0"}}, state{login: old, consent: granted}, OutcomeLogin, nil},

		{"acr mfa, password login older", url.Values{"acr_values": {ACRMultiFactor}}, state{login: old, amr: []string{"pwd"}, consent: granted}, OutcomeLogin, nil},
		{"acr mfa, password login for this request", url.Values{"acr_values": {ACRMultiFactor}}, state{login: fresh, amr: []string{"pwd"}, consent: granted}, OutcomeRefuse, ErrUnmetAuthenticationRequirements()},
		{"acr mfa, second factor passed", url.Values{"acr_values": {"x " + ACRMultiFactor}}, state{login: old, amr: []string{"pwd", "otp"}, consent: granted}, OutcomeIssue, nil},
		{"acr pwd only", url.Values{"acr_values": {ACRPassword}}, state{login: old, amr: []string{"pwd"}, consent: granted}, OutcomeIssue, nil},

		{"no consent", nil, state{login: old}, OutcomeConsent, nil},
		{"no consent, prompt=none", url.Values{"prompt": {"none"}}, state{login: old}, OutcomeRefuse, fosite.ErrConsentRequired},
		{"consent to fewer scopes", nil, state{login: old, consent: partial}, OutcomeConsent, nil},
		{"consent to every scope", nil, state{login: old, consent: granted}, OutcomeIssue, nil},
		{"consent to every scope, prompt=none", url.Values{"prompt": {"none"}}, state{login: old, consent: granted}, OutcomeIssue, nil},
		{"just consented", nil, state{login: old, consentedNow: true}, OutcomeIssue, nil},
		{"skip-consent client", nil, state{login: old, skipConsent: true}, OutcomeIssue, nil},
		{"prompt=consent, earlier consent only", url.Values{"prompt": {"consent"}}, state{login: old, consent: granted}, OutcomeConsent, nil},
		{"prompt=consent, skip-consent client", url.Values{"prompt": {"consent"}}, state{login: old, skipConsent: true}, OutcomeConsent, nil},
		{"prompt=consent, just consented", url.Values{"prompt": {"consent"}}, state{login: old, consentedNow: true}, OutcomeIssue, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ar := fosite.NewAuthorizeRequest()
			ar.Form = tt.form
			if ar.Form == nil {
				ar.Form = url.Values{}
			}
			ar.Client = &decisionClient{DefaultClient: &fosite.DefaultClient{ID: "client-1"}, tenant: "tenant-1", skip: tt.state.skipConsent}
			if tt.state.client != nil {
				ar.Client = tt.state.client
			}
			ar.RequestedScope = fosite.Arguments{"openid", "email", "profile"}
			var u *models.User
			if tt.state.login != nil {
				u = user
			}
			amr := tt.state.amr
			if amr == nil {
				amr = []string{"pwd"}
			}
			var amrCalls, consentCalls int
			look := authorizeLookups{
				amr: func() []string { amrCalls++; return amr },
				consent: func(tenantID, userID, clientID string) *models.Consent {
					consentCalls++
					if tenantID != "tenant-1" || userID != user.ID || clientID != "client-1" {
						t.Errorf("consent looked up for %s/%s/%s", tenantID, userID, clientID)
					}
					return tt.state.consent
				},
				consentedNow: func(userID string, at time.Time) bool {
					if userID != user.ID || !at.Equal(requestedAt) {
						t.Errorf("consent marker checked for %s at %v", userID, at)
					}
					return tt.state.consentedNow
				},
			}
			d := decide(AuthorizeInput{Request: ar, Login: tt.state.login, User: u, RequestedAt: requestedAt, Now: now}, look, "https://id.example")
			if d.Outcome != tt.want {
				t.Fatalf("outcome %v (err %v), want %v", d.Outcome, d.Err, tt.want)
			}
			if tt.want == OutcomeRefuse {
				if !errors.Is(d.Err, tt.err) || fosite.ErrorToRFC6749Error(d.Err).ErrorField != fosite.ErrorToRFC6749Error(tt.err).ErrorField {
					t.Errorf("error %v, want %v", d.Err, tt.err)
				}
			} else if d.Err != nil {
				t.Errorf("error %v with outcome %v", d.Err, d.Outcome)
			}
			if tt.want != OutcomeIssue && d.Session != nil {
				t.Error("a session without a code to issue")
			}
			// The stores are asked only what the decision reaches.
			if (tt.state.login == nil || tt.state.login == elsewhere) && amrCalls+consentCalls > 0 {
				t.Errorf("looked up %d methods and %d consents for a browser that must sign in", amrCalls, consentCalls)
			}
			if (tt.state.skipConsent || tt.state.consentedNow) && consentCalls > 0 {
				t.Error("looked up an earlier consent the decision does not need")
			}
		})
	}
}

// TestDecideIssues checks the session an issued code carries.
func TestDecideIssues(t *testing.T) {
	now := time.Date(2026, 5, 6, 12, 0, 0, 0, time.UTC)
	sid := "session-1"
	ls := &models.LoginSession{TenantID: "tenant-1", UserID: "user-1", AuthTime: now.Add(-time.Minute), SessionID: &sid}
	user := &models.User{ID: "user-1", TenantID: "tenant-1", Email: "ada@example.com", EmailVerified: true, Name: "Ada"}
	ar := fosite.NewAuthorizeRequest()
	ar.Client = &decisionClient{DefaultClient: &fosite.DefaultClient{ID: "client-1"}, tenant: "tenant-1", skip: true}
	ar.RequestedScope = fosite.Arguments{"openid", "email", "profile"}
	look := authorizeLookups{
		amr:          func() []string { return []string{"pwd", "otp"} },
		consent:      func(string, string, string) *models.Consent { return nil },
		consentedNow: func(string, time.Time) bool { return false },
	}
	d := decide(AuthorizeInput{Request: ar, Login: ls, User: user, RequestedAt: now.Add(-2 * time.Minute), Now: now}, look, "https://id.example")
	if d.Outcome != OutcomeIssue {
		t.Fatalf("outcome %v, err %v", d.Outcome, d.Err)
	}
	s := d.Session
	if s.Kind != KindUser || s.TenantID != "tenant-1" || s.ClientID != "client-1" || s.Subject != "user-1" || s.SessionID != sid {
		t.Errorf("session %+v", s)
	}
	if s.Claims.Issuer != "https://id.example" || !s.Claims.AuthTime.Equal(ls.AuthTime) || !s.Claims.RequestedAt.Equal(now.Add(-2*time.Minute)) {
		t.Errorf("claims %+v", s.Claims)
	}
	if !slices.Equal(s.Claims.AuthenticationMethodsReferences, []string{"pwd", "otp", "mfa"}) || s.Claims.AuthenticationContextClassReference != ACRMultiFactor {
		t.Errorf("amr %v acr %q", s.Claims.AuthenticationMethodsReferences, s.Claims.AuthenticationContextClassReference)
	}
	if s.Claims.Extra["email"] != "ada@example.com" || s.Claims.Extra["email_verified"] != true || s.Claims.Extra["name"] != "Ada" || s.Claims.Extra["tenant_id"] != "tenant-1" {
		t.Errorf("ID token claims %v", s.Claims.Extra)
	}
	if !slices.Equal(d.Scopes, []string{"openid", "email", "profile"}) {
		t.Errorf("scopes %v", d.Scopes)
	}
}

// TestAMRAndACRFederated: an upstream sign-in keeps the upstream's RFC 8176
// values and its mfa, and one that reported none claims no password.
func TestAMRAndACRFederated(t *testing.T) {
	for _, c := range []struct {
		in  []string
		amr []string
		acr string
	}{
		{[]string{"fed"}, nil, ACRPassword},
		{[]string{"fed", "pwd", "otp"}, []string{"pwd", "otp", "mfa"}, ACRMultiFactor},
		{[]string{"fed", "mfa"}, []string{"mfa"}, ACRMultiFactor},
		{[]string{"hwk", "user"}, []string{"hwk", "user", "mfa"}, ACRMultiFactor},
		{[]string{"hwk"}, []string{"hwk"}, ACRPassword},
		{nil, []string{"pwd"}, ACRPassword},
		{[]string{"pwd", "trusted_device"}, []string{"pwd"}, ACRPassword},
	} {
		amr, acr := AMRAndACR(c.in)
		if !slices.Equal(amr, c.amr) || acr != c.acr {
			t.Errorf("AMRAndACR(%v) = %v, %q; want %v, %q", c.in, amr, acr, c.amr, c.acr)
		}
	}
}
