package handlers_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

// otpEnv is a server with a tenant, its user (signed in), a colleague, and
// a mailbox that captures the codes.
type otpEnv struct {
	*apptest.Env
	mail      *apptest.Mailbox
	token     string
	colleague *models.User
}

func newOTPEnv(t *testing.T, b apptest.Backend, mutate func(*app.Config)) *otpEnv {
	t.Helper()
	e := apptest.NewEnv(t, b, mutate)
	mail := e.Server.CaptureMail()
	colleague := e.Server.AddUser(t, apptest.NewUser{TenantSlug: e.Tenant.Slug, Email: "grace." + e.Tenant.Slug + "@example.com", Password: apptest.Password, Name: "Grace Hopper"})
	return &otpEnv{Env: e, mail: mail, token: e.Server.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password), colleague: colleague}
}

// otpService is a service account of a tenant holding perms, with an API
// key and a client-credentials token of a client bound to it.
type otpService struct {
	id, apiKey, token string
}

func newOTPService(t *testing.T, e *apptest.Env, perms ...string) otpService {
	t.Helper()
	ctx, srv := t.Context(), e.Server
	actor := identity.SystemActor(e.Tenant.ID)
	name := "otp-" + apptest.RandomID(t, 6)
	sa, err := srv.ServiceAccounts.Create(ctx, actor, identity.ServiceAccountInput{Name: &name})
	require.NoError(t, err)
	if len(perms) > 0 {
		require.NoError(t, srv.Store.SeedTenantRoles(ctx, e.Tenant.ID, map[string][]string{name: perms}, identity.DangerZonePolicy, identity.DangerActions))
		r, err := srv.Store.GetRoleByName(ctx, e.Tenant.ID, name)
		require.NoError(t, err)
		_, err = srv.ServiceAccounts.AssignRole(ctx, actor, sa.ID, r.ID)
		require.NoError(t, err)
	}
	key, err := srv.APIKeys.Create(ctx, actor, sa.ID, "otp", nil)
	require.NoError(t, err)
	cc, err := srv.Clients.Create(ctx, actor, identity.NewClient{Name: name, GrantTypes: []string{"client_credentials"}, ServiceAccountID: sa.ID})
	require.NoError(t, err)
	return otpService{id: sa.ID, apiKey: key.Key, token: clientCredentialsToken(t, srv, cc.Client.ID, cc.Secret)}
}

func (e *otpEnv) generate(t *testing.T, token string, body any) *apptest.Result {
	t.Helper()
	return e.Server.Call(t, http.MethodPost, "/api/otp/generate", token, body).NotServerError(t)
}

func (e *otpEnv) verify(t *testing.T, token string, body any) *apptest.Result {
	t.Helper()
	return e.Server.Call(t, http.MethodPost, "/api/otp/verify", token, body).NotServerError(t)
}

// generated asks for a code for user (through token) and returns it from
// the e-mail, checking the answer holds no code.
func (e *otpEnv) generated(t *testing.T, token string, user *models.User, body map[string]any) string {
	t.Helper()
	n := len(e.mail.Sent(user.Email))
	res := e.generate(t, token, body)
	m := requireAnswer(t, res, http.StatusAccepted, "")
	require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
	require.Equal(t, user.ID, m["user_id"])
	require.Equal(t, body["purpose"], m["purpose"])
	require.Equal(t, "email", m["channel"])
	require.NotContains(t, m, "code")
	msgs := e.mail.Sent(user.Email)
	require.Len(t, msgs, n+1, "one e-mail per code")
	code := apptest.CodeIn(t, msgs[len(msgs)-1].Text)
	require.NotContains(t, string(res.Body), code, "the answer never holds the code")
	return code
}

func requireInvalidCode(t *testing.T, res *apptest.Result) {
	t.Helper()
	requireAnswer(t, res, http.StatusUnauthorized, "invalid_code")
}

// otpAudit returns the tenant's otp.* audit rows (action, user, metadata).
func otpAudit(t *testing.T, srv *apptest.Server, tenantID string) [][]string {
	t.Helper()
	return srv.Rows(t, "SELECT action, user_id, actor_id, metadata FROM audit_logs WHERE tenant_id = '"+tenantID+"' AND action LIKE 'otp.%' ORDER BY created_at")
}

