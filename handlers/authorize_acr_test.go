package handlers_test

import (
	"testing"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/oauth"
)

// idClaims decodes an ID token's payload (its signature is verified by the
// go-oidc tests; here only the acr and amr claims matter).
func idClaims(t *testing.T, tok *oauth2.Token) map[string]any {
	t.Helper()
	raw, _ := tok.Extra("id_token").(string)
	return jwtClaims(t, raw)
}

// RFC 9470 style step-up at the authorization endpoint: acr_values asking
// for multi-factor forces a second factor (even on a trusted device), or
// answers unmet_authentication_requirements for an account without one; ID
// tokens carry acr and amr.
func TestE2EAuthorizationACRValues(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		ctx := t.Context()
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		cfg := e.Server.OAuthConfig(web, "openid")
		exchange := func(code, verifier string) map[string]any {
			t.Helper()
			tok, err := cfg.Exchange(ctx, code, oauth2.VerifierOption(verifier))
			require.NoError(t, err)
			return idClaims(t, tok)
		}
		mfa := oauth2.SetAuthURLParam("acr_values", oauth.ACRMultiFactor)

		// A password login: acr pwd, amr [pwd].
		b := e.Server.NewBrowser(t)
		v := oauth2.GenerateVerifier()
		f := b.Authorize(e.Env, cfg.AuthCodeURL("state-one", oauth2.S256ChallengeOption(v)), true, "allow")
		c := exchange(f.Code(t, "state-one"), v)
		require.Equal(t, oauth.ACRPassword, c["acr"])
		require.Equal(t, []any{"pwd"}, c["amr"])

		// Asking for multi-factor: the password session is not enough, the user
		// signs in again, and an account without a second factor cannot meet it.
		v = oauth2.GenerateVerifier()
		f = b.Authorize(e.Env, cfg.AuthCodeURL("state-two", oauth2.S256ChallengeOption(v), mfa), true, "allow")
		require.Equal(t, 1, f.LoginPages, "a fresh login is asked for")
		require.Equal(t, "unmet_authentication_requirements", f.Error(t))

		// With TOTP on, the same request goes through the second factor.
		tok := e.token(t, e.User)
		secret, _ := e.enableTOTP(t, tok.Token)
		b2 := e.Server.NewBrowser(t)
		signInWithCode := func(b *apptest.Browser, authURL string, trust bool, step int) *apptest.Result {
			t.Helper()
			page := b.Get(authURL)
			require.True(t, b.IsPage(page, "/login"), "login page: %d %s", page.Status, page.URL)
			page = b.LoginAs(page, e.Tenant.Slug, e.User.Email, apptest.Password)
			form := apptest.ParseForm(t, page)
			require.Contains(t, form.Fields, "code", "the second-factor page follows the password")
			form.Fields.Set("code", apptest.TOTP(t, secret, step)) // each code works once: later sign-ins use the next step
			if trust {
				form.Fields.Set("trust_device", "1")
			}
			return b.Post(form.Action, form.Fields)
		}
		v = oauth2.GenerateVerifier()
		res := signInWithCode(b2, cfg.AuthCodeURL("state-three", oauth2.S256ChallengeOption(v), mfa), true, 0)
		loc := res.Location(t)
		require.NotNil(t, loc, "redirect to the client: %d %s", res.Status, res.Body)
		c = exchange(loc.Query().Get("code"), v)
		require.Equal(t, oauth.ACRMultiFactor, c["acr"])
		require.ElementsMatch(t, []any{"pwd", "otp", "mfa"}, c["amr"])

		// The device is now trusted, so a plain re-login skips the second factor
		// (acr pwd) — but acr_values=mfa forces it again on that device.
		v = oauth2.GenerateVerifier()
		page := b2.Get(cfg.AuthCodeURL("state-four", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("prompt", "login")))
		require.True(t, b2.IsPage(page, "/login"))
		res = b2.LoginAs(page, e.Tenant.Slug, e.User.Email, apptest.Password)
		loc = res.Location(t)
		require.NotNil(t, loc, "a trusted device skips the second factor: %d %s", res.Status, res.Body)
		c = exchange(loc.Query().Get("code"), v)
		require.Equal(t, oauth.ACRPassword, c["acr"])

		v = oauth2.GenerateVerifier()
		res = signInWithCode(b2, cfg.AuthCodeURL("state-five", oauth2.S256ChallengeOption(v), mfa, oauth2.SetAuthURLParam("prompt", "login")), false, 1)
		loc = res.Location(t)
		require.NotNil(t, loc, "%d %s", res.Status, res.Body)
		c = exchange(loc.Query().Get("code"), v)
		require.Equal(t, oauth.ACRMultiFactor, c["acr"])
	})
}
