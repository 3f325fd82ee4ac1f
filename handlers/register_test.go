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

// regPassword meets the password policy (and a tenant minimum of 20).
const regPassword = "Signed-Up-Person-2026!"

const regPath = "/api/auth/register"

// regBody is a sign-up of email with the password above; kv adds fields.
func regBody(email string, kv ...string) map[string]any {
	m := map[string]any{"email": email, "password": regPassword, "name": "Sam Signup"}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// regUser reads the user of tenantID with email, its roles and policies.
func regUser(t *testing.T, srv *apptest.Server, tenantID, email string) (*models.User, []string, []string) {
	t.Helper()
	u, err := srv.Store.GetUserByEmail(t.Context(), tenantID, email)
	require.NoError(t, err, "user %s", email)
	held, err := srv.Store.PrincipalRoles(t.Context(), tenantID, []string{u.ID})
	require.NoError(t, err)
	roles := []string{}
	for _, r := range held[u.ID] {
		roles = append(roles, r.Name)
	}
	ps, err := srv.Store.PrincipalPolicies(t.Context(), tenantID, u.ID)
	require.NoError(t, err)
	policies := []string{}
	for _, p := range ps {
		policies = append(policies, p.Name)
	}
	return u, roles, policies
}

// regAudit returns the tenant's audit rows of action.
func regAudit(t *testing.T, srv *apptest.Server, tenantID, action string) []map[string]string {
	t.Helper()
	return srv.RowMaps(t, "SELECT actor_id, user_id, ip_address, metadata FROM audit_logs WHERE tenant_id = ? AND action = ?", tenantID, action)
}

// regOpen sets the tenant's settings (a JSON object) as PATCH /api/tenant
// would store them.
func regSettings(t *testing.T, srv *apptest.Server, tenantID, settings string) {
	t.Helper()
	_, err := srv.Store.UpdateTenant(t.Context(), tenantID, map[string]any{"settings": settings})
	require.NoError(t, err)
}

// TestRegisterCompany: a sign-up with a company name creates the tenant and
// its Owner (with the Danger Zone policy) in one go, unverified and not
// signed in, audited; the Owner can then sign in and run the tenant.
func TestRegisterCompany(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		mail := srv.CaptureMail()
		id := apptest.RandomID(t, 8)
		email := "Olga." + id + "@Example.com"

		m := requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody("  "+email+" ", "company_name", " Café Müller "+id+" GmbH ", "locale", "pt-br")),
			http.StatusCreated, "")
		slug := "cafe-muller-" + id + "-gmbh"
		require.Equal(t, slug, m["tenant_slug"], "the slug is derived from the name")
		require.Equal(t, strings.ToLower(email), m["email"], "the address is normalised")
		require.Equal(t, true, m["tenant_created"])
		require.Equal(t, true, m["email_verification_required"])
		require.NotContains(t, m, "access_token", "nobody is signed in before verifying")
		require.NotContains(t, m, "user_id")
		tn, err := srv.Store.GetTenantBySlug(t.Context(), slug)
		require.NoError(t, err)
		require.Equal(t, tn.ID, m["tenant_id"])
		require.Equal(t, "Café Müller "+id+" GmbH", tn.Name)

		u, roles, policies := regUser(t, srv, tn.ID, strings.ToLower(email))
		require.False(t, u.EmailVerified, "the address is not verified yet")
		require.True(t, u.IsActive)
		require.Equal(t, "Sam Signup", u.Name)
		require.Equal(t, "pt-BR", u.Locale)
		require.Equal(t, []string{identity.RoleOwner}, roles)
		require.Equal(t, []string{identity.DangerZonePolicy}, policies, "the founding Owner holds the Danger Zone policy")
		require.Equal(t, 4, srv.Int(t, "SELECT COUNT(*) FROM roles WHERE tenant_id = ? AND system", tn.ID), "the system roles are seeded")

		// Audit: tenant.created and user.registered, the new user acting.
		for _, action := range []string{identity.AuditTenantSignedUp, identity.AuditUserRegistered} {
			rows := regAudit(t, srv, tn.ID, action)
			require.Len(t, rows, 1, action)
			require.Equal(t, u.ID, rows[0]["actor_id"], action)
			require.Equal(t, u.ID, rows[0]["user_id"], action)
			require.NotEmpty(t, rows[0]["ip_address"], action)
			require.NotContains(t, rows[0]["metadata"], regPassword)
		}
		require.Contains(t, regAudit(t, srv, tn.ID, identity.AuditTenantSignedUp)[0]["metadata"], slug)
		// The new Owner is sent the verification message; its link proves the address.
		link, _, _ := evMessage(t, srv, mail, strings.ToLower(email))
		requireAnswer(t, srv.Call(t, http.MethodPost, "/api/auth/email/verify", "", map[string]any{"token": link}), http.StatusOK, "")

		// The Owner signs in, verified, and runs the tenant.
		tok := srv.Login(t, slug, email, regPassword)
		me, _ := requireAnswer(t, srv.Call(t, http.MethodGet, "/api/auth/me", tok, nil), http.StatusOK, "")["user"].(map[string]any)
		require.Equal(t, true, me["email_verified"])
		own := requireAnswer(t, srv.Call(t, http.MethodGet, "/api/tenant", tok, nil), http.StatusOK, "")
		require.Equal(t, slug, own["slug"])

		// A slug given explicitly, then taken.
		m = requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody("a."+id+"@example.com", "company_name", "Acme", "company_slug", " Acme-"+id+" ")),
			http.StatusCreated, "")
		require.Equal(t, "acme-"+id, m["tenant_slug"])
		m = requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody("b."+id+"@example.com", "company_name", "Acme Two", "company_slug", "acme-"+id)),
			http.StatusConflict, models.CodeSlugTaken)
		require.Contains(t, m["fields"], "company_slug")
		requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody("c."+id+"@example.com", "company_name", "Acme "+id)),
			http.StatusConflict, models.CodeSlugTaken) // derived, and taken
		require.Equal(t, 0, srv.Int(t, "SELECT COUNT(*) FROM users WHERE email IN (?, ?)", "b."+id+"@example.com", "c."+id+"@example.com"),
			"a refused sign-up leaves no user behind")

		// The same address may found another organisation: it is a new account there.
		requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody(email, "company_name", "Second "+id)), http.StatusCreated, "")
		require.Equal(t, 2, srv.Int(t, "SELECT COUNT(*) FROM users WHERE email = ?", strings.ToLower(email)))
	})
}

