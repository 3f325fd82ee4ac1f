package handlers_test

import (
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
)

// TestE2EProfilePatch: every profile field is set, normalised, refused with
// a per-field 422 when bad, and cleared with null; PATCH is partial; the
// audit row names the changed fields and never a value.
func TestE2EProfilePatch(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		srv := e.Server
		phone := srv.CapturePhone()
		tok := srv.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
		patch := func(body any) *apptest.Result {
			return srv.Call(t, http.MethodPatch, "/api/auth/me", tok, body)
		}

		valid := []struct {
			field string
			in    any
			want  any
		}{
			{"name", "  Ada Lovelace ", "Ada Lovelace"},
			{"given_name", "Ada", "Ada"},
			{"family_name", "Lovelace", "Lovelace"},
			{"locale", "en-gb", "en-GB"},
			{"zoneinfo", "Europe/London", "Europe/London"},
			{"picture", "https://cdn.example.com/ada.png", "https://cdn.example.com/ada.png"},
			{"phone_number", "+44 20 7946 0958", "+442079460958"},
			{"marketing_emails", true, true},
			{"profile_visible_to_colleagues", true, true},
		}
		for _, tt := range valid {
			res := patch(map[string]any{tt.field: tt.in})
			require.Equal(t, http.StatusOK, res.Status, "%s: %s", tt.field, res.Body)
			require.Equal(t, tt.want, res.JSON(t)["user"].(map[string]any)[tt.field], tt.field)
		}
		me := srv.Call(t, http.MethodGet, "/api/auth/me", tok, nil)
		require.Equal(t, http.StatusOK, me.Status)
		u := me.JSON(t)["user"].(map[string]any)
		require.Equal(t, "Ada", u["given_name"], "partial: later PATCHes left earlier fields alone")
		require.Equal(t, "Europe/London", u["zoneinfo"])
		require.Equal(t, false, u["phone_number_verified"])
		require.NotEmpty(t, u["profile_updated_at"])
		require.Len(t, phone.Sent("+442079460958"), 1, "a new number gets one code")

		invalid := []struct {
			field string
			in    any
		}{
			{"name", strings.Repeat("x", 201)},
			{"given_name", "a\x00b"},
			{"family_name", 7},
			{"locale", "not a locale!"},
			{"locale", strings.Repeat("a", 40)},
			{"zoneinfo", "Mars/Olympus_Mons"},
			{"zoneinfo", "Local"},
			{"zoneinfo", "../../etc/passwd"},
			{"picture", "http://cdn.example.com/ada.png"},
			{"picture", "javascript:alert(1)"},
			{"picture", "https://user:pw@cdn.example.com/a.png"},
			{"picture", "https://cdn.example.com/" + strings.Repeat("a", 2048)},
			{"phone_number", "020 7946 0958"},
			{"phone_number", "+0123456789"},
			{"phone_number", "+1234567890123456"},
			{"marketing_emails", "yes"},
			{"marketing_emails", nil},
			{"email", "new@example.com"},
			{"is_system_admin", true},
		}
		for _, tt := range invalid {
			res := patch(map[string]any{tt.field: tt.in})
			body := requireAPIError(t, res, http.StatusUnprocessableEntity, "validation_failed")
			require.Contains(t, body["fields"], tt.field, "%s=%v: %s", tt.field, tt.in, res.Body)
		}
		// Several bad fields at once: each reported; nothing changed.
		res := patch(map[string]any{"locale": "??", "zoneinfo": "Nowhere", "given_name": "Changed"})
		body := requireAPIError(t, res, http.StatusUnprocessableEntity, "validation_failed")
		require.Contains(t, body["fields"], "locale")
		require.Contains(t, body["fields"], "zoneinfo")
		require.Equal(t, "Ada", srv.Call(t, http.MethodGet, "/api/auth/me", tok, nil).JSON(t)["user"].(map[string]any)["given_name"])
		requireAPIError(t, patch(map[string]any{}), http.StatusUnprocessableEntity, "validation_failed")
		requireAPIError(t, srv.Call(t, http.MethodPatch, "/api/auth/me", tok, []any{1}), http.StatusUnprocessableEntity, "invalid_body")

		// null clears a text field; absent fields stay.
		res = patch(map[string]any{"picture": nil, "phone_number": nil})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		u = res.JSON(t)["user"].(map[string]any)
		require.Equal(t, "", u["picture"])
		require.Equal(t, "", u["phone_number"])
		require.Equal(t, false, u["phone_number_verified"])
		require.Equal(t, "Lovelace", u["family_name"])

		// The audit rows name fields, never a phone number or other value.
		rows := auditRows(t, srv, e.Tenant.ID, identity.AuditProfileUpdated)
		require.NotEmpty(t, rows)
		for _, r := range rows {
			md := string(r.Metadata)
			require.NotContains(t, md, "442079460958")
			require.NotContains(t, md, "Lovelace")
		}
		require.Contains(t, string(rows[0].Metadata), "phone_number")
		// An unchanged value writes no audit row.
		n := len(rows)
		require.Equal(t, http.StatusOK, patch(map[string]any{"family_name": "Lovelace"}).Status)
		require.Len(t, auditRows(t, srv, e.Tenant.ID, identity.AuditProfileUpdated), n)
		require.NotContains(t, srv.Logs.String(), phone.LastCode("+442079460958"), "the code is never logged")
	})
}

