package handlers_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/internal/apptest"
	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/webhook"
)

// whRequest is one POST a test receiver got.
type whRequest struct {
	At     time.Time
	Header http.Header
	Body   []byte
}

// whReceiver is a real HTTP receiver on 127.0.0.1 whose answer the test
// chooses (status, called with the request number from 1).
type whReceiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []whRequest
	status func(n int) int
}

func newReceiver(t *testing.T, status func(n int) int) *whReceiver {
	t.Helper()
	r := &whReceiver{status: status}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.got = append(r.got, whRequest{At: time.Now(), Header: req.Header.Clone(), Body: body})
		n := len(r.got)
		r.mu.Unlock()
		code := http.StatusNoContent
		if r.status != nil {
			code = r.status(n)
		}
		w.WriteHeader(code)
		_, _ = io.WriteString(w, "receiver body that must not be stored")
	}))
	t.Cleanup(r.Close)
	return r
}

func (r *whReceiver) requests() []whRequest {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]whRequest(nil), r.got...)
}

// waitFor polls cond for up to 30 s.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// whConfig is a test server's webhook configuration: private targets
// allowed (the receiver is on 127.0.0.1), fast polling, short backoff.
func whConfig(c *app.Config) {
	c.WebhookAllowPrivate = true
	c.WebhookInterval = 20 * time.Millisecond
	c.WebhookBackoffBase = 300 * time.Millisecond
	c.WebhookBackoffCap = 5 * time.Second
	c.WebhookTimeout = 5 * time.Second
}

// startWebhookJobs runs srv's webhook worker jobs until the test ends.
func startWebhookJobs(t *testing.T, srv *apptest.Server) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	n := 0
	for _, j := range srv.WorkerJobs() {
		if strings.HasPrefix(j.Name, "webhook-") {
			n++
			wg.Add(1)
			go func() { defer wg.Done(); j.Run(ctx) }()
		}
	}
	require.Equal(t, 2, n, "the dispatcher and the deliverer are worker jobs")
	t.Cleanup(func() { cancel(); wg.Wait() })
}

// whEnv is a server with its webhook jobs running, a tenant, its Owner
// (signed in) and a member without a role.
type whEnv struct {
	*apptest.Env
	owner    *models.User
	ownerTok string
}

func newWhEnv(t *testing.T, b apptest.Backend, mutate func(*app.Config)) *whEnv {
	t.Helper()
	srv := apptest.New(t, b, func(c *app.Config) {
		whConfig(c)
		if mutate != nil {
			mutate(c)
		}
	})
	startWebhookJobs(t, srv)
	e := apptest.Seed(t, srv)
	owner := srv.AddUser(t, apptest.NewUser{TenantSlug: e.Tenant.Slug, Email: "olga." + e.Tenant.Slug + "@example.com",
		Password: apptest.Password, Name: "Olga Owner", Role: identity.RoleOwner})
	return &whEnv{Env: e, owner: owner, ownerTok: srv.Login(t, e.Tenant.Slug, owner.Email, apptest.Password)}
}

func createWebhook(t *testing.T, srv *apptest.Server, tok string, body map[string]any) (id, secret string) {
	t.Helper()
	m := requireAnswer(t, srv.Call(t, http.MethodPost, "/api/webhooks", tok, body), http.StatusCreated, "")
	id, _ = m["id"].(string)
	secret, _ = m["secret"].(string)
	require.NotEmpty(t, id)
	require.True(t, strings.HasPrefix(secret, "whsec_"), "secret %q", secret)
	return id, secret
}

func deliveries(t *testing.T, srv *apptest.Server, tok, id string) []map[string]any {
	t.Helper()
	m := requireAnswer(t, srv.Call(t, http.MethodGet, "/api/webhooks/"+id+"/deliveries", tok, nil), http.StatusOK, "")
	var out []map[string]any
	for _, d := range m["deliveries"].([]any) {
		out = append(out, d.(map[string]any))
	}
	return out
}

