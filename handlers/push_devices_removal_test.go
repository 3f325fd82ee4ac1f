package handlers_test

import (
	"encoding/json"
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
)

// TestPushRegistrationRemovalPaths enumerates every path that removes a
// person's push registrations — the person removing one, revoking the
// device it was made from, an administrator deleting or erasing the
// person, and the person erasing themself — and checks each the same way:
// exactly the registrations it should remove are gone, each with one
// push_device.removed row naming it and the reason, and nothing else is
// touched. (identity's TestOnePushRemover proves no other code deletes
// registrations.) Signing out, of one session or all, keeps the device and
// so its registrations.
func TestPushRegistrationRemovalPaths(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		srv := apptest.New(t, b, nil)
		tenant := newTestTenant(t, srv)
		newRoleUser(t, srv, tenant, userOpts{role: identity.RoleOwner})
		admin := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleAdmin, dangerZone: true})
		adminTok := srv.Login(t, tenant.Slug, admin.Email, apptest.Password)
		srv.StepUp(t, adminTok, apptest.Password)

		// person signs in from a phone and a laptop and registers each for
		// push; bystander registers too and must keep theirs.
		type person struct {
			user               *models.User
			phone, laptop      string // session tokens
			phoneDev           string // the phone's device id
			phonePush, lapPush string // registration ids
		}
		register := func(token string) map[string]any {
			t.Helper()
			return requireAnswer(t, srv.Call(t, http.MethodPost, "/api/push-devices", token,
				map[string]any{"platform": "fcm", "token": pdFCMToken(t), "app_id": "com.example.shop"}), http.StatusOK, "")
		}
		newPerson := func() person {
			t.Helper()
			u := newRoleUser(t, srv, tenant, userOpts{role: identity.RoleMember})
			p := person{user: u}
			p.phone = apptest.ParseLogin(t, srv.PasswordLogin(t, tenant.Slug, u.Email, apptest.Password, nil)).Token
			p.laptop = apptest.ParseLogin(t, srv.PasswordLogin(t, tenant.Slug, u.Email, apptest.Password,
				func(r *apptest.Request, _ map[string]any) { r.UA = apptest.FirefoxUA })).Token
			ph, lp := register(p.phone), register(p.laptop)
			p.phonePush, p.lapPush, p.phoneDev = ph["id"].(string), lp["id"].(string), ph["device_id"].(string)
			require.NotEqual(t, p.phoneDev, lp["device_id"], "two devices")
			return p
		}
		bystander := newPerson()
		bystanderRows := func() int {
			return len(srv.Rows(t, "SELECT id FROM push_devices WHERE user_id = "+sqlQuote(bystander.user.ID)))
		}
		// removedRow returns the metadata of the push_device.removed row of
		// registration id (there must be exactly one).
		removedRow := func(id string) map[string]any {
			t.Helper()
			rows := srv.Rows(t, "SELECT metadata FROM audit_logs WHERE action = 'push_device.removed' AND metadata LIKE "+sqlQuote("%"+id+"%"))
			require.Len(t, rows, 1, "one push_device.removed row for %s", id)
			md := map[string]any{}
			require.NoError(t, json.Unmarshal([]byte(rows[0][0]), &md))
			require.Equal(t, id, md["push_device_id"])
			return md
		}

		paths := []struct {
			name   string
			reason string
			run    func(p person)
			// kept is whether the laptop's registration stays.
			kept bool
		}{
			{"DELETE /api/push-devices/{id}", identity.PushRemovedByUser, func(p person) {
				requireAnswer(t, srv.Call(t, http.MethodDelete, "/api/push-devices/"+p.phonePush, p.phone, nil), http.StatusNoContent, "")
			}, true},
			{"DELETE /api/devices/{id}", identity.PushRemovedWithDevice, func(p person) {
				requireAnswer(t, srv.Call(t, http.MethodDelete, "/api/devices/"+p.phoneDev, p.laptop, nil), http.StatusNoContent, "")
			}, true},
			{"DELETE /api/users/{id}", identity.PushRemovedUserDeleted, func(p person) {
				requireAnswer(t, srv.Call(t, http.MethodDelete, "/api/users/"+p.user.ID, adminTok, nil), http.StatusNoContent, "")
			}, false},
			{"POST /api/users/{id}/erase", identity.PushRemovedUserErased, func(p person) {
				requireAnswer(t, srv.Call(t, http.MethodPost, "/api/users/"+p.user.ID+"/erase", adminTok, nil), http.StatusNoContent, "")
			}, false},
			{"DELETE /api/auth/me", identity.PushRemovedUserErased, func(p person) {
				srv.StepUp(t, p.phone, apptest.Password)
				requireAnswer(t, srv.Call(t, http.MethodDelete, "/api/auth/me", p.phone, map[string]any{"password": apptest.Password}), http.StatusNoContent, "")
			}, false},
		}
		for _, path := range paths {
			p := newPerson()
			// Signing out of every session first would not remove them.
			if path.kept {
				requireAnswer(t, srv.Call(t, http.MethodPost, "/api/auth/logout", p.laptop, nil).NotServerError(t), http.StatusNoContent, "")
				p.laptop = apptest.ParseLogin(t, srv.PasswordLogin(t, tenant.Slug, p.user.Email, apptest.Password,
					func(r *apptest.Request, _ map[string]any) { r.UA = apptest.FirefoxUA })).Token
				require.Len(t, srv.Rows(t, "SELECT id FROM push_devices WHERE user_id = "+sqlQuote(p.user.ID)), 2, "%s: signing out keeps them", path.name)
			}
			path.run(p)
			md := removedRow(p.phonePush)
			require.Equal(t, path.reason, md["reason"], path.name)
			require.Equal(t, "fcm", md["platform"], path.name)
			require.Equal(t, p.phoneDev, md["device_id"], path.name)
			left := srv.Rows(t, "SELECT id FROM push_devices WHERE id IN ("+sqlQuote(p.phonePush)+", "+sqlQuote(p.lapPush)+")")
			if path.kept {
				require.Equal(t, [][]string{{p.lapPush}}, left, "%s removes only the phone's registration", path.name)
				require.Empty(t, srv.Rows(t, "SELECT id FROM audit_logs WHERE action = 'push_device.removed' AND metadata LIKE "+sqlQuote("%"+p.lapPush+"%")), path.name)
			} else {
				require.Empty(t, left, "%s removes every registration of the person", path.name)
				removedRow(p.lapPush)
			}
			require.Equal(t, 2, bystanderRows(), "%s leaves another person's registrations", path.name)
		}
		// After an erasure the rows carry the pseudonym, never the person.
		for _, row := range srv.Rows(t, "SELECT user_id FROM audit_logs WHERE action = 'push_device.removed' AND metadata LIKE '%user_erased%'") {
			require.NotEmpty(t, srv.Rows(t, "SELECT id FROM audit_logs WHERE action = 'user.erased' AND user_id = "+sqlQuote(row[0])),
				"a removal row of an erased person names their pseudonym")
		}
	})
}