// TestRegisterBadInput: every bad field is a 422 naming it, never a 500,
// and the password policy answers password_policy with its rules.
func TestRegisterBadInput(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		id := apptest.RandomID(t, 8)
		email := "bad." + id + "@example.com"
		for _, tt := range []struct {
			name  string
			body  any
			code  string
			field string
		}{
			{"no email", map[string]any{"password": regPassword, "name": "N", "company_name": "C" + id}, models.CodeValidationFailed, "email"},
			{"bad email", regBody("not-an-address", "company_name", "C"+id), models.CodeValidationFailed, "email"},
			{"no name", map[string]any{"email": email, "password": regPassword, "company_name": "C" + id}, models.CodeValidationFailed, "name"},
			{"long name", regBody(email, "company_name", "C"+id, "name", strings.Repeat("n", 201)), models.CodeValidationFailed, "name"},
			{"no password", map[string]any{"email": email, "name": "N", "company_name": "C" + id}, models.CodeValidationFailed, "password"},
			{"neither company nor tenant", regBody(email), models.CodeValidationFailed, "company_name"},
			{"both company and tenant", regBody(email, "company_name", "C"+id, "tenant", "acme"), models.CodeValidationFailed, "tenant"},
			{"slug without company", regBody(email, "tenant", "acme", "company_slug", "x"), models.CodeValidationFailed, "company_slug"},
			{"long company name", regBody(email, "company_name", strings.Repeat("c", 201)), models.CodeValidationFailed, "company_name"},
			{"bad slug", regBody(email, "company_name", "C"+id, "company_slug", "-bad-"), models.CodeValidationFailed, "company_slug"},
			{"slug with spaces", regBody(email, "company_name", "C"+id, "company_slug", "bad slug"), models.CodeValidationFailed, "company_slug"},
			{"long slug", regBody(email, "company_name", "C"+id, "company_slug", strings.Repeat("s", 64)), models.CodeValidationFailed, "company_slug"},
			{"no slug derivable", regBody(email, "company_name", "日本語"), models.CodeValidationFailed, "company_slug"},
			{"bad locale", regBody(email, "company_name", "C"+id, "locale", "not a tag!"), models.CodeValidationFailed, "locale"},
			{"long tenant", regBody(email, "tenant", strings.Repeat("t", 64)), models.CodeValidationFailed, "tenant"},
			{"weak password", regBody(email, "company_name", "C"+id, "password", "short"), models.CodePasswordPolicy, "password.min_length"},
			{"password with the e-mail's name", regBody(email, "company_name", "C"+id, "password", "Bad."+id+"-Pass-99!"), models.CodePasswordPolicy, "password.contains_email"},
			{"weak password and no name", map[string]any{"email": email, "password": "short", "company_name": "C" + id}, models.CodeValidationFailed, "password.min_length"},
			{"broken JSON", "{", models.CodeInvalidBody, ""},
			{"email not a string", `{"email": 5}`, models.CodeInvalidBody, ""},
		} {
			res := srv.Call(t, http.MethodPost, regPath, "", tt.body).NotServerError(t)
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s: %s", tt.name, res.Body)
			m := res.JSON(t)
			require.Equal(t, tt.code, m["error"], "%s: %s", tt.name, res.Body)
			if tt.field != "" {
				require.Contains(t, m["fields"], tt.field, "%s: %s", tt.name, res.Body)
			}
		}
		require.Equal(t, 0, srv.Int(t, "SELECT COUNT(*) FROM users WHERE email = ?", email), "no bad sign-up made an account")
		require.Equal(t, 0, srv.Int(t, "SELECT COUNT(*) FROM tenants WHERE name = ?", "C"+id))
	})
}