// TestOTPUserSelf: a signed-in user asks for a code for themself, gets it
// by e-mail, and it works once, for its purpose only; a new code replaces
// the pending one; a user cannot ask for a colleague.
func TestOTPUserSelf(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newOTPEnv(t, b, nil)
		body := map[string]any{"purpose": "payment.confirm"}
		code := e.generated(t, e.token, e.User, body)
		msg := e.mail.Sent(e.User.Email)[0]
		require.Equal(t, "Your one-time code", msg.Subject)
		require.Contains(t, msg.Text, "payment.confirm", "the e-mail says what the code is for")
		require.Contains(t, msg.Text, "expires in 5 minutes")
		m := requireAnswer(t, e.generate(t, e.token, map[string]any{"purpose": "probe", "user_id": e.User.ID, "channel": "email"}), http.StatusAccepted, "")
		require.EqualValues(t, 300, m["expires_in"])
		exp, err := time.Parse(time.RFC3339Nano, m["expires_at"].(string))
		require.NoError(t, err)
		require.WithinDuration(t, time.Now().Add(5*time.Minute), exp, time.Minute)

		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		requireInvalidCode(t, e.verify(t, e.token, map[string]any{"purpose": "payment.confirm", "code": wrong}))
		requireInvalidCode(t, e.verify(t, e.token, map[string]any{"purpose": "other", "code": code}))
		ok := requireAnswer(t, e.verify(t, e.token, map[string]any{"purpose": "payment.confirm", "code": code, "user_id": e.User.ID}), http.StatusOK, "")
		require.Equal(t, map[string]any{"verified": true}, ok)
		// Single use.
		requireInvalidCode(t, e.verify(t, e.token, map[string]any{"purpose": "payment.confirm", "code": code}))

		// A new code replaces the pending one.
		first := e.generated(t, e.token, e.User, body)
		second := e.generated(t, e.token, e.User, body)
		if first != second {
			requireInvalidCode(t, e.verify(t, e.token, map[string]any{"purpose": "payment.confirm", "code": first}))
		}
		requireAnswer(t, e.verify(t, e.token, map[string]any{"purpose": "payment.confirm", "code": second}), http.StatusOK, "")

		// A user acts only for themself, whatever they hold.
		res := e.generate(t, e.token, map[string]any{"purpose": "payment.confirm", "user_id": e.colleague.ID})
		requireAnswer(t, res, http.StatusForbidden, "forbidden")
		res = e.verify(t, e.token, map[string]any{"purpose": "payment.confirm", "code": code, "user_id": e.colleague.ID})
		requireAnswer(t, res, http.StatusForbidden, "forbidden")
		require.Empty(t, e.mail.Sent(e.colleague.Email))

		// No credential, or a token that is no bearer credential.
		requireAnswer(t, e.generate(t, "", body), http.StatusUnauthorized, "")
		requireAnswer(t, e.verify(t, "not-a-token", map[string]any{"purpose": "payment.confirm", "code": code}), http.StatusUnauthorized, "")

		// The audit trail names the purpose, never the code.
		rows := otpAudit(t, e.Server, e.Tenant.ID)
		var actions []string
		for _, r := range rows {
			actions = append(actions, r[0])
			require.Equal(t, e.User.ID, r[1])
			require.Equal(t, e.User.ID, r[2])
			var md map[string]any
			require.NoError(t, json.Unmarshal([]byte(r[3]), &md))
			require.NotEmpty(t, md["purpose"])
			for _, c := range []string{code, first, second} {
				require.NotContains(t, r[3], c, "audit metadata holds no code")
			}
		}
		count := map[string]int{}
		for _, a := range actions {
			count[a]++
		}
		// Generated: code, probe, first, second. Failed: wrong code, wrong
		// purpose, reuse, the replaced first code (when it differs).
		// Verified: code and second. Refusals (403, 401) write no row.
		failed := 3
		if first != second {
			failed = 4
		}
		require.Equal(t, map[string]int{"otp.generated": 4, "otp.failed": failed, "otp.verified": 2}, count)
		require.NotContains(t, e.Server.Logs.String(), code, "the code is never logged")
	})
}

