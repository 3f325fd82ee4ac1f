package handlers_test

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/storage/storagetest"
)

// rlProduction sets the documented production limits (5 a minute) on a test
// server, whose defaults are very high.
func rlProduction(cfg *app.Config) {
	// bcrypt already runs at its minimum cost (apptest.Config).
	cfg.RateLogin = identity.Limit{Name: "login", Rate: 5, Period: time.Minute}
	cfg.Rate2FA = identity.Limit{Name: "2fa", Rate: 5, Period: time.Minute}
	cfg.RatePIN = identity.Limit{Name: "pin", Rate: 5, Period: time.Minute}
	cfg.RateIPFailures = identity.Limit{Name: "ipfail", Rate: 30, Period: time.Minute}
}

// requireRateLimited checks a 429 in the API's shape, with Retry-After.
func requireRateLimited(t *testing.T, r *apptest.Result, what string) {
	t.Helper()
	if r.Status != http.StatusTooManyRequests {
		t.Fatalf("%s: %s, want 429", what, r)
	}
	if r.Str("error") != "rate_limited" || r.Str("message") == "" {
		t.Errorf("%s: body %s, want {\"error\":\"rate_limited\",\"message\":…}", what, r.Body)
	}
	secs, err := strconv.Atoi(r.Header.Get("Retry-After"))
	if err != nil || secs < 1 || secs > 3600 {
		t.Errorf("%s: Retry-After %q, want whole seconds within the limit's period", what, r.Header.Get("Retry-After"))
	}
}

// TestLoginRateLimitOneInstance: the 6th login attempt in a minute for one
// account from one address is refused (the in-process limiter, or Redis when
// configured), before the password is checked: the right password gets 429
// too. Since issue 8 successes do not count, so the attempts are wrong
// passwords, and another account from the same address still signs in.
func TestLoginRateLimitOneInstance(t *testing.T) {
	t.Parallel()
	for _, b := range apptest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newAccountEnv(t, b, rlProduction)
			u := e.newUser(t)
			for i := 1; i <= 5; i++ {
				if r := e.PasswordLogin(t, e.Tenant.Slug, u.Email, "Wrong-Password-1", nil); r.Status != http.StatusUnauthorized {
					t.Fatalf("attempt %d: %s, want 401", i, r)
				}
			}
			requireRateLimited(t, e.PasswordLogin(t, e.Tenant.Slug, u.Email, apptest.Password, nil), "6th login")
			// Another account from the same address: only failures count per IP.
			other := e.newUser(t)
			if r := e.PasswordLogin(t, e.Tenant.Slug, other.Email, apptest.Password, nil); r.Status != http.StatusOK {
				t.Fatalf("another account from the same address: %s, want 200", r)
			}
		})
	}
}

// TestLoginRateLimitTwoInstances: two instances sharing one database and
// one Redis count login attempts together, so the 6th attempt in a minute
// is refused whichever instance gets it.
func TestLoginRateLimitTwoInstances(t *testing.T) {
	t.Parallel()
	if storagetest.RedisURL(t) == "" {
		t.Skip("IDENTITY_TEST_REDIS_URL is not set: without Redis each instance limits on its own by design (in-process limiter); TestLoginRateLimitOneInstance covers that")
	}
	for _, sixth := range []int{0, 1} {
		// Fresh databases (and so a fresh Redis prefix) for each order.
		for _, b := range apptest.Backends(t) {
			t.Run(b.Name+"/6th on instance "+strconv.Itoa(sixth+1), func(t *testing.T) {
				t.Parallel() // each pair has its own database and Redis prefix
				a := apptest.Start(t, apptest.Config(t, b), rlProduction)
				c := apptest.Start(t, apptest.Config(t, b), rlProduction)
				ea := accountOn(t, a)
				ec := &accountEnv{Env: ea.On(c), rs: ea.rs, mail: ea.mail}
				c.DeliverTo(ea.mail)
				u := ea.newUser(t)
				envs := []*accountEnv{ea, ec}
				// Attempts 1–5 alternate so the 6th lands on instance
				// sixth+1: a, c, a, c, a → c; or c, a, c, a, c → a.
				for i := 1; i <= 5; i++ {
					e := envs[(i+sixth)%2]
					if r := e.PasswordLogin(t, e.Tenant.Slug, u.Email, "Wrong-Password-1", nil); r.Status != http.StatusUnauthorized {
						t.Fatalf("attempt %d on %s: %s, want 401", i, e.Server.URL, r)
					}
				}
				requireRateLimited(t, envs[sixth].PasswordLogin(t, envs[sixth].Tenant.Slug, u.Email, apptest.Password, nil), "6th login on instance "+strconv.Itoa(sixth+1))
				requireRateLimited(t, envs[1-sixth].PasswordLogin(t, envs[1-sixth].Tenant.Slug, u.Email, apptest.Password, nil), "7th login on the other instance")
			})
		}
	}
}

