package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	"golang.org/x/oauth2"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/oauth"
)

// Passkeys (issue 12 §2) over real HTTP with a software authenticator, on
// SQLite and PostgreSQL + Redis. WebAuthn refuses an IP address as RP ID,
// so the test servers' issuer is http://localhost:port (the listener is
// the same 127.0.0.1 one).

func localhostIssuer(cfg *app.Config) {
	cfg.Issuer = strings.Replace(cfg.Issuer, "//127.0.0.1:", "//localhost:", 1)
}

func newPasskeyEnv(t *testing.T, b apptest.Backend) *apptest.Env {
	t.Helper()
	return apptest.NewEnv(t, b, localhostIssuer)
}

// registerPasskey registers a's credential for the user of token, proving
// the password; it returns the passkey's id.
func registerPasskey(t *testing.T, e *apptest.Env, token, password string, a *softAuthenticator, name string) string {
	t.Helper()
	id, _ := registerPasskeyCodes(t, e, token, password, a, name)
	return id
}

// registerPasskeyCodes is registerPasskey, also returning the recovery
// codes the registration made (none when the user had some).
func registerPasskeyCodes(t *testing.T, e *apptest.Env, token, password string, a *softAuthenticator, name string) (string, []string) {
	t.Helper()
	body := map[string]any{}
	if password != "" {
		body["password"] = password
	}
	begin := e.Call(t, http.MethodPost, "/api/auth/webauthn/register/begin", token, body)
	require.Equal(t, http.StatusOK, begin.Status, "register begin: %s", begin.Body)
	fin := e.Call(t, http.MethodPost, "/api/auth/webauthn/register/finish", token, map[string]any{"name": name, "credential": a.Create(begin.Body)})
	require.Equal(t, http.StatusCreated, fin.Status, "register finish: %s", fin.Body)
	id := fin.Str("id")
	require.NotEmpty(t, id)
	var codes []string
	if v, ok := fin.JSON(t)["recovery_codes"]; ok {
		codes = stringList(t, v)
	}
	return id, codes
}

func listPasskeys(t *testing.T, e *apptest.Env, token string) []map[string]any {
	t.Helper()
	res := e.Call(t, http.MethodGet, "/api/auth/webauthn/credentials", token, nil)
	require.Equal(t, http.StatusOK, res.Status, "list: %s", res.Body)
	var out struct {
		Credentials []map[string]any `json:"credentials"`
		Available   bool             `json:"available"`
	}
	require.NoError(t, json.Unmarshal(res.Body, &out))
	require.True(t, out.Available)
	return out.Credentials
}

func currentAMR(t *testing.T, e *apptest.Env, token string) []string {
	t.Helper()
	res := e.Call(t, http.MethodGet, "/api/sessions", token, nil)
	require.Equal(t, http.StatusOK, res.Status, "sessions: %s", res.Body)
	var out struct {
		Sessions []struct {
			Current     bool     `json:"current"`
			AuthMethods []string `json:"auth_methods"`
		} `json:"sessions"`
	}
	require.NoError(t, json.Unmarshal(res.Body, &out), "%s", res.Body)
	for _, s := range out.Sessions {
		if s.Current {
			return s.AuthMethods
		}
	}
	t.Fatalf("no current session in %s", res.Body)
	return nil
}

func errCode(t *testing.T, r *apptest.Result) string {
	t.Helper()
	return r.Str("error")
}