// TestOTPService: a service account with identity.otp.send and
// identity.otp.verify (by client-credentials token or API key) generates
// and verifies codes for users of its tenant; another tenant's user is 404;
// without the permission it is 403 naming it.
func TestOTPService(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newOTPEnv(t, b, nil)
		svc := newOTPService(t, e.Env, identity.PermOTPSend, identity.PermOTPVerify)
		body := map[string]any{"purpose": "wallet:withdraw", "user_id": e.colleague.ID}
		code := e.generated(t, svc.token, e.colleague, body)
		requireAnswer(t, e.verify(t, svc.apiKey, map[string]any{"purpose": "wallet:withdraw", "code": code, "user_id": e.User.ID}), http.StatusUnauthorized, "invalid_code")
		requireAnswer(t, e.verify(t, svc.apiKey, map[string]any{"purpose": "wallet:withdraw", "code": code, "user_id": e.colleague.ID}), http.StatusOK, "")
		code = e.generated(t, svc.apiKey, e.colleague, body)
		// The user can verify their own code too (the purpose binds, not the caller).
		colleagueToken := e.Server.Login(t, e.Tenant.Slug, e.colleague.Email, apptest.Password)
		requireAnswer(t, e.verify(t, colleagueToken, map[string]any{"purpose": "wallet:withdraw", "code": code}), http.StatusOK, "")

		// user_id is required of a service.
		m := requireAnswer(t, e.generate(t, svc.token, map[string]any{"purpose": "wallet:withdraw"}), http.StatusUnprocessableEntity, "validation_failed")
		require.Contains(t, m["fields"], "user_id")
		requireAnswer(t, e.verify(t, svc.token, map[string]any{"purpose": "wallet:withdraw", "code": "123456"}), http.StatusUnprocessableEntity, "validation_failed")

		// Another tenant's user, or no user, is 404; nothing is sent.
		other := apptest.Seed(t, e.Server)
		for _, id := range []string{other.User.ID, "00000000-0000-0000-0000-000000000000", "not-a-uuid"} {
			requireAnswer(t, e.generate(t, svc.token, map[string]any{"purpose": "wallet:withdraw", "user_id": id}), http.StatusNotFound, "user_not_found")
			requireAnswer(t, e.verify(t, svc.apiKey, map[string]any{"purpose": "wallet:withdraw", "code": "123456", "user_id": id}), http.StatusNotFound, "user_not_found")
		}
		require.Empty(t, e.mail.Sent(other.User.Email))
		// And another tenant's service cannot touch this tenant's users.
		otherSvc := newOTPService(t, other, identity.PermOTPSend, identity.PermOTPVerify)
		requireAnswer(t, e.generate(t, otherSvc.token, map[string]any{"purpose": "wallet:withdraw", "user_id": e.User.ID}), http.StatusNotFound, "user_not_found")

		// Missing permissions: 403 naming the one needed.
		sendOnly := newOTPService(t, e.Env, identity.PermOTPSend)
		none := newOTPService(t, e.Env)
		requireForbidden(t, e.generate(t, none.token, body), identity.PermOTPSend)
		requireForbidden(t, e.generate(t, none.apiKey, body), identity.PermOTPSend)
		requireForbidden(t, e.verify(t, none.apiKey, map[string]any{"purpose": "wallet:withdraw", "code": "123456", "user_id": e.colleague.ID}), identity.PermOTPVerify)
		code = e.generated(t, sendOnly.token, e.colleague, body)
		requireForbidden(t, e.verify(t, sendOnly.token, map[string]any{"purpose": "wallet:withdraw", "code": code, "user_id": e.colleague.ID}), identity.PermOTPVerify)
		requireAnswer(t, e.verify(t, svc.token, map[string]any{"purpose": "wallet:withdraw", "code": code, "user_id": e.colleague.ID}), http.StatusOK, "")

		// A deactivated user gets no codes.
		e.Server.Exec(t, "UPDATE users SET is_active = false WHERE id = '"+e.colleague.ID+"'")
		requireAnswer(t, e.generate(t, svc.token, body), http.StatusConflict, "user_inactive")

		// The audit rows name the service as actor and the user as subject.
		found := map[string]bool{}
		for _, r := range otpAudit(t, e.Server, e.Tenant.ID) {
			if r[1] == e.colleague.ID && r[2] == svc.id && strings.Contains(r[3], `"actor_kind":"service_account"`) && strings.Contains(r[3], `"purpose":"wallet:withdraw"`) {
				found[r[0]] = true
			}
		}
		require.Equal(t, map[string]bool{"otp.generated": true, "otp.verified": true}, found,
			"the service is the actor, the user the subject")
	})
}

