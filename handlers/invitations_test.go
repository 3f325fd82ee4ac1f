package handlers_test

import (
	"encoding/json"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

// invPassword meets the password policy.
const invPassword = "Invited-Member-2026!"

var invLinkRE = regexp.MustCompile(`(https?://\S+/invitations/accept\?token=)(\S+)`)

// invToken reads the accept link of the last invitation mailed to addr,
// checks it is built on the issuer, and returns its token.
func invToken(t *testing.T, srv *apptest.Server, mail *apptest.Mailbox, addr string) (string, identity.Message) {
	t.Helper()
	msgs := mail.Sent(addr)
	require.NotEmpty(t, msgs, "an invitation mailed to %s", addr)
	m := msgs[len(msgs)-1]
	sm := invLinkRE.FindStringSubmatch(m.Text)
	require.NotNil(t, sm, "an accept link in %q", m.Text)
	require.True(t, strings.HasPrefix(sm[1], srv.Config.Issuer+"/invitations/accept?token="), "link %s on the issuer %s", sm[1], srv.Config.Issuer)
	tok, err := url.QueryUnescape(sm[2])
	require.NoError(t, err)
	require.Len(t, tok, 43, "32 random bytes in base64url")
	return tok, m
}

// invInviters adds an Owner and an Admin to e's tenant and signs them in.
func invInviters(t *testing.T, e *apptest.Env) (owner *models.User, ownerTok, adminTok string) {
	t.Helper()
	srv, slug := e.Server, e.Tenant.Slug
	owner = srv.AddUser(t, apptest.NewUser{TenantSlug: slug, Email: "olga." + slug + "@example.com", Password: apptest.Password, Name: "Olga Owner", Role: identity.RoleOwner})
	admin := srv.AddUser(t, apptest.NewUser{TenantSlug: slug, Email: "adam." + slug + "@example.com", Password: apptest.Password, Name: "Adam Admin", Role: identity.RoleAdmin})
	return owner, srv.Login(t, slug, owner.Email, apptest.Password), srv.Login(t, slug, admin.Email, apptest.Password)
}

func invIDs(t *testing.T, res *apptest.Result) []string {
	t.Helper()
	m := requireAnswer(t, res, http.StatusOK, "")
	raw, _ := m["invitations"].([]any)
	out := []string{}
	for _, r := range raw {
		out = append(out, r.(map[string]any)["id"].(string))
	}
	return out
}

// TestInvitations: issue 10, part 4, end to end on every backend.
func TestInvitations(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		srv, slug := e.Server, e.Tenant.Slug
		mail := srv.CaptureMail()
		_, ownerTok, adminTok := invInviters(t, e)
		memberTok := srv.Login(t, slug, e.User.Email, apptest.Password) // no role
		const base = "/api/invitations"
		newEmail := "nina." + slug + "@example.com"

		// Permission and escalation refusals.
		m := requireAnswer(t, srv.Call(t, http.MethodPost, base, memberTok, map[string]any{"email": newEmail}), http.StatusForbidden, models.CodeForbidden)
		require.Equal(t, identity.PermInvitationsCreate, m["required_permission"])
		requireAnswer(t, srv.Call(t, http.MethodGet, base, memberTok, nil), http.StatusForbidden, models.CodeForbidden)
		m = requireAnswer(t, srv.Call(t, http.MethodPost, base, adminTok, map[string]any{"email": newEmail, "roles": []string{identity.RoleOwner}}),
			http.StatusForbidden, models.CodeForbidden)
		require.NotEmpty(t, m["required_permission"], "the refusal names what the Admin lacks")
		require.Empty(t, mail.Sent(newEmail), "no mail for a refused invitation")

		// Bad input: 422, never a 500.
		for _, tt := range []struct {
			name  string
			body  any
			field string
		}{
			{"no email", map[string]any{"roles": []string{"Member"}}, "email"},
			{"bad email", map[string]any{"email": "not-an-address"}, "email"},
			{"long message", map[string]any{"email": newEmail, "message": strings.Repeat("m", 1001)}, "message"},
			{"control characters", map[string]any{"email": newEmail, "message": "hi\x00there"}, "message"},
			{"unknown role", map[string]any{"email": newEmail, "roles": []string{"Pirate"}}, "roles"},
			{"too many roles", map[string]any{"email": newEmail, "roles": strings.Split(strings.Repeat("Member,", 21), ",")[:21]}, "roles"},
			{"roles not a list", `{"email": "a@b.co", "roles": "Member"}`, ""},
			{"broken JSON", "{", ""},
		} {
			res := srv.Call(t, http.MethodPost, base, ownerTok, tt.body).NotServerError(t)
			require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s: %s", tt.name, res.Body)
			if tt.field != "" {
				fields, _ := res.JSON(t)["fields"].(map[string]any)
				require.Contains(t, fields, tt.field, "%s: %s", tt.name, res.Body)
			}
		}

		// Create: the mail carries the inviter's and the company's names and the link.
		inv := requireAnswer(t, srv.Call(t, http.MethodPost, base, ownerTok,
			map[string]any{"email": strings.ToUpper(newEmail), "roles": []string{identity.RoleManager}, "message": "Welcome aboard!"}), http.StatusCreated, "")
		id, _ := inv["id"].(string)
		require.NotEmpty(t, id)
		require.Equal(t, newEmail, inv["email"])
		require.Equal(t, "pending", inv["status"])
		require.Equal(t, []any{identity.RoleManager}, inv["role_names"])
		exp, err := time.Parse(time.RFC3339Nano, inv["expires_at"].(string))
		require.NoError(t, err)
		require.WithinDuration(t, time.Now().Add(identity.DefaultInvitationTTL), exp, time.Hour, "7 days by default")
		require.NotContains(t, string(mustJSON(t, inv)), "token")
		token, msg := invToken(t, srv, mail, newEmail)
		require.Contains(t, msg.Subject, "Olga Owner")
		require.Contains(t, msg.Subject, e.Tenant.Name)
		require.Contains(t, msg.Text, "Welcome aboard!")

		// Get, list and filter; another tenant sees none of it.
		got := requireAnswer(t, srv.Call(t, http.MethodGet, base+"/"+id, adminTok, nil), http.StatusOK, "")
		require.Equal(t, id, got["id"])
		require.Contains(t, invIDs(t, srv.Call(t, http.MethodGet, base, ownerTok, nil)), id)
		require.Contains(t, invIDs(t, srv.Call(t, http.MethodGet, base+"?status=pending", ownerTok, nil)), id)
		require.NotContains(t, invIDs(t, srv.Call(t, http.MethodGet, base+"?status=accepted", ownerTok, nil)), id)
		requireAnswer(t, srv.Call(t, http.MethodGet, base+"?status=bogus", ownerTok, nil), http.StatusUnprocessableEntity, models.CodeValidationFailed)
		other := apptest.Seed(t, srv)
		_, otherTok, _ := invInviters(t, other)
		requireAnswer(t, srv.Call(t, http.MethodGet, base+"/"+id, otherTok, nil), http.StatusNotFound, "")
		requireAnswer(t, srv.Call(t, http.MethodDelete, base+"/"+id, otherTok, nil), http.StatusNotFound, "")
		requireAnswer(t, srv.Call(t, http.MethodPost, base+"/"+id+"/resend", otherTok, nil), http.StatusNotFound, "")
		require.NotContains(t, invIDs(t, srv.Call(t, http.MethodGet, base, otherTok, nil)), id)
		requireAnswer(t, srv.Call(t, http.MethodGet, base+"/not-a-uuid", ownerTok, nil), http.StatusNotFound, "")

		// Resend: a new link, the old one dies.
		requireAnswer(t, srv.Call(t, http.MethodPost, base+"/"+id+"/resend", ownerTok, nil), http.StatusOK, "")
		newToken, _ := invToken(t, srv, mail, newEmail)
		require.NotEqual(t, token, newToken)
		requireAnswer(t, srv.Call(t, http.MethodGet, base+"/lookup?token="+url.QueryEscape(token), "", nil), http.StatusNotFound, "")
		token = newToken

		// Lookup: public, nothing secret.
		lk := requireAnswer(t, srv.Call(t, http.MethodGet, base+"/lookup?token="+url.QueryEscape(token), "", nil), http.StatusOK, "")
		require.Equal(t, e.Tenant.Name, lk["tenant_name"])
		require.Equal(t, "Olga Owner", lk["inviter_name"])
		require.Equal(t, newEmail, lk["email"])
		require.Equal(t, []any{identity.RoleManager}, lk["roles"])
		require.Equal(t, "pending", lk["status"])
		require.Equal(t, false, lk["has_account"])
		require.NotEmpty(t, lk["expires_at"])
		requireAnswer(t, srv.Call(t, http.MethodGet, base+"/lookup", "", nil), http.StatusNotFound, "")

		// Accept: bad input first (the link still works after).
		acc := base + "/accept"
		res := srv.Call(t, http.MethodPost, acc, "", map[string]any{"token": token}).NotServerError(t)
		require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s", res.Body)
		require.Contains(t, res.JSON(t)["fields"], "password")
		res = srv.Call(t, http.MethodPost, acc, "", map[string]any{"token": token, "password": "short"}).NotServerError(t)
		require.Equal(t, http.StatusUnprocessableEntity, res.Status, "%s", res.Body)
		requireAnswer(t, srv.Call(t, http.MethodPost, acc, "", "{").NotServerError(t), http.StatusUnprocessableEntity, "")
		requireAnswer(t, srv.Call(t, http.MethodPost, acc, "", map[string]any{"token": "nope", "password": invPassword}), http.StatusNotFound, "")

		// Accept as a new user: signed in, verified, Manager; then a password login works.
		login := apptest.ParseLogin(t, srv.Call(t, http.MethodPost, acc, "", map[string]any{"token": token, "name": "Nina New", "password": invPassword}))
		require.NotEmpty(t, login.Token, "the new member is signed in")
		me, _ := requireAnswer(t, srv.Call(t, http.MethodGet, "/api/auth/me", login.Token, nil), http.StatusOK, "")["user"].(map[string]any)
		require.Equal(t, newEmail, me["email"])
		require.Equal(t, "Nina New", me["name"])
		require.Equal(t, true, me["email_verified"])
		require.NotEmpty(t, srv.Login(t, slug, newEmail, invPassword))
		nina, err := srv.Store.GetUserByEmail(t.Context(), e.Tenant.ID, newEmail)
		require.NoError(t, err)
		roles, err := srv.Store.PrincipalRoles(t.Context(), e.Tenant.ID, []string{nina.ID})
		require.NoError(t, err)
		require.Len(t, roles[nina.ID], 1)
		require.Equal(t, identity.RoleManager, roles[nina.ID][0].Name)
		// Used: a clear refusal, and the status says so.
		requireAnswer(t, srv.Call(t, http.MethodPost, acc, "", map[string]any{"token": token, "password": invPassword}), http.StatusConflict, models.CodeInvitationUsed)
		require.Equal(t, "accepted", requireAnswer(t, srv.Call(t, http.MethodGet, base+"/"+id, ownerTok, nil), http.StatusOK, "")["status"])
		require.Contains(t, invIDs(t, srv.Call(t, http.MethodGet, base+"?status=accepted", ownerTok, nil)), id)
		requireAnswer(t, srv.Call(t, http.MethodDelete, base+"/"+id, ownerTok, nil), http.StatusConflict, models.CodeInvitationUsed)
		requireAnswer(t, srv.Call(t, http.MethodPost, base+"/"+id+"/resend", ownerTok, nil), http.StatusConflict, models.CodeInvitationUsed)

		// Accept as an existing user: the roles are added, no password asked,
		// no sign-in (they sign in as usual).
		requireAnswer(t, srv.Call(t, http.MethodPost, base, ownerTok, map[string]any{"email": e.User.Email, "roles": []string{identity.RoleMember}}), http.StatusCreated, "")
		adaToken, _ := invToken(t, srv, mail, e.User.Email)
		require.Equal(t, true, requireAnswer(t, srv.Call(t, http.MethodGet, base+"/lookup?token="+adaToken, "", nil), http.StatusOK, "")["has_account"])
		ans := requireAnswer(t, srv.Call(t, http.MethodPost, acc, "", map[string]any{"token": adaToken}), http.StatusOK, "")
		require.Equal(t, false, ans["signed_in"])
		require.NotContains(t, ans, "access_token")
		roles, err = srv.Store.PrincipalRoles(t.Context(), e.Tenant.ID, []string{e.User.ID})
		require.NoError(t, err)
		require.Len(t, roles[e.User.ID], 1)
		require.Equal(t, identity.RoleMember, roles[e.User.ID][0].Name)
		ada, err := srv.Store.GetUser(t.Context(), e.Tenant.ID, e.User.ID)
		require.NoError(t, err)
		require.True(t, ada.EmailVerified)

		// Revoked.
		rv := requireAnswer(t, srv.Call(t, http.MethodPost, base, ownerTok, map[string]any{"email": "rita." + slug + "@example.com"}), http.StatusCreated, "")
		rvToken, _ := invToken(t, srv, mail, "rita."+slug+"@example.com")
		requireAnswer(t, srv.Call(t, http.MethodDelete, base+"/"+rv["id"].(string), memberTok, nil), http.StatusForbidden, models.CodeForbidden)
		requireAnswer(t, srv.Call(t, http.MethodDelete, base+"/"+rv["id"].(string), adminTok, nil), http.StatusNoContent, "")
		requireAnswer(t, srv.Call(t, http.MethodDelete, base+"/"+rv["id"].(string), adminTok, nil), http.StatusConflict, models.CodeInvitationRevoked)
		requireAnswer(t, srv.Call(t, http.MethodPost, acc, "", map[string]any{"token": rvToken, "password": invPassword}), http.StatusConflict, models.CodeInvitationRevoked)
		requireAnswer(t, srv.Call(t, http.MethodPost, base+"/"+rv["id"].(string)+"/resend", ownerTok, nil), http.StatusConflict, models.CodeInvitationRevoked)
		require.Equal(t, "revoked", requireAnswer(t, srv.Call(t, http.MethodGet, base+"/lookup?token="+rvToken, "", nil), http.StatusOK, "")["status"])
		require.Contains(t, invIDs(t, srv.Call(t, http.MethodGet, base+"?status=revoked", ownerTok, nil)), rv["id"])

		// Expired: moved into the past with SQL; a resend renews it.
		ex := requireAnswer(t, srv.Call(t, http.MethodPost, base, ownerTok, map[string]any{"email": "eve." + slug + "@example.com"}), http.StatusCreated, "")
		exToken, _ := invToken(t, srv, mail, "eve."+slug+"@example.com")
		srv.Exec(t, "UPDATE invitations SET expires_at = ? WHERE id = ?", time.Now().UTC().Add(-time.Minute), ex["id"])
		requireAnswer(t, srv.Call(t, http.MethodPost, acc, "", map[string]any{"token": exToken, "password": invPassword}), http.StatusConflict, models.CodeInvitationExpired)
		require.Equal(t, "expired", requireAnswer(t, srv.Call(t, http.MethodGet, base+"/"+ex["id"].(string), ownerTok, nil), http.StatusOK, "")["status"])
		require.Contains(t, invIDs(t, srv.Call(t, http.MethodGet, base+"?status=expired", ownerTok, nil)), ex["id"])
		require.NotContains(t, invIDs(t, srv.Call(t, http.MethodGet, base+"?status=pending", ownerTok, nil)), ex["id"])
		requireAnswer(t, srv.Call(t, http.MethodPost, base+"/"+ex["id"].(string)+"/resend", ownerTok, nil), http.StatusOK, "")
		exToken2, _ := invToken(t, srv, mail, "eve."+slug+"@example.com")
		require.Equal(t, http.StatusOK, srv.Call(t, http.MethodPost, acc, "", map[string]any{"token": exToken2, "password": invPassword}).Status)

		// Audit: every step recorded, never a token.
		require.Len(t, auditRows(t, srv, e.Tenant.ID, identity.AuditInvitationCreated), 4)
		require.Len(t, auditRows(t, srv, e.Tenant.ID, identity.AuditInvitationResent), 2)
		require.Len(t, auditRows(t, srv, e.Tenant.ID, identity.AuditInvitationRevoked), 1)
		require.Len(t, auditRows(t, srv, e.Tenant.ID, identity.AuditInvitationAccepted), 3)
		for _, tok := range []string{token, adaToken, rvToken, exToken, exToken2} {
			require.Zero(t, srv.Int(t, "SELECT COUNT(*) FROM audit_logs WHERE metadata LIKE ?", "%"+tok+"%"), "a token in the audit log")
			require.Zero(t, srv.Int(t, "SELECT COUNT(*) FROM invitations WHERE token_hash = ?", tok), "the token stored in clear")
		}
	})
}