// TestPasskeyRegistration: registering needs the password (or a password
// step-up); the list never shows key material; rename; a credential
// registered twice is refused; deleting needs the password; every change
// is in the user's audit log.
func TestPasskeyRegistration(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newPasskeyEnv(t, b)
		token := e.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
		a := newSoftAuthenticator(t, e.Config.Issuer)

		res := e.Call(t, http.MethodPost, "/api/auth/webauthn/register/begin", token, map[string]any{})
		require.Equal(t, http.StatusForbidden, res.Status, "%s", res.Body)
		require.Equal(t, models.CodePasswordRequired, errCode(t, res))
		res = e.Call(t, http.MethodPost, "/api/auth/webauthn/register/begin", token, map[string]any{"password": "not the password"})
		require.NotEqual(t, http.StatusOK, res.Status, "%s", res.Body)
		res = e.Call(t, http.MethodPost, "/api/auth/webauthn/register/begin", "", map[string]any{"password": apptest.Password})
		require.Equal(t, http.StatusUnauthorized, res.Status)

		begin := e.Call(t, http.MethodPost, "/api/auth/webauthn/register/begin", token, map[string]any{"password": apptest.Password})
		require.Equal(t, http.StatusOK, begin.Status, "%s", begin.Body)
		o := parseOptions(t, begin.Body)
		require.Equal(t, "localhost", o.PublicKey.RP.ID, "the RP ID is the issuer's host")
		require.Equal(t, "preferred", o.PublicKey.AuthenticatorSelection["residentKey"])
		require.Equal(t, "preferred", o.PublicKey.AuthenticatorSelection["userVerification"])
		require.Equal(t, "none", o.PublicKey.Attestation)
		require.Equal(t, e.User.ID, string(must64(t, o.PublicKey.User.ID)), "the user handle is the user id")
		fin := e.Call(t, http.MethodPost, "/api/auth/webauthn/register/finish", token, map[string]any{"name": "Laptop", "credential": a.Create(begin.Body)})
		require.Equal(t, http.StatusCreated, fin.Status, "%s", fin.Body)
		id := fin.Str("id")
		require.Len(t, fin.JSON(t)["recovery_codes"], 8, "the first passkey comes with recovery codes: %s", fin.Body)
		// The ceremony is spent: the same answer again is refused.
		again := e.Call(t, http.MethodPost, "/api/auth/webauthn/register/finish", token, map[string]any{"name": "Laptop", "credential": a.Create(begin.Body)})
		require.Equal(t, http.StatusUnauthorized, again.Status, "%s", again.Body)
		require.Equal(t, models.CodePasskeyInvalid, errCode(t, again))

		list := listPasskeys(t, e, token)
		require.Len(t, list, 1)
		require.Equal(t, id, list[0]["id"])
		require.Equal(t, "Laptop", list[0]["name"])
		require.Equal(t, true, list[0]["user_verified"])
		for _, k := range []string{"public_key", "credential_id", "PublicKey", "CredentialID"} {
			require.NotContains(t, list[0], k)
		}

		// The same authenticator credential again: the begin excludes it;
		// forced through, it is a conflict.
		begin = e.Call(t, http.MethodPost, "/api/auth/webauthn/register/begin", token, map[string]any{"password": apptest.Password})
		require.Equal(t, http.StatusOK, begin.Status)
		o = parseOptions(t, begin.Body)
		require.Len(t, o.PublicKey.ExcludeCredentials, 1)
		dup := e.Call(t, http.MethodPost, "/api/auth/webauthn/register/finish", token, map[string]any{"credential": a.Create(begin.Body)})
		require.Equal(t, http.StatusConflict, dup.Status, "%s", dup.Body)

		// A password step-up stands in for the password.
		e.StepUp(t, token, apptest.Password)
		second := newSoftAuthenticator(t, e.Config.Issuer)
		id2, codes := registerPasskeyCodes(t, e, token, "", second, "")
		require.Empty(t, codes, "the user has recovery codes already")
		require.Len(t, listPasskeys(t, e, token), 2)

		ren := e.Call(t, http.MethodPatch, "/api/auth/webauthn/credentials/"+id2, token, map[string]any{"name": "Phone"})
		require.Equal(t, http.StatusOK, ren.Status, "%s", ren.Body)
		require.Equal(t, "Phone", ren.Str("name"))
		bad := e.Call(t, http.MethodPatch, "/api/auth/webauthn/credentials/"+id2, token, map[string]any{"name": strings.Repeat("x", 61)})
		require.Equal(t, http.StatusUnprocessableEntity, bad.Status, "%s", bad.Body)

		// Delete needs the password (the step-up counts while it lasts).
		require.Equal(t, http.StatusNoContent, e.Call(t, http.MethodDelete, "/api/auth/step-up", token, nil).Status)
		del := e.Call(t, http.MethodDelete, "/api/auth/webauthn/credentials/"+id2, token, nil)
		require.Equal(t, http.StatusForbidden, del.Status, "%s", del.Body)
		del = e.Call(t, http.MethodDelete, "/api/auth/webauthn/credentials/"+id2, token, map[string]any{"password": apptest.Password})
		require.Equal(t, http.StatusNoContent, del.Status, "%s", del.Body)
		require.Len(t, listPasskeys(t, e, token), 1)
		del = e.Call(t, http.MethodDelete, "/api/auth/webauthn/credentials/"+id2, token, map[string]any{"password": apptest.Password})
		require.Equal(t, http.StatusNotFound, del.Status, "%s", del.Body)

		// Another user cannot see, rename or delete it.
		other := e.AddUser(t, apptest.NewUser{TenantSlug: e.Tenant.Slug, Email: "grace." + e.Tenant.Slug + "@example.com", Password: apptest.Password})
		otherToken := e.Login(t, e.Tenant.Slug, other.Email, apptest.Password)
		require.Empty(t, listPasskeys(t, e, otherToken))
		require.Equal(t, http.StatusNotFound, e.Call(t, http.MethodPatch, "/api/auth/webauthn/credentials/"+id, otherToken, map[string]any{"name": "Mine"}).Status)
		require.Equal(t, http.StatusNotFound, e.Call(t, http.MethodDelete, "/api/auth/webauthn/credentials/"+id, otherToken, map[string]any{"password": apptest.Password}).Status)

		audit := e.Call(t, http.MethodGet, "/api/audit/me", token, nil)
		require.Equal(t, http.StatusOK, audit.Status)
		for _, action := range []string{"passkey.added", "passkey.renamed", "passkey.removed"} {
			require.Contains(t, string(audit.Body), `"`+action+`"`)
		}
		require.NotContains(t, string(audit.Body), b64.EncodeToString(a.credID), "the credential id bytes are never audited")

		// The events, in the transaction of each change: our ids, never key material.
		byType := passkeyEvents(t, e.Server)
		require.Len(t, byType[identity.EventPasskeyAdded], 2)
		added := byType[identity.EventPasskeyAdded][0]
		require.Equal(t, id, added.Data["credential_id"])
		require.Equal(t, "Laptop", added.Data["name"])
		require.Equal(t, e.User.ID, added.Data["user_id"])
		require.Equal(t, e.User.ID, added.Subject)
		require.Len(t, byType[identity.EventPasskeyUpdated], 1)
		require.Equal(t, "renamed", byType[identity.EventPasskeyUpdated][0].Data["reason"])
		require.Equal(t, id2, byType[identity.EventPasskeyRemoved][0].Data["credential_id"])
		for _, evs := range byType {
			for _, ev := range evs {
				require.NotContains(t, ev.Raw, b64.EncodeToString(a.credID))
				require.NotContains(t, ev.Raw, b64.EncodeToString(second.credID))
				require.NotContains(t, ev.Raw, "public_key")
			}
		}
	})
}

