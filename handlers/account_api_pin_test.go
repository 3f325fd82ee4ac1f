package handlers_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/stretchr/testify/require"
)

func TestAccountPIN(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		u := e.newUser(t)
		l := e.token(t, u)
		tok := l.Token
		setPIN := func(body map[string]any) *apptest.Result {
			return e.Do(t, apptest.Request{Method: http.MethodPut, Path: "/api/auth/pin", Token: tok, Body: body})
		}
		verify := func(pin string) *apptest.Result {
			return e.Do(t, apptest.Request{Path: "/api/auth/pin/verify", Token: tok, Body: map[string]any{"pin": pin}})
		}
		pinLogin := func(pin, device string) *apptest.Result {
			return e.Do(t, apptest.Request{Path: "/api/auth/pin/login", Device: device, Body: map[string]any{"tenant": e.Tenant.Slug, "email": u.Email, "pin": pin}})
		}

		// The rules, through the API.
		for _, bad := range []string{"123456", "654321", "345678", "000000", "999999", "12345", "1234567", "abcdef", "12 456", ""} {
			m := requireErrorShape(t, setPIN(map[string]any{"pin": bad, "password": apptest.Password}), http.StatusUnprocessableEntity, "pin_policy")
			require.Len(t, errorFields(t, m), 1, "PIN %q", bad)
		}
		requireErrorShape(t, verify("258147"), http.StatusConflict, "pin_not_set")

		// Setting it needs the password.
		requireErrorShape(t, setPIN(map[string]any{"pin": "258147"}), http.StatusForbidden, "password_required")
		requireErrorShape(t, setPIN(map[string]any{"pin": "258147", "password": "Wrong-Password-1"}), http.StatusUnauthorized, "invalid_password")
		require.Equal(t, http.StatusNoContent, setPIN(map[string]any{"pin": "258147", "password": apptest.Password}).Status)
		me := e.Do(t, apptest.Request{Method: http.MethodGet, Path: "/api/auth/me", Token: tok}).JSON(t)["user"].(map[string]any)
		require.Equal(t, true, me["pin_set"])
		for _, row := range e.Server.TableRows(t, "users") {
			if row["id"] == u.ID {
				require.NotContains(t, row["pin_hash"], "258147", "the PIN is stored hashed")
				require.Contains(t, row["pin_hash"], "$2", "bcrypt")
			}
		}

		// Changing it needs the password too (issue 8: the old PIN alone,
		// itself a factor, is not enough).
		requireErrorShape(t, setPIN(map[string]any{"pin": "369258"}), http.StatusForbidden, "password_required")
		requireErrorShape(t, setPIN(map[string]any{"pin": "369258", "current_pin": "258147"}), http.StatusForbidden, "password_required")
		require.Equal(t, http.StatusNoContent, setPIN(map[string]any{"pin": "369258", "password": apptest.Password}).Status)
		requireErrorShape(t, verify("258147"), http.StatusUnauthorized, "invalid_pin")
		require.Equal(t, http.StatusOK, verify("369258").Status)
		require.Equal(t, http.StatusNoContent, setPIN(map[string]any{"pin": "147258", "password": apptest.Password}).Status)
		res := verify("147258")
		require.Equal(t, http.StatusOK, res.Status, "verify: %s", res.Body)
		require.Equal(t, true, res.JSON(t)["verified"])

		// PIN login from the device that signed in with the password.
		res = pinLogin("147258", l.Device)
		require.Equal(t, http.StatusOK, res.Status, "pin login: %s", res.Body)
		pl := apptest.ParseLogin(t, res)
		e.requireLive(t, pl.Token)
		require.Empty(t, pl.Device, "the device is known")
		require.Equal(t, []string{"pin"}, stringList(t, e.Server.Introspect(t, e.rs, pl.Token)["amr"]))
		// Not without that device, nor from another user's device.
		bad := requireErrorShape(t, pinLogin("147258", ""), http.StatusUnauthorized, "invalid_credentials")
		requireErrorShape(t, pinLogin("147258", "not-a-device-token"), http.StatusUnauthorized, "invalid_credentials")
		requireErrorShape(t, pinLogin("147258", e.token(t, e.newUser(t)).Device), http.StatusUnauthorized, "invalid_credentials")
		unknown := requireErrorShape(t, e.Do(t, apptest.Request{Path: "/api/auth/pin/login", Device: l.Device, Body: map[string]any{"tenant": e.Tenant.Slug, "email": "nobody@example.com", "pin": "147258"}}),
			http.StatusUnauthorized, "invalid_credentials")
		require.Equal(t, bad, unknown)

		// Five wrong PINs lock it, for the right PIN too, on every route.
		for i := 0; i < 4; i++ {
			requireErrorShape(t, verify("951753"), http.StatusUnauthorized, "invalid_pin")
		}
		requireErrorShape(t, pinLogin("951753", l.Device), http.StatusUnauthorized, "invalid_pin")
		res = verify("147258")
		requireErrorShape(t, res, http.StatusTooManyRequests, "pin_locked")
		ra, err := strconv.Atoi(res.Header.Get("Retry-After"))
		require.NoError(t, err)
		require.InDelta(t, (15 * time.Minute).Seconds(), ra, 60)
		requireErrorShape(t, pinLogin("147258", l.Device), http.StatusTooManyRequests, "pin_locked")
		requireErrorShape(t, setPIN(map[string]any{"pin": "852456", "current_pin": "147258"}), http.StatusForbidden, "password_required")
		msgs := e.mail.Sent(u.Email)
		require.Len(t, msgs, 1, "the user is told of the lock")
		require.NotContains(t, msgs[0].Text, "147258")
		// The password still works: the PIN lock is not an account lock.
		require.NotEmpty(t, e.token(t, u).Token)

		// Unlocking needs the password.
		requireErrorShape(t, e.Do(t, apptest.Request{Path: "/api/auth/pin/unlock", Token: tok, Body: map[string]any{"password": "Wrong-Password-1"}}), http.StatusUnauthorized, "invalid_password")
		requireErrorShape(t, verify("147258"), http.StatusTooManyRequests, "pin_locked")
		require.Equal(t, http.StatusNoContent, e.Do(t, apptest.Request{Path: "/api/auth/pin/unlock", Token: tok, Body: map[string]any{"password": apptest.Password}}).Status)
		require.Equal(t, http.StatusOK, verify("147258").Status)
		require.Equal(t, http.StatusOK, pinLogin("147258", l.Device).Status)
	})
}

func TestAccountPINLockDuration(t *testing.T) {
	t.Parallel()
	const lock = 2 * time.Second
	eachAccountEnv(t, func(c *app.Config) { c.PINLockDuration = lock; c.PINLockThreshold = 3 }, func(t *testing.T, e *accountEnv) {
		u := e.newUser(t)
		l := e.token(t, u)
		require.Equal(t, http.StatusNoContent, e.Do(t, apptest.Request{Method: http.MethodPut, Path: "/api/auth/pin", Token: l.Token, Body: map[string]any{"pin": "258147", "password": apptest.Password}}).Status)
		verify := func(pin string) *apptest.Result {
			return e.Do(t, apptest.Request{Path: "/api/auth/pin/verify", Token: l.Token, Body: map[string]any{"pin": pin}})
		}
		for i := 0; i < 3; i++ {
			requireErrorShape(t, verify("951753"), http.StatusUnauthorized, "invalid_pin")
		}
		requireErrorShape(t, verify("258147"), http.StatusTooManyRequests, "pin_locked")
		time.Sleep(lock + 500*time.Millisecond)
		require.Equal(t, http.StatusOK, verify("258147").Status, "the lock ends by itself")
	})
}
