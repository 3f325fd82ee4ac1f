package handlers_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/identityd/identityd/internal/apptest"
	"github.com/stretchr/testify/require"
)

func TestAccountPasswordChange(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		u := e.newUser(t)
		cur := e.token(t, u)
		other := e.token(t, u)
		change := func(current, next string) *apptest.Result {
			return e.Do(t, apptest.Request{Path: "/api/auth/password", Token: cur.Token, Body: map[string]any{"current_password": current, "new_password": next}})
		}

		requireErrorShape(t, change("Wrong-Password-1", "Fresh-Passw0rd-1"), http.StatusUnauthorized, "invalid_password")
		requireErrorShape(t, change("", "Fresh-Passw0rd-1"), http.StatusUnauthorized, "invalid_password")
		m := requireErrorShape(t, change(apptest.Password, "weak"), http.StatusUnprocessableEntity, "password_policy")
		require.ElementsMatch(t, []string{"password.min_length", "password.uppercase", "password.digit", "password.special"}, errorFields(t, m))
		e.requireLive(t, other.Token) // failed attempts change nothing

		pw := []string{apptest.Password}
		for i := 0; i <= 5; i++ {
			next := fmt.Sprintf("Fresh-Passw0rd-%d", i)
			res := change(pw[len(pw)-1], next)
			require.Equal(t, http.StatusNoContent, res.Status, "change %d: %s", i, res.Body)
			pw = append(pw, next)
			if i == 0 {
				// The other session is over; this one goes on.
				e.requireDead(t, other.Token)
				e.requireLive(t, cur.Token)
				requireErrorShape(t, e.PasswordLogin(t, e.Tenant.Slug, u.Email, apptest.Password, nil),
					http.StatusUnauthorized, "invalid_credentials")
				require.NotEmpty(t, e.login(t, u, next, nil).Token)
			}
		}
		// The current password and each of the five before it are refused.
		current := pw[len(pw)-1]
		for _, old := range pw[len(pw)-6:] {
			m := requireErrorShape(t, change(current, old), http.StatusUnprocessableEntity, "password_reused")
			require.Equal(t, []string{"password.history"}, errorFields(t, m), "reusing %q", old)
		}
		me := e.Do(t, apptest.Request{Method: http.MethodGet, Path: "/api/auth/me", Token: cur.Token}).JSON(t)["user"].(map[string]any)
		require.NotEmpty(t, me["password_changed_at"])
		require.NotEmpty(t, e.login(t, u, current, nil).Token)
		for _, row := range e.Server.TableRows(t, "password_history") {
			for col, v := range row {
				for _, p := range pw {
					require.NotContains(t, v, p, "password_history.%s holds a password", col)
				}
			}
		}
	})
}

func TestAccountPasswordReset(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		u := e.newUser(t)
		before := e.token(t, u)
		forgot := func(tenant, email string) *apptest.Result {
			return e.Do(t, apptest.Request{Path: "/api/auth/password/forgot", Body: map[string]any{"tenant": tenant, "email": email}})
		}
		reset := func(code, pw string) *apptest.Result {
			return e.Do(t, apptest.Request{Path: "/api/auth/password/reset", Body: map[string]any{"tenant": e.Tenant.Slug, "email": u.Email, "code": code, "new_password": pw}})
		}

		known := forgot(e.Tenant.Slug, u.Email)
		require.Equal(t, http.StatusAccepted, known.Status, "forgot: %s", known.Body)
		for _, res := range []*apptest.Result{forgot(e.Tenant.Slug, "nobody@example.com"), forgot("no-such-tenant", u.Email)} {
			require.Equal(t, known.Status, res.Status)
			require.Equal(t, string(known.Body), string(res.Body), "forgot reveals nothing")
		}
		require.Empty(t, e.mail.Sent("nobody@example.com"))
		code, n := e.mail.LastCode(t, u.Email)
		require.Equal(t, 1, n)

		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		requireErrorShape(t, reset(wrong, "Reset-Passw0rd-1"), http.StatusUnauthorized, "invalid_code")
		m := requireErrorShape(t, reset(code, "weak"), http.StatusUnprocessableEntity, "password_policy")
		require.Contains(t, errorFields(t, m), "password.min_length")
		requireErrorShape(t, reset(code, apptest.Password), http.StatusUnprocessableEntity, "password_policy")
		e.requireLive(t, before.Token)

		res := reset(code, "Reset-Passw0rd-1")
		require.Equal(t, http.StatusNoContent, res.Status, "reset: %s", res.Body)
		e.requireDead(t, before.Token)
		require.NotEmpty(t, e.login(t, u, "Reset-Passw0rd-1", nil).Token)
		// The code works once.
		requireErrorShape(t, reset(code, "Reset-Passw0rd-2"), http.StatusUnauthorized, "invalid_code")

		// Five wrong codes spend a code.
		require.Equal(t, http.StatusAccepted, forgot(e.Tenant.Slug, u.Email).Status)
		code, _ = e.mail.LastCode(t, u.Email)
		wrong = "000000"
		if code == wrong {
			wrong = "111111"
		}
		for i := 0; i < 5; i++ {
			requireErrorShape(t, reset(wrong, "Reset-Passw0rd-3"), http.StatusUnauthorized, "invalid_code")
		}
		requireErrorShape(t, reset(code, "Reset-Passw0rd-3"), http.StatusUnauthorized, "invalid_code")
		require.NotEmpty(t, e.login(t, u, "Reset-Passw0rd-1", nil).Token)
	})
}
