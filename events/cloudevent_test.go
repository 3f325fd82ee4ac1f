package events_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/events"
	"github.com/identityd/identityd/models"
)

// The envelope of a row: every attribute, the extensions only when set,
// data as stored.
func TestCloudEvent(t *testing.T) {
	tenant := "6f1c2a4e-0d7b-4c1e-9b9e-2f0c8e1d3a5b"
	row := &models.OutboxEvent{Seq: 7, ID: "0d3e6b7a-5f61-4d7e-8f43-0f1e2d3c4b5a", TenantID: &tenant, Type: "identity.user.created",
		Source: "https://id.example.com", Subject: "u-1", Time: time.Date(2026, 12, 2, 1, 2, 3, 456, time.FixedZone("x", 3600)),
		Data: `{"user_id":"u-1","email":"a@example.com"}`, TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}
	b, err := events.CloudEvent(row)
	require.NoError(t, err)
	var env map[string]any
	require.NoError(t, json.Unmarshal(b, &env))
	require.Equal(t, map[string]any{
		"specversion": "1.0", "id": row.ID, "source": row.Source, "type": row.Type, "time": "2026-12-02T00:02:03.000000456Z",
		"subject": "u-1", "tenantid": tenant, "datacontenttype": "application/json", "traceparent": row.TraceParent,
		"data": map[string]any{"user_id": "u-1", "email": "a@example.com"},
	}, env)

	row.TenantID, row.Subject, row.TraceParent = nil, "", ""
	b, err = events.CloudEvent(row)
	require.NoError(t, err)
	env = nil
	require.NoError(t, json.Unmarshal(b, &env))
	for _, k := range []string{"tenantid", "subject", "traceparent"} {
		require.NotContains(t, env, k)
	}

	row.Data = `{"broken"`
	_, err = events.CloudEvent(row)
	require.Error(t, err)
}

func TestURLs(t *testing.T) {
	require.NoError(t, events.CheckURL("amqp://guest:guest@127.0.0.1:5672/"))
	require.NoError(t, events.CheckURL("amqps://broker.example.com/vhost"))
	for _, bad := range []string{"http://u:hunter2@h/", "amqp://u:hunter2@h:port/", "amqp://u:hunter2@h/ x", "::"} {
		err := events.CheckURL(bad)
		require.Error(t, err, bad)
		require.NotContains(t, err.Error(), "hunter2")
	}
	require.Equal(t, "amqp://guest:xxxxx@127.0.0.1:5672/", events.Redact("amqp://guest:guest@127.0.0.1:5672/"))
	require.False(t, strings.Contains(events.Redact("amqp://u:hunter2@h/"), "hunter2"))
}

// ParseOTPRequest accepts exactly the documented message.
func TestParseOTPRequest(t *testing.T) {
	tid, uid := "6f1c2a4e-0d7b-4c1e-9b9e-2f0c8e1d3a5b", "0d3e6b7a-5f61-4d7e-8f43-0f1e2d3c4b5a"
	r, err := events.ParseOTPRequest([]byte(`{"tenant_id":"` + tid + `","user_id":"` + uid + `","purpose":"payment.confirm"}`))
	require.NoError(t, err)
	require.Equal(t, events.OTPRequest{TenantID: tid, UserID: uid, Purpose: "payment.confirm"}, r)
	for _, bad := range []string{
		``, `[]`, `{}`, `{"tenant_id":"` + tid + `","user_id":"` + uid + `"}`,
		`{"tenant_id":"x","user_id":"` + uid + `","purpose":"p"}`,
		`{"tenant_id":"` + tid + `","user_id":"` + uid + `","purpose":"p","x":1}`,
		`{"tenant_id":"` + tid + `","user_id":"` + uid + `","purpose":"P Q"}`,
		`{"tenant_id":"` + tid + `","user_id":"` + uid + `","purpose":"p"}{}`,
	} {
		_, err := events.ParseOTPRequest([]byte(bad))
		require.Error(t, err, bad)
	}
}