// TestOTPBadInput: every malformed request is 422 in the documented shape.
func TestOTPBadInput(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newOTPEnv(t, b, nil)
		for _, tt := range []struct {
			name  string
			path  string
			body  any
			code  string
			field string
		}{
			{"no purpose", "generate", map[string]any{}, "validation_failed", "purpose"},
			{"upper case", "generate", map[string]any{"purpose": "Payment"}, "validation_failed", "purpose"},
			{"space", "generate", map[string]any{"purpose": "a b"}, "validation_failed", "purpose"},
			{"too long", "generate", map[string]any{"purpose": strings.Repeat("p", 65)}, "validation_failed", "purpose"},
			{"not ascii", "generate", map[string]any{"purpose": "paiement.confirmé"}, "validation_failed", "purpose"},
			{"control", "generate", map[string]any{"purpose": "a\u0000"}, "", ""},
			{"channel", "generate", map[string]any{"purpose": "ok", "channel": "sms"}, "validation_failed", "channel"},
			{"purpose type", "generate", `{"purpose": 5}`, "invalid_body", ""},
			{"not json", "generate", "{", "invalid_body", ""},
			{"verify no purpose", "verify", map[string]any{"code": "123456"}, "validation_failed", "purpose"},
			{"short code", "verify", map[string]any{"purpose": "ok", "code": "12345"}, "validation_failed", "code"},
			{"long code", "verify", map[string]any{"purpose": "ok", "code": "1234567"}, "validation_failed", "code"},
			{"letters", "verify", map[string]any{"purpose": "ok", "code": "12a456"}, "validation_failed", "code"},
			{"no code", "verify", map[string]any{"purpose": "ok"}, "validation_failed", "code"},
			{"code type", "verify", `{"purpose": "ok", "code": 123456}`, "invalid_body", ""},
		} {
			t.Run(tt.name, func(t *testing.T) {
				res := e.Server.Call(t, http.MethodPost, "/api/otp/"+tt.path, e.token, tt.body).NotServerError(t)
				m := requireAnswer(t, res, http.StatusUnprocessableEntity, tt.code)
				if tt.field != "" {
					require.Contains(t, m["fields"], tt.field)
				}
			})
		}
		require.Empty(t, e.mail.Sent(e.User.Email), "no bad request sent a code")
	})
}

// TestOTPExpiry: a code stops working when it expires (moved into the past
// in the database: no waiting), and a shorter configured lifetime is what
// the answer and the e-mail say.
func TestOTPExpiry(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newOTPEnv(t, b, func(c *app.Config) { c.OTPTTL = 90 * time.Second })
		m := requireAnswer(t, e.generate(t, e.token, map[string]any{"purpose": "login.confirm"}), http.StatusAccepted, "")
		require.EqualValues(t, 90, m["expires_in"])
		code, _ := e.mail.LastCode(t, e.User.Email)
		require.Contains(t, e.mail.Sent(e.User.Email)[0].Text, "expires in 90 seconds")
		e.Server.Exec(t, "UPDATE one_time_codes SET expires_at = '2001-01-01 00:00:00+00:00' WHERE user_id = '"+e.User.ID+"'")
		requireInvalidCode(t, e.verify(t, e.token, map[string]any{"purpose": "login.confirm", "code": code}))
		// A fresh code works.
		code = e.generated(t, e.token, e.User, map[string]any{"purpose": "login.confirm"})
		requireAnswer(t, e.verify(t, e.token, map[string]any{"purpose": "login.confirm", "code": code}), http.StatusOK, "")
	})
}