// TestSecondFactorAndPINRateLimits: 2FA verify and PIN verify allow 5
// attempts a minute; the 6th is 429 before any code is checked.
func TestSecondFactorAndPINRateLimits(t *testing.T) {
	t.Parallel()
	for _, b := range apptest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newAccountEnv(t, b, func(cfg *app.Config) {
				rlProduction(cfg)
				cfg.RateLogin = identity.Limit{Name: "login", Rate: 1000, Period: time.Minute}
			})
			t.Run("2fa verify", func(t *testing.T) {
				u := e.newUser(t)
				secret, _ := e.enableTOTP(t, e.token(t, u).Token)
				// Two challenges, so no challenge runs out of its own 5
				// attempts: the refusal is the rate limit's.
				chs := []string{e.challenge(t, u, "").Challenge, e.challenge(t, u, "").Challenge}
				wrong := apptest.TOTPAt(t, secret, time.Now().Add(-10*time.Minute))
				for i := 1; i <= 5; i++ {
					r := e.Call(t, http.MethodPost, "/api/auth/2fa/verify", "", map[string]any{"challenge": chs[i%2], "code": wrong})
					if r.Status != http.StatusUnauthorized || r.Str("error") != "invalid_code" {
						t.Fatalf("wrong code %d: %s, want 401 invalid_code", i, r)
					}
				}
				r := e.Call(t, http.MethodPost, "/api/auth/2fa/verify", "", map[string]any{"challenge": chs[0], "code": apptest.TOTPAt(t, secret, time.Now().Add(30*time.Second))})
				requireRateLimited(t, r, "6th 2FA attempt (with the right code)")
			})
			t.Run("pin verify", func(t *testing.T) {
				// The 2FA subtest spent the address's 2FA budget, not the PIN's.
				u := e.newUser(t)
				tok := e.token(t, u).Token
				if r := e.Call(t, http.MethodPut, "/api/auth/pin", tok, map[string]any{"pin": "246810", "password": apptest.Password}); r.Status != http.StatusNoContent {
					t.Fatalf("set PIN: %s", r)
				}
				// Successes clear the count (issue 8): many right PINs pass.
				for i := 1; i <= 8; i++ {
					if r := e.Call(t, http.MethodPost, "/api/auth/pin/verify", tok, map[string]any{"pin": "246810"}); r.Status != http.StatusOK {
						t.Fatalf("PIN verify %d: %s, want 200", i, r)
					}
				}
				// Wrong PINs count: the 6th attempt is refused before the PIN
				// is checked (the 5th wrong one locked the PIN itself).
				for i := 1; i <= 5; i++ {
					if r := e.Call(t, http.MethodPost, "/api/auth/pin/verify", tok, map[string]any{"pin": "135790"}); r.Status != http.StatusUnauthorized {
						t.Fatalf("wrong PIN %d: %s, want 401", i, r)
					}
				}
				requireRateLimited(t, e.Call(t, http.MethodPost, "/api/auth/pin/verify", tok, map[string]any{"pin": "246810"}), "6th PIN verify")
				if n := e.auditCount(t, u, identity.AuditPINFailed); n != 5 {
					t.Errorf("%d pin.failed rows, want 5 (the refused attempt is not checked)", n)
				}
			})
		})
	}
}

