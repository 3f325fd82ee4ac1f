package main

import (
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/storage/storagetest"
)

// rlProduction sets the documented production limits (5 a minute) on a test
// server, whose defaults are very high.
func rlProduction(cfg *Config) {
	cxFastBcrypt(cfg)
	cfg.RateLogin = identity.Limit{Name: "login", Rate: 5, Period: time.Minute}
	cfg.Rate2FA = identity.Limit{Name: "2fa", Rate: 5, Period: time.Minute}
	cfg.RatePIN = identity.Limit{Name: "pin", Rate: 5, Period: time.Minute}
	cfg.RateIPFailures = identity.Limit{Name: "ipfail", Rate: 30, Period: time.Minute}
}

// requireRateLimited checks a 429 in the API's shape, with Retry-After.
func requireRateLimited(t *testing.T, r *cxResp, what string) {
	t.Helper()
	if r.Status != http.StatusTooManyRequests {
		t.Fatalf("%s: %s, want 429", what, r)
	}
	if r.str("error") != "rate_limited" || r.str("message") == "" {
		t.Errorf("%s: body %s, want {\"error\":\"rate_limited\",\"message\":…}", what, r.Raw)
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
	for _, b := range storagetest.Backends(t) {
		redisURL := storagetest.RedisURL(t)
		t.Run(b.Name, func(t *testing.T) {
			e := cxStart(t, b, redisURL, rlProduction)
			u := e.user(t, "rl")
			for i := 1; i <= 5; i++ {
				if r := e.login(t, u, "Wrong-Password-1"); r.Status != http.StatusUnauthorized {
					t.Fatalf("attempt %d: %s, want 401", i, r)
				}
			}
			requireRateLimited(t, e.login(t, u, cxPassword), "6th login")
			// Another account from the same address: only failures count per IP.
			other := e.user(t, "rl-other")
			if r := e.login(t, other, cxPassword); r.Status != http.StatusOK {
				t.Fatalf("another account from the same address: %s, want 200", r)
			}
		})
	}
}

// TestLoginRateLimitTwoInstances: two instances sharing one database and
// one Redis count login attempts together, so the 6th attempt in a minute
// is refused whichever instance gets it.
func TestLoginRateLimitTwoInstances(t *testing.T) {
	redisURL := storagetest.RedisURL(t)
	if redisURL == "" {
		t.Skip("IDENTITY_TEST_REDIS_URL is not set: without Redis each instance limits on its own by design (in-process limiter); TestLoginRateLimitOneInstance covers that")
	}
	for _, sixth := range []int{0, 1} {
		// Fresh databases (and so a fresh Redis prefix) for each order.
		for _, b := range storagetest.Backends(t) {
			t.Run(b.Name+"/6th on instance "+strconv.Itoa(sixth+1), func(t *testing.T) {
				t.Parallel() // each pair has its own database and Redis prefix
				a := startServer(t, testConfig(t, b, redisURL), rlProduction)
				c := startServer(t, testConfig(t, b, redisURL), rlProduction)
				ea := cxOn(t, a)
				ec := &cxEnv{srv: c, mail: ea.mail, tenant: ea.tenant}
				c.AccountMail.Use(ea.mail)
				u := ea.user(t, "rl2")
				envs := []*cxEnv{ea, ec}
				// Attempts 1–5 alternate so the 6th lands on instance
				// sixth+1: a, c, a, c, a → c; or c, a, c, a, c → a.
				for i := 1; i <= 5; i++ {
					e := envs[(i+sixth)%2]
					if r := e.login(t, u, "Wrong-Password-1"); r.Status != http.StatusUnauthorized {
						t.Fatalf("attempt %d on %s: %s, want 401", i, e.srv.URL, r)
					}
				}
				requireRateLimited(t, envs[sixth].login(t, u, cxPassword), "6th login on instance "+strconv.Itoa(sixth+1))
				requireRateLimited(t, envs[1-sixth].login(t, u, cxPassword), "7th login on the other instance")
			})
		}
	}
}

// TestSecondFactorAndPINRateLimits: 2FA verify and PIN verify allow 5
// attempts a minute; the 6th is 429 before any code is checked.
func TestSecondFactorAndPINRateLimits(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		redisURL := storagetest.RedisURL(t)
		t.Run(b.Name, func(t *testing.T) {
			e := cxStart(t, b, redisURL, func(cfg *Config) {
				rlProduction(cfg)
				cfg.RateLogin = identity.Limit{Name: "login", Rate: 1000, Period: time.Minute}
			})
			t.Run("2fa verify", func(t *testing.T) {
				u := e.user(t, "rl2fa")
				secret, _ := e.enableTOTP(t, u)
				// Two challenges, so no challenge runs out of its own 5
				// attempts: the refusal is the rate limit's.
				chs := []string{e.challenge(t, u), e.challenge(t, u)}
				wrong := cxTOTP(t, secret, time.Now().Add(-10*time.Minute))
				for i := 1; i <= 5; i++ {
					r := e.call(t, http.MethodPost, "/api/auth/2fa/verify", "", map[string]any{"challenge": chs[i%2], "code": wrong})
					if r.Status != http.StatusUnauthorized || r.str("error") != "invalid_code" {
						t.Fatalf("wrong code %d: %s, want 401 invalid_code", i, r)
					}
				}
				r := e.call(t, http.MethodPost, "/api/auth/2fa/verify", "", map[string]any{"challenge": chs[0], "code": cxTOTP(t, secret, time.Now().Add(30*time.Second))})
				requireRateLimited(t, r, "6th 2FA attempt (with the right code)")
			})
			t.Run("pin verify", func(t *testing.T) {
				// The 2FA subtest spent the address's 2FA budget, not the PIN's.
				u := e.user(t, "rlpin")
				tok := e.token(t, u)
				if r := e.call(t, http.MethodPut, "/api/auth/pin", tok, map[string]any{"pin": "246810", "password": cxPassword}); r.Status != http.StatusNoContent {
					t.Fatalf("set PIN: %s", r)
				}
				// Successes clear the count (issue 8): many right PINs pass.
				for i := 1; i <= 8; i++ {
					if r := e.call(t, http.MethodPost, "/api/auth/pin/verify", tok, map[string]any{"pin": "246810"}); r.Status != http.StatusOK {
						t.Fatalf("PIN verify %d: %s, want 200", i, r)
					}
				}
				// Wrong PINs count: the 6th attempt is refused before the PIN
				// is checked (the 5th wrong one locked the PIN itself).
				for i := 1; i <= 5; i++ {
					if r := e.call(t, http.MethodPost, "/api/auth/pin/verify", tok, map[string]any{"pin": "135790"}); r.Status != http.StatusUnauthorized {
						t.Fatalf("wrong PIN %d: %s, want 401", i, r)
					}
				}
				requireRateLimited(t, e.call(t, http.MethodPost, "/api/auth/pin/verify", tok, map[string]any{"pin": "246810"}), "6th PIN verify")
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
func rlFresh(t *testing.T) func(*Config) {
	prefix := "rl-" + randomID(t, 8) + ":"
	return func(cfg *Config) {
		rlProduction(cfg)
		cfg.RedisPrefix += prefix
	}
}

// rlSlowRefill is rlFresh with the production counts over an hour instead of
// a minute: a test that counts failures up to a budget and expects the next
// one refused must not depend on how fast the machine sends them (at 30/1m
// the bucket gains one attempt every 2 s, which a loaded machine can take
// to send a few logins).
func rlSlowRefill(t *testing.T) func(*Config) {
	fresh := rlFresh(t)
	return func(cfg *Config) {
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
	for _, b := range storagetest.Backends(t) {
		redisURL := storagetest.RedisURL(t)
		t.Run(b.Name, func(t *testing.T) {
			t.Run("one user signs in 40 times", func(t *testing.T) {
				e := cxStart(t, b, redisURL, rlFresh(t))
				u := e.user(t, "often")
				for i := 1; i <= 40; i++ {
					if r := e.login(t, u, cxPassword); r.Status != http.StatusOK {
						t.Fatalf("login %d: %s, want 200", i, r)
					}
				}
			})
			t.Run("100 users behind one address", func(t *testing.T) {
				e := cxStart(t, b, redisURL, rlFresh(t))
				for i := 1; i <= 100; i++ {
					u := e.user(t, "nat"+strconv.Itoa(i))
					if r := e.login(t, u, cxPassword); r.Status != http.StatusOK {
						t.Fatalf("user %d: %s, want 200", i, r)
					}
				}
			})
			t.Run("6th wrong password for one account", func(t *testing.T) {
				e := cxStart(t, b, redisURL, rlSlowRefill(t))
				u := e.user(t, "guess")
				for i := 1; i <= 5; i++ {
					if r := e.login(t, u, "Wrong-Password-1"); r.Status != http.StatusUnauthorized {
						t.Fatalf("wrong password %d: %s, want 401", i, r)
					}
				}
				requireRateLimited(t, e.login(t, u, "Wrong-Password-1"), "6th wrong password")
			})
			t.Run("a success clears the pair", func(t *testing.T) {
				e := cxStart(t, b, redisURL, rlFresh(t))
				u := e.user(t, "typo")
				for round := 0; round < 3; round++ {
					for i := 1; i <= 4; i++ {
						if r := e.login(t, u, "Wrong-Password-1"); r.Status != http.StatusUnauthorized {
							t.Fatalf("round %d, wrong password %d: %s, want 401", round, i, r)
						}
					}
					if r := e.login(t, u, cxPassword); r.Status != http.StatusOK {
						t.Fatalf("round %d, the right password: %s, want 200", round, r)
					}
				}
			})
			t.Run("stuffing across 30 accounts", func(t *testing.T) {
				e := cxStart(t, b, redisURL, rlSlowRefill(t))
				for i := 1; i <= 30; i++ {
					u := e.user(t, "stuff"+strconv.Itoa(i))
					if r := e.login(t, u, "Wrong-Password-1"); r.Status != http.StatusUnauthorized {
						t.Fatalf("failure %d: %s, want 401", i, r)
					}
				}
				// The budget is spent: the next attempt from the address is
				// refused whatever the account or password.
				u := e.user(t, "stuff-next")
				requireRateLimited(t, e.login(t, u, cxPassword), "31st attempt after 30 failures from one address")
			})
			t.Run("2fa and PIN: successes pass", func(t *testing.T) {
				e := cxStart(t, b, redisURL, rlFresh(t))
				u := e.user(t, "pinny")
				tok := e.token(t, u)
				if r := e.call(t, http.MethodPut, "/api/auth/pin", tok, map[string]any{"pin": "246810", "password": cxPassword}); r.Status != http.StatusNoContent {
					t.Fatalf("set PIN: %s", r)
				}
				for i := 1; i <= 12; i++ {
					if r := e.call(t, http.MethodPost, "/api/auth/pin/verify", tok, map[string]any{"pin": "246810"}); r.Status != http.StatusOK {
						t.Fatalf("PIN verify %d: %s, want 200", i, r)
					}
				}
				// 2FA: a right code clears the pair, so 4 wrong + 1 right + 4
				// wrong (9 attempts) never reaches the 6th counted attempt.
				v := e.user(t, "totpy")
				secret, _ := e.enableTOTP(t, v)
				wrong := cxTOTP(t, secret, time.Now().Add(-10*time.Minute))
				for round, right := range []bool{true, false} {
					ch := e.challenge(t, v)
					for i := 1; i <= 4; i++ {
						if r := e.call(t, http.MethodPost, "/api/auth/2fa/verify", "", map[string]any{"challenge": e.challenge(t, v), "code": wrong}); r.Status != http.StatusUnauthorized {
							t.Fatalf("round %d, wrong code %d: %s, want 401", round, i, r)
						}
					}
					if right {
						if r := e.call(t, http.MethodPost, "/api/auth/2fa/verify", "", map[string]any{"challenge": ch, "code": cxTOTP(t, secret, time.Now().Add(30*time.Second))}); r.Status != http.StatusOK {
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
	accEachBackend(t, func(cfg *Config) {
		rlFresh(t)(cfg)
		cfg.RateForgot = identity.Limit{Name: "forgot", Rate: 5, Period: time.Hour}
	}, func(t *testing.T, e *accEnv) {
		u := e.newUser(t)
		forgot := func() {
			res := e.do(t, accReq{Path: "/api/auth/password/forgot", Body: map[string]any{"tenant": e.tenant.Slug, "email": u.Email}})
			require.Equal(t, http.StatusAccepted, res.Status, "%s", res.Body)
		}
		reset := func(code, pw string) *httpResult {
			return e.do(t, accReq{Path: "/api/auth/password/reset", Body: map[string]any{"tenant": e.tenant.Slug, "email": u.Email, "code": code, "new_password": pw}})
		}
		wrong := func(code string) string {
			if code == "000000" {
				return "000001"
			}
			return "000000"
		}
		forgot()
		code, _ := e.mail.lastCode(t, u.Email)
		for i := 1; i <= 4; i++ {
			accErr(t, reset(wrong(code), "Reset#Password1x"), http.StatusUnauthorized, "invalid_code")
		}
		require.Equal(t, http.StatusNoContent, reset(code, "Reset#Password1x").Status, "the right code")
		forgot()
		code, _ = e.mail.lastCode(t, u.Email)
		for i := 1; i <= 4; i++ {
			accErr(t, reset(wrong(code), "Reset#Password2y"), http.StatusUnauthorized, "invalid_code")
		}
		// The 5th attempt since the success is allowed; the 6th is not.
		accErr(t, reset(wrong(code), "Reset#Password2y"), http.StatusUnauthorized, "invalid_code")
		res := reset(code, "Reset#Password2y")
		require.Equal(t, http.StatusTooManyRequests, res.Status, "6th attempt: %s", res.Body)
	})
}