// TestOTPAttempts: five wrong codes kill the code; the right one then
// fails too, and a new code starts again.
func TestOTPAttempts(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newOTPEnv(t, b, nil)
		body := map[string]any{"purpose": "payment.confirm"}
		code := e.generated(t, e.token, e.User, body)
		wrong := "000000"
		if code == wrong {
			wrong = "999999"
		}
		for range 5 {
			requireInvalidCode(t, e.verify(t, e.token, map[string]any{"purpose": "payment.confirm", "code": wrong}))
		}
		requireInvalidCode(t, e.verify(t, e.token, map[string]any{"purpose": "payment.confirm", "code": code}))
		code = e.generated(t, e.token, e.User, body)
		requireAnswer(t, e.verify(t, e.token, map[string]any{"purpose": "payment.confirm", "code": code}), http.StatusOK, "")
	})
}

// raceVerify sends n verifications of code at once and returns the statuses.
func raceVerify(t *testing.T, e *otpEnv, token string, n int, body map[string]any) map[int]int {
	t.Helper()
	statuses := make([]int, n)
	errs := make([]error, n)
	start := make(chan struct{})
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			res, err := apptest.Send(e.Server.URL, apptest.Request{Path: "/api/otp/verify", Token: token, Body: body})
			if err != nil {
				errs[i] = err
				return
			}
			statuses[i] = res.Status
			if res.Status != http.StatusOK {
				var m map[string]any
				if json.Unmarshal(res.Body, &m) != nil || m["error"] != "invalid_code" {
					statuses[i] = -res.Status
				}
			}
		}()
	}
	close(start)
	wg.Wait()
	count := map[int]int{}
	for i := range n {
		require.NoError(t, errs[i])
		count[statuses[i]]++
	}
	return count
}

// TestOTPConcurrentVerify: 20 concurrent verifications of one right code
// succeed once; 20 concurrent wrong ones kill the code after five.
func TestOTPConcurrentVerify(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newOTPEnv(t, b, nil)
		svc := newOTPService(t, e.Env, identity.PermOTPSend, identity.PermOTPVerify)
		body := map[string]any{"purpose": "payment.confirm", "user_id": e.colleague.ID}
		code := e.generated(t, svc.token, e.colleague, body)
		got := raceVerify(t, e, svc.token, 20, map[string]any{"purpose": "payment.confirm", "user_id": e.colleague.ID, "code": code})
		require.Equal(t, map[int]int{http.StatusOK: 1, http.StatusUnauthorized: 19}, got, "one success, the rest invalid_code")

		code = e.generated(t, svc.token, e.colleague, body)
		wrong := "000000"
		if code == wrong {
			wrong = "999999"
		}
		got = raceVerify(t, e, svc.apiKey, 20, map[string]any{"purpose": "payment.confirm", "user_id": e.colleague.ID, "code": wrong})
		require.Equal(t, map[int]int{http.StatusUnauthorized: 20}, got)
		rows := e.Server.Rows(t, "SELECT attempts FROM one_time_codes WHERE user_id = '"+e.colleague.ID+"'")
		require.Equal(t, [][]string{{"5"}}, rows, "no more than five attempts were claimed")
		requireInvalidCode(t, e.verify(t, svc.token, map[string]any{"purpose": "payment.confirm", "user_id": e.colleague.ID, "code": code}))
	})
}