// passkeyEvents returns the outbox's identity.passkey.* events by type.
func passkeyEvents(t *testing.T, srv *apptest.Server) map[string][]outboxRow {
	t.Helper()
	out := map[string][]outboxRow{}
	for _, ev := range outbox(t, srv, 0) {
		if strings.HasPrefix(ev.Type, "identity.passkey.") {
			out[ev.Type] = append(out[ev.Type], ev)
		}
	}
	return out
}

func must64(t *testing.T, s string) []byte {
	t.Helper()
	b, err := b64.DecodeString(s)
	require.NoError(t, err)
	return b
}

// passwordLogin2FA signs in with the password and returns the 2FA challenge.
func passwordLogin2FA(t *testing.T, e *apptest.Env, email string) (string, []string) {
	t.Helper()
	res := e.PasswordLogin(t, e.Tenant.Slug, email, apptest.Password, nil)
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	var out struct {
		TwoFactorRequired bool     `json:"two_factor_required"`
		Challenge         string   `json:"challenge"`
		Methods           []string `json:"methods"`
	}
	require.NoError(t, json.Unmarshal(res.Body, &out))
	require.True(t, out.TwoFactorRequired, "a passkey is a second factor: %s", res.Body)
	return out.Challenge, out.Methods
}

// TestPasskeySecondFactor: a user with a passkey is asked for a second
// factor after the password, offered webauthn; the passkey completes the
// login once (a replay is refused) with amr pwd, hwk, user, mfa.
func TestPasskeySecondFactor(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newPasskeyEnv(t, b)
		token := e.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
		a := newSoftAuthenticator(t, e.Config.Issuer)
		_, codes := registerPasskeyCodes(t, e, token, apptest.Password, a, "Key")
		require.Len(t, codes, 8)

		challenge, methods := passwordLogin2FA(t, e, e.User.Email)
		require.Equal(t, []string{"webauthn", "recovery_code"}, methods)
		// A code cannot complete it (the user has no TOTP).
		res := e.Call(t, http.MethodPost, "/api/auth/2fa/verify", "", map[string]any{"challenge": challenge, "code": "123456"})
		require.NotEqual(t, http.StatusOK, res.Status)

		begin := e.Call(t, http.MethodPost, "/api/auth/webauthn/2fa/begin", "", map[string]any{"challenge": challenge})
		require.Equal(t, http.StatusOK, begin.Status, "%s", begin.Body)
		o := parseOptions(t, begin.Body)
		require.Len(t, o.PublicKey.AllowCredentials, 1)
		require.Equal(t, b64.EncodeToString(a.credID), o.PublicKey.AllowCredentials[0].ID)
		assertion := a.Get(begin.Body)
		fin := e.Call(t, http.MethodPost, "/api/auth/webauthn/2fa/finish", "", map[string]any{"challenge": challenge, "credential": assertion})
		require.Equal(t, http.StatusOK, fin.Status, "%s", fin.Body)
		tok := fin.Str("access_token")
		require.NotEmpty(t, tok)
		amr := currentAMR(t, e, tok)
		for _, m := range []string{"pwd", "hwk", "user", "mfa"} {
			require.Contains(t, amr, m)
		}
		// Replayed: the login challenge and the ceremony are spent.
		replay := e.Call(t, http.MethodPost, "/api/auth/webauthn/2fa/finish", "", map[string]any{"challenge": challenge, "credential": assertion})
		require.NotEqual(t, http.StatusOK, replay.Status, "%s", replay.Body)

		// A ceremony of another login does not finish this one.
		c1, _ := passwordLogin2FA(t, e, e.User.Email)
		c2, _ := passwordLogin2FA(t, e, e.User.Email)
		begin1 := e.Call(t, http.MethodPost, "/api/auth/webauthn/2fa/begin", "", map[string]any{"challenge": c1})
		require.Equal(t, http.StatusOK, begin1.Status)
		cross := e.Call(t, http.MethodPost, "/api/auth/webauthn/2fa/finish", "", map[string]any{"challenge": c2, "credential": a.Get(begin1.Body)})
		require.Equal(t, http.StatusUnauthorized, cross.Status, "%s", cross.Body)

		// The passkey lost: a recovery code completes the second step.
		c4, _ := passwordLogin2FA(t, e, e.User.Email)
		rec := e.Call(t, http.MethodPost, "/api/auth/2fa/verify", "", map[string]any{"challenge": c4, "recovery_code": codes[0]})
		require.Equal(t, http.StatusOK, rec.Status, "%s", rec.Body)
		require.Contains(t, currentAMR(t, e, rec.Str("access_token")), "recovery")

		// Without user verification the password and the passkey are still
		// two factors.
		a.UV = false
		c3, _ := passwordLogin2FA(t, e, e.User.Email)
		begin3 := e.Call(t, http.MethodPost, "/api/auth/webauthn/2fa/begin", "", map[string]any{"challenge": c3})
		fin3 := e.Call(t, http.MethodPost, "/api/auth/webauthn/2fa/finish", "", map[string]any{"challenge": c3, "credential": a.Get(begin3.Body)})
		require.Equal(t, http.StatusOK, fin3.Status, "%s", fin3.Body)
		amr = currentAMR(t, e, fin3.Str("access_token"))
		require.Contains(t, amr, "hwk")
		require.Contains(t, amr, "mfa")
		require.NotContains(t, amr, "user")
	})
}