// TestE2EPhoneVerification: the code sent by SMS verifies the number; a
// wrong code, a spent code, an expired code, the attempt limit, a code
// sent to an earlier number and concurrent guesses are refused.
func TestE2EPhoneVerification(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		srv := e.Server
		phone := srv.CapturePhone()
		tok := srv.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
		verify := func(code string) *apptest.Result {
			return srv.Call(t, http.MethodPost, "/api/auth/me/phone/verify", tok, map[string]any{"code": code})
		}
		setPhone := func(n string) {
			t.Helper()
			res := srv.Call(t, http.MethodPatch, "/api/auth/me", tok, map[string]any{"phone_number": n})
			require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		}
		wrong := func(code string) string {
			if code == "000000" {
				return "000001"
			}
			return "000000"
		}

		// Nothing to verify yet.
		requireAPIError(t, verify("123456"), http.StatusUnprocessableEntity, "validation_failed")

		// A code sent to an earlier number does not verify the new one.
		setPhone("+12025550100")
		old := phone.LastCode("+12025550100")
		require.Len(t, old, 6)
		setPhone("+12025550111")
		code := phone.LastCode("+12025550111")
		requireAPIError(t, verify(old), http.StatusUnauthorized, "invalid_code")
		requireAPIError(t, verify("12a456"), http.StatusUnprocessableEntity, "validation_failed")
		requireAPIError(t, verify(wrong(code)), http.StatusUnauthorized, "invalid_code")

		res := verify(code)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		require.Equal(t, true, res.JSON(t)["user"].(map[string]any)["phone_number_verified"])
		require.Len(t, auditRows(t, srv, e.Tenant.ID, identity.AuditPhoneVerified), 1)
		// Spent, and nothing is pending any more.
		requireAPIError(t, verify(code), http.StatusUnprocessableEntity, "validation_failed")

		// Changing the number unverifies it.
		setPhone("+12025550122")
		me := srv.Call(t, http.MethodGet, "/api/auth/me", tok, nil).JSON(t)["user"].(map[string]any)
		require.Equal(t, false, me["phone_number_verified"])

		// Five attempts, then even the right code is refused.
		code = phone.LastCode("+12025550122")
		for range 5 {
			requireAPIError(t, verify(wrong(code)), http.StatusUnauthorized, "invalid_code")
		}
		requireAPIError(t, verify(code), http.StatusUnauthorized, "invalid_code")

		// A resent code works; an expired one does not.
		require.Equal(t, http.StatusAccepted, srv.Call(t, http.MethodPost, "/api/auth/me/phone/resend", tok, nil).Status)
		code = phone.LastCode("+12025550122")
		srv.Exec(t, "UPDATE email_codes SET expires_at = '2001-01-01 00:00:00+00:00' WHERE user_id = '"+e.User.ID+"' AND purpose = 'phone'")
		requireAPIError(t, verify(code), http.StatusUnauthorized, "invalid_code")

		// 20 concurrent wrong guesses of a fresh code: no more than five
		// attempts are claimed.
		require.Equal(t, http.StatusAccepted, srv.Call(t, http.MethodPost, "/api/auth/me/phone/resend", tok, nil).Status)
		code = phone.LastCode("+12025550122")
		var wg sync.WaitGroup
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := apptest.Send(srv.URL, apptest.Request{Method: http.MethodPost, Path: "/api/auth/me/phone/verify", Token: tok, Body: map[string]any{"code": wrong(code)}})
				if err != nil || r.Status != http.StatusUnauthorized {
					t.Errorf("concurrent wrong code: %v %v", r, err)
				}
			}()
		}
		wg.Wait()
		attempts := srv.Int(t, "SELECT attempts FROM email_codes WHERE user_id = '"+e.User.ID+"' AND purpose = 'phone' AND consumed_at IS NULL")
		require.Equal(t, 5, attempts, "no more than five comparisons, however many race")

		// The SMS rate limit: five codes an hour per user.
		for i := 0; i < 10; i++ {
			r := srv.Call(t, http.MethodPost, "/api/auth/me/phone/resend", tok, nil)
			if r.Status == http.StatusTooManyRequests {
				require.NotEmpty(t, r.Header.Get("Retry-After"))
				return
			}
		}
		t.Fatal("resend is never rate-limited")
	})
}

