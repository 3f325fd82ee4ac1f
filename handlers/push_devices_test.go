package handlers_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/keyring"
	"github.com/identityd/identityd/models"
)

// pdFCMToken is a fresh token shaped like a Firebase registration token
// (about 160 characters of [A-Za-z0-9_:-]).
func pdFCMToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 105)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return "d" + apptest.RandomID(t, 10) + ":APA91b" + base64.RawURLEncoding.EncodeToString(b)
}

// pdAPNsToken is a fresh APNs device token: 32 bytes in hex.
func pdAPNsToken(t *testing.T) string {
	t.Helper()
	b := make([]byte, 32)
	_, err := rand.Read(b)
	require.NoError(t, err)
	return hex.EncodeToString(b)
}

// pdServiceKey makes a service account of tenantID holding perms (through a
// role of its own) and returns an API key that authenticates as it.
func pdServiceKey(t *testing.T, srv *apptest.Server, tenantID string, perms ...string) string {
	t.Helper()
	ctx := t.Context()
	sa := &models.ServiceAccount{TenantID: tenantID, Name: "notifier-" + apptest.RandomID(t, 6), IsActive: true}
	require.NoError(t, srv.Store.CreateServiceAccount(ctx, sa))
	if len(perms) > 0 {
		tid := tenantID
		r := &models.Role{TenantID: &tid, Name: "Notifier " + apptest.RandomID(t, 6), Permissions: models.StringList(perms)}
		require.NoError(t, srv.Store.CreateRole(ctx, r))
		require.NoError(t, srv.Store.AssignRole(ctx, tenantID, sa.ID, models.PrincipalServiceAccount, r.ID))
	}
	raw, err := keyring.RandomToken(32)
	require.NoError(t, err)
	key := "idk_" + raw
	require.NoError(t, srv.Store.CreateAPIKey(ctx, &models.APIKey{TenantID: tenantID, ServiceAccountID: sa.ID, Name: "push",
		Prefix: key[:12], KeyHash: srv.Ring.MAC(keyring.PurposeLookup, []byte(key))}))
	return key
}

// pdList returns the push_devices of a GET answer.
func pdList(t *testing.T, res *apptest.Result) []map[string]any {
	t.Helper()
	m := requireAnswer(t, res, http.StatusOK, "")
	raw, _ := m["push_devices"].([]any)
	out := make([]map[string]any, 0, len(raw))
	for _, r := range raw {
		out = append(out, r.(map[string]any))
	}
	return out
}