// secondFactorLogin signs in with the password and a's passkey.
func secondFactorLogin(t *testing.T, e *apptest.Env, email string, a *softAuthenticator) string {
	t.Helper()
	challenge, _ := passwordLogin2FA(t, e, email)
	begin := e.Call(t, http.MethodPost, "/api/auth/webauthn/2fa/begin", "", map[string]any{"challenge": challenge})
	require.Equal(t, http.StatusOK, begin.Status, "%s", begin.Body)
	fin := e.Call(t, http.MethodPost, "/api/auth/webauthn/2fa/finish", "", map[string]any{"challenge": challenge, "credential": a.Get(begin.Body)})
	require.Equal(t, http.StatusOK, fin.Status, "%s", fin.Body)
	return fin.Str("access_token")
}

// passkeyStepUp elevates token's session with a's passkey.
func passkeyStepUp(t *testing.T, e *apptest.Env, token string, a *softAuthenticator) *apptest.Result {
	t.Helper()
	begin := e.Call(t, http.MethodPost, "/api/auth/step-up/webauthn/begin", token, nil)
	require.Equal(t, http.StatusOK, begin.Status, "%s", begin.Body)
	return e.Call(t, http.MethodPost, "/api/auth/step-up/webauthn/finish", token, map[string]any{"credential": a.Get(begin.Body), "reason": "test"})
}

// TestPasskeyStepUp: the step-up gains a passkey method, bound to the
// session that began it.
func TestPasskeyStepUp(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newPasskeyEnv(t, b)
		token := e.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
		res := e.Call(t, http.MethodPost, "/api/auth/step-up/webauthn/begin", token, nil)
		require.Equal(t, http.StatusUnprocessableEntity, res.Status, "no passkey yet: %s", res.Body)
		a := newSoftAuthenticator(t, e.Config.Issuer)
		registerPasskey(t, e, token, apptest.Password, a, "Key")

		st := e.Call(t, http.MethodGet, "/api/auth/step-up/status", token, nil)
		require.Equal(t, false, st.JSON(t)["elevated"])
		up := passkeyStepUp(t, e, token, a)
		require.Equal(t, http.StatusOK, up.Status, "%s", up.Body)
		require.Equal(t, true, up.JSON(t)["elevated"])
		st = e.Call(t, http.MethodGet, "/api/auth/step-up/status", token, nil)
		require.Equal(t, true, st.JSON(t)["elevated"])

		// A ceremony begun by another session does not elevate this one.
		other := secondFactorLogin(t, e, e.User.Email, a)
		begin := e.Call(t, http.MethodPost, "/api/auth/step-up/webauthn/begin", other, nil)
		require.Equal(t, http.StatusOK, begin.Status)
		cross := e.Call(t, http.MethodPost, "/api/auth/step-up/webauthn/finish", token, map[string]any{"credential": a.Get(begin.Body)})
		require.Equal(t, http.StatusUnauthorized, cross.Status, "%s", cross.Body)
		st = e.Call(t, http.MethodGet, "/api/auth/step-up/status", other, nil)
		require.Equal(t, false, st.JSON(t)["elevated"])
		// A passkey step-up is not the password: it does not stand in for
		// it at a factor change of a user who has one.
		res = e.Call(t, http.MethodPost, "/api/auth/webauthn/register/begin", token, map[string]any{})
		require.Equal(t, http.StatusForbidden, res.Status, "%s", res.Body)
	})
}

// passwordless runs a passwordless sign-in into tenant with a.
func passwordless(t *testing.T, e *apptest.Env, tenant string, a *softAuthenticator) *apptest.Result {
	t.Helper()
	begin := e.Call(t, http.MethodPost, "/api/auth/webauthn/login/begin", "", map[string]any{"tenant": tenant})
	require.Equal(t, http.StatusOK, begin.Status, "%s", begin.Body)
	return e.Call(t, http.MethodPost, "/api/auth/webauthn/login/finish", "", map[string]any{"credential": a.Get(begin.Body)})
}

// TestPasskeyPasswordless: a discoverable passkey that verified its user
// signs in with amr hwk+user (mfa); without user verification it is
// refused; another tenant's passkey is not usable; a replayed assertion is
// refused.
func TestPasskeyPasswordless(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newPasskeyEnv(t, b)
		token := e.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
		a := newSoftAuthenticator(t, e.Config.Issuer)
		registerPasskey(t, e, token, apptest.Password, a, "Key")

		begin := e.Call(t, http.MethodPost, "/api/auth/webauthn/login/begin", "", map[string]any{"tenant": e.Tenant.Slug})
		require.Equal(t, http.StatusOK, begin.Status, "%s", begin.Body)
		o := parseOptions(t, begin.Body)
		require.Empty(t, o.PublicKey.AllowCredentials, "discoverable: no allowed credentials")
		require.Equal(t, "required", o.PublicKey.UserVerification)
		require.Equal(t, "localhost", o.PublicKey.RPID)
		assertion := a.Get(begin.Body)
		fin := e.Call(t, http.MethodPost, "/api/auth/webauthn/login/finish", "", map[string]any{"credential": assertion})
		require.Equal(t, http.StatusOK, fin.Status, "%s", fin.Body)
		tok := fin.Str("access_token")
		require.NotEmpty(t, tok, "no second factor asked: %s", fin.Body)
		amr := currentAMR(t, e, tok)
		require.ElementsMatch(t, []string{"hwk", "user"}, amr)
		replay := e.Call(t, http.MethodPost, "/api/auth/webauthn/login/finish", "", map[string]any{"credential": assertion})
		require.Equal(t, http.StatusUnauthorized, replay.Status, "%s", replay.Body)
		require.Equal(t, models.CodePasskeyInvalid, errCode(t, replay))

		// Without user verification: refused, and nothing signed in.
		a.UV = false
		res := passwordless(t, e, e.Tenant.Slug, a)
		require.Equal(t, http.StatusUnauthorized, res.Status, "%s", res.Body)
		require.Equal(t, models.CodePasskeyUserVerificationRequired, errCode(t, res))
		require.Empty(t, res.Str("access_token"))
		a.UV = true

		// Another tenant's passkey does not sign in here.
		other := e.AddTenant(t, "other-"+apptest.RandomID(t, 6), "Other")
		res = passwordless(t, e, other.Slug, a)
		require.Equal(t, http.StatusUnauthorized, res.Status, "%s", res.Body)
		require.Equal(t, models.CodePasskeyInvalid, errCode(t, res))
		// An unknown tenant.
		res = e.Call(t, http.MethodPost, "/api/auth/webauthn/login/begin", "", map[string]any{"tenant": "no-such-" + apptest.RandomID(t, 6)})
		require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s", res.Body)

		// An unregistered authenticator.
		stranger := newSoftAuthenticator(t, e.Config.Issuer)
		stranger.userHandle = []byte(e.User.ID)
		res = passwordless(t, e, e.Tenant.Slug, stranger)
		require.Equal(t, http.StatusUnauthorized, res.Status, "%s", res.Body)

		// A deactivated user is refused.
		_, err := e.Store.UpdateUser(t.Context(), e.Tenant.ID, e.User.ID, func(u *models.User) error { u.IsActive = false; return nil })
		require.NoError(t, err)
		res = passwordless(t, e, e.Tenant.Slug, a)
		require.NotEqual(t, http.StatusOK, res.Status, "%s", res.Body)
	})
}

