package storagetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/identityd/identityd/models"
	"github.com/identityd/identityd/storage"
)

// WebhookStore is the webhooks repository (issue 11 §3): the tenant's
// webhooks, the dispatcher's fan-out of the outbox, the deliverer's claims
// and attempt log, the dispatcher's renewable lease and the prune.
type WebhookStore interface {
	TenantCreator
	AppendEvent(ctx context.Context, e *models.OutboxEvent) error
	CreateWebhook(ctx context.Context, w *models.Webhook) error
	ListWebhooks(ctx context.Context, tenantID string, offset, limit int) ([]models.Webhook, int, error)
	GetWebhook(ctx context.Context, tenantID, id string) (*models.Webhook, error)
	UpdateWebhook(ctx context.Context, tenantID, id string, fn func(w *models.Webhook) error) (*models.Webhook, error)
	DeleteWebhook(ctx context.Context, tenantID, id string) error
	DisableWebhook(ctx context.Context, tenantID, id, reason string) (bool, error)
	CreateWebhookDelivery(ctx context.Context, d *models.WebhookDelivery) error
	ListWebhookDeliveries(ctx context.Context, tenantID, webhookID string, offset, limit int) ([]models.WebhookDelivery, int, error)
	ListWebhookAttempts(ctx context.Context, tenantID string, deliveryIDs []string) (map[string][]models.WebhookAttempt, error)
	DispatchWebhookEvents(ctx context.Context, limit int) (int, int, error)
	ClaimDueWebhookDeliveries(ctx context.Context, limit int, lease time.Duration) ([]models.WebhookDelivery, error)
	RecordWebhookAttempt(ctx context.Context, d *models.WebhookDelivery, r storage.WebhookAttemptResult) (int, error)
	HoldLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error)
	PruneWebhookDeliveries(ctx context.Context, cutoff time.Time, batch int) (int64, error)
}

var _ = claim[WebhookStore]("RunWebhooksSuite", "AppendEvent", "CreateWebhook", "ListWebhooks", "GetWebhook", "UpdateWebhook",
	"DeleteWebhook", "DisableWebhook", "CreateWebhookDelivery", "ListWebhookDeliveries", "ListWebhookAttempts",
	"DispatchWebhookEvents", "ClaimDueWebhookDeliveries", "RecordWebhookAttempt", "HoldLease", "PruneWebhookDeliveries")

// RunWebhooksSuite checks webhooks: tenant-scoped CRUD and paging with the
// deliveries going with a deleted webhook; the fan-out (subscriptions,
// disabled webhooks, events of no tenant, each event once); concurrent
// claims of which one wins each delivery, the attempt log and the failure
// count; disabling once; the renewable lease; and the prune.
func RunWebhooksSuite[S WebhookStore](t *testing.T, newStore func(t *testing.T) S) {
	t.Helper()
	runSubTests(t, func(t *testing.T) WebhookStore { return newStore(t) }, []subTest[WebhookStore]{
		{"CRUD", testWebhookCRUD},
		{"Dispatch", testWebhookDispatch},
		{"ClaimAndRecord", testWebhookClaimAndRecord},
		{"LeaseAndPrune", testWebhookLeaseAndPrune},
	})
}

func newWebhook(t *testing.T, s WebhookStore, tenantID string, types ...string) *models.Webhook {
	t.Helper()
	w := &models.Webhook{ID: uuid.NewString(), TenantID: tenantID, URL: "https://hooks.example.com/" + randomHex(t, 3),
		EventTypes: models.StringList(types), SecretSealed: []byte("sealed"), Enabled: true}
	must(t, s.CreateWebhook(t.Context(), w), "create webhook")
	return w
}

func newDelivery(t *testing.T, s WebhookStore, w *models.Webhook) *models.WebhookDelivery {
	t.Helper()
	d := &models.WebhookDelivery{WebhookID: w.ID, TenantID: w.TenantID, EventID: uuid.NewString(), EventType: "identity.webhook.test",
		EventSource: "https://id.example.com", EventTime: time.Now().UTC(), Data: `{}`}
	must(t, s.CreateWebhookDelivery(t.Context(), d), "create delivery")
	return d
}