// TestE2EPhoneVerifyConcurrent: 10 concurrent requests with the right code
// verify the number once: one success, one user.phone_verified row.
func TestE2EPhoneVerifyConcurrent(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		srv := e.Server
		phone := srv.CapturePhone()
		tok := srv.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
		res := srv.Call(t, http.MethodPatch, "/api/auth/me", tok, map[string]any{"phone_number": "+4915112345678"})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		code := phone.LastCode("+4915112345678")
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			statuses = map[int]int{}
		)
		for range 10 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := apptest.Send(srv.URL, apptest.Request{Method: http.MethodPost, Path: "/api/auth/me/phone/verify", Token: tok, Body: map[string]any{"code": code}})
				if err != nil {
					t.Error(err)
					return
				}
				mu.Lock()
				statuses[r.Status]++
				mu.Unlock()
			}()
		}
		wg.Wait()
		require.Equal(t, 1, statuses[http.StatusOK], "exactly one success: %v", statuses)
		require.Len(t, auditRows(t, srv, e.Tenant.ID, identity.AuditPhoneVerified), 1)
		for st := range statuses {
			require.Contains(t, []int{http.StatusOK, http.StatusUnauthorized, http.StatusUnprocessableEntity}, st, "%v", statuses)
		}
	})
}

// TestE2EProfileClaims: the ID token (verified with go-oidc) and userinfo
// carry the profile claims with "profile", the phone claims with "phone",
// neither without its scope, and no claim with an empty value.
func TestE2EProfileClaims(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		srv := e.Server
		phone := srv.CapturePhone()
		tok := srv.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
		res := srv.Call(t, http.MethodPatch, "/api/auth/me", tok, map[string]any{
			"given_name": "Grace", "family_name": "Hopper", "locale": "en-US", "zoneinfo": "America/New_York",
			"phone_number": "+12025550100",
		})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		res = srv.Call(t, http.MethodPost, "/api/auth/me/phone/verify", tok, map[string]any{"code": phone.LastCode("+12025550100")})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)

		web := e.WebClient(t, nil)
		provider, err := oidc.NewProvider(t.Context(), srv.URL)
		require.NoError(t, err)
		var disco struct {
			Scopes []string `json:"scopes_supported"`
			Claims []string `json:"claims_supported"`
		}
		require.NoError(t, provider.Claims(&disco))
		require.Contains(t, disco.Scopes, "phone")
		for _, c := range []string{"given_name", "family_name", "locale", "zoneinfo", "picture", "updated_at", "phone_number", "phone_number_verified"} {
			require.Contains(t, disco.Claims, c)
		}
		verifier := provider.Verifier(&oidc.Config{ClientID: web.Client.ID})

		for _, tc := range []struct {
			name    string
			scopes  []string
			present map[string]any
			absent  []string
		}{
			{"profile and phone", []string{oidc.ScopeOpenID, "profile", "phone"},
				map[string]any{"given_name": "Grace", "family_name": "Hopper", "locale": "en-US", "zoneinfo": "America/New_York",
					"phone_number": "+12025550100", "phone_number_verified": true},
				[]string{"picture", "email"}},
			{"profile only", []string{oidc.ScopeOpenID, "profile"},
				map[string]any{"given_name": "Grace", "zoneinfo": "America/New_York"},
				[]string{"phone_number", "phone_number_verified", "picture"}},
			{"phone only", []string{oidc.ScopeOpenID, "phone"},
				map[string]any{"phone_number": "+12025550100"},
				[]string{"given_name", "family_name", "locale", "zoneinfo", "updated_at", "name"}},
		} {
			t.Run(tc.name, func(t *testing.T) {
				cfg := srv.OAuthConfig(web, tc.scopes...)
				ar := newAuthRequest(cfg)
				otok := ar.exchange(t, cfg, srv.NewBrowser(t).Authorize(e, ar.URL, true, "allow").Code(t, ar.State))
				raw, ok := otok.Extra("id_token").(string)
				require.True(t, ok)
				idt, err := verifier.Verify(t.Context(), raw)
				require.NoError(t, err, "go-oidc verifies the ID token")
				var idClaims map[string]any
				require.NoError(t, idt.Claims(&idClaims))
				ui := srv.Call(t, http.MethodGet, "/api/oauth/userinfo", otok.AccessToken, nil)
				require.Equal(t, http.StatusOK, ui.Status, "%s", ui.Body)
				uiClaims := ui.JSON(t)
				for _, claims := range []map[string]any{idClaims, uiClaims} {
					for k, v := range tc.present {
						require.Equal(t, v, claims[k], k)
					}
					for _, k := range tc.absent {
						require.NotContains(t, claims, k)
					}
					for k, v := range claims {
						require.NotEqual(t, "", v, "%s is empty: omit it (Core §5.3.2)", k)
					}
				}
				if _, ok := tc.present["given_name"]; ok {
					require.IsType(t, float64(0), idClaims["updated_at"], "updated_at is unix seconds")
					require.Equal(t, idClaims["updated_at"], uiClaims["updated_at"])
				}
			})
		}
	})
}