// TestPasskeyWrongOriginOrRPID: an answer made for another origin or
// another RP ID is refused, and the challenge is spent.
func TestPasskeyWrongOriginOrRPID(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newPasskeyEnv(t, b)
		token := e.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
		evil := newSoftAuthenticator(t, "http://evil.example")
		begin := e.Call(t, http.MethodPost, "/api/auth/webauthn/register/begin", token, map[string]any{"password": apptest.Password})
		require.Equal(t, http.StatusOK, begin.Status)
		res := e.Call(t, http.MethodPost, "/api/auth/webauthn/register/finish", token, map[string]any{"credential": evil.Create(begin.Body)})
		require.Equal(t, http.StatusUnauthorized, res.Status, "wrong origin at registration: %s", res.Body)

		a := newSoftAuthenticator(t, e.Config.Issuer)
		registerPasskey(t, e, token, apptest.Password, a, "Key")
		a.Origin = "http://evil.example"
		res = passwordless(t, e, e.Tenant.Slug, a)
		require.Equal(t, http.StatusUnauthorized, res.Status, "wrong origin: %s", res.Body)
		a.Origin = e.Config.Issuer
		a.RPIDOverride = "evil.example"
		res = passwordless(t, e, e.Tenant.Slug, a)
		require.Equal(t, http.StatusUnauthorized, res.Status, "wrong RP ID: %s", res.Body)
		a.RPIDOverride = ""
		res = passwordless(t, e, e.Tenant.Slug, a)
		require.Equal(t, http.StatusOK, res.Status, "the right origin and RP ID: %s", res.Body)
	})
}

// TestPasskeyCloneDetection: an assertion whose counter does not advance
// disables the passkey and is refused; the disabled passkey signs nobody
// in afterwards, even with a higher counter.
func TestPasskeyCloneDetection(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newPasskeyEnv(t, b)
		token := e.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
		a := newSoftAuthenticator(t, e.Config.Issuer)
		a.Counter = 10
		id := registerPasskey(t, e, token, apptest.Password, a, "Key")
		res := passwordless(t, e, e.Tenant.Slug, a) // counter 11
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)

		a.Counter = 5 // the clone's counter is behind
		res = passwordless(t, e, e.Tenant.Slug, a)
		require.Equal(t, http.StatusForbidden, res.Status, "%s", res.Body)
		require.Equal(t, models.CodePasskeyCloneDetected, errCode(t, res))
		list := listPasskeys(t, e, token)
		require.Len(t, list, 1)
		require.Equal(t, id, list[0]["id"])
		require.Equal(t, true, list[0]["disabled"])

		a.Counter = 100
		res = passwordless(t, e, e.Tenant.Slug, a)
		require.Equal(t, http.StatusUnauthorized, res.Status, "a disabled passkey: %s", res.Body)
		// A disabled passkey is no second factor either: the password alone signs in.
		res = e.PasswordLogin(t, e.Tenant.Slug, e.User.Email, apptest.Password, nil)
		require.Equal(t, http.StatusOK, res.Status)
		require.NotEmpty(t, res.Str("access_token"), "%s", res.Body)

		audit := e.Call(t, http.MethodGet, "/api/audit/me", token, nil)
		require.Contains(t, string(audit.Body), `"passkey.clone_detected"`)
		updated := passkeyEvents(t, e.Server)[identity.EventPasskeyUpdated]
		require.Len(t, updated, 1, "one clone event")
		require.Equal(t, "clone_detected", updated[0].Data["reason"])
		require.Equal(t, id, updated[0].Data["credential_id"])
	})
}