func mustJSON(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// TestInvitationConcurrentAccept: 20 concurrent accepts of one link create
// one user; the others are told the invitation is used.
func TestInvitationConcurrentAccept(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		srv, slug := e.Server, e.Tenant.Slug
		mail := srv.CaptureMail()
		_, ownerTok, _ := invInviters(t, e)
		email := "cora." + slug + "@example.com"
		requireAnswer(t, srv.Call(t, http.MethodPost, "/api/invitations", ownerTok, map[string]any{"email": email, "roles": []string{identity.RoleMember}}), http.StatusCreated, "")
		token, _ := invToken(t, srv, mail, email)
		var (
			wg       sync.WaitGroup
			mu       sync.Mutex
			statuses = map[int]int{}
			codes    = map[string]int{}
			errs     []error
		)
		for range 20 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				r, err := apptest.Send(srv.URL, apptest.Request{Method: http.MethodPost, Path: "/api/invitations/accept",
					Body: map[string]any{"token": token, "password": invPassword}})
				mu.Lock()
				defer mu.Unlock()
				if err != nil {
					errs = append(errs, err)
					return
				}
				statuses[r.Status]++
				var body map[string]any
				_ = json.Unmarshal(r.Body, &body)
				if c, ok := body["error"].(string); ok {
					codes[c]++
				}
			}()
		}
		wg.Wait()
		require.Empty(t, errs)
		require.Equal(t, map[int]int{http.StatusOK: 1, http.StatusConflict: 19}, statuses)
		require.Equal(t, map[string]int{models.CodeInvitationUsed: 19}, codes)
		require.Equal(t, 1, srv.Int(t, "SELECT COUNT(*) FROM users WHERE tenant_id = ? AND email = ?", e.Tenant.ID, email))
		require.Len(t, auditRows(t, srv, e.Tenant.ID, identity.AuditInvitationAccepted), 1)
	})
}

