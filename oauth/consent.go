package oauth

import (
	"context"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/ory/fosite"

	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// ConsentStore remembers what users granted to clients.
type ConsentStore interface {
	// GetConsent returns the scopes the user granted the client. No grant
	// is (nil, nil) or a NotFound error; the decision reads any error as no
	// grant, so the user is asked again rather than let through.
	GetConsent(ctx context.Context, tenantID, userID, clientID string) (*models.Consent, error)
	// GrantConsent records that the user granted the client these scopes
	// (added to any earlier grant).
	GrantConsent(ctx context.Context, tenantID, userID, clientID string, scopes []string) error
}

// LoginMethods tells how a browser login was authenticated.
type LoginMethods interface {
	// BrowserSessionAMR returns the methods of the login behind ls (pwd,
	// otp, pin), or just "pwd" when they are unknown; it never fails.
	BrowserSessionAMR(ctx context.Context, ls *models.LoginSession) []string
}

// ConsentStrategy is the login and consent decision of the authorization
// endpoint, Hydra's consent.Strategy at this server's scale: the handler
// parses the request with fosite, asks Decide, and acts on the Decision. It
// also records the consents the consent page collects.
type ConsentStrategy struct {
	Issuer   string
	Ring     *keyring.Keyring
	Consents ConsentStore
	Logins   LoginMethods
}

// AuthorizeInput is what the decision reads besides its stores.
type AuthorizeInput struct {
	// Request is the authorization request fosite parsed and validated.
	Request fosite.AuthorizeRequester
	// Login is the browser's login and User its user; nil when signed out.
	Login *models.LoginSession
	User  *models.User
	// RequestedAt is when the request was first seen (before any login or
	// consent page it went through); prompt=login and max_age are judged
	// against it.
	RequestedAt time.Time
	Now         time.Time
	// ConsentMarker is the request's signed mark that this user has just
	// consented to it (Marker), or "".
	ConsentMarker string
}

// Outcome is what the authorization endpoint does next.
type Outcome int

// The outcomes of the decision. The zero value refuses, so a Decision no
// one filled in never issues anything.
const (
	// OutcomeRefuse answers the client with Decision.Err (RFC 6749 §4.1.2.1).
	OutcomeRefuse Outcome = iota
	// OutcomeLogin sends the browser to sign in, then back.
	OutcomeLogin
	// OutcomeConsent sends the browser to the consent page, then back.
	OutcomeConsent
	// OutcomeIssue issues the code: grant Decision.Scopes and the audience,
	// with Decision.Session.
	OutcomeIssue
)

// Decision is the answer to an authorization request.
type Decision struct {
	Outcome Outcome
	// Err is the RFC 6749 error of OutcomeRefuse.
	Err error
	// Session and Scopes are what OutcomeIssue grants: the user's session,
	// with the ID token's claims, and the scopes to grant.
	Session *Session
	Scopes  []string
}

// tenantClient is a client that belongs to a tenant (storage.Client).
type tenantClient interface{ GetTenantID() string }

// skipConsentClient is a client whose users are never asked to consent.
type skipConsentClient interface{ GetSkipConsent() bool }

// Decide decides an authorization request (OpenID Connect Core §3.1.2):
// the browser must be signed in to the client's tenant, again for
// prompt=login or an exceeded max_age, with a second factor when
// acr_values asks for multi-factor (RFC 9470); then the user must have
// consented. prompt=none turns a login or consent page into
// login_required or consent_required.
func (c *ConsentStrategy) Decide(ctx context.Context, in AuthorizeInput) Decision {
	return decide(in, authorizeLookups{
		amr: func() []string { return c.Logins.BrowserSessionAMR(ctx, in.Login) },
		consent: func(tenantID, userID, clientID string) *models.Consent {
			consent, err := c.Consents.GetConsent(ctx, tenantID, userID, clientID)
			if err != nil {
				return nil
			}
			return consent
		},
		consentedNow: func(userID string, requestedAt time.Time) bool {
			v, ok := c.Ring.Verify(in.ConsentMarker)
			return ok && v == consentMarker(userID, requestedAt)
		},
	}, c.Issuer)
}

// Record records the user's consent to the client's scopes.
func (c *ConsentStrategy) Record(ctx context.Context, tenantID, userID, clientID string, scopes []string) error {
	return c.Consents.GrantConsent(ctx, tenantID, userID, clientID, scopes)
}

// Marker is the signed mark that userID has just consented to the request
// first seen at requestedAt: the way back to the authorization endpoint
// carries it, so prompt=consent is satisfied by this consent and no older one.
func (c *ConsentStrategy) Marker(userID string, requestedAt time.Time) string {
	return c.Ring.Sign(consentMarker(userID, requestedAt))
}

func consentMarker(userID string, requestedAt time.Time) string {
	return "consent:" + userID + ":" + strconv.FormatInt(requestedAt.Unix(), 10)
}

// authorizeLookups are the decision's reads, made only when the decision
// reaches them.
type authorizeLookups struct {
	amr          func() []string
	consent      func(tenantID, userID, clientID string) *models.Consent
	consentedNow func(userID string, requestedAt time.Time) bool
}

// decide is Decide over plain inputs.
func decide(in AuthorizeInput, look authorizeLookups, issuer string) Decision {
	ar := in.Request
	client := ar.GetClient()
	tc, ok := client.(tenantClient)
	if !ok {
		return refuse(fosite.ErrServerError.WithHint("client has no tenant"))
	}
	tenantID := tc.GetTenantID()
	form := ar.GetRequestForm()
	prompts := strings.Fields(form.Get("prompt"))
	ls, user, requestedAt := in.Login, in.User, in.RequestedAt

	needLogin := ls == nil || ls.TenantID != tenantID ||
		(slices.Contains(prompts, "login") && ls.AuthTime.Before(requestedAt))
	// RFC 9470 style: acr_values asking for multi-factor needs a session
	// whose login passed a second factor; otherwise sign in again, with the
	// second factor forced even on a trusted device.
	wantsMFA := slices.Contains(strings.Fields(form.Get("acr_values")), ACRMultiFactor)
	var amr []string
	if !needLogin {
		amr = look.amr()
		// Multi-factor by AMRAndACR's one rule (otp, a passkey that verified
		// its user, an upstream mfa), not by "otp" alone (issue 12).
		if _, acr := AMRAndACR(amr); wantsMFA && acr != ACRMultiFactor {
			if !ls.AuthTime.Before(requestedAt) {
				// Signed in afresh for this very request and still no second
				// factor: this account cannot meet the requirement.
				return refuse(ErrUnmetAuthenticationRequirements())
			}
			needLogin = true
		}
	}
	if !needLogin && form.Get("max_age") != "" {
		maxAge, err := strconv.ParseInt(form.Get("max_age"), 10, 64)
		if err != nil || maxAge < 0 {
			return refuse(fosite.ErrInvalidRequest.WithHint("max_age must be a non-negative integer."))
		}
		needLogin = !maxAgeSatisfied(ls.AuthTime, requestedAt, in.Now, maxAge)
	}
	if needLogin {
		if slices.Contains(prompts, "none") {
			return refuse(fosite.ErrLoginRequired)
		}
		return Decision{Outcome: OutcomeLogin}
	}

	if !consented(ar, prompts, tenantID, user.ID, requestedAt, look) {
		if slices.Contains(prompts, "none") {
			return refuse(fosite.ErrConsentRequired)
		}
		return Decision{Outcome: OutcomeConsent}
	}
	scopes := ar.GetRequestedScopes()
	sess := NewUserSession(issuer, tenantID, user.ID, client.GetID(), ls.AuthTime, requestedAt)
	sess.Claims.AuthenticationMethodsReferences, sess.Claims.AuthenticationContextClassReference = AMRAndACR(amr)
	if ls.SessionID != nil {
		sess.SessionID = *ls.SessionID // the grant's tokens end with the browser session
	}
	maps.Copy(sess.Claims.Extra, UserClaims(user, scopes))
	return Decision{Outcome: OutcomeIssue, Session: sess, Scopes: scopes}
}

func refuse(err error) Decision { return Decision{Outcome: OutcomeRefuse, Err: err} }

// consented reports whether the request may skip the consent page: the
// client skips consent, or the user granted every requested scope before
// (and, for prompt=consent, just now for this very request).
func consented(ar fosite.AuthorizeRequester, prompts []string, tenantID, userID string, requestedAt time.Time, look authorizeLookups) bool {
	if slices.Contains(prompts, "consent") {
		return look.consentedNow(userID, requestedAt)
	}
	if cl, ok := ar.GetClient().(skipConsentClient); ok && cl.GetSkipConsent() {
		return true
	}
	if look.consentedNow(userID, requestedAt) {
		return true
	}
	consent := look.consent(tenantID, userID, ar.GetClient().GetID())
	if consent == nil {
		return false
	}
	for _, scope := range ar.GetRequestedScopes() {
		if !consent.Scopes.Has(scope) {
			return false
		}
	}
	return true
}

// maxAgeSatisfied reports whether a login at authTime meets max_age for a
// request first seen at requestedAt (OpenID Connect Core §3.1.2.1): a login
// no older than max_age, or one made at or after the request itself, which
// is what max_age=0 (like prompt=login) asks for. Without the second rule a
// fresh login would be sent back to the login page forever.
func maxAgeSatisfied(authTime, requestedAt, now time.Time, maxAge int64) bool {
	if !authTime.Before(requestedAt) {
		return true
	}
	return !authTime.Add(time.Duration(maxAge) * time.Second).Before(now)
}