// TestRegisterJoin: joining needs the tenant's self_registration; unknown
// and closed tenants answer alike; the tenant's default role and password
// minimum apply; an address the tenant already has answers exactly like a
// new one and its owner is told by e-mail.
func TestRegisterJoin(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		srv, slug := e.Server, e.Tenant.Slug
		mail := srv.CaptureMail()
		id := apptest.RandomID(t, 8)
		newEmail := "jo." + id + "@example.com"

		// Closed by default; an unknown tenant gets the very same answer.
		closed := requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody(newEmail, "tenant", slug)), http.StatusForbidden, models.CodeRegistrationClosed)
		unknown := requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody(newEmail, "tenant", "no-such-"+id)), http.StatusForbidden, models.CodeRegistrationClosed)
		require.Equal(t, closed, unknown, "unknown and closed tenants cannot be told apart")
		require.NotContains(t, closed, "required_permission")

		// Open, with a default role and a stricter password minimum.
		regSettings(t, srv, e.Tenant.ID, `{"self_registration": true, "default_role": "Manager", "password_min_length": 20}`)
		m := requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody(newEmail, "tenant", slug, "password", "Twelve-Chars-1!")),
			http.StatusUnprocessableEntity, models.CodePasswordPolicy)
		require.Contains(t, m["fields"], "password.min_length", "the tenant's password_min_length applies")
		first := requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody(strings.ToUpper(newEmail), "tenant", " "+strings.ToUpper(slug)+" ")),
			http.StatusCreated, "")
		require.Equal(t, map[string]any{"tenant_id": e.Tenant.ID, "tenant_slug": slug, "email": newEmail, "tenant_created": false,
			"email_verification_required": true}, first)
		u, roles, policies := regUser(t, srv, e.Tenant.ID, newEmail)
		require.False(t, u.EmailVerified)
		require.Equal(t, []string{identity.RoleManager}, roles, "the tenant's default_role")
		require.Empty(t, policies)
		rows := regAudit(t, srv, e.Tenant.ID, identity.AuditUserRegistered)
		require.Len(t, rows, 1)
		require.Equal(t, u.ID, rows[0]["actor_id"])
		require.Equal(t, u.ID, rows[0]["user_id"])
		require.Contains(t, rows[0]["metadata"], `"join"`)
		require.Empty(t, regAudit(t, srv, e.Tenant.ID, identity.AuditTenantSignedUp), "joining creates no tenant")
		require.Len(t, mail.Sent(newEmail), 1, "only the verification message")
		evMessage(t, srv, mail, newEmail)
		require.NotEmpty(t, srv.Login(t, slug, newEmail, regPassword))

		// Already registered: the same status and body, no second account,
		// the password untouched, and the owner of the address is told.
		for _, addr := range []string{newEmail, strings.ToUpper(e.User.Email)} {
			again := requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody(addr, "tenant", slug, "password", "Another-Password-2026?")),
				http.StatusCreated, "")
			want := map[string]any{}
			for k, v := range first {
				want[k] = v
			}
			want["email"] = strings.ToLower(addr)
			require.Equal(t, want, again, "an existing account answers like a new one")
			require.Equal(t, 1, srv.Int(t, "SELECT COUNT(*) FROM users WHERE tenant_id = ? AND email = ?", e.Tenant.ID, strings.ToLower(addr)))
			notes := mail.To(strings.ToLower(addr), "Someone tried to sign up")
			require.Len(t, notes, 1, "the address's owner is told")
			require.Contains(t, notes[0].Text, srv.Config.Issuer+"/login?tenant="+slug)
			require.Contains(t, notes[0].Text, srv.Config.Issuer+"/forgot-password?")
			require.Contains(t, notes[0].Text, e.Tenant.Name)
			require.NotContains(t, notes[0].Text, "Another-Password-2026?")
		}
		require.NotEmpty(t, srv.Login(t, slug, e.User.Email, apptest.Password), "the existing password still works")
		require.Len(t, regAudit(t, srv, e.Tenant.ID, identity.AuditUserRegistered), 1, "no audit row claims a registration that did not happen")
		// The notices are bounded per address; the answer never changes.
		for range 4 {
			requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody(e.User.Email, "tenant", slug)), http.StatusCreated, "")
		}
		require.Len(t, mail.To(e.User.Email, "Someone tried to sign up"), 3, "at most 3 notices an hour")

		// A default_role that names no role of the tenant (or Owner, by a
		// hand-edited row) falls back to Member.
		for i, role := range []string{"Ghost", identity.RoleOwner, ""} {
			regSettings(t, srv, e.Tenant.ID, `{"self_registration": true, "default_role": "`+role+`"}`)
			addr := "fallback" + string(rune('a'+i)) + "." + id + "@example.com"
			requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody(addr, "tenant", slug)), http.StatusCreated, "")
			_, roles, _ := regUser(t, srv, e.Tenant.ID, addr)
			require.Equal(t, []string{identity.RoleMember}, roles, "default_role %q", role)
		}

		// Closed again, or suspended: refused like an unknown tenant.
		regSettings(t, srv, e.Tenant.ID, `{"self_registration": false}`)
		require.Equal(t, unknown, requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody("late."+id+"@example.com", "tenant", slug)),
			http.StatusForbidden, models.CodeRegistrationClosed))
		regSettings(t, srv, e.Tenant.ID, `{"self_registration": true}`)
		_, err := srv.Store.SuspendTenant(t.Context(), e.Tenant.ID)
		require.NoError(t, err)
		require.Equal(t, unknown, requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody("late."+id+"@example.com", "tenant", slug)),
			http.StatusForbidden, models.CodeRegistrationClosed))
		require.Equal(t, 0, srv.Int(t, "SELECT COUNT(*) FROM users WHERE email = ?", "late."+id+"@example.com"))
	})
}

