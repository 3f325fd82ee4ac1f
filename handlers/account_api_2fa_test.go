package handlers_test

import (
	"bytes"
	"encoding/base32"
	"encoding/base64"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/identityd/identityd/internal/apptest"
	"github.com/stretchr/testify/require"
)

func TestAccount2FATOTP(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		u := e.newUser(t)
		tok := e.token(t, u).Token

		// Enabling needs a set-up first.
		requireErrorShape(t, e.Do(t, apptest.Request{Path: "/api/auth/2fa/enable", Token: tok, Body: map[string]any{"code": "123456", "password": apptest.Password}}), http.StatusConflict, "2fa_not_set_up")

		res := e.Do(t, apptest.Request{Path: "/api/auth/2fa/setup", Token: tok, Body: map[string]any{"password": apptest.Password}})
		require.Equal(t, http.StatusOK, res.Status, "setup: %s", res.Body)
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		setup := res.JSON(t)
		secret, _ := setup["secret"].(string)
		require.NotEmpty(t, secret)
		uri, err := url.Parse(setup["otpauth_uri"].(string))
		require.NoError(t, err)
		require.Equal(t, "otpauth", uri.Scheme)
		require.Equal(t, "totp", uri.Host)
		require.Equal(t, secret, uri.Query().Get("secret"))
		require.Contains(t, uri.Path, u.Email)
		require.NotEmpty(t, uri.Query().Get("issuer"))
		qr, _ := setup["qr_code"].(string)
		require.True(t, strings.HasPrefix(qr, "data:image/png;base64,"), "QR code is a PNG data URI")
		png, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(qr, "data:image/png;base64,"))
		require.NoError(t, err)
		require.True(t, bytes.HasPrefix(png, []byte("\x89PNG\r\n\x1a\n")), "a PNG image")

		// Not on until confirmed: a login still gets a token.
		require.NotEmpty(t, e.token(t, u).Token)

		// A wrong code does not enable it; a code from the secret does.
		requireErrorShape(t, e.Do(t, apptest.Request{Path: "/api/auth/2fa/enable", Token: tok, Body: map[string]any{"code": apptest.WrongTOTP(t, secret), "password": apptest.Password}}), http.StatusUnauthorized, "invalid_code")
		res = e.Do(t, apptest.Request{Path: "/api/auth/2fa/enable", Token: tok, Body: map[string]any{"code": apptest.TOTP(t, secret, -1), "password": apptest.Password}})
		require.Equal(t, http.StatusOK, res.Status, "enable: %s", res.Body)
		codes := stringList(t, res.JSON(t)["recovery_codes"])
		require.Len(t, codes, 8)
		seen := map[string]bool{}
		for _, c := range codes {
			require.False(t, seen[c], "recovery codes are distinct")
			seen[c] = true
		}
		me := e.Do(t, apptest.Request{Method: http.MethodGet, Path: "/api/auth/me", Token: tok}).JSON(t)["user"].(map[string]any)
		require.Equal(t, true, me["two_factor_enabled"])
		require.Equal(t, "totp", me["two_factor_method"])
		requireErrorShape(t, e.Do(t, apptest.Request{Path: "/api/auth/2fa/setup", Token: tok, Body: map[string]any{"password": apptest.Password}}), http.StatusConflict, "2fa_already_enabled")

		// The secret is stored sealed: no users row holds it, as text or bytes.
		raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
		require.NoError(t, err)
		for _, row := range e.Server.TableRows(t, "users") {
			for col, v := range row {
				require.NotContains(t, strings.ToUpper(v), secret, "users.%s holds the TOTP secret", col)
				require.False(t, strings.Contains(v, string(raw)), "users.%s holds the raw TOTP secret", col)
			}
			if row["id"] == u.ID {
				require.NotEmpty(t, row["totp_secret_sealed"], "a sealed secret is stored")
				require.Empty(t, row["totp_pending_sealed"], "the pending secret is cleared")
			}
		}

		// Login now asks for the second factor.
		c1 := e.challenge(t, u, "")
		require.Equal(t, []string{"totp", "recovery_code"}, stringList(t, c1.Body["methods"]))
		requireErrorShape(t, e.verify(t, map[string]any{"challenge": c1.Challenge, "code": apptest.WrongTOTP(t, secret)}), http.StatusUnauthorized, "invalid_code")
		code := apptest.TOTP(t, secret, 0)
		res = e.verify(t, map[string]any{"challenge": c1.Challenge, "code": code})
		require.Equal(t, http.StatusOK, res.Status, "verify: %s", res.Body)
		v := apptest.ParseLogin(t, res)
		e.requireLive(t, v.Token)
		require.Contains(t, stringList(t, e.Server.Introspect(t, e.rs, v.Token)["amr"]), "otp")
		// The challenge is spent.
		requireErrorShape(t, e.verify(t, map[string]any{"challenge": c1.Challenge, "code": code}), http.StatusUnauthorized, "invalid_challenge")

		// The same code on a new challenge is a replay.
		c2 := e.challenge(t, u, "")
		requireErrorShape(t, e.verify(t, map[string]any{"challenge": c2.Challenge, "code": code}), http.StatusUnauthorized, "invalid_code")
		// Four more wrong codes use up the challenge's five attempts; then
		// even a good recovery code is refused on it (and not spent).
		for i := 0; i < 4; i++ {
			requireErrorShape(t, e.verify(t, map[string]any{"challenge": c2.Challenge, "code": apptest.WrongTOTP(t, secret)}), http.StatusUnauthorized, "invalid_code")
		}
		requireErrorShape(t, e.verify(t, map[string]any{"challenge": c2.Challenge, "recovery_code": codes[0]}), http.StatusUnauthorized, "invalid_challenge")

		// A recovery code works once.
		c3 := e.challenge(t, u, "")
		res = e.verify(t, map[string]any{"challenge": c3.Challenge, "recovery_code": strings.ToLower(codes[0])})
		require.Equal(t, http.StatusOK, res.Status, "recovery code (any case): %s", res.Body)
		require.NotEmpty(t, apptest.ParseLogin(t, res).Token)
		c4 := e.challenge(t, u, "")
		requireErrorShape(t, e.verify(t, map[string]any{"challenge": c4.Challenge, "recovery_code": codes[0]}), http.StatusUnauthorized, "invalid_code")
		require.Equal(t, http.StatusOK, e.verify(t, map[string]any{"challenge": c4.Challenge, "recovery_code": codes[1]}).Status)

		// Regenerating needs the password and retires the old set.
		requireErrorShape(t, e.Do(t, apptest.Request{Path: "/api/auth/2fa/recovery-codes", Token: tok, Body: map[string]any{"password": "Wrong-Password-1"}}), http.StatusUnauthorized, "invalid_password")
		res = e.Do(t, apptest.Request{Path: "/api/auth/2fa/recovery-codes", Token: tok, Body: map[string]any{"password": apptest.Password}})
		require.Equal(t, http.StatusOK, res.Status, "regenerate: %s", res.Body)
		fresh := stringList(t, res.JSON(t)["recovery_codes"])
		require.Len(t, fresh, 8)
		c5 := e.challenge(t, u, "")
		requireErrorShape(t, e.verify(t, map[string]any{"challenge": c5.Challenge, "recovery_code": codes[2]}), http.StatusUnauthorized, "invalid_code")
		require.Equal(t, http.StatusOK, e.verify(t, map[string]any{"challenge": c5.Challenge, "recovery_code": fresh[0]}).Status)

		// Disabling needs the password and a code.
		next := apptest.TOTP(t, secret, 1)
		requireErrorShape(t, e.Do(t, apptest.Request{Path: "/api/auth/2fa/disable", Token: tok, Body: map[string]any{"password": "Wrong-Password-1", "code": next}}), http.StatusUnauthorized, "invalid_password")
		requireErrorShape(t, e.Do(t, apptest.Request{Path: "/api/auth/2fa/disable", Token: tok, Body: map[string]any{"password": apptest.Password, "code": apptest.WrongTOTP(t, secret)}}), http.StatusUnauthorized, "invalid_code")
		requireErrorShape(t, e.Do(t, apptest.Request{Path: "/api/auth/2fa/disable", Token: tok, Body: map[string]any{"password": apptest.Password}}), http.StatusUnauthorized, "invalid_code")
		res = e.Do(t, apptest.Request{Path: "/api/auth/2fa/disable", Token: tok, Body: map[string]any{"password": apptest.Password, "code": next}})
		require.Equal(t, http.StatusOK, res.Status, "disable: %s", res.Body)
		l := e.login(t, u, apptest.Password, nil)
		require.NotEmpty(t, l.Token, "no second factor any more: %v", l.Body)
		for _, row := range e.Server.TableRows(t, "users") {
			if row["id"] == u.ID {
				require.Empty(t, row["totp_secret_sealed"], "the secret is gone")
			}
		}
	})
}

