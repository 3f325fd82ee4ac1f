package handlers_test

import (
	"encoding/json"
	"net/http"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/apptest"
)

// dvFind returns the entry of list with id, or nil.
func dvFind(list []map[string]any, id string) map[string]any {
	for _, d := range list {
		if d["id"] == id {
			return d
		}
	}
	return nil
}

// dvAudit returns the metadata of the user's audit rows of action.
func dvAudit(t *testing.T, e *accountEnv, userID, action string) []map[string]any {
	t.Helper()
	var out []map[string]any
	for _, row := range e.Server.TableRows(t, "audit_logs") {
		if row["user_id"] == userID && row["action"] == action {
			m := map[string]any{}
			require.NoError(t, json.Unmarshal([]byte(row["metadata"]), &m))
			out = append(out, m)
		}
	}
	return out
}

// TestDevicesAreNotSessions: a device (where trust and the device token
// live) carries any number of sessions. DELETE /api/devices/{id} takes a
// device id and ends every session on it and its trust, writing
// device.revoked (and no session.revoked); DELETE /api/sessions/{id} ends
// one session and leaves the device. Before issue 8 the device route took
// a session id, ended only that session and logged session.revoked.
func TestDevicesAreNotSessions(t *testing.T) {
	t.Parallel()
	eachAccountEnv(t, nil, func(t *testing.T, e *accountEnv) {
		u := e.newUser(t)
		first := e.token(t, u) // device D, session 1
		require.NotEmpty(t, first.Device)
		onD := func(r *apptest.Request, _ map[string]any) { r.Device = first.Device }
		second := e.login(t, u, apptest.Password, onD) // device D, session 2
		require.Empty(t, second.Device, "a known device gets no new token")
		other := e.login(t, u, apptest.Password, func(r *apptest.Request, _ map[string]any) { r.UA = apptest.FirefoxUA }) // device E
		otherSession2 := e.login(t, u, apptest.Password, func(r *apptest.Request, _ map[string]any) { r.Device = other.Device; r.UA = apptest.FirefoxUA })

		sessions := e.devices(t, other.Token)
		devD, _ := dvFind(sessions, first.SessionID)["device_id"].(string)
		devE, _ := dvFind(sessions, other.SessionID)["device_id"].(string)
		require.NotEmpty(t, devD)
		require.NotEqual(t, devD, devE)
		require.Equal(t, devD, dvFind(sessions, second.SessionID)["device_id"])
		// Trust the device (as a completed 2FA with trust_device would).
		until := time.Now().Add(time.Hour)
		require.NoError(t, e.Server.Store.SetDeviceTrust(t.Context(), e.Tenant.ID, u.ID, devD, &until))

		devices := e.deviceList(t, other.Token)
		require.Len(t, devices, 2, "%v", devices)
		d, eDev := dvFind(devices, devD), dvFind(devices, devE)
		require.NotNil(t, d)
		require.NotNil(t, eDev)
		require.Equal(t, float64(2), d["sessions"])
		require.Equal(t, float64(2), eDev["sessions"])
		require.Equal(t, true, d["trusted"])
		require.Equal(t, false, d["current"])
		require.Equal(t, true, eDev["current"], "the device of the caller's session is current")
		require.Contains(t, eDev["browser"], "Firefox")

		// Not a device id, another user's device, a session id: 404.
		stranger := e.token(t, e.newUser(t))
		strangerDev, _ := dvFind(e.devices(t, stranger.Token), stranger.SessionID)["device_id"].(string)
		for _, id := range []string{uuid.NewString(), "not-a-uuid", strangerDev, first.SessionID} {
			requireErrorShape(t, e.Do(t, apptest.Request{Method: http.MethodDelete, Path: "/api/devices/" + id, Token: other.Token}), http.StatusNotFound, "device_not_found")
		}
		e.requireLive(t, stranger.Token)
		e.requireLive(t, first.Token)

		// Revoking device D ends both its sessions and its trust, at once.
		res := e.Do(t, apptest.Request{Method: http.MethodDelete, Path: "/api/devices/" + devD, Token: other.Token})
		require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)
		e.requireDead(t, first.Token)
		e.requireDead(t, second.Token)
		e.requireLive(t, other.Token)
		e.requireLive(t, otherSession2.Token)
		require.Nil(t, dvFind(e.deviceList(t, other.Token), devD), "a revoked device is not listed")
		require.Nil(t, dvFind(e.devices(t, other.Token), first.SessionID))
		requireErrorShape(t, e.Do(t, apptest.Request{Method: http.MethodDelete, Path: "/api/devices/" + devD, Token: other.Token}), http.StatusNotFound, "device_not_found")
		// Its device token is forgotten: signing in with it makes a new device.
		again := e.login(t, u, apptest.Password, onD)
		require.NotEmpty(t, again.Device, "the revoked device's token is not recognised")
		revoked := dvAudit(t, e, u.ID, identity.AuditDeviceRevoked)
		require.Len(t, revoked, 1, "one device.revoked row")
		require.Equal(t, devD, revoked[0]["device_id"])
		require.ElementsMatch(t, []any{first.SessionID, second.SessionID}, revoked[0]["sessions_revoked"])
		require.Empty(t, dvAudit(t, e, u.ID, identity.AuditSessionRevoked), "revoking a device is not logged as a session revocation")

		// Ending one session leaves its device and the device's other session.
		res = e.Do(t, apptest.Request{Method: http.MethodDelete, Path: "/api/sessions/" + otherSession2.SessionID, Token: other.Token})
		require.Equal(t, http.StatusNoContent, res.Status, "%s", res.Body)
		e.requireDead(t, otherSession2.Token)
		e.requireLive(t, other.Token)
		eDev = dvFind(e.deviceList(t, other.Token), devE)
		require.NotNil(t, eDev, "the device stays")
		require.Equal(t, float64(1), eDev["sessions"])
		ended := dvAudit(t, e, u.ID, identity.AuditSessionRevoked)
		require.Len(t, ended, 1)
		require.Equal(t, otherSession2.SessionID, ended[0]["session_id"])
		require.Len(t, dvAudit(t, e, u.ID, identity.AuditDeviceRevoked), 1, "no device.revoked for a session")
	})
}