// TestPushDevices: the push registrations of issue 10, part 7, end to end
// on every backend.
func TestPushDevices(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := apptest.NewEnv(t, b, nil)
		srv := e.Server
		ada := apptest.ParseLogin(t, srv.PasswordLogin(t, e.Tenant.Slug, e.User.Email, apptest.Password, nil))
		require.NotEmpty(t, ada.Token)
		bob := srv.AddUser(t, apptest.NewUser{TenantSlug: e.Tenant.Slug, Email: "bob." + e.Tenant.Slug + "@example.com", Password: apptest.Password, Name: "Bob"})
		bobToken := srv.Login(t, e.Tenant.Slug, bob.Email, apptest.Password)
		other := apptest.Seed(t, srv)
		const base = "/api/push-devices"
		var tokens []string
		register := func(token string, body map[string]any) map[string]any {
			t.Helper()
			return requireAnswer(t, srv.Call(t, http.MethodPost, base, token, body).NotServerError(t), http.StatusOK, "")
		}

		// Register, list (masked), re-register in place.
		fcm := pdFCMToken(t)
		tokens = append(tokens, fcm)
		first := register(ada.Token, map[string]any{"platform": "fcm", "token": fcm, "app_id": "com.example.shop", "device_name": "Ada's phone"})
		id, _ := first["id"].(string)
		require.NotEmpty(t, id)
		require.Equal(t, "…"+fcm[len(fcm)-6:], first["token"], "the answer shows the token masked")
		require.NotNil(t, first["device_id"], "linked to the session's device")
		list := pdList(t, srv.Call(t, http.MethodGet, base, ada.Token, nil))
		require.Len(t, list, 1)
		require.ElementsMatch(t, []string{"id", "device_id", "platform", "token", "app_id", "device_name", "created_at", "updated_at"}, keysOf(list[0]))
		require.Equal(t, "…"+fcm[len(fcm)-6:], list[0]["token"])
		require.Equal(t, "com.example.shop", list[0]["app_id"])
		again := register(ada.Token, map[string]any{"platform": "fcm", "token": fcm, "app_id": "com.example.shop.beta", "device_name": "Pixel"})
		require.Equal(t, id, again["id"], "the same token updates its row")
		list = pdList(t, srv.Call(t, http.MethodGet, base, ada.Token, nil))
		require.Len(t, list, 1)
		require.Equal(t, "com.example.shop.beta", list[0]["app_id"])
		require.Equal(t, "Pixel", list[0]["device_name"])

		// APNs tokens are hex, kept in lower case.
		apns := pdAPNsToken(t)
		tokens = append(tokens, apns)
		apnsDev := register(ada.Token, map[string]any{"platform": "apns", "token": strings.ToUpper(apns), "app_id": "com.example.Shop"})
		require.Equal(t, "…"+apns[58:], apnsDev["token"])
		require.Len(t, pdList(t, srv.Call(t, http.MethodGet, base, ada.Token, nil)), 2)

		// Bad input: 422 naming the field, never a 500.
		for _, tt := range []struct {
			name  string
			body  any
			field string
		}{
			{"unknown platform", map[string]any{"platform": "gcm", "token": fcm, "app_id": "com.example.shop"}, "platform"},
			{"no platform", map[string]any{"token": fcm, "app_id": "com.example.shop"}, "platform"},
			{"no token", map[string]any{"platform": "fcm", "app_id": "com.example.shop"}, "token"},
			{"short fcm token", map[string]any{"platform": "fcm", "token": "abc:def", "app_id": "com.example.shop"}, "token"},
			{"fcm token with a space", map[string]any{"platform": "fcm", "token": fcm[:80] + " " + fcm[81:], "app_id": "com.example.shop"}, "token"},
			{"long fcm token", map[string]any{"platform": "fcm", "token": strings.Repeat("a", 1025), "app_id": "com.example.shop"}, "token"},
			{"short apns token", map[string]any{"platform": "apns", "token": apns[:63], "app_id": "com.example.shop"}, "token"},
			{"apns token not hex", map[string]any{"platform": "apns", "token": strings.Repeat("z", 64), "app_id": "com.example.shop"}, "token"},
			{"fcm token as apns", map[string]any{"platform": "apns", "token": fcm, "app_id": "com.example.shop"}, "token"},
			{"no app id", map[string]any{"platform": "fcm", "token": fcm}, "app_id"},
			{"one-segment app id", map[string]any{"platform": "fcm", "token": fcm, "app_id": "shop"}, "app_id"},
			{"empty app id segment", map[string]any{"platform": "fcm", "token": fcm, "app_id": "com..shop"}, "app_id"},
			{"app id with a slash", map[string]any{"platform": "fcm", "token": fcm, "app_id": "com.example/shop"}, "app_id"},
			{"long app id", map[string]any{"platform": "fcm", "token": fcm, "app_id": "com." + strings.Repeat("a", 160)}, "app_id"},
			{"long name", map[string]any{"platform": "fcm", "token": fcm, "app_id": "com.example.shop", "device_name": strings.Repeat("n", 101)}, "device_name"},
			{"platform not a string", `{"platform": 5, "token": "x", "app_id": "com.example.shop"}`, ""},
			{"broken JSON", "{", ""},
		} {
			res := srv.Call(t, http.MethodPost, base, ada.Token, tt.body).NotServerError(t)
			m := requireAnswer(t, res, http.StatusUnprocessableEntity, "")
			if tt.field != "" {
				require.Contains(t, m["fields"], tt.field, "%s: %s", tt.name, res.Body)
			}
		}
		res := srv.Call(t, http.MethodPost, base, ada.Token, map[string]any{"platform": "fcm", "token": fcm, "app_id": "com.example.shop", "device_name": "a\u0001b"}).NotServerError(t)
		require.Equal(t, http.StatusUnprocessableEntity, res.Status, "control characters: %s", res.Body)
		require.Len(t, pdList(t, srv.Call(t, http.MethodGet, base, ada.Token, nil)), 2, "refused input changed nothing")

		// Another user's registration is 404; the same token registered by
		// another user of the tenant moves to them (a phone changed hands).
		requireAnswer(t, srv.Call(t, http.MethodDelete, base+"/"+id, bobToken, nil).NotServerError(t), http.StatusNotFound, "push_device_not_found")
		requireAnswer(t, srv.Call(t, http.MethodDelete, base+"/not-an-id", bobToken, nil).NotServerError(t), http.StatusNotFound, "push_device_not_found")
		require.Empty(t, pdList(t, srv.Call(t, http.MethodGet, base, bobToken, nil)))
		moved := register(bobToken, map[string]any{"platform": "fcm", "token": fcm, "app_id": "com.example.shop"})
		require.Equal(t, id, moved["id"])
		require.Len(t, pdList(t, srv.Call(t, http.MethodGet, base, ada.Token, nil)), 1, "the moved token left Ada")
		require.Len(t, pdList(t, srv.Call(t, http.MethodGet, base, bobToken, nil)), 1)
		movedAudit := srv.Rows(t, "SELECT metadata FROM audit_logs WHERE action = 'push_device.registered' AND user_id = '"+bob.ID+"'")
		require.Len(t, movedAudit, 1)
		require.Contains(t, movedAudit[0][0], e.User.ID, "the registration names the previous user")

		// The same token in another tenant is another registration.
		otherToken := srv.Login(t, other.Tenant.Slug, other.User.Email, apptest.Password)
		otherDev := register(otherToken, map[string]any{"platform": "fcm", "token": fcm, "app_id": "com.example.shop"})
		require.NotEqual(t, id, otherDev["id"])
		requireAnswer(t, srv.Call(t, http.MethodDelete, base+"/"+id, otherToken, nil).NotServerError(t), http.StatusNotFound, "push_device_not_found")

		// The notification service's route: 403 without the permission, the
		// full tokens with it, 404 for another tenant's user.
		userRoute := func(userID string) string { return "/api/users/" + userID + "/push-devices" }
		requireForbidden(t, srv.Call(t, http.MethodGet, userRoute(bob.ID), ada.Token, nil).NotServerError(t), identity.PermPushDevicesRead)
		plainKey := pdServiceKey(t, srv, e.Tenant.ID, identity.PermUsersRead)
		requireForbidden(t, srv.Call(t, http.MethodGet, userRoute(bob.ID), plainKey, nil).NotServerError(t), identity.PermPushDevicesRead)
		notifier := pdServiceKey(t, srv, e.Tenant.ID, identity.PermPushDevicesRead)
		res = srv.Call(t, http.MethodGet, userRoute(bob.ID), notifier, nil).NotServerError(t)
		full := pdList(t, res)
		require.Equal(t, "no-store", res.Header.Get("Cache-Control"))
		require.Len(t, full, 1)
		require.Equal(t, fcm, full[0]["token"], "the service gets the whole token")
		require.Equal(t, bob.ID, full[0]["user_id"])
		require.Equal(t, "fcm", full[0]["platform"])
		adaFull := pdList(t, srv.Call(t, http.MethodGet, userRoute(e.User.ID), notifier, nil))
		require.Len(t, adaFull, 1)
		require.Equal(t, apns, adaFull[0]["token"])
		requireAnswer(t, srv.Call(t, http.MethodGet, userRoute(other.User.ID), notifier, nil).NotServerError(t), http.StatusNotFound, "user_not_found")
		requireAnswer(t, srv.Call(t, http.MethodGet, userRoute("00000000-0000-4000-8000-000000000000"), notifier, nil).NotServerError(t), http.StatusNotFound, "user_not_found")
		requireAnswer(t, srv.Call(t, http.MethodGet, userRoute("nope"), notifier, nil).NotServerError(t), http.StatusNotFound, "user_not_found")
		otherNotifier := pdServiceKey(t, srv, other.Tenant.ID, identity.PermPushDevicesRead)
		requireAnswer(t, srv.Call(t, http.MethodGet, userRoute(bob.ID), otherNotifier, nil).NotServerError(t), http.StatusNotFound, "user_not_found")
		requireAnswer(t, srv.Call(t, http.MethodGet, base, notifier, nil).NotServerError(t), http.StatusForbidden, "")

		// Remove: 204, then 404; audited.
		apnsID := apnsDev["id"].(string)
		requireAnswer(t, srv.Call(t, http.MethodDelete, base+"/"+apnsID, ada.Token, nil).NotServerError(t), http.StatusNoContent, "")
		requireAnswer(t, srv.Call(t, http.MethodDelete, base+"/"+apnsID, ada.Token, nil).NotServerError(t), http.StatusNotFound, "push_device_not_found")
		require.Empty(t, pdList(t, srv.Call(t, http.MethodGet, base, ada.Token, nil)))
		require.Len(t, srv.Rows(t, "SELECT id FROM audit_logs WHERE action = 'push_device.removed' AND user_id = '"+e.User.ID+"'"), 1)

		// Revoking the device a registration was made from removes it; a
		// registration from another device stays.
		onPhone := pdFCMToken(t)
		tokens = append(tokens, onPhone)
		register(ada.Token, map[string]any{"platform": "fcm", "token": onPhone, "app_id": "com.example.shop"})
		laptop := apptest.ParseLogin(t, srv.PasswordLogin(t, e.Tenant.Slug, e.User.Email, apptest.Password,
			func(r *apptest.Request, _ map[string]any) { r.UA = apptest.FirefoxUA }))
		onLaptop := pdFCMToken(t)
		tokens = append(tokens, onLaptop)
		laptopDev := register(laptop.Token, map[string]any{"platform": "fcm", "token": onLaptop, "app_id": "com.example.shop"})
		phoneDevice := first["device_id"].(string)
		require.NotEqual(t, phoneDevice, laptopDev["device_id"])
		requireAnswer(t, srv.Call(t, http.MethodDelete, "/api/devices/"+phoneDevice, laptop.Token, nil).NotServerError(t), http.StatusNoContent, "")
		left := pdList(t, srv.Call(t, http.MethodGet, base, laptop.Token, nil))
		require.Len(t, left, 1, "the revoked device's registration is gone")
		require.Equal(t, laptopDev["id"], left[0]["id"])

		// Ten concurrent registrations of one token: one row.
		racy := pdFCMToken(t)
		tokens = append(tokens, racy)
		ids := make([]string, 10)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range ids {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				r, err := apptest.Send(srv.URL, apptest.Request{Method: http.MethodPost, Path: base, Token: laptop.Token,
					Body: map[string]any{"platform": "fcm", "token": racy, "app_id": "com.example.shop"}})
				var m struct {
					ID string `json:"id"`
				}
				if err == nil && r.Status == http.StatusOK && json.Unmarshal(r.Body, &m) == nil {
					ids[i] = m.ID
				}
			}()
		}
		close(start)
		wg.Wait()
		for i := range ids {
			require.NotEmpty(t, ids[i], "registration %d failed", i)
			require.Equal(t, ids[0], ids[i])
		}
		require.Len(t, srv.Rows(t, "SELECT id FROM push_devices WHERE user_id = '"+e.User.ID+"'"), 2, "one row for the raced token")
		require.Len(t, pdList(t, srv.Call(t, http.MethodGet, base, laptop.Token, nil)), 2)

		// Deleting a user removes their registrations.
		admin := srv.AddUser(t, apptest.NewUser{TenantSlug: e.Tenant.Slug, Email: "root." + e.Tenant.Slug + "@example.com", Password: apptest.Password, SystemAdmin: true})
		adminToken := srv.Login(t, e.Tenant.Slug, admin.Email, apptest.Password)
		require.Len(t, srv.Rows(t, "SELECT id FROM push_devices WHERE user_id = '"+bob.ID+"'"), 1)
		requireAnswer(t, srv.Call(t, http.MethodDelete, "/api/users/"+bob.ID, adminToken, nil).NotServerError(t), http.StatusNoContent, "")
		require.Empty(t, srv.Rows(t, "SELECT id FROM push_devices WHERE user_id = '"+bob.ID+"'"))

		// No token is ever stored in plaintext, audited or logged.
		stored := srv.TableRows(t, "push_devices")
		require.NotEmpty(t, stored)
		for _, tok := range tokens {
			for _, row := range stored {
				for col, v := range row {
					require.NotContains(t, v, tok, "push_devices.%s holds a token", col)
				}
			}
			for _, row := range srv.TableRows(t, "audit_logs") {
				require.NotContains(t, row["metadata"], tok, "an audit row holds a token")
			}
			require.NotContains(t, srv.Logs.String(), tok, "the log holds a token")
		}
		require.GreaterOrEqual(t, len(srv.Rows(t, "SELECT id FROM audit_logs WHERE action = 'push_device.registered'")), 6)
		require.Empty(t, srv.ErrorLogs())
	})
}