func TestAccount2FAEmail(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		u := e.newUser(t)
		tok := e.token(t, u).Token
		requireErrorShape(t, e.Do(t, apptest.Request{Path: "/api/auth/2fa/email/enable", Token: tok, Body: map[string]any{"password": "Wrong-Password-1"}}), http.StatusUnauthorized, "invalid_password")
		res := e.Do(t, apptest.Request{Path: "/api/auth/2fa/email/enable", Token: tok, Body: map[string]any{"password": apptest.Password}})
		require.Equal(t, http.StatusOK, res.Status, "enable: %s", res.Body)
		require.Len(t, stringList(t, res.JSON(t)["recovery_codes"]), 8)

		// Login mails a code; it completes the login once.
		c1 := e.challenge(t, u, "")
		require.Equal(t, []string{"email", "recovery_code"}, stringList(t, c1.Body["methods"]))
		code, n := e.mail.LastCode(t, u.Email)
		require.Equal(t, 1, n)
		res = e.verify(t, map[string]any{"challenge": c1.Challenge, "code": code})
		require.Equal(t, http.StatusOK, res.Status, "verify: %s", res.Body)
		e.requireLive(t, apptest.ParseLogin(t, res).Token)

		// Attempts at one code never exceed 5, even spread over challenges:
		// two logins, the second code retires the first; 3 wrong tries on
		// one challenge and 2 on the other use the live code up.
		a := e.challenge(t, u, "")
		b := e.challenge(t, u, "")
		code, n = e.mail.LastCode(t, u.Email)
		require.Equal(t, 3, n)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		for i := 0; i < 3; i++ {
			requireErrorShape(t, e.verify(t, map[string]any{"challenge": a.Challenge, "code": wrong}), http.StatusUnauthorized, "invalid_code")
		}
		for i := 0; i < 2; i++ {
			requireErrorShape(t, e.verify(t, map[string]any{"challenge": b.Challenge, "code": wrong}), http.StatusUnauthorized, "invalid_code")
		}
		requireErrorShape(t, e.verify(t, map[string]any{"challenge": b.Challenge, "code": code}), http.StatusUnauthorized, "invalid_code")

		// Resend mails a fresh code, which works on the same challenge.
		res = e.Do(t, apptest.Request{Path: "/api/auth/2fa/resend", Body: map[string]any{"challenge": b.Challenge}})
		require.Equal(t, http.StatusAccepted, res.Status, "resend: %s", res.Body)
		fresh, n := e.mail.LastCode(t, u.Email)
		require.Equal(t, 4, n)
		res = e.verify(t, map[string]any{"challenge": b.Challenge, "code": fresh})
		require.Equal(t, http.StatusOK, res.Status, "verify with the resent code: %s", res.Body)
		requireErrorShape(t, e.Do(t, apptest.Request{Path: "/api/auth/2fa/resend", Body: map[string]any{"challenge": b.Challenge}}), http.StatusUnauthorized, "invalid_challenge")
		// The code mail never carries anything but the code.
		for _, m := range e.mail.Sent(u.Email) {
			require.NotContains(t, m.Text, apptest.Password)
		}

		// A used code does not work again.
		c := e.challenge(t, u, "")
		requireErrorShape(t, e.verify(t, map[string]any{"challenge": c.Challenge, "code": fresh}), http.StatusUnauthorized, "invalid_code")
	})
}