// TestWebhookDeliversSignedCloudEvent: a change (a user created through
// the API) reaches the receiver as a structured CloudEvent whose Standard
// Webhooks signature verifies with the secret from creation; the delivery
// log records the attempt.
func TestWebhookDeliversSignedCloudEvent(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newWhEnv(t, b, nil)
		srv := e.Server
		rcv := newReceiver(t, nil)
		id, secret := createWebhook(t, srv, e.ownerTok, map[string]any{"url": rcv.URL + "/hook", "description": "crm sync",
			"event_types": []string{"identity.user.*"}})

		got := requireAnswer(t, srv.Call(t, http.MethodGet, "/api/webhooks/"+id, e.ownerTok, nil), http.StatusOK, "")
		require.NotContains(t, got, "secret", "GET never returns the secret")
		require.Equal(t, []any{"identity.user.*"}, got["event_types"])

		email := "new." + e.Tenant.Slug + "@example.com"
		u := requireAnswer(t, srv.Call(t, http.MethodPost, "/api/users", e.ownerTok, map[string]any{"email": email, "name": "New Person",
			"password": invPassword}), http.StatusCreated, "")
		userID := u["user"].(map[string]any)["id"].(string)

		var req whRequest
		waitFor(t, "identity.user.created at the receiver", func() bool {
			for _, r := range rcv.requests() {
				if strings.Contains(string(r.Body), `"identity.user.created"`) {
					req = r
					return true
				}
			}
			return false
		})
		require.Equal(t, "application/cloudevents+json", req.Header.Get("Content-Type"))
		require.NoError(t, webhook.Verify(secret, req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"),
			req.Header.Get("webhook-signature"), req.Body, time.Now(), 5*time.Minute), "the signature verifies with the creation secret")
		require.Error(t, webhook.Verify(secret, req.Header.Get("webhook-id"), req.Header.Get("webhook-timestamp"),
			req.Header.Get("webhook-signature"), append([]byte(" "), req.Body...), time.Now(), 5*time.Minute), "a changed body does not verify")
		var ce map[string]any
		require.NoError(t, json.Unmarshal(req.Body, &ce))
		require.Equal(t, "1.0", ce["specversion"])
		require.Equal(t, "identity.user.created", ce["type"])
		require.Equal(t, srv.Config.Issuer, ce["source"])
		require.Equal(t, e.Tenant.ID, ce["tenantid"])
		require.Equal(t, userID, ce["subject"])
		require.Equal(t, "application/json", ce["datacontenttype"])
		require.NotEmpty(t, ce["id"])
		require.NotEmpty(t, ce["time"])
		data := ce["data"].(map[string]any)
		require.Equal(t, userID, data["user_id"])
		require.NotContains(t, string(req.Body), "password_hash")

		var log []map[string]any
		waitFor(t, "the delivery log", func() bool {
			log = deliveries(t, srv, e.ownerTok, id)
			return len(log) > 0 && log[len(log)-1]["status"] == models.DeliveryDelivered
		})
		first := log[len(log)-1]
		require.Equal(t, req.Header.Get("webhook-id"), first["id"], "webhook-id is the delivery id")
		attempts := first["log"].([]any)
		require.Len(t, attempts, 1)
		a := attempts[0].(map[string]any)
		require.Equal(t, float64(http.StatusNoContent), a["status_code"])
		require.Equal(t, "delivered", a["outcome"])
		require.Contains(t, a, "latency_ms")
		for _, d := range log {
			require.Regexp(t, `^identity\.user\.`, d["event_type"], "only the subscribed events")
		}
	})
}