// TestPasskeyLastSignInMethod: a user without a password cannot remove
// their last passkey; with a second one they can; the proof such a user
// gives is a passkey step-up.
func TestPasskeyLastSignInMethod(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newPasskeyEnv(t, b)
		token := e.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
		a := newSoftAuthenticator(t, e.Config.Issuer)
		id := registerPasskey(t, e, token, apptest.Password, a, "Only")
		// The account loses its password (as one provisioned without it).
		_, err := e.Store.UpdateUser(t.Context(), e.Tenant.ID, e.User.ID, func(u *models.User) error { u.PasswordHash = ""; return nil })
		require.NoError(t, err)
		res := passwordless(t, e, e.Tenant.Slug, a)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		pwless := res.Str("access_token")

		// No password to give: a sign-in this recent (or a passkey step-up)
		// is the proof.
		require.Equal(t, http.StatusOK, passkeyStepUp(t, e, pwless, a).Status)
		del := e.Call(t, http.MethodDelete, "/api/auth/webauthn/credentials/"+id, pwless, nil)
		require.Equal(t, http.StatusConflict, del.Status, "%s", del.Body)
		require.Equal(t, models.CodeLastSignInMethod, errCode(t, del))
		require.Len(t, listPasskeys(t, e, pwless), 1)

		second := newSoftAuthenticator(t, e.Config.Issuer)
		id2 := registerPasskey(t, e, pwless, "", second, "Backup")
		// Both removed at once: the sign-in lock lets one through, the
		// other finds it was the last.
		var wg sync.WaitGroup
		statuses := make([]int, 2)
		for i, pid := range []string{id, id2} {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := apptest.Send(e.URL, apptest.Request{Method: http.MethodDelete, Path: "/api/auth/webauthn/credentials/" + pid, Token: pwless})
				if err == nil {
					statuses[i] = r.Status
				}
			}()
		}
		wg.Wait()
		require.ElementsMatch(t, []int{http.StatusNoContent, http.StatusConflict}, statuses)
		left := listPasskeys(t, e, pwless)
		require.Len(t, left, 1)
		require.True(t, slices.ContainsFunc(left, func(m map[string]any) bool { return m["id"] == id || m["id"] == id2 }))
		keep, _ := left[0]["id"].(string)
		del = e.Call(t, http.MethodDelete, "/api/auth/webauthn/credentials/"+keep, pwless, nil)
		require.Equal(t, http.StatusConflict, del.Status, "the one left is the last: %s", del.Body)
	})
}

// TestPasskeysUnavailableOnAnIPIssuer: WebAuthn refuses an IP address as
// RP ID, so such a server answers passkeys_unavailable (and starts).
func TestPasskeysUnavailableOnAnIPIssuer(t *testing.T) {
	t.Parallel()
	e := apptest.NewEnv(t, apptest.SQLite(t), nil)
	token := e.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
	res := e.Call(t, http.MethodPost, "/api/auth/webauthn/register/begin", token, map[string]any{"password": apptest.Password})
	require.Equal(t, http.StatusForbidden, res.Status, "%s", res.Body)
	require.Equal(t, models.CodePasskeysUnavailable, errCode(t, res))
	res = e.Call(t, http.MethodPost, "/api/auth/webauthn/login/begin", "", map[string]any{"tenant": e.Tenant.Slug})
	require.Equal(t, http.StatusForbidden, res.Status, "%s", res.Body)
}

// TestPasskeyWithOtherFactors: a passkey sits beside TOTP (both offered,
// either completes the login), and satisfies a tenant's
// require_2fa_roles: a holder of a listed role whose only factor is a
// passkey is asked for it, not sent to the forced enrolment.
func TestPasskeyWithOtherFactors(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, localhostIssuer)
		tenant := newTestTenant(t, srv)
		owner := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner, dangerZone: true})
		ownerTok := srv.Login(t, tenant.Slug, owner.Email, apptest.Password)
		admin := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleAdmin})
		adminTok := srv.Login(t, tenant.Slug, admin.Email, apptest.Password)
		e := &apptest.Env{Server: srv, Tenant: tenant, User: admin}
		a := newSoftAuthenticator(t, srv.Config.Issuer)
		registerPasskey(t, e, adminTok, apptest.Password, a, "Key")

		srv.StepUp(t, ownerTok, apptest.Password)
		require2FA(t, srv, ownerTok, identity.RoleAdmin)
		challenge, methods := passwordLogin2FA(t, e, admin.Email)
		require.Equal(t, []string{"webauthn", "recovery_code"}, methods, "the passkey is the admin's second factor: no forced enrolment")
		begin := srv.Call(t, http.MethodPost, "/api/auth/webauthn/2fa/begin", "", map[string]any{"challenge": challenge})
		fin := srv.Call(t, http.MethodPost, "/api/auth/webauthn/2fa/finish", "", map[string]any{"challenge": challenge, "credential": a.Get(begin.Body)})
		require.Equal(t, http.StatusOK, fin.Status, "%s", fin.Body)
		// Passwordless is multi-factor: it satisfies the rule too.
		res := passwordless(t, e, tenant.Slug, a)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		require.NotEmpty(t, res.Str("access_token"))

		// Beside TOTP: both offered; a code completes the login too.
		tok := fin.Str("access_token")
		setup := srv.Call(t, http.MethodPost, "/api/auth/2fa/setup", tok, map[string]any{"password": apptest.Password})
		require.Equal(t, http.StatusOK, setup.Status, "%s", setup.Body)
		secret := setup.Str("secret")
		en := srv.Call(t, http.MethodPost, "/api/auth/2fa/enable", tok, map[string]any{"password": apptest.Password, "code": apptest.TOTP(t, secret, -1)})
		require.Equal(t, http.StatusOK, en.Status, "%s", en.Body)
		challenge, methods = passwordLogin2FA(t, e, admin.Email)
		require.ElementsMatch(t, []string{"totp", "webauthn", "recovery_code"}, methods)
		v := srv.Call(t, http.MethodPost, "/api/auth/2fa/verify", "", map[string]any{"challenge": challenge, "code": apptest.TOTP(t, secret, 0)})
		require.Equal(t, http.StatusOK, v.Status, "%s", v.Body)
		require.NotEmpty(t, v.Str("access_token"))
	})
}