func TestAccount2FATrustedDevice(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		u := e.newUser(t)
		tok := e.token(t, u).Token
		require.Equal(t, http.StatusOK, e.Do(t, apptest.Request{Path: "/api/auth/2fa/email/enable", Token: tok, Body: map[string]any{"password": apptest.Password}}).Status)

		// Without trust: a new device token, and the next login still asks.
		c := e.challenge(t, u, "")
		code, _ := e.mail.LastCode(t, u.Email)
		plain := apptest.ParseLogin(t, e.verify(t, map[string]any{"challenge": c.Challenge, "code": code}))
		require.NotEmpty(t, plain.Device)
		e.challenge(t, u, plain.Device)

		// With trust.
		c = e.challenge(t, u, "")
		code, _ = e.mail.LastCode(t, u.Email)
		res := e.verify(t, map[string]any{"challenge": c.Challenge, "code": code, "trust_device": true})
		require.Equal(t, http.StatusOK, res.Status, "verify: %s", res.Body)
		trusted := apptest.ParseLogin(t, res)
		require.NotEmpty(t, trusted.Device, "the response carries the device token")
		require.NotEqual(t, plain.Device, trusted.Device)

		l := e.login(t, u, apptest.Password, func(r *apptest.Request, _ map[string]any) { r.Device = trusted.Device })
		require.NotEmpty(t, l.Token, "a trusted device skips the second factor: %v", l.Body)
		require.Empty(t, l.Device, "a known device gets no new token")
		require.Contains(t, stringList(t, e.Server.Introspect(t, e.rs, l.Token)["amr"]), "pwd")
		// Trust is the device's, not the password's: other devices still get asked.
		e.challenge(t, u, plain.Device)
		e.challenge(t, u, "bogus-device-token")

		list := e.devices(t, l.Token)
		d := findSession(list, trusted.SessionID)
		require.NotNil(t, d, "the trusted session is listed: %v", list)
		require.Equal(t, true, d["trusted"])
		require.NotEmpty(t, d["trusted_until"])
		require.Equal(t, false, findSession(list, plain.SessionID)["trusted"])

		// Another user cannot touch it; the owner removes the trust.
		other := e.token(t, e.newUser(t)).Token
		// Trust is the device's: the route takes the device id (issue 8).
		deviceID, _ := d["device_id"].(string)
		require.NotEmpty(t, deviceID)
		requireErrorShape(t, e.Do(t, apptest.Request{Method: http.MethodDelete, Path: "/api/devices/" + deviceID + "/trust", Token: other}), http.StatusNotFound, "device_not_found")
		requireErrorShape(t, e.Do(t, apptest.Request{Method: http.MethodDelete, Path: "/api/devices/" + trusted.SessionID + "/trust", Token: l.Token}), http.StatusNotFound, "device_not_found")
		res = e.Do(t, apptest.Request{Method: http.MethodDelete, Path: "/api/devices/" + deviceID + "/trust", Token: l.Token})
		require.Equal(t, http.StatusNoContent, res.Status, "untrust: %s", res.Body)
		require.Equal(t, false, findSession(e.devices(t, l.Token), trusted.SessionID)["trusted"])
		e.challenge(t, u, trusted.Device)
	})
}