// TestRegisterDeploymentSettings: sign-up off, company creation off and the
// e-mail domain allow-list.
func TestRegisterDeploymentSettings(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		id := apptest.RandomID(t, 8)
		t.Run("signup off", func(t *testing.T) {
			e := apptest.NewEnv(t, b, func(c *app.Config) { c.SignupEnabled = false })
			srv := e.Server
			regSettings(t, srv, e.Tenant.ID, `{"self_registration": true}`)
			requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody("off."+id+"@example.com", "company_name", "Off "+id)), http.StatusForbidden, models.CodeSignupDisabled)
			requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody("off."+id+"@example.com", "tenant", e.Tenant.Slug)), http.StatusForbidden, models.CodeSignupDisabled)
			requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", "{"), http.StatusUnprocessableEntity, models.CodeInvalidBody)
			br := srv.NewBrowser(t)
			page := br.Get(srv.URL + "/register")
			require.Equal(t, http.StatusNotFound, page.Status)
			require.Contains(t, string(page.Body), "Ask your organisation to invite you")
			require.Contains(t, string(page.Body), `href="/login"`, "a way back")
			require.NotContains(t, string(page.Body), `name="password"`)
			require.NotContains(t, string(br.Get(srv.URL+"/login").Body), `href="/register"`, "the sign-in page offers no sign-up")
			require.Equal(t, 0, srv.Int(t, "SELECT COUNT(*) FROM users WHERE email = ?", "off."+id+"@example.com"))
		})
		t.Run("company creation off", func(t *testing.T) {
			e := apptest.NewEnv(t, b, func(c *app.Config) { c.SignupCompanyCreation = false })
			srv := e.Server
			requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody("co."+id+"@example.com", "company_name", "Co "+id)),
				http.StatusForbidden, models.CodeCompanySignupDisabled)
			m := requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody("co."+id+"@example.com")), http.StatusUnprocessableEntity, models.CodeValidationFailed)
			require.Contains(t, m["fields"], "tenant", "without company creation, the tenant to join is what is missing")
			regSettings(t, srv, e.Tenant.ID, `{"self_registration": true}`)
			requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody("co."+id+"@example.com", "tenant", e.Tenant.Slug)), http.StatusCreated, "")
			page := srv.NewBrowser(t).Get(srv.URL + "/register")
			require.Equal(t, http.StatusOK, page.Status)
			f := apptest.ParseForm(t, page)
			require.Contains(t, f.Fields, "tenant", "the page offers joining only")
			require.NotContains(t, f.Fields, "company_name")
			require.NotContains(t, string(page.Body), "Create a new organisation")
		})
		t.Run("allowed domains", func(t *testing.T) {
			srv := apptest.New(t, b, func(c *app.Config) { c.SignupAllowedDomains = []string{"example.com"} })
			for _, addr := range []string{"x." + id + "@other.org", "x." + id + "@sub.example.com", "x." + id + "@example.com.evil.org"} {
				m := requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody(addr, "company_name", "Dom "+id)), http.StatusUnprocessableEntity, models.CodeValidationFailed)
				require.Contains(t, m["fields"], "email", addr)
			}
			requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody("x."+id+"@EXAMPLE.com", "company_name", "Dom "+id)), http.StatusCreated, "")
		})
	})
}