// TestPasskeyProofOfAPasswordlessUser: a user without a password proves
// themself for a passkey change with a sign-in no older than a step-up
// lasts, or a passkey step-up; once both are older, the change is refused.
// (The step-up lifetime is shortened to 3 s; the test waits on the
// condition, not a fixed delay.)
func TestPasskeyProofOfAPasswordlessUser(t *testing.T) {
	t.Parallel()
	e := apptest.NewEnv(t, apptest.SQLite(t), func(cfg *app.Config) {
		localhostIssuer(cfg)
		cfg.StepUpTTL = 3 * time.Second
	})
	token := e.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
	a := newSoftAuthenticator(t, e.Config.Issuer)
	registerPasskey(t, e, token, apptest.Password, a, "Only")
	_, err := e.Store.UpdateUser(t.Context(), e.Tenant.ID, e.User.ID, func(u *models.User) error { u.PasswordHash = ""; return nil })
	require.NoError(t, err)
	res := passwordless(t, e, e.Tenant.Slug, a)
	require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
	pwless := res.Str("access_token")

	begin := func() *apptest.Result {
		return e.Call(t, http.MethodPost, "/api/auth/webauthn/register/begin", pwless, map[string]any{})
	}
	require.Equal(t, http.StatusOK, begin().Status, "a sign-in just now is the proof")
	deadline := time.Now().Add(60 * time.Second)
	for {
		r := begin()
		if r.Status == http.StatusForbidden {
			require.Equal(t, models.CodePasswordRequired, errCode(t, r))
			break
		}
		require.Equal(t, http.StatusOK, r.Status, "%s", r.Body)
		require.True(t, time.Now().Before(deadline), "the sign-in never became too old")
		time.Sleep(100 * time.Millisecond)
	}
	require.Equal(t, http.StatusOK, passkeyStepUp(t, e, pwless, a).Status)
	second := newSoftAuthenticator(t, e.Config.Issuer)
	r := begin()
	require.Equal(t, http.StatusOK, r.Status, "a passkey step-up is the proof: %s", r.Body)
	fin := e.Call(t, http.MethodPost, "/api/auth/webauthn/register/finish", pwless, map[string]any{"credential": second.Create(r.Body)})
	require.Equal(t, http.StatusCreated, fin.Status, "%s", fin.Body)
}

// TestPasskeyAuthorizeACR: a passwordless sign-in on the sign-in page of
// an authorization request that asks for multi-factor meets it: the ID
// token says acr mfa and amr hwk, user, mfa. The page's passkey form is
// posted as passkeys.js would, with the software authenticator's answer.
func TestPasskeyAuthorizeACR(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newPasskeyEnv(t, b)
		token := e.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
		a := newSoftAuthenticator(t, e.Config.Issuer)
		registerPasskey(t, e, token, apptest.Password, a, "Key")
		web := e.WebClient(t, func(in *apptest.NewClient) { in.SkipConsent = true })
		cfg := e.Server.OAuthConfig(web, "openid")

		br := e.NewBrowser(t)
		v := oauth2.GenerateVerifier()
		page := br.Get(cfg.AuthCodeURL("state-passkey", oauth2.S256ChallengeOption(v), oauth2.SetAuthURLParam("acr_values", oauth.ACRMultiFactor)))
		require.True(t, br.IsPage(page, "/login"), "%s", page)
		require.Contains(t, string(page.Body), `id="passkey-login"`)
		form := apptest.ParseForm(t, page)
		begin := e.Call(t, http.MethodPost, "/api/auth/webauthn/login/begin", "", map[string]any{"tenant": e.Tenant.Slug})
		require.Equal(t, http.StatusOK, begin.Status, "%s", begin.Body)
		res := br.Post(e.URL+"/login/passkey", url.Values{"csrf": {form.Fields.Get("csrf")}, "return_to": {form.Fields.Get("return_to")},
			"credential": {string(a.Get(begin.Body))}})
		loc := res.Location(t)
		require.NotNil(t, loc, "to the client: %d %s", res.Status, res.Body)
		require.Equal(t, "state-passkey", loc.Query().Get("state"), "%s", loc)
		tok, err := cfg.Exchange(t.Context(), loc.Query().Get("code"), oauth2.VerifierOption(v))
		require.NoError(t, err)
		c := idClaims(t, tok)
		require.Equal(t, oauth.ACRMultiFactor, c["acr"])
		require.ElementsMatch(t, []any{"hwk", "user", "mfa"}, c["amr"])

		// Without CSRF the page refuses the answer.
		begin = e.Call(t, http.MethodPost, "/api/auth/webauthn/login/begin", "", map[string]any{"tenant": e.Tenant.Slug})
		forged := e.NewBrowser(t).Post(e.URL+"/login/passkey", url.Values{"credential": {string(a.Get(begin.Body))}})
		require.NotEqual(t, http.StatusSeeOther, forged.Status)
		require.Empty(t, forged.Header.Get("Set-Cookie"))
	})
}