// rlFresh is rlProduction under a Redis prefix of the test's own: servers
// on one backend share a prefix (one deployment), and these subtests must
// not share their per-IP budgets.
func rlFresh(t *testing.T) func(*app.Config) {
	prefix := "rl-" + apptest.RandomID(t, 8) + ":"
	return func(cfg *app.Config) {
		rlProduction(cfg)
		cfg.RedisPrefix += prefix
	}
}

// rlSlowRefill is rlFresh with the production counts over an hour instead of
// a minute: a test that counts failures up to a budget and expects the next
// one refused must not depend on how fast the machine sends them (at 30/1m
// the bucket gains one attempt every 2 s, which a loaded machine can take
// to send a few logins).
func rlSlowRefill(t *testing.T) func(*app.Config) {
	fresh := rlFresh(t)
	return func(cfg *app.Config) {
		fresh(cfg)
		cfg.RateLogin.Period = time.Hour
		cfg.RateIPFailures.Period = time.Hour
	}
}

// TestLoginRateLimitSemantics (issue 8 §3): with the production limits,
// success is never punished and failures still are. Per (IP, account) 5
// attempts a minute, cleared by a success; per IP only failures count,
// under IDENTITY_RATE_LOGIN_IP_FAILURES (30/1m); per account the lockout.
func TestLoginRateLimitSemantics(t *testing.T) {
	t.Parallel()
	for _, b := range apptest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			t.Run("one user signs in 40 times", func(t *testing.T) {
				e := newAccountEnv(t, b, rlFresh(t))
				u := e.newUser(t)
				for i := 1; i <= 40; i++ {
					if r := e.PasswordLogin(t, e.Tenant.Slug, u.Email, apptest.Password, nil); r.Status != http.StatusOK {
						t.Fatalf("login %d: %s, want 200", i, r)
					}
				}
			})
			t.Run("100 users behind one address", func(t *testing.T) {
				e := newAccountEnv(t, b, rlFresh(t))
				for i := 1; i <= 100; i++ {
					u := e.newUser(t)
					if r := e.PasswordLogin(t, e.Tenant.Slug, u.Email, apptest.Password, nil); r.Status != http.StatusOK {
						t.Fatalf("user %d: %s, want 200", i, r)
					}
				}
			})
			t.Run("6th wrong password for one account", func(t *testing.T) {
				e := newAccountEnv(t, b, rlSlowRefill(t))
				u := e.newUser(t)
				for i := 1; i <= 5; i++ {
					if r := e.PasswordLogin(t, e.Tenant.Slug, u.Email, "Wrong-Password-1", nil); r.Status != http.StatusUnauthorized {
						t.Fatalf("wrong password %d: %s, want 401", i, r)
					}
				}
				requireRateLimited(t, e.PasswordLogin(t, e.Tenant.Slug, u.Email, "Wrong-Password-1", nil), "6th wrong password")
			})
			t.Run("a success clears the pair", func(t *testing.T) {
				e := newAccountEnv(t, b, rlFresh(t))
				u := e.newUser(t)
				for round := 0; round < 3; round++ {
					for i := 1; i <= 4; i++ {
						if r := e.PasswordLogin(t, e.Tenant.Slug, u.Email, "Wrong-Password-1", nil); r.Status != http.StatusUnauthorized {
							t.Fatalf("round %d, wrong password %d: %s, want 401", round, i, r)
						}
					}
					if r := e.PasswordLogin(t, e.Tenant.Slug, u.Email, apptest.Password, nil); r.Status != http.StatusOK {
						t.Fatalf("round %d, the right password: %s, want 200", round, r)
					}
				}
			})
			t.Run("stuffing across 30 accounts", func(t *testing.T) {
				e := newAccountEnv(t, b, rlSlowRefill(t))
				for i := 1; i <= 30; i++ {
					u := e.newUser(t)
					if r := e.PasswordLogin(t, e.Tenant.Slug, u.Email, "Wrong-Password-1", nil); r.Status != http.StatusUnauthorized {
						t.Fatalf("failure %d: %s, want 401", i, r)
					}
				}
				// The budget is spent: the next attempt from the address is
				// refused whatever the account or password.
				u := e.newUser(t)
				requireRateLimited(t, e.PasswordLogin(t, e.Tenant.Slug, u.Email, apptest.Password, nil), "31st attempt after 30 failures from one address")
			})
			t.Run("2fa and PIN: successes pass", func(t *testing.T) {
				e := newAccountEnv(t, b, rlFresh(t))
				u := e.newUser(t)
				tok := e.token(t, u).Token
				if r := e.Call(t, http.MethodPut, "/api/auth/pin", tok, map[string]any{"pin": "246810", "password": apptest.Password}); r.Status != http.StatusNoContent {
					t.Fatalf("set PIN: %s", r)
				}
				for i := 1; i <= 12; i++ {
					if r := e.Call(t, http.MethodPost, "/api/auth/pin/verify", tok, map[string]any{"pin": "246810"}); r.Status != http.StatusOK {
						t.Fatalf("PIN verify %d: %s, want 200", i, r)
					}
				}
				// 2FA: a right code clears the pair, so 4 wrong + 1 right + 4
				// wrong (9 attempts) never reaches the 6th counted attempt.
				v := e.newUser(t)
				secret, _ := e.enableTOTP(t, e.token(t, v).Token)
				wrong := apptest.TOTPAt(t, secret, time.Now().Add(-10*time.Minute))
				for round, right := range []bool{true, false} {
					ch := e.challenge(t, v, "").Challenge
					for i := 1; i <= 4; i++ {
						if r := e.Call(t, http.MethodPost, "/api/auth/2fa/verify", "", map[string]any{"challenge": e.challenge(t, v, "").Challenge, "code": wrong}); r.Status != http.StatusUnauthorized {
							t.Fatalf("round %d, wrong code %d: %s, want 401", round, i, r)
						}
					}
					if right {
						if r := e.Call(t, http.MethodPost, "/api/auth/2fa/verify", "", map[string]any{"challenge": ch, "code": apptest.TOTPAt(t, secret, time.Now().Add(30*time.Second))}); r.Status != http.StatusOK {
							t.Fatalf("the right code: %s, want 200", r)
						}
					}
				}
			})
		})
	}
}

