package handlers_test

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
)

// outboxRow is one row of the events table, its body decoded.
type outboxRow struct {
	Seq      int64
	Type     string
	Subject  string
	TenantID string
	Source   string
	Raw      string
	Data     map[string]any
}

// outbox reads the events table after seq, in order.
func outbox(t *testing.T, srv *apptest.Server, after int64) []outboxRow {
	t.Helper()
	db, err := srv.Store.SQLDB()
	require.NoError(t, err)
	rows, err := db.QueryContext(t.Context(), apptest.Rebind(srv.Store.Dialect(),
		`SELECT seq, type, subject, COALESCE(CAST(tenant_id AS text), ''), source, data FROM events WHERE seq > ? ORDER BY seq`), after)
	require.NoError(t, err)
	defer rows.Close()
	var out []outboxRow
	for rows.Next() {
		var r outboxRow
		require.NoError(t, rows.Scan(&r.Seq, &r.Type, &r.Subject, &r.TenantID, &r.Source, &r.Raw))
		require.NoError(t, json.Unmarshal([]byte(r.Raw), &r.Data), "event %s body %q", r.Type, r.Raw)
		out = append(out, r)
	}
	require.NoError(t, rows.Err())
	return out
}

// wantEvent is an expected event: its type, subject, tenant and the data
// fields it must carry (a nil value: the field must be absent).
type wantEvent struct {
	typ, subject, tenant string
	data                 map[string]any
}

// eventCursor reads the events each step of a test wrote.
type eventCursor struct {
	srv  *apptest.Server
	seq  int64
	seen []outboxRow
}

// expect asserts the events written since the last call are exactly want,
// in order, and returns them.
func (c *eventCursor) expect(t *testing.T, step string, want ...wantEvent) []outboxRow {
	t.Helper()
	got := outbox(t, c.srv, c.seq)
	types := make([]string, len(got))
	for i, r := range got {
		types[i] = r.Type
	}
	wantTypes := make([]string, len(want))
	for i, w := range want {
		wantTypes[i] = w.typ
	}
	require.Equal(t, wantTypes, types, "%s: event types", step)
	for i, w := range want {
		r := got[i]
		require.Equal(t, w.subject, r.Subject, "%s: %s subject", step, w.typ)
		require.Equal(t, w.tenant, r.TenantID, "%s: %s tenant", step, w.typ)
		require.Equal(t, c.srv.Config.Issuer, r.Source, "%s: %s source", step, w.typ)
		for k, v := range w.data {
			if v == nil {
				require.NotContains(t, r.Data, k, "%s: %s has %s: %s", step, w.typ, k, r.Raw)
				continue
			}
			require.Contains(t, r.Data, k, "%s: %s lacks %s: %s", step, w.typ, k, r.Raw)
			if _, any := v.(present); any {
				continue
			}
			require.EqualValues(t, v, r.Data[k], "%s: %s.%s: %s", step, w.typ, k, r.Raw)
		}
	}
	if len(got) > 0 {
		c.seq = got[len(got)-1].Seq
	}
	c.seen = append(c.seen, got...)
	return got
}

// present is a marker for a data field that must be there, whatever its value.
type present struct{}