// TestPasskeyRateLimits: passwordless begins are bounded per IP (the IP
// failure budget's rate), failed finishes spend the IP's failure budget
// like failed logins, and second-factor begins are bounded per user (the
// 2FA rate): 429 with Retry-After past them.
func TestPasskeyRateLimits(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, func(cfg *app.Config) {
			localhostIssuer(cfg)
			cfg.RateIPFailures = identity.Limit{Name: "ipfail", Rate: 3, Period: time.Minute}
			cfg.Rate2FA = identity.Limit{Name: "2fa", Rate: 2, Period: time.Minute}
		})
		token := e.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
		a := newSoftAuthenticator(t, e.Config.Issuer)
		registerPasskey(t, e, token, apptest.Password, a, "Key")

		challenge, _ := passwordLogin2FA(t, e, e.User.Email)
		for range 2 {
			res := e.Call(t, http.MethodPost, "/api/auth/webauthn/2fa/begin", "", map[string]any{"challenge": challenge})
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		}
		res := e.Call(t, http.MethodPost, "/api/auth/webauthn/2fa/begin", "", map[string]any{"challenge": challenge})
		require.Equal(t, http.StatusTooManyRequests, res.Status, "%s", res.Body)
		require.NotEmpty(t, res.Header.Get("Retry-After"))

		for range 3 {
			res := e.Call(t, http.MethodPost, "/api/auth/webauthn/login/begin", "", map[string]any{"tenant": e.Tenant.Slug})
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		}
		res = e.Call(t, http.MethodPost, "/api/auth/webauthn/login/begin", "", map[string]any{"tenant": e.Tenant.Slug})
		require.Equal(t, http.StatusTooManyRequests, res.Status, "%s", res.Body)
		// Failed finishes (a replayed answer) spend the failure budget, then
		// even a good answer waits.
		res = e.Call(t, http.MethodPost, "/api/auth/webauthn/login/finish", "", map[string]any{"credential": json.RawMessage(`{"id":"x"}`)})
		require.Equal(t, http.StatusUnauthorized, res.Status, "%s", res.Body)
		for i := 0; i < 5 && res.Status != http.StatusTooManyRequests; i++ {
			res = e.Call(t, http.MethodPost, "/api/auth/webauthn/login/finish", "", map[string]any{"credential": json.RawMessage(`{"id":"x"}`)})
		}
		require.Equal(t, http.StatusTooManyRequests, res.Status, "%s", res.Body)
	})
}

// TestPasskeyAdminResetRemovesPasskeys: an administrator's reset of a
// user's second factor removes their passkeys too (each with its
// passkey.removed event), so a person who lost the authenticator can get
// back in with the password alone; and a passkey-only user may regenerate
// recovery codes and is shown with two-step verification on.
func TestPasskeyAdminResetRemovesPasskeys(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, localhostIssuer)
		tenant := newTestTenant(t, srv)
		owner := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner, dangerZone: true})
		ownerTok := srv.Login(t, tenant.Slug, owner.Email, apptest.Password)
		member := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleMember})
		memberTok := srv.Login(t, tenant.Slug, member.Email, apptest.Password)
		e := &apptest.Env{Server: srv, Tenant: tenant, User: member}
		a := newSoftAuthenticator(t, srv.Config.Issuer)
		id := registerPasskey(t, e, memberTok, apptest.Password, a, "Lost key")

		me := srv.Call(t, http.MethodGet, "/api/auth/me", memberTok, nil)
		require.Equal(t, http.StatusOK, me.Status, "%s", me.Body)
		meUser, _ := me.JSON(t)["user"].(map[string]any)
		require.Equal(t, true, meUser["two_factor_enabled"], "a passkey is a second factor: %s", me.Body)
		require.Equal(t, "webauthn", meUser["two_factor_method"], "%s", me.Body)
		view := srv.Call(t, http.MethodGet, "/api/users/"+member.ID, ownerTok, nil)
		require.Equal(t, http.StatusOK, view.Status, "%s", view.Body)
		require.Equal(t, true, view.JSON(t)["two_factor_enabled"], "the admin view agrees: %s", view.Body)
		regen := srv.Call(t, http.MethodPost, "/api/auth/2fa/recovery-codes", memberTok, map[string]any{"password": apptest.Password})
		require.Equal(t, http.StatusOK, regen.Status, "a passkey-only user may regenerate recovery codes: %s", regen.Body)

		_, methods := passwordLogin2FA(t, e, member.Email)
		require.Contains(t, methods, "webauthn")
		export := srv.Call(t, http.MethodGet, "/api/auth/me/export", memberTok, nil)
		require.Equal(t, http.StatusOK, export.Status, "%s", export.Body)
		keys, _ := export.JSON(t)["passkeys"].([]any)
		require.Len(t, keys, 1, "the personal data export lists the passkey: %s", export.Body)
		require.Equal(t, "Lost key", keys[0].(map[string]any)["name"])
		require.NotContains(t, string(export.Body), "public_key")

		srv.StepUp(t, ownerTok, apptest.Password)
		res := srv.Call(t, http.MethodPost, "/api/users/"+member.ID+"/reset-2fa", ownerTok, nil)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		require.Equal(t, false, res.JSON(t)["two_factor_enabled"], "%s", res.Body)
		memberTok = srv.Login(t, tenant.Slug, member.Email, apptest.Password)
		require.Empty(t, listPasskeys(t, e, memberTok), "the reset removed the passkey")
		removed := passkeyEvents(t, srv)[identity.EventPasskeyRemoved]
		require.Len(t, removed, 1, "one passkey.removed event")
		require.Equal(t, id, removed[0].Data["credential_id"])
		require.Equal(t, "2fa_reset", removed[0].Data["reason"])
	})
}