// TestInvitationAcceptPage: the server-rendered /invitations/accept page
// (CSRF-protected form, no JavaScript) creates the account and signs the
// browser in; an existing account is sent to sign in; a used, revoked or
// unknown link answers in words.
func TestInvitationAcceptPage(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		srv, slug := e.Server, e.Tenant.Slug
		mail := srv.CaptureMail()
		_, ownerTok, _ := invInviters(t, e)
		email := "paula." + slug + "@example.com"
		requireAnswer(t, srv.Call(t, http.MethodPost, "/api/invitations", ownerTok, map[string]any{"email": email, "roles": []string{identity.RoleMember}}), http.StatusCreated, "")
		token, msg := invToken(t, srv, mail, email)
		link := invLinkRE.FindString(msg.Text)

		br := srv.NewBrowser(t)
		page := br.Get(link)
		require.Equal(t, http.StatusOK, page.Status, "%s", page.Body)
		body := string(page.Body)
		require.Contains(t, body, "Olga Owner")
		require.Contains(t, body, e.Tenant.Name)
		require.Contains(t, body, email)
		require.NotContains(t, body, "<script")
		require.Contains(t, page.Header.Get("Content-Security-Policy"), "default-src 'none'")
		form := apptest.ParseForm(t, page)
		require.NotEmpty(t, form.Fields.Get("csrf"))

		// Without the CSRF token: refused, nothing created.
		res := br.Post(form.Action, url.Values{"token": {token}, "password": {invPassword}, "confirm_password": {invPassword}})
		require.NotEqual(t, http.StatusOK, res.Status)
		require.Zero(t, srv.Int(t, "SELECT COUNT(*) FROM users WHERE email = ?", email))

		// Passwords that differ, then a weak one: the form again, in words.
		form.Fields.Set("name", "Paula Page")
		form.Fields.Set("password", invPassword)
		form.Fields.Set("confirm_password", invPassword+"x")
		res = br.Post(form.Action, form.Fields)
		require.Equal(t, http.StatusUnprocessableEntity, res.Status)
		require.Contains(t, string(res.Body), "The two passwords differ")
		form.Fields.Set("password", "short")
		form.Fields.Set("confirm_password", "short")
		res = br.Post(form.Action, form.Fields)
		require.Equal(t, http.StatusUnprocessableEntity, res.Status)
		require.Contains(t, string(res.Body), "Use at least 12 characters")

		// Accepted: signed in, on the account page.
		form = apptest.ParseForm(t, res)
		form.Fields.Set("name", "Paula Page")
		form.Fields.Set("password", invPassword)
		form.Fields.Set("confirm_password", invPassword)
		res = br.Post(form.Action, form.Fields)
		require.Equal(t, http.StatusOK, res.Status, "%s", res.Body)
		require.Equal(t, "/account/security", res.URL.Path)
		require.NotEmpty(t, br.Cookie("identity_session"))
		require.Equal(t, 1, srv.Int(t, "SELECT COUNT(*) FROM users WHERE email = ?", email))

		// The link again: already used, in words.
		res = srv.NewBrowser(t).Get(link)
		require.Equal(t, http.StatusConflict, res.Status)
		require.Contains(t, string(res.Body), "already been accepted")
		res = srv.NewBrowser(t).Get(srv.URL + "/invitations/accept?token=nope")
		require.Equal(t, http.StatusNotFound, res.Status)
		require.Contains(t, string(res.Body), "not valid")

		// An existing account: one button, then the login page.
		requireAnswer(t, srv.Call(t, http.MethodPost, "/api/invitations", ownerTok, map[string]any{"email": e.User.Email, "roles": []string{identity.RoleMember}}), http.StatusCreated, "")
		_, msg = invToken(t, srv, mail, e.User.Email)
		br2 := srv.NewBrowser(t)
		page = br2.Get(invLinkRE.FindString(msg.Text))
		require.Equal(t, http.StatusOK, page.Status)
		require.Contains(t, string(page.Body), "You already have an account")
		form = apptest.ParseForm(t, page)
		require.NotContains(t, form.Fields, "password")
		res = br2.Post(form.Action, form.Fields)
		require.Equal(t, "/login", res.URL.Path, "%s", res.Body)
		require.Equal(t, slug, res.URL.Query().Get("tenant"))
	})
}