// TestRegisterRateLimit: sign-up attempts per IP, successes and failures
// alike, then 429 with Retry-After.
func TestRegisterRateLimit(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, func(c *app.Config) {
			c.RateRegister = identity.Limit{Name: "register", Rate: 3, Period: time.Hour}
		})
		id := apptest.RandomID(t, 8)
		requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody("r1."+id+"@example.com", "company_name", "R1 "+id)), http.StatusCreated, "")
		requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody("r2."+id+"@example.com", "company_name", "R2 "+id, "password", "weak")),
			http.StatusUnprocessableEntity, models.CodePasswordPolicy)
		requireAnswer(t, srv.Call(t, http.MethodPost, regPath, "", regBody("r3."+id+"@example.com", "tenant", "nowhere-"+id)), http.StatusForbidden, models.CodeRegistrationClosed)
		res := srv.Call(t, http.MethodPost, regPath, "", regBody("r4."+id+"@example.com", "company_name", "R4 "+id))
		requireAnswer(t, res, http.StatusTooManyRequests, models.CodeRateLimited)
		require.NotEmpty(t, res.Header.Get("Retry-After"))
		// The page shares the budget.
		br := srv.NewBrowser(t)
		f := apptest.ParseForm(t, br.Get(srv.URL+"/register"))
		f.Fields.Set("company_name", "R5 "+id)
		f.Fields.Set("name", "R")
		f.Fields.Set("email", "r5."+id+"@example.com")
		f.Fields.Set("password", regPassword)
		f.Fields.Set("confirm_password", regPassword)
		page := br.Post(f.Action, f.Fields)
		require.Equal(t, http.StatusTooManyRequests, page.Status, "%s", page.Body)
		require.Contains(t, string(page.Body), "Wait a while")
		require.Equal(t, 0, srv.Int(t, "SELECT COUNT(*) FROM tenants WHERE name IN (?, ?)", "R4 "+id, "R5 "+id))
	})
}