func testWebhookCRUD(t *testing.T, s WebhookStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	a, b := newWebhook(t, s, tn.ID), newWebhook(t, s, tn.ID, "identity.user.*")
	newWebhook(t, s, other.ID)
	got, err := s.GetWebhook(ctx, tn.ID, b.ID)
	must(t, err, "get")
	wantEqual(t, len(got.EventTypes), 1, "event types")
	wantEqual(t, string(got.SecretSealed), "sealed", "sealed secret")
	_, err = s.GetWebhook(ctx, other.ID, b.ID)
	wantKind(t, err, models.KindNotFound, "another tenant's webhook")
	_, err = s.GetWebhook(ctx, tn.ID, "not-a-uuid")
	wantKind(t, err, models.KindNotFound, "a malformed id")
	list, total, err := s.ListWebhooks(ctx, tn.ID, 0, 1)
	must(t, err, "list")
	wantEqual(t, total, 2, "total")
	wantEqual(t, len(list), 1, "page size")
	wantEqual(t, list[0].ID, a.ID, "oldest first")

	up, err := s.UpdateWebhook(ctx, tn.ID, a.ID, func(w *models.Webhook) error {
		w.Description, w.Enabled = "changed", false
		return nil
	})
	must(t, err, "update")
	wantEqual(t, up.Description, "changed", "updated")
	got, _ = s.GetWebhook(ctx, tn.ID, a.ID)
	wantEqual(t, got.Enabled, false, "saved")
	_, err = s.UpdateWebhook(ctx, other.ID, a.ID, func(*models.Webhook) error { return nil })
	wantKind(t, err, models.KindNotFound, "update across tenants")

	d := newDelivery(t, s, b)
	wantKind(t, s.DeleteWebhook(ctx, other.ID, b.ID), models.KindNotFound, "delete across tenants")
	must(t, s.DeleteWebhook(ctx, tn.ID, b.ID), "delete")
	_, n, err := s.ListWebhookDeliveries(ctx, tn.ID, b.ID, 0, 10)
	must(t, err, "list deliveries")
	wantEqual(t, n, 0, "deliveries of a deleted webhook: "+d.ID)
	wantKind(t, s.DeleteWebhook(ctx, tn.ID, b.ID), models.KindNotFound, "delete twice")
}