// TestInvitationListPages: GET /api/invitations pages like GET /api/users
// (page, per_page up to 100, total; 422 naming a bad parameter), the status
// filter applies to the total, and the list is the tenant's only.
func TestInvitationListPages(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		srv, slug := e.Server, e.Tenant.Slug
		srv.CaptureMail()
		_, ownerTok, _ := invInviters(t, e)
		var ids []string
		for k := range 5 {
			res := srv.Call(t, http.MethodPost, "/api/invitations", ownerTok, map[string]any{"email": "page" + string(rune('a'+k)) + "." + slug + "@example.com"})
			ids = append(ids, requireAnswer(t, res, http.StatusCreated, "")["id"].(string))
		}
		requireAnswer(t, srv.Call(t, http.MethodDelete, "/api/invitations/"+ids[0], ownerTok, nil), http.StatusNoContent, "")

		m := requireAnswer(t, srv.Call(t, http.MethodGet, "/api/invitations", ownerTok, nil), http.StatusOK, "")
		require.EqualValues(t, 1, m["page"])
		require.EqualValues(t, identity.DefaultPerPage, m["per_page"])
		require.EqualValues(t, 5, m["total"])
		seen := map[string]bool{}
		for page := 1; page <= 3; page++ {
			res := srv.Call(t, http.MethodGet, "/api/invitations?per_page=2&page="+string(rune('0'+page)), ownerTok, nil)
			got := invIDs(t, res)
			require.Len(t, got, min(2, 5-(page-1)*2), "page %d", page)
			for _, id := range got {
				require.False(t, seen[id], "invitation %s on two pages", id)
				seen[id] = true
			}
		}
		require.Len(t, seen, 5, "every invitation on some page")
		m = requireAnswer(t, srv.Call(t, http.MethodGet, "/api/invitations?status=pending&per_page=3", ownerTok, nil), http.StatusOK, "")
		require.EqualValues(t, 4, m["total"], "the filter applies to the total")
		require.Len(t, m["invitations"], 3)
		require.Empty(t, invIDs(t, srv.Call(t, http.MethodGet, "/api/invitations?page=9", ownerTok, nil)), "a page past the end is empty")

		for q, field := range map[string]string{"page=0": "page", "page=x": "page", "per_page=0": "per_page", "per_page=101": "per_page",
			"status=bogus": "status", "page=-1&per_page=500": "page"} {
			m := requireAnswer(t, srv.Call(t, http.MethodGet, "/api/invitations?"+q, ownerTok, nil), http.StatusUnprocessableEntity, models.CodeValidationFailed)
			require.Contains(t, m["fields"], field, "query %s", q)
		}

		other := apptest.Seed(t, srv)
		_, otherTok, _ := invInviters(t, other)
		m = requireAnswer(t, srv.Call(t, http.MethodGet, "/api/invitations", otherTok, nil), http.StatusOK, "")
		require.EqualValues(t, 0, m["total"], "another tenant's list")
	})
}