// TestWebhookRetriesWithBackoff: a receiver that answers 500 three times
// gets the same delivery again after growing waits, then takes it.
func TestWebhookRetriesWithBackoff(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newWhEnv(t, b, nil)
		srv := e.Server
		rcv := newReceiver(t, func(n int) int {
			if n <= 3 {
				return http.StatusInternalServerError
			}
			return http.StatusOK
		})
		id, _ := createWebhook(t, srv, e.ownerTok, map[string]any{"url": rcv.URL, "event_types": []string{"identity.webhook.test"}})
		requireAnswer(t, srv.Call(t, http.MethodPost, "/api/webhooks/"+id+"/test", e.ownerTok, nil), http.StatusAccepted, "")

		var log []map[string]any
		waitFor(t, "delivered after the retries", func() bool {
			log = deliveries(t, srv, e.ownerTok, id)
			return len(log) == 1 && log[0]["status"] == models.DeliveryDelivered
		})
		reqs := rcv.requests()
		require.Len(t, reqs, 4, "three failures and the success")
		for _, r := range reqs {
			require.Equal(t, reqs[0].Header.Get("webhook-id"), r.Header.Get("webhook-id"), "one delivery, retried")
		}
		// The waits double (half of each random): after attempt n at least
		// base·2^(n-1)/2.
		var gaps []time.Duration
		for i := 1; i < len(reqs); i++ {
			gaps = append(gaps, reqs[i].At.Sub(reqs[i-1].At))
		}
		for i, g := range gaps {
			min := 150 * time.Millisecond << i
			require.GreaterOrEqual(t, g, min, "wait after attempt %d: %v", i+1, gaps)
		}
		// (Each lower bound is the previous wait's upper one: the waits
		// grow; an upper bound would depend on the machine's speed.)

		d := log[0]
		require.Equal(t, float64(4), d["attempts"])
		attempts := d["log"].([]any)
		require.Len(t, attempts, 4)
		var prev time.Time
		for i, raw := range attempts {
			a := raw.(map[string]any)
			require.Equal(t, float64(i+1), a["attempt"])
			at, err := time.Parse(time.RFC3339Nano, a["at"].(string))
			require.NoError(t, err)
			require.True(t, at.After(prev), "attempt times increase")
			prev = at
			if i < 3 {
				require.Equal(t, float64(500), a["status_code"])
				require.Equal(t, "The receiver answered 500.", a["error"], "a safe sentence, never the receiver's body")
			}
		}
	})
}

// TestWebhookDisabledAfterFailures: a receiver that always fails gets
// the webhook disabled after IDENTITY_WEBHOOK_DISABLE_AFTER attempts, with
// an audit row and an e-mail to the tenant's Owners; enabling it again
// resets the count.
func TestWebhookDisabledAfterFailures(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newWhEnv(t, b, func(c *app.Config) {
			c.WebhookDisableAfter = 3
			c.WebhookBackoffBase = 20 * time.Millisecond
			c.WebhookBackoffCap = 50 * time.Millisecond
		})
		srv := e.Server
		mail := srv.CaptureMail()
		rcv := newReceiver(t, func(int) int { return http.StatusBadGateway })
		id, _ := createWebhook(t, srv, e.ownerTok, map[string]any{"url": rcv.URL})
		requireAnswer(t, srv.Call(t, http.MethodPost, "/api/webhooks/"+id+"/test", e.ownerTok, nil), http.StatusAccepted, "")

		var w map[string]any
		waitFor(t, "the webhook disabled", func() bool {
			w = requireAnswer(t, srv.Call(t, http.MethodGet, "/api/webhooks/"+id, e.ownerTok, nil), http.StatusOK, "")
			return w["enabled"] == false
		})
		require.Equal(t, identity.WebhookDisabledByFailures, w["disabled_reason"])
		require.Equal(t, float64(3), w["consecutive_failures"])
		require.NotEmpty(t, w["disabled_at"])
		require.Len(t, rcv.requests(), 3, "no attempt after the threshold")
		require.Equal(t, "1", srv.Scalar(t, fmt.Sprintf("SELECT count(*) FROM audit_logs WHERE tenant_id = %s AND action = %s",
			sqlQuote(e.Tenant.ID), sqlQuote(identity.AuditWebhookDisabled))))
		waitFor(t, "the notice to the Owner", func() bool { return len(mail.To(e.owner.Email, "A webhook has been disabled")) == 1 })
		require.Contains(t, mail.To(e.owner.Email, "A webhook has been disabled")[0].Text, id)
		require.Empty(t, mail.Sent(e.User.Email), "only Owners are told")
		require.Equal(t, models.DeliveryPending, deliveries(t, srv, e.ownerTok, id)[0]["status"], "the delivery waits while the webhook is off")

		// Re-enabled: the count starts again and the waiting delivery goes.
		w = requireAnswer(t, srv.Call(t, http.MethodPatch, "/api/webhooks/"+id, e.ownerTok, map[string]any{"enabled": true}), http.StatusOK, "")
		require.Equal(t, true, w["enabled"])
		require.Equal(t, float64(0), w["consecutive_failures"])
		require.NotContains(t, w, "disabled_reason")
		waitFor(t, "attempts again", func() bool { return len(rcv.requests()) > 3 })
	})
}