// TestEventsOutboxEndToEnd performs every change of the list
// through the real API, on one server per backend, and asserts the events
// each writes: type, subject, tenant, body fields and order. At the end no
// event body holds a secret used on the way, nor a secret-looking key.
func TestEventsOutboxEndToEnd(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		env := newOwnerEnv(t, b)
		srv := env.Server
		mail := srv.CaptureMail()
		env.grantDangerZone(t, env.owner)
		srv.StepUp(t, env.ownerToken, apptest.Password)
		tid, owner, tok := env.Tenant.ID, env.owner.ID, env.ownerToken
		secrets := []string{apptest.Password, tok}
		c := &eventCursor{srv: srv, seq: outboxMax(t, srv)}
		actor := map[string]any{"id": owner, "type": "user"}
		// call makes a change that must succeed (2xx: the status codes are
		// other tests' business) and returns its answer.
		call := func(method, path string, body any, _ int) map[string]any {
			t.Helper()
			res := srv.Call(t, method, path, tok, body).NotServerError(t)
			require.True(t, res.Status/100 == 2, "%s %s: %s", method, path, res)
			if len(strings.TrimSpace(string(res.Body))) == 0 {
				return nil
			}
			return res.JSON(t)
		}

		// Users: created, updated, deactivated, reactivated.
		pw := "A brand-new password 123!"
		secrets = append(secrets, pw)
		u := call(http.MethodPost, "/api/users", map[string]any{"email": "ev.user@example.com", "name": "Ev User", "password": pw}, http.StatusCreated)
		uid := u["user"].(map[string]any)["id"].(string)
		c.expect(t, "create user", wantEvent{identity.EventUserCreated, uid, tid, map[string]any{
			"user_id": uid, "tenant_id": tid, "email": "ev.user@example.com", "name": "Ev User", "status": "active", "email_verified": false, "actor": actor}})
		call(http.MethodPatch, "/api/users/"+uid, map[string]any{"name": "Eve User"}, http.StatusOK)
		c.expect(t, "rename", wantEvent{identity.EventUserUpdated, uid, tid, map[string]any{"name": "Eve User", "fields": []any{"name"}}})
		call(http.MethodPatch, "/api/users/"+uid, map[string]any{"is_active": false}, http.StatusOK)
		c.expect(t, "update inactive",
			wantEvent{identity.EventUserUpdated, uid, tid, map[string]any{"status": "inactive"}},
			wantEvent{identity.EventUserDeactivated, uid, tid, map[string]any{"status": "inactive", "sessions_revoked": 0}},
			wantEvent{identity.EventSessionsRevoked, uid, tid, map[string]any{"user_id": uid}})
		call(http.MethodPatch, "/api/users/"+uid, map[string]any{"is_active": true}, http.StatusOK)
		c.expect(t, "update active",
			wantEvent{identity.EventUserUpdated, uid, tid, map[string]any{"status": "active"}},
			wantEvent{identity.EventUserReactivated, uid, tid, map[string]any{"status": "active"}})

		// Logins: succeeded (with its session), failed for a known and an
		// unknown account.
		res := srv.PasswordLogin(t, env.Tenant.Slug, "ev.user@example.com", pw, nil)
		require.Equal(t, http.StatusOK, res.Status, res.Body)
		login := apptest.ParseLogin(t, res)
		secrets = append(secrets, login.Token, login.Device)
		got := c.expect(t, "login",
			wantEvent{identity.EventLoginSucceeded, uid, tid, map[string]any{"user_id": uid, "session_id": present{}, "device_id": present{}, "actor": map[string]any{"id": uid, "type": "user"}}},
			wantEvent{identity.EventSessionCreated, uid, tid, map[string]any{"user_id": uid, "session_id": present{}}})
		sid := got[1].Data["session_id"].(string)
		require.Equal(t, sid, got[0].Data["session_id"])
		if login.SessionID != "" {
			require.Equal(t, login.SessionID, sid)
		}
		require.Equal(t, http.StatusUnauthorized, srv.PasswordLogin(t, env.Tenant.Slug, "ev.user@example.com", "wrong password 1", nil).Status)
		c.expect(t, "bad password", wantEvent{identity.EventLoginFailed, uid, tid, map[string]any{"user_id": uid, "reason": "bad_password", "email": nil}})
		require.Equal(t, http.StatusUnauthorized, srv.PasswordLogin(t, env.Tenant.Slug, "nobody.here@example.com", "wrong password 2", nil).Status)
		got = c.expect(t, "unknown account", wantEvent{identity.EventLoginFailed, "", tid, map[string]any{"reason": "unknown_account", "user_id": nil, "email": nil}})
		require.NotContains(t, got[0].Raw, "nobody.here")

		// Roles: assigned and removed.
		member := env.roleID(t, tid, identity.RoleMember)
		call(http.MethodPost, "/api/users/"+uid+"/roles", map[string]any{"role_id": member}, http.StatusCreated)
		c.expect(t, "assign role", wantEvent{identity.EventRoleAssigned, uid, tid, map[string]any{"role_id": member, "role": identity.RoleMember, "holder_type": "user", "user_id": uid}})
		call(http.MethodDelete, "/api/users/"+uid+"/roles/"+member, nil, http.StatusNoContent)
		c.expect(t, "remove role", wantEvent{identity.EventRoleRemoved, uid, tid, map[string]any{"role_id": member, "holder_type": "user"}})

		// Sessions: logout ends one, logout-all every one; a password
		// change ends the others.
		require.Equal(t, 2, srv.Call(t, http.MethodPost, "/api/auth/logout", login.Token, nil).NotServerError(t).Status/100)
		c.expect(t, "logout", wantEvent{identity.EventSessionRevoked, uid, tid, map[string]any{"session_id": sid, "user_id": uid}})
		utok := srv.Login(t, env.Tenant.Slug, "ev.user@example.com", pw)
		secrets = append(secrets, utok)
		c.expect(t, "login again", wantEvent{identity.EventLoginSucceeded, uid, tid, nil}, wantEvent{identity.EventSessionCreated, uid, tid, nil})
		require.Equal(t, 2, srv.Call(t, http.MethodPost, "/api/auth/logout-all", utok, nil).NotServerError(t).Status/100)
		c.expect(t, "logout all", wantEvent{identity.EventSessionsRevoked, uid, tid, map[string]any{"reason": "logout_all", "sessions_revoked": present{}}})
		utok = srv.Login(t, env.Tenant.Slug, "ev.user@example.com", pw)
		secrets = append(secrets, utok)
		c.expect(t, "login third", wantEvent{identity.EventLoginSucceeded, uid, tid, nil}, wantEvent{identity.EventSessionCreated, uid, tid, nil})
		pw2 := "Another fresh password 456!"
		secrets = append(secrets, pw2)
		require.Equal(t, 2, srv.Call(t, http.MethodPost, "/api/auth/password", utok, map[string]any{"current_password": pw, "new_password": pw2}).NotServerError(t).Status/100)
		c.expect(t, "password change",
			wantEvent{identity.EventPasswordChanged, uid, tid, map[string]any{"reason": "password_changed"}},
			wantEvent{identity.EventSessionsRevoked, uid, tid, map[string]any{"reason": "password_changed"}})

		// Lockout and unlock.
		for i := range 5 {
			require.Equal(t, http.StatusUnauthorized, srv.PasswordLogin(t, env.Tenant.Slug, "ev.user@example.com", "not it "+strings.Repeat("x", i), nil).Status)
		}
		got = outbox(t, srv, c.seq)
		require.Equal(t, identity.EventUserLocked, got[len(got)-1].Type, "the fifth failure locks")
		require.Contains(t, got[len(got)-1].Data, "until")
		c.seen, c.seq = append(c.seen, got...), got[len(got)-1].Seq
		call(http.MethodPost, "/api/users/"+uid+"/unlock", nil, http.StatusOK)
		c.expect(t, "unlock", wantEvent{identity.EventUserUnlocked, uid, tid, map[string]any{"lock": "all", "user_id": uid}})

		// Service accounts and API keys.
		sa := call(http.MethodPost, "/api/service-accounts", map[string]any{"name": "ev-bot"}, http.StatusCreated)
		saID := sa["id"].(string)
		c.expect(t, "create service account", wantEvent{identity.EventServiceAccountCreated, saID, tid, map[string]any{"service_account_id": saID, "name": "ev-bot", "user_id": nil}})
		call(http.MethodPost, "/api/service-accounts/"+saID+"/roles", map[string]any{"role_id": member}, http.StatusCreated)
		c.expect(t, "service account role", wantEvent{identity.EventRoleAssigned, saID, tid, map[string]any{"service_account_id": saID, "holder_type": "service_account", "role_id": member}})
		call(http.MethodDelete, "/api/service-accounts/"+saID+"/roles/"+member, nil, http.StatusNoContent)
		c.expect(t, "service account role removed", wantEvent{identity.EventRoleRemoved, saID, tid, map[string]any{"holder_type": "service_account"}})
		key := call(http.MethodPost, "/api/service-accounts/"+saID+"/api-keys", map[string]any{"name": "k1"}, http.StatusCreated)
		keyID := key["id"].(string)
		secrets = append(secrets, key["key"].(string))
		c.expect(t, "create key", wantEvent{identity.EventAPIKeyCreated, saID, tid, map[string]any{"api_key_id": keyID, "service_account_id": saID}})
		rot := call(http.MethodPost, "/api/service-accounts/"+saID+"/api-keys/"+keyID+"/rotate", nil, http.StatusOK)
		newKeyID := rot["id"].(string)
		secrets = append(secrets, rot["key"].(string))
		c.expect(t, "rotate key",
			wantEvent{identity.EventAPIKeyRotated, saID, tid, map[string]any{"api_key_id": newKeyID, "old_api_key_id": keyID}},
			wantEvent{identity.EventServiceAccountRotated, saID, tid, map[string]any{"api_key_id": newKeyID}})
		call(http.MethodDelete, "/api/service-accounts/"+saID+"/api-keys/"+newKeyID, nil, http.StatusNoContent)
		c.expect(t, "revoke key", wantEvent{identity.EventAPIKeyRevoked, saID, tid, map[string]any{"api_key_id": newKeyID}})
		call(http.MethodDelete, "/api/service-accounts/"+saID, nil, http.StatusNoContent)
		c.expect(t, "delete service account", wantEvent{identity.EventServiceAccountRevoked, saID, tid, map[string]any{"service_account_id": saID}})

		// OAuth clients.
		cl := call(http.MethodPost, "/api/clients", map[string]any{"name": "ev-app", "grant_types": []string{"client_credentials"}, "scopes": []string{"a.read"}}, http.StatusCreated)
		cid := cl["client_id"].(string)
		secrets = append(secrets, cl["client_secret"].(string))
		c.expect(t, "create client", wantEvent{identity.EventClientCreated, cid, tid, map[string]any{"client_id": cid, "name": "ev-app", "public": false}})
		rs := call(http.MethodPost, "/api/clients/"+cid+"/rotate-secret", nil, http.StatusOK)
		secrets = append(secrets, rs["client_secret"].(string))
		c.expect(t, "rotate client secret", wantEvent{identity.EventClientSecretRotated, cid, tid, map[string]any{"client_id": cid}})
		call(http.MethodDelete, "/api/clients/"+cid, nil, http.StatusNoContent)
		c.expect(t, "delete client", wantEvent{identity.EventClientDeleted, cid, tid, map[string]any{"client_id": cid}})

		// Invitations: created and revoked.
		inv := call(http.MethodPost, "/api/invitations", map[string]any{"email": "ev.invitee@example.com", "roles": []string{identity.RoleMember}}, http.StatusCreated)
		invID := inv["id"].(string)
		got = c.expect(t, "invite", wantEvent{identity.EventInvitationCreated, invID, tid, map[string]any{"invitation_id": invID, "role_ids": []any{member}}})
		require.NotContains(t, got[0].Raw, "ev.invitee", "the invitee's address is not in the event")
		call(http.MethodDelete, "/api/invitations/"+invID, nil, http.StatusNoContent)
		c.expect(t, "revoke invitation", wantEvent{identity.EventInvitationRevoked, invID, tid, map[string]any{"invitation_id": invID}})
		inv = call(http.MethodPost, "/api/invitations", map[string]any{"email": "ev.member@example.com", "roles": []string{identity.RoleMember}}, http.StatusCreated)
		invID = inv["id"].(string)
		c.expect(t, "invite again", wantEvent{identity.EventInvitationCreated, invID, tid, nil})
		invTok, _ := invToken(t, srv, mail, "ev.member@example.com")
		secrets = append(secrets, invTok, invPassword)
		acc := srv.Call(t, http.MethodPost, "/api/invitations/accept", "", map[string]any{"token": invTok, "password": invPassword, "name": "Member"}).NotServerError(t)
		require.True(t, acc.Status/100 == 2, "accept: %s", acc)
		got = outbox(t, srv, c.seq)
		require.NotEmpty(t, got)
		mid := got[0].Subject
		c.expect(t, "accept invitation",
			wantEvent{identity.EventUserCreated, mid, tid, map[string]any{"email": "ev.member@example.com", "email_verified": true, "invitation_id": invID}},
			wantEvent{identity.EventRoleAssigned, mid, tid, map[string]any{"role_id": member, "holder_type": "user", "invitation_id": invID}},
			wantEvent{identity.EventInvitationAccepted, invID, tid, map[string]any{"user_id": mid, "new_account": true, "role_ids": []any{member}}},
			wantEvent{identity.EventLoginSucceeded, mid, tid, nil},
			wantEvent{identity.EventSessionCreated, mid, tid, nil})

		// Erasure: the user's rows leave the outbox; user.erased holds ids.
		require.NotEmpty(t, outboxSubject(t, srv, uid))
		call(http.MethodPost, "/api/users/"+uid+"/erase", nil, http.StatusNoContent)
		got = outbox(t, srv, c.seq)
		require.Len(t, got, 1, "erasure writes identity.user.erased only")
		require.Equal(t, identity.EventUserErased, got[0].Type)
		require.Equal(t, uid, got[0].Subject)
		require.Equal(t, map[string]any{"user_id": uid, "tenant_id": tid, "by": "admin", "actor": actor}, got[0].Data)
		require.Equal(t, []string{identity.EventUserErased}, outboxSubject(t, srv, uid), "only user.erased is left about the user")
		c.seq = got[0].Seq
		c.seen = append(c.seen, got...)

		// Deletion.
		other := env.addUser(t, "ev-other", identity.RoleMember, false)
		c.seq = outboxMax(t, srv)
		call(http.MethodDelete, "/api/users/"+other.ID, nil, http.StatusNoContent)
		c.expect(t, "delete user",
			wantEvent{identity.EventUserDeleted, other.ID, tid, map[string]any{"user_id": other.ID, "email": other.Email}},
			wantEvent{identity.EventSessionsRevoked, other.ID, tid, map[string]any{"user_id": other.ID}})

		// Policies: assigned and removed.
		pol := env.addUser(t, "ev-pol", identity.RoleMember, false)
		var dz string
		ps, err := srv.Store.ListPolicies(t.Context(), tid)
		require.NoError(t, err)
		for _, p := range ps {
			if p.Name == identity.DangerZonePolicy {
				dz = p.ID
			}
		}
		c.seq = outboxMax(t, srv)
		call(http.MethodPost, "/api/users/"+pol.ID+"/policies/"+dz, nil, http.StatusCreated)
		c.expect(t, "assign policy", wantEvent{identity.EventPolicyAssigned, pol.ID, tid, map[string]any{"policy_id": dz, "policy": identity.DangerZonePolicy, "holder_type": "user", "user_id": pol.ID}})
		call(http.MethodDelete, "/api/users/"+pol.ID+"/policies/"+dz, nil, http.StatusNoContent)
		c.expect(t, "remove policy", wantEvent{identity.EventPolicyRemoved, pol.ID, tid, map[string]any{"policy_id": dz}})

		// A password reset (the code from the forgot-password mail).
		c.seq = outboxMax(t, srv)
		require.Equal(t, 2, srv.Call(t, http.MethodPost, "/api/auth/password/forgot", "", map[string]any{"tenant": env.Tenant.Slug, "email": pol.Email}).NotServerError(t).Status/100)
		resetCode, _ := mail.LastCode(t, pol.Email)
		resetPw := "Reset password 321!"
		secrets = append(secrets, resetCode, resetPw)
		res = srv.Call(t, http.MethodPost, "/api/auth/password/reset", "", map[string]any{"tenant": env.Tenant.Slug, "email": pol.Email, "code": resetCode, "new_password": resetPw}).NotServerError(t)
		require.True(t, res.Status/100 == 2, "reset: %s", res)
		c.expect(t, "password reset",
			wantEvent{identity.EventPasswordReset, pol.ID, tid, map[string]any{"reason": "password_reset", "user_id": pol.ID}},
			wantEvent{identity.EventSessionsRevoked, pol.ID, tid, map[string]any{"reason": "password_reset"}})

		// Tenants, by a system admin: created, updated, suspended.
		sys := env.addUser(t, "ev-sys", identity.RoleOwner, true)
		systok := srv.Login(t, env.Tenant.Slug, sys.Email, apptest.Password)
		secrets = append(secrets, systok)
		c.seq = outboxMax(t, srv)
		sysCall := func(method, path string, body any) map[string]any {
			t.Helper()
			res := srv.Call(t, method, path, systok, body).NotServerError(t)
			require.True(t, res.Status/100 == 2, "%s %s: %s", method, path, res)
			return res.JSON(t)
		}
		slug := "ev-" + strings.ToLower(apptest.RandomID(t, 6))
		nt := sysCall(http.MethodPost, "/api/admin/tenants", map[string]any{"slug": slug, "name": "Ev Tenant"})["id"].(string)
		c.expect(t, "create tenant", wantEvent{identity.EventTenantCreated, nt, nt, map[string]any{"tenant_id": nt, "slug": slug, "name": "Ev Tenant", "status": "active"}})
		sysCall(http.MethodPatch, "/api/admin/tenants/"+nt, map[string]any{"name": "Ev Tenant Two"})
		c.expect(t, "update tenant", wantEvent{identity.EventTenantUpdated, nt, nt, map[string]any{"name": "Ev Tenant Two", "fields": []any{"name"}}})
		sysCall(http.MethodPost, "/api/admin/tenants/"+nt+"/suspend", nil)
		c.expect(t, "suspend tenant", wantEvent{identity.EventTenantSuspended, nt, nt, map[string]any{"status": "suspended"}})
		srv.StepUp(t, systok, apptest.Password)
		res = srv.Call(t, http.MethodDelete, "/api/admin/tenants/"+nt, systok, nil).NotServerError(t)
		require.True(t, res.Status/100 == 2, "delete tenant: %s", res)
		c.expect(t, "delete tenant", wantEvent{identity.EventTenantDeleted, nt, nt, map[string]any{"tenant_id": nt, "slug": slug, "status": "deleted"}})
		require.Equal(t, []string{identity.EventTenantDeleted}, outboxSubject(t, srv, nt), "the deleted tenant's older events went with it")

		// Sign-up creating an organisation: its tenant, then its founder.
		regPw := "Sign-up password 789!"
		secrets = append(secrets, regPw)
		reg := srv.Call(t, http.MethodPost, "/api/auth/register", "", map[string]any{"email": "ev.founder@example.com", "password": regPw, "name": "Founder", "company_name": "Ev Founders"}).NotServerError(t)
		require.True(t, reg.Status/100 == 2, "register: %s", reg)
		got = outbox(t, srv, c.seq)
		require.Len(t, got, 2, "sign-up events")
		ft := got[0].Subject
		c.expect(t, "sign-up",
			wantEvent{identity.EventTenantCreated, ft, ft, map[string]any{"tenant_id": ft, "name": "Ev Founders", "self_service": true}},
			wantEvent{identity.EventUserCreated, got[1].Subject, ft, map[string]any{"email": "ev.founder@example.com", "registered": true, "roles": []any{identity.RoleOwner}, "email_verified": false}})
		founder := got[1].Subject
		vcode, _ := mail.LastCode(t, "ev.founder@example.com")
		secrets = append(secrets, vcode)
		fslug := reg.JSON(t)["tenant_slug"]
		require.NotNil(t, fslug, "sign-up answer: %s", reg)
		res = srv.Call(t, http.MethodPost, "/api/auth/email/verify", "", map[string]any{"tenant": fslug, "email": "ev.founder@example.com", "code": vcode}).NotServerError(t)
		require.True(t, res.Status/100 == 2, "verify: %s", res)
		c.expect(t, "verify e-mail", wantEvent{identity.EventUserVerified, founder, ft, map[string]any{"email_verified": true, "user_id": founder}})

		// Erasure of one's own account (DELETE /api/auth/me): the same.
		self := env.addUser(t, "ev-self", identity.RoleMember, false)
		stok := srv.Login(t, env.Tenant.Slug, self.Email, apptest.Password)
		secrets = append(secrets, stok)
		srv.StepUp(t, stok, apptest.Password)
		c.seq = outboxMax(t, srv)
		secrets = append(secrets, "482913")
		require.Equal(t, 2, srv.Call(t, http.MethodPut, "/api/auth/pin", stok, map[string]any{"pin": "482913", "password": apptest.Password}).NotServerError(t).Status/100)
		c.expect(t, "set PIN", wantEvent{identity.EventPINSet, self.ID, tid, map[string]any{"user_id": self.ID, "pin": nil}})
		// A device removed (a second sign-in's device): its sessions end.
		second := apptest.ParseLogin(t, srv.PasswordLogin(t, env.Tenant.Slug, self.Email, apptest.Password, nil))
		secrets = append(secrets, second.Token, second.Device)
		got = c.expect(t, "second device", wantEvent{identity.EventLoginSucceeded, self.ID, tid, nil}, wantEvent{identity.EventSessionCreated, self.ID, tid, nil})
		dev, sess := got[1].Data["device_id"].(string), got[1].Data["session_id"].(string)
		require.Equal(t, 2, srv.Call(t, http.MethodDelete, "/api/devices/"+dev, stok, nil).NotServerError(t).Status/100)
		c.expect(t, "revoke device", wantEvent{identity.EventDeviceRevoked, self.ID, tid, map[string]any{"device_id": dev, "removed": true, "session_ids": []any{sess}}})
		require.NotEmpty(t, outboxSubject(t, srv, self.ID), "the login wrote events about the user")
		require.Equal(t, 2, srv.Call(t, http.MethodDelete, "/api/auth/me", stok, map[string]any{"password": apptest.Password}).NotServerError(t).Status/100)
		got = outbox(t, srv, c.seq)
		require.Len(t, got, 1, "self-erasure writes identity.user.erased only")
		require.Equal(t, identity.EventUserErased, got[0].Type)
		require.Equal(t, self.ID, got[0].Subject)
		require.Equal(t, self.ID, got[0].Data["user_id"])
		require.Equal(t, "self", got[0].Data["by"])
		require.Equal(t, []string{identity.EventUserErased}, outboxSubject(t, srv, self.ID))
		require.NotContains(t, got[0].Raw, self.Email)
		c.seq = got[0].Seq

		// No event body holds a secret used above, nor a secret-looking key.
		all := outbox(t, srv, 0)
		require.NotEmpty(t, all)
		for _, r := range all {
			for _, s := range secrets {
				require.NotContains(t, r.Raw, s, "event %s holds a secret", r.Type)
			}
			noSecretKeys(t, r.Type, r.Data)
		}
	})
}