// TestOTPRateLimits: new codes per (user, purpose) and per caller, and
// verifications per user, are bounded (429 with Retry-After).
func TestOTPRateLimits(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newOTPEnv(t, b, func(c *app.Config) {
			c.RateOTPGenerate = identity.Limit{Rate: 2, Period: time.Hour}
			c.RateOTPCaller = identity.Limit{Rate: 5, Period: time.Hour} // the refused third counts too
			c.RateOTPVerify = identity.Limit{Rate: 3, Period: time.Hour}
		})
		svc := newOTPService(t, e.Env, identity.PermOTPSend, identity.PermOTPVerify)
		purpose := "p-" + apptest.RandomID(t, 6)
		for range 2 {
			requireAnswer(t, e.generate(t, e.token, map[string]any{"purpose": purpose}), http.StatusAccepted, "")
		}
		res := e.generate(t, e.token, map[string]any{"purpose": purpose})
		requireAnswer(t, res, http.StatusTooManyRequests, "rate_limited")
		require.NotEmpty(t, res.Header.Get("Retry-After"))
		// Another purpose has its own budget; the caller's is shared.
		requireAnswer(t, e.generate(t, e.token, map[string]any{"purpose": purpose + "-2"}), http.StatusAccepted, "")
		requireAnswer(t, e.generate(t, e.token, map[string]any{"purpose": purpose + "-3"}), http.StatusAccepted, "")
		requireAnswer(t, e.generate(t, e.token, map[string]any{"purpose": purpose + "-4"}), http.StatusTooManyRequests, "rate_limited")
		// The (user, purpose) budget holds whoever asks.
		requireAnswer(t, e.generate(t, svc.token, map[string]any{"purpose": purpose, "user_id": e.User.ID}), http.StatusTooManyRequests, "rate_limited")

		// Verifications per user, whoever asks.
		for range 2 {
			requireInvalidCode(t, e.verify(t, e.token, map[string]any{"purpose": purpose, "code": "000000"}))
		}
		requireInvalidCode(t, e.verify(t, svc.token, map[string]any{"purpose": purpose, "code": "000000", "user_id": e.User.ID}))
		res = e.verify(t, e.token, map[string]any{"purpose": purpose, "code": "000000"})
		requireAnswer(t, res, http.StatusTooManyRequests, "rate_limited")
		require.NotEmpty(t, res.Header.Get("Retry-After"))
		// Another user's budget is their own.
		requireInvalidCode(t, e.verify(t, svc.token, map[string]any{"purpose": purpose, "code": "000000", "user_id": e.colleague.ID}))
	})
}

// TestOTPUserPermissionsDoNotReachOthers: the Owner role holds
// identity.otp.send and identity.otp.verify (to grant them to a service),
// yet an Owner still asks for codes only for themself; and an
// impersonation token asks for none.
func TestOTPUserPermissionsDoNotReachOthers(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		env := newSystemAdminEnv(t, b, nil)
		srv := env.Server
		mail := srv.CaptureMail()
		require.Contains(t, identity.SystemRoles()[identity.RoleOwner], identity.PermOTPSend)
		require.Contains(t, identity.SystemRoles()[identity.RoleAdmin], identity.PermOTPVerify)
		require.NotContains(t, identity.SystemRoles()[identity.RoleMember], identity.PermOTPSend)
		require.NotContains(t, identity.SystemRoles()[identity.RoleManager], identity.PermOTPSend)

		res := srv.Call(t, http.MethodPost, "/api/otp/generate", env.ownerToken, map[string]any{"purpose": "payment.confirm", "user_id": env.User.ID}).NotServerError(t)
		requireAnswer(t, res, http.StatusForbidden, "forbidden")
		require.Empty(t, mail.Sent(env.User.Email))
		res = srv.Call(t, http.MethodPost, "/api/otp/generate", env.ownerToken, map[string]any{"purpose": "payment.confirm"}).NotServerError(t)
		requireAnswer(t, res, http.StatusAccepted, "")
		require.Len(t, mail.Sent(env.owner.Email), 1)

		res = srv.Call(t, http.MethodPost, "/api/admin/impersonate", env.adminToken,
			map[string]any{"tenant_id": env.Tenant.ID, "user_id": env.owner.ID, "reason": "ticket 10"}).NotServerError(t)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		imp := res.JSON(t)["access_token"].(string)
		for _, path := range []string{"/api/otp/generate", "/api/otp/verify"} {
			res = srv.Call(t, http.MethodPost, path, imp, map[string]any{"purpose": "payment.confirm", "code": "123456"}).NotServerError(t)
			requireAnswer(t, res, http.StatusForbidden, "impersonation_forbidden")
		}
		require.Len(t, mail.Sent(env.owner.Email), 1)
	})
}

// TestOTPMailWording: the lifetime in the e-mail is written for people.
func TestOTPMailWording(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newOTPEnv(t, b, func(c *app.Config) { c.OTPTTL = time.Minute })
		e.generated(t, e.token, e.User, map[string]any{"purpose": "device:pair"})
		text := e.mail.Sent(e.User.Email)[0].Text
		require.Contains(t, text, "expires in 1 minute ")
		require.Contains(t, text, "device:pair")
		require.Contains(t, text, "If you did not ask for this code")
	})
}