// TestE2EProfileImpersonation: an impersonation token may read and edit
// the profile (as it could the name), but never verify a phone number or
// send codes: proving a number belongs to the user is theirs to do.
func TestE2EProfileImpersonation(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		env := newSystemAdminEnv(t, b, nil)
		srv := env.Server
		srv.CapturePhone()
		res := srv.Call(t, http.MethodPost, "/api/admin/impersonate", env.adminToken,
			map[string]any{"tenant_id": env.Tenant.ID, "user_id": env.owner.ID, "reason": "ticket 10"})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		imp := res.JSON(t)["access_token"].(string)

		require.Equal(t, http.StatusOK, srv.Call(t, http.MethodGet, "/api/auth/me", imp, nil).Status)
		res = srv.Call(t, http.MethodPatch, "/api/auth/me", imp, map[string]any{"zoneinfo": "Europe/Paris", "phone_number": "+33612345678"})
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		requireAPIError(t, srv.Call(t, http.MethodPost, "/api/auth/me/phone/verify", imp, map[string]any{"code": "123456"}), http.StatusForbidden, "impersonation_forbidden")
		requireAPIError(t, srv.Call(t, http.MethodPost, "/api/auth/me/phone/resend", imp, nil), http.StatusForbidden, "impersonation_forbidden")
		rows := auditRows(t, srv, env.Tenant.ID, identity.AuditProfileUpdated)
		require.NotEmpty(t, rows)
		require.Equal(t, env.admin.ID, rows[0].ActorID, "the admin is the actor")
	})
}