// noSecretKeys fails when a key of v (at any depth) names a secret.
func noSecretKeys(t *testing.T, typ string, v any) {
	t.Helper()
	switch m := v.(type) {
	case map[string]any:
		for k, x := range m {
			for _, bad := range []string{"password", "secret", "hash", "token", "code", "pin"} {
				require.NotContains(t, strings.ToLower(k), bad, "event %s has key %q", typ, k)
			}
			noSecretKeys(t, typ, x)
		}
	case []any:
		for _, x := range m {
			noSecretKeys(t, typ, x)
		}
	}
}

// outboxMax is the last seq of the outbox (0 when empty).
func outboxMax(t *testing.T, srv *apptest.Server) int64 {
	t.Helper()
	db, err := srv.Store.SQLDB()
	require.NoError(t, err)
	var n int64
	require.NoError(t, db.QueryRowContext(t.Context(), `SELECT COALESCE(MAX(seq), 0) FROM events`).Scan(&n))
	return n
}

// outboxSubject returns the types of the outbox rows about subject.
func outboxSubject(t *testing.T, srv *apptest.Server, subject string) []string {
	t.Helper()
	var out []string
	for _, r := range outbox(t, srv, 0) {
		if r.Subject == subject {
			out = append(out, r.Type)
		}
	}
	return out
}