func testWebhookDispatch(t *testing.T, s WebhookStore) {
	ctx := t.Context()
	tn, other := newTenant(t, s), newTenant(t, s)
	all := newWebhook(t, s, tn.ID)
	users := newWebhook(t, s, tn.ID, "identity.user.*")
	off := newWebhook(t, s, tn.ID)
	_, _ = s.UpdateWebhook(ctx, tn.ID, off.ID, func(w *models.Webhook) error { w.Enabled = false; return nil })
	add := func(tenant *string, typ string) {
		must(t, s.AppendEvent(ctx, &models.OutboxEvent{ID: uuid.NewString(), TenantID: tenant, Type: typ, Source: "https://id.example.com",
			Subject: "s", Data: `{"a":1}`, TraceParent: "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}), "append")
	}
	add(&tn.ID, "identity.user.created")    // both
	add(&tn.ID, "identity.session.created") // all only
	add(nil, "identity.tenant.created")     // no tenant
	add(&other.ID, "identity.user.created") // no webhook
	events, deliveries, err := s.DispatchWebhookEvents(ctx, 2)
	must(t, err, "dispatch")
	wantEqual(t, events, 2, "a batch")
	wantEqual(t, deliveries, 3, "deliveries of the first two events")
	events, deliveries, err = s.DispatchWebhookEvents(ctx, 10)
	must(t, err, "dispatch rest")
	wantEqual(t, events, 2, "the rest")
	wantEqual(t, deliveries, 0, "no webhook for them")
	events, _, err = s.DispatchWebhookEvents(ctx, 10)
	must(t, err, "dispatch again")
	wantEqual(t, events, 0, "each event once")
	list, n, err := s.ListWebhookDeliveries(ctx, tn.ID, all.ID, 0, 10)
	must(t, err, "list")
	wantEqual(t, n, 2, "the all-events webhook")
	wantEqual(t, list[0].TraceParent != "", true, "traceparent copied")
	wantEqual(t, list[0].Status, models.DeliveryPending, "pending")
	_, n, _ = s.ListWebhookDeliveries(ctx, tn.ID, users.ID, 0, 10)
	wantEqual(t, n, 1, "the users webhook")
	_, n, _ = s.ListWebhookDeliveries(ctx, tn.ID, off.ID, 0, 10)
	wantEqual(t, n, 0, "a disabled webhook")
}

func testWebhookClaimAndRecord(t *testing.T, s WebhookStore) {
	ctx := t.Context()
	tn := newTenant(t, s)
	w := newWebhook(t, s, tn.ID)
	for range 5 {
		newDelivery(t, s, w)
	}
	claimed := map[string]int{}
	var all []models.WebhookDelivery
	var mu sync.Mutex
	for _, err := range race(8, func(int) error {
		got, err := s.ClaimDueWebhookDeliveries(ctx, 10, time.Minute)
		mu.Lock()
		all = append(all, got...)
		mu.Unlock()
		return err
	}) {
		must(t, err, "claim")
	}
	for _, d := range all {
		claimed[d.ID]++
		wantEqual(t, d.Attempts, 1, "the attempt counted")
	}
	wantEqual(t, len(claimed), 5, "every delivery claimed")
	for id, n := range claimed {
		wantEqual(t, n, 1, "claimed once: "+id)
	}
	got, err := s.ClaimDueWebhookDeliveries(ctx, 10, time.Minute)
	must(t, err, "claim leased")
	wantEqual(t, len(got), 0, "leased deliveries are not claimed again")

	d := all[0]
	n, err := s.RecordWebhookAttempt(ctx, &d, storage.WebhookAttemptResult{Status: models.DeliveryPending, NextAttemptAt: time.Now().Add(time.Hour),
		Attempt: models.WebhookAttempt{Outcome: "failed", StatusCode: 500, Error: "The receiver answered 500.", LatencyMS: 12}})
	must(t, err, "record failure")
	wantEqual(t, n, 1, "one failure")
	n, err = s.RecordWebhookAttempt(ctx, &all[1], storage.WebhookAttemptResult{Status: models.DeliveryGaveUp,
		Attempt: models.WebhookAttempt{Outcome: "failed", Error: "No answer."}})
	must(t, err, "record second failure")
	wantEqual(t, n, 2, "consecutive failures")
	got, _ = s.ClaimDueWebhookDeliveries(ctx, 10, time.Minute)
	wantEqual(t, len(got), 0, "a retry is not due before next_attempt_at")
	n, err = s.RecordWebhookAttempt(ctx, &all[2], storage.WebhookAttemptResult{Status: models.DeliveryDelivered,
		Attempt: models.WebhookAttempt{Outcome: "delivered", StatusCode: 204, LatencyMS: 3}})
	must(t, err, "record delivery")
	wantEqual(t, n, 0, "a delivery resets the count")
	attempts, err := s.ListWebhookAttempts(ctx, tn.ID, []string{d.ID, all[2].ID})
	must(t, err, "attempts")
	wantEqual(t, len(attempts[d.ID]), 1, "the log of the failure")
	wantEqual(t, attempts[d.ID][0].StatusCode, 500, "status code")
	wantEqual(t, attempts[d.ID][0].LatencyMS, int64(12), "latency")
	list, _, _ := s.ListWebhookDeliveries(ctx, tn.ID, w.ID, 0, 10)
	for _, x := range list {
		if x.ID == all[2].ID {
			wantEqual(t, x.Status, models.DeliveryDelivered, "delivered")
			wantEqual(t, x.DeliveredAt != nil, true, "delivered_at")
			wantEqual(t, x.LeasedUntil == nil, true, "lease released")
		}
	}

	won := raceBool(t, 5, func(int) (bool, error) { return s.DisableWebhook(ctx, tn.ID, w.ID, "too_many_failures") })
	wantEqual(t, won, 1, "disabled once")
	got, _ = s.ClaimDueWebhookDeliveries(ctx, 10, -time.Second)
	wantEqual(t, len(got), 0, "nothing claimed for a disabled webhook")
}

func testWebhookLeaseAndPrune(t *testing.T, s WebhookStore) {
	ctx := t.Context()
	ok, err := s.HoldLease(ctx, "webhook-test", "a", time.Minute)
	must(t, err, "take")
	wantEqual(t, ok, true, "free lease taken")
	ok, _ = s.HoldLease(ctx, "webhook-test", "a", time.Minute)
	wantEqual(t, ok, true, "renewed by its holder")
	ok, _ = s.HoldLease(ctx, "webhook-test", "b", time.Minute)
	wantEqual(t, ok, false, "held by another")

	tn := newTenant(t, s)
	w := newWebhook(t, s, tn.ID)
	done, pending := newDelivery(t, s, w), newDelivery(t, s, w)
	claimed, err := s.ClaimDueWebhookDeliveries(ctx, 10, time.Minute)
	must(t, err, "claim")
	for k := range claimed {
		if claimed[k].ID == done.ID {
			_, err := s.RecordWebhookAttempt(ctx, &claimed[k], storage.WebhookAttemptResult{Status: models.DeliveryDelivered,
				Attempt: models.WebhookAttempt{Outcome: "delivered", StatusCode: 200}})
			must(t, err, "record")
		}
	}
	n, err := s.PruneWebhookDeliveries(ctx, time.Now().Add(-time.Hour), 10)
	must(t, err, "prune recent")
	wantEqual(t, n, int64(0), "recent deliveries stay")
	n, err = s.PruneWebhookDeliveries(ctx, time.Now().Add(time.Hour), 10)
	must(t, err, "prune")
	wantEqual(t, n, int64(1), "the finished one goes, the pending one stays: "+pending.ID)
	attempts, _ := s.ListWebhookAttempts(ctx, tn.ID, []string{done.ID})
	wantEqual(t, len(attempts[done.ID]), 0, "its log went with it")
}