// TestWebhookPrivateTargetsRefused: without IDENTITY_WEBHOOK_ALLOW_PRIVATE
// a literal private or loopback URL (or http) is a 422 at creation, and a
// webhook whose target resolves to loopback at connect time is refused:
// the receiver never hears of it and the delivery is recorded refused.
func TestWebhookPrivateTargetsRefused(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		cfg := apptest.Config(t, b)
		lenient := apptest.Start(t, cfg, whConfig) // creates the webhook (private allowed)
		strictCfg := apptest.Config(t, b)
		strict := apptest.Start(t, strictCfg, func(c *app.Config) {
			whConfig(c)
			c.WebhookAllowPrivate = false
		})
		startWebhookJobs(t, strict)
		e := apptest.Seed(t, strict)
		owner := strict.AddUser(t, apptest.NewUser{TenantSlug: e.Tenant.Slug, Email: "olga." + e.Tenant.Slug + "@example.com",
			Password: apptest.Password, Name: "Olga Owner", Role: identity.RoleOwner})
		tok := strict.Login(t, e.Tenant.Slug, owner.Email, apptest.Password)
		rcv := newReceiver(t, nil)

		for _, u := range []string{"https://127.0.0.1/hook", "https://10.1.2.3/", "https://[::1]:8443/", "https://[::ffff:169.254.169.254]/",
			"https://169.254.169.254/latest/meta-data", "https://100.64.0.1/", "https://0.0.0.0/", "https://localhost/", "https://2130706433/",
			rcv.URL, "ftp://example.com/", "https://user:pw@example.com/", "/relative"} {
			m := requireAnswer(t, strict.Call(t, http.MethodPost, "/api/webhooks", tok, map[string]any{"url": u}), http.StatusUnprocessableEntity, models.CodeValidationFailed)
			require.Contains(t, m["fields"], "url", "%s: the field is named", u)
		}

		// Created where private targets are allowed, delivered where they
		// are not: refused at connect time.
		lenientTok := lenient.Login(t, e.Tenant.Slug, owner.Email, apptest.Password)
		id, _ := createWebhook(t, lenient, lenientTok, map[string]any{"url": strings.Replace(rcv.URL, "127.0.0.1", "localhost", 1),
			"event_types": []string{identity.EventWebhookTest}})
		requireAnswer(t, strict.Call(t, http.MethodPost, "/api/webhooks/"+id+"/test", tok, nil), http.StatusAccepted, "")
		var log []map[string]any
		waitFor(t, "the delivery refused", func() bool {
			log = deliveries(t, strict, tok, id)
			return len(log) == 1 && log[0]["status"] == models.DeliveryRefused
		})
		require.Empty(t, rcv.requests(), "no connection to a loopback target")
		require.Contains(t, log[0]["last_error"], "private, loopback or link-local")
		w := requireAnswer(t, strict.Call(t, http.MethodGet, "/api/webhooks/"+id, tok, nil), http.StatusOK, "")
		require.Equal(t, float64(1), w["consecutive_failures"], "a refusal counts as a failure")
	})
}