// TestResetRateLimitSemantics: reset-code attempts follow the same rule as
// login (issue 8 §3): per (IP, account) 5 attempts, cleared by a successful
// reset, so 4 wrong + 1 right + 4 wrong codes never hit 429, while 6 wrong
// codes in a row do.
func TestResetRateLimitSemantics(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, func(cfg *app.Config) {
		rlFresh(t)(cfg)
		cfg.RateForgot = identity.Limit{Name: "forgot", Rate: 5, Period: time.Hour}
	}, func(t *testing.T, e *accountEnv) {
		u := e.newUser(t)
		forgot := func() {
			res := e.Do(t, apptest.Request{Path: "/api/auth/password/forgot", Body: map[string]any{"tenant": e.Tenant.Slug, "email": u.Email}})
			require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
		}
		reset := func(code, pw string) *apptest.Result {
			return e.Do(t, apptest.Request{Path: "/api/auth/password/reset", Body: map[string]any{"tenant": e.Tenant.Slug, "email": u.Email, "code": code, "new_password": pw}})
		}
		wrong := func(code string) string {
			if code == "000000" {
				return "000001"
			}
			return "000000"
		}
		forgot()
		code, _ := e.mail.LastCode(t, u.Email)
		for i := 1; i <= 4; i++ {
			requireErrorShape(t, reset(wrong(code), "Reset#Password1x"), http.StatusUnauthorized, "invalid_code")
		}
		require.Equal(t, http.StatusNoContent, reset(code, "Reset#Password1x").Status, "the right code")
		forgot()
		code, _ = e.mail.LastCode(t, u.Email)
		for i := 1; i <= 4; i++ {
			requireErrorShape(t, reset(wrong(code), "Reset#Password2y"), http.StatusUnauthorized, "invalid_code")
		}
		// The 5th attempt since the success is allowed; the 6th is not.
		requireErrorShape(t, reset(wrong(code), "Reset#Password2y"), http.StatusUnauthorized, "invalid_code")
		res := reset(code, "Reset#Password2y")
		require.Equal(t, http.StatusTooManyRequests, res.Status, "6th attempt: %s", res.Body)
	})
}