// TestRegisterConcurrentSlug: 10 concurrent sign-ups for one company slug
// make exactly one tenant with one user; the other nine get 409 slug_taken.
// Five concurrent joins of one new address make one account, and each
// gets the same 201.
func TestRegisterConcurrentSlug(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		id := apptest.RandomID(t, 8)
		slug := "race-" + id
		const n = 10
		var wg sync.WaitGroup
		results := make([]*apptest.Result, n)
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				results[i], errs[i] = apptest.Send(srv.URL, apptest.Request{Path: regPath,
					Body: regBody("racer"+string(rune('a'+i))+"."+id+"@example.com", "company_name", "Race "+id, "company_slug", slug)})
			}()
		}
		wg.Wait()
		created, taken := 0, 0
		for i, res := range results {
			require.NoError(t, errs[i])
			switch res.Status {
			case http.StatusCreated:
				created++
			case http.StatusConflict:
				taken++
				var m map[string]any
				require.NoError(t, json.Unmarshal(res.Body, &m))
				require.Equal(t, models.CodeSlugTaken, m["error"], "%s", res.Body)
			default:
				t.Fatalf("sign-up %d answered %d: %s\n%s", i, res.Status, res.Body, srv.ErrorLogs())
			}
		}
		require.Equal(t, 1, created, "exactly one sign-up wins")
		require.Equal(t, n-1, taken)
		require.Equal(t, 1, srv.Int(t, "SELECT COUNT(*) FROM tenants WHERE slug = ?", slug))
		tn, err := srv.Store.GetTenantBySlug(t.Context(), slug)
		require.NoError(t, err)
		require.Equal(t, 1, srv.Int(t, "SELECT COUNT(*) FROM users WHERE tenant_id = ?", tn.ID))
		require.Equal(t, 1, srv.Int(t, "SELECT COUNT(*) FROM users WHERE email LIKE ?", "racer%."+id+"@example.com"), "the losers left no user")
		require.Len(t, regAudit(t, srv, tn.ID, identity.AuditTenantSignedUp), 1)
		require.Len(t, regAudit(t, srv, tn.ID, identity.AuditUserRegistered), 1)

		// Concurrent joins of one address: one account, five equal answers.
		regSettings(t, srv, tn.ID, `{"self_registration": true}`)
		const joins = 5
		jres := make([]*apptest.Result, joins)
		jerrs := make([]error, joins)
		for i := range joins {
			wg.Add(1)
			go func() {
				defer wg.Done()
				jres[i], jerrs[i] = apptest.Send(srv.URL, apptest.Request{Path: regPath, Body: regBody("twin."+id+"@example.com", "tenant", slug)})
			}()
		}
		wg.Wait()
		for i, res := range jres {
			require.NoError(t, jerrs[i])
			require.Equal(t, http.StatusCreated, res.Status, "join %d: %s\n%s", i, res.Body, srv.ErrorLogs())
			require.JSONEq(t, string(jres[0].Body), string(res.Body))
		}
		require.Equal(t, 1, srv.Int(t, "SELECT COUNT(*) FROM users WHERE email = ?", "twin."+id+"@example.com"))
	})
}