// TestWebhookAPI: CRUD, paging, permissions (403 naming the permission),
// another tenant's webhook (404), the rotation's step-up, and no secret
// in any read.
func TestWebhookAPI(t *testing.T) {
	t.Parallel()
	apptest.EachBackend(t, func(t *testing.T, b apptest.Backend) {
		e := newWhEnv(t, b, nil)
		srv := e.Server
		const base = "/api/webhooks"
		memberTok := srv.Login(t, e.Tenant.Slug, e.User.Email, apptest.Password)
		rcv := newReceiver(t, nil)

		m := requireAnswer(t, srv.Call(t, http.MethodGet, base, memberTok, nil), http.StatusForbidden, models.CodeForbidden)
		require.Equal(t, identity.PermWebhooksRead, m["required_permission"])
		m = requireAnswer(t, srv.Call(t, http.MethodPost, base, memberTok, map[string]any{"url": rcv.URL}), http.StatusForbidden, models.CodeForbidden)
		require.Equal(t, identity.PermWebhooksCreate, m["required_permission"])

		m = requireAnswer(t, srv.Call(t, http.MethodPost, base, e.ownerTok, map[string]any{"url": rcv.URL, "event_types": []string{"Not A Type"},
			"description": strings.Repeat("x", 501)}), http.StatusUnprocessableEntity, models.CodeValidationFailed)
		require.Contains(t, m["fields"], "event_types")
		require.Contains(t, m["fields"], "description")

		var ids []string
		for i := range 3 {
			id, _ := createWebhook(t, srv, e.ownerTok, map[string]any{"url": fmt.Sprintf("%s/%d", rcv.URL, i)})
			ids = append(ids, id)
		}
		require.Equal(t, "3", srv.Scalar(t, fmt.Sprintf("SELECT count(*) FROM audit_logs WHERE tenant_id = %s AND action = %s",
			sqlQuote(e.Tenant.ID), sqlQuote(identity.AuditWebhookCreated))))
		p := requireAnswer(t, srv.Call(t, http.MethodGet, base+"?per_page=2", e.ownerTok, nil), http.StatusOK, "")
		require.Equal(t, float64(3), p["total"])
		require.Len(t, p["webhooks"], 2)
		p2 := requireAnswer(t, srv.Call(t, http.MethodGet, base+"?per_page=2&page=2", e.ownerTok, nil), http.StatusOK, "")
		require.Len(t, p2["webhooks"], 1)
		require.Equal(t, ids[2], p2["webhooks"].([]any)[0].(map[string]any)["id"])
		for _, w := range append(p["webhooks"].([]any), p2["webhooks"].([]any)...) {
			require.NotContains(t, w, "secret")
		}
		requireAnswer(t, srv.Call(t, http.MethodGet, base+"?per_page=1000", e.ownerTok, nil), http.StatusUnprocessableEntity, models.CodeValidationFailed)

		w := requireAnswer(t, srv.Call(t, http.MethodPatch, base+"/"+ids[0], e.ownerTok, map[string]any{"description": "renamed",
			"event_types": []string{"identity.user.created"}, "enabled": false}), http.StatusOK, "")
		require.Equal(t, "renamed", w["description"])
		require.Equal(t, false, w["enabled"])
		require.Equal(t, identity.WebhookDisabledByAdmin, w["disabled_reason"])
		requireAnswer(t, srv.Call(t, http.MethodPost, base+"/"+ids[0]+"/test", e.ownerTok, nil), http.StatusUnprocessableEntity, models.CodeValidationFailed)
		requireAnswer(t, srv.Call(t, http.MethodPatch, base+"/"+ids[0], e.ownerTok, map[string]any{"url": "https://127.0.0.1:1/"}), http.StatusOK, "")

		// Another tenant's owner sees none of it.
		other := apptest.Seed(t, srv)
		otherOwner := srv.AddUser(t, apptest.NewUser{TenantSlug: other.Tenant.Slug, Email: "otto." + other.Tenant.Slug + "@example.com",
			Password: apptest.Password, Name: "Otto", Role: identity.RoleOwner})
		otherTok := srv.Login(t, other.Tenant.Slug, otherOwner.Email, apptest.Password)
		for _, c := range []struct{ method, path string }{{http.MethodGet, ""}, {http.MethodPatch, ""}, {http.MethodDelete, ""},
			{http.MethodGet, "/deliveries"}, {http.MethodPost, "/test"}} {
			requireAnswer(t, srv.Call(t, c.method, base+"/"+ids[1]+c.path, otherTok, map[string]any{}), http.StatusNotFound, "webhook_not_found")
		}
		require.Equal(t, float64(0), requireAnswer(t, srv.Call(t, http.MethodGet, base, otherTok, nil), http.StatusOK, "")["total"])
		requireAnswer(t, srv.Call(t, http.MethodGet, base+"/not-a-uuid", e.ownerTok, nil), http.StatusNotFound, "webhook_not_found")

		// Rotation: a danger action. The Owner lacks it; a holder of the
		// Danger Zone policy needs a fresh step-up.
		m = requireAnswer(t, srv.Call(t, http.MethodPost, base+"/"+ids[1]+"/rotate-secret", e.ownerTok, nil), http.StatusForbidden, models.CodeForbidden)
		require.Equal(t, identity.PermWebhooksRotate, m["required_permission"])
		dz := newRoleUser(t, srv, e.Tenant, userOpts{role: identity.RoleOwner, dangerZone: true})
		dzTok := srv.Login(t, e.Tenant.Slug, dz.Email, apptest.Password)
		requireAnswer(t, srv.Call(t, http.MethodPost, base+"/"+ids[1]+"/rotate-secret", dzTok, nil), http.StatusForbidden, models.CodeStepUpRequired)
		srv.StepUp(t, dzTok, apptest.Password)
		r := requireAnswer(t, srv.Call(t, http.MethodPost, base+"/"+ids[1]+"/rotate-secret", dzTok, nil), http.StatusOK, "")
		require.True(t, strings.HasPrefix(r["secret"].(string), "whsec_"))
		require.Equal(t, "1", srv.Scalar(t, fmt.Sprintf("SELECT count(*) FROM audit_logs WHERE tenant_id = %s AND action = %s",
			sqlQuote(e.Tenant.ID), sqlQuote(identity.AuditWebhookSecretRotated))))
		require.NotContains(t, requireAnswer(t, srv.Call(t, http.MethodGet, base+"/"+ids[1], e.ownerTok, nil), http.StatusOK, ""), "secret")
		raw := srv.Scalar(t, fmt.Sprintf("SELECT count(*) FROM webhooks WHERE id = %s", sqlQuote(ids[1])))
		require.Equal(t, "1", raw)

		// The test endpoint queues a delivery to that webhook.
		d := requireAnswer(t, srv.Call(t, http.MethodPost, base+"/"+ids[2]+"/test", e.ownerTok, nil), http.StatusAccepted, "")
		require.Equal(t, identity.EventWebhookTest, d["event_type"])
		waitFor(t, "the test event", func() bool {
			for _, rq := range rcv.requests() {
				if strings.Contains(string(rq.Body), identity.EventWebhookTest) {
					return true
				}
			}
			return false
		})

		// Delete: gone, with its deliveries.
		requireAnswer(t, srv.Call(t, http.MethodDelete, base+"/"+ids[2], e.ownerTok, nil), http.StatusNoContent, "")
		requireAnswer(t, srv.Call(t, http.MethodGet, base+"/"+ids[2], e.ownerTok, nil), http.StatusNotFound, "webhook_not_found")
		require.Equal(t, "0", srv.Scalar(t, fmt.Sprintf("SELECT count(*) FROM webhook_deliveries WHERE webhook_id = %s", sqlQuote(ids[2]))))
		require.Equal(t, "1", srv.Scalar(t, fmt.Sprintf("SELECT count(*) FROM audit_logs WHERE tenant_id = %s AND action = %s",
			sqlQuote(e.Tenant.ID), sqlQuote(identity.AuditWebhookDeleted))))
	})
}
