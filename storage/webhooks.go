package storage

import (
	"context"
	"fmt"
	"time"

	"github.com/google/uuid"
	"gorm.io/gorm"

	"github.com/identityd/identityd/models"
)

// Webhooks (issue 11 §3): the tenant's receivers, their deliveries and
// the delivery log. Every read of a tenant's rows takes the tenant; an id
// of another tenant (or a malformed one) is models.ErrNotFound.

// CreateWebhook inserts w (its ID is assigned when empty: the service
// assigns it first, since the sealed secret is bound to it).
func (s *Store) CreateWebhook(ctx context.Context, w *models.Webhook) error {
	if w.ID == "" {
		w.ID = uuid.NewString()
	}
	now := s.now()
	w.CreatedAt, w.UpdatedAt = now, now
	if err := s.db(ctx).Create(w).Error; err != nil {
		return fmt.Errorf("create webhook: %w", repoErr(err, "webhook"))
	}
	return nil
}

// ListWebhooks returns one page of the tenant's webhooks, oldest first,
// and how many it has.
func (s *Store) ListWebhooks(ctx context.Context, tenantID string, offset, limit int) ([]models.Webhook, int, error) {
	q := s.db(ctx).Model(&models.Webhook{}).Where("tenant_id = ?", tenantID)
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count webhooks: %w", repoErr(err, "webhook"))
	}
	if limit <= 0 {
		limit = 100
	}
	var out []models.Webhook
	if err := q.Order("created_at, id").Offset(offset).Limit(limit).Find(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("list webhooks: %w", repoErr(err, "webhook"))
	}
	return out, int(total), nil
}

// GetWebhook returns the tenant's webhook id.
func (s *Store) GetWebhook(ctx context.Context, tenantID, id string) (*models.Webhook, error) {
	if !models.ValidID(id) || !models.ValidID(tenantID) {
		return nil, models.ErrNotFound("webhook")
	}
	var w models.Webhook
	if err := s.db(ctx).Where("tenant_id = ? AND id = ?", tenantID, id).Take(&w).Error; err != nil {
		return nil, fmt.Errorf("get webhook: %w", repoErr(err, "webhook"))
	}
	return &w, nil
}

// UpdateWebhook loads the tenant's webhook under a row lock, lets fn change
// it, and saves it, in one transaction; an error of fn is returned as is.
func (s *Store) UpdateWebhook(ctx context.Context, tenantID, id string, fn func(w *models.Webhook) error) (*models.Webhook, error) {
	if !models.ValidID(id) || !models.ValidID(tenantID) {
		return nil, models.ErrNotFound("webhook")
	}
	var out *models.Webhook
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		var w models.Webhook
		if err := s.forUpdate(db.Where("tenant_id = ? AND id = ?", tenantID, id)).Take(&w).Error; err != nil {
			return fmt.Errorf("update webhook: %w", repoErr(err, "webhook"))
		}
		if err := fn(&w); err != nil {
			return err
		}
		w.ID, w.TenantID = id, tenantID
		w.UpdatedAt = s.now()
		if err := db.Select("*").Omit("created_at").Save(&w).Error; err != nil {
			return fmt.Errorf("update webhook: %w", repoErr(err, "webhook"))
		}
		out = &w
		return nil
	})
	return out, err
}

// DeleteWebhook deletes the tenant's webhook; its deliveries and their log
// go with it (the schema's cascades).
func (s *Store) DeleteWebhook(ctx context.Context, tenantID, id string) error {
	if !models.ValidID(id) || !models.ValidID(tenantID) {
		return models.ErrNotFound("webhook")
	}
	// The deliveries go first, then the webhook: the order the deliverer
	// locks them in (a delivery's row, then its webhook's counters). The
	// webhook first, cascading to a delivery a deliverer held, deadlocked
	// on PostgreSQL and answered 500.
	return s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		if err := db.Exec("DELETE FROM webhook_deliveries WHERE tenant_id = ? AND webhook_id = ?", tenantID, id).Error; err != nil {
			return fmt.Errorf("delete webhook deliveries: %w", repoErr(err, "webhook"))
		}
		res := db.Where("tenant_id = ? AND id = ?", tenantID, id).Delete(&models.Webhook{})
		if res.Error != nil {
			return fmt.Errorf("delete webhook: %w", repoErr(res.Error, "webhook"))
		}
		if res.RowsAffected == 0 {
			return models.ErrNotFound("webhook")
		}
		return nil
	})
}

// DisableWebhook turns the tenant's webhook off with reason, if it is on:
// one conditional UPDATE, so of several workers that see the threshold
// crossed exactly one reports true (and writes the audit row and mail).
func (s *Store) DisableWebhook(ctx context.Context, tenantID, id, reason string) (bool, error) {
	now := s.now()
	res := s.db(ctx).Model(&models.Webhook{}).Where("tenant_id = ? AND id = ? AND enabled", tenantID, id).
		Updates(map[string]any{"enabled": false, "disabled_reason": reason, "disabled_at": now, "updated_at": now})
	if res.Error != nil {
		return false, fmt.Errorf("disable webhook: %w", repoErr(res.Error, "webhook"))
	}
	return res.RowsAffected == 1, nil
}

// CreateWebhookDelivery queues d (pending, due now unless NextAttemptAt is
// set).
func (s *Store) CreateWebhookDelivery(ctx context.Context, d *models.WebhookDelivery) error {
	if d.ID == "" {
		d.ID = uuid.NewString()
	}
	now := s.now()
	d.CreatedAt = now
	if d.NextAttemptAt.IsZero() {
		d.NextAttemptAt = now
	}
	if d.Status == "" {
		d.Status = models.DeliveryPending
	}
	if err := s.db(ctx).Create(d).Error; err != nil {
		return fmt.Errorf("create webhook delivery: %w", repoErr(err, "webhook_delivery"))
	}
	return nil
}

// ListWebhookDeliveries returns one page of a webhook's deliveries, newest
// first, and how many it has.
func (s *Store) ListWebhookDeliveries(ctx context.Context, tenantID, webhookID string, offset, limit int) ([]models.WebhookDelivery, int, error) {
	q := s.db(ctx).Model(&models.WebhookDelivery{}).Where("tenant_id = ? AND webhook_id = ?", tenantID, webhookID)
	var total int64
	if err := q.Count(&total).Error; err != nil {
		return nil, 0, fmt.Errorf("count webhook deliveries: %w", repoErr(err, "webhook_delivery"))
	}
	if limit <= 0 {
		limit = 100
	}
	var out []models.WebhookDelivery
	if err := q.Order("created_at DESC, id").Offset(offset).Limit(limit).Find(&out).Error; err != nil {
		return nil, 0, fmt.Errorf("list webhook deliveries: %w", repoErr(err, "webhook_delivery"))
	}
	return out, int(total), nil
}

// ListWebhookAttempts returns the attempts of the tenant's deliveries ids,
// by delivery, in attempt order.
func (s *Store) ListWebhookAttempts(ctx context.Context, tenantID string, deliveryIDs []string) (map[string][]models.WebhookAttempt, error) {
	out := map[string][]models.WebhookAttempt{}
	if len(deliveryIDs) == 0 {
		return out, nil
	}
	var rows []models.WebhookAttempt
	if err := s.db(ctx).Where("tenant_id = ? AND delivery_id IN ?", tenantID, deliveryIDs).
		Order("delivery_id, attempt").Find(&rows).Error; err != nil {
		return nil, fmt.Errorf("list webhook attempts: %w", repoErr(err, "webhook_attempt"))
	}
	for _, a := range rows {
		out[a.DeliveryID] = append(out[a.DeliveryID], a)
	}
	return out, nil
}

// DispatchWebhookEvents fans out up to limit outbox rows not yet
// dispatched, in seq order, in one transaction: each row is claimed by a
// conditional UPDATE of dispatched_at (a row another dispatcher stamped
// meanwhile is skipped, so no event is fanned out twice), then a pending
// delivery is created for every enabled webhook of the row's tenant that
// subscribes to its type. Rows without a tenant, or whose tenant has no
// webhook, are only stamped. It returns how many events it stamped and how
// many deliveries it created.
func (s *Store) DispatchWebhookEvents(ctx context.Context, limit int) (events, deliveries int, err error) {
	if limit <= 0 {
		limit = 100
	}
	err = s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		var rows []models.OutboxEvent
		if err := db.Where("dispatched_at IS NULL").Order("seq").Limit(limit).Find(&rows).Error; err != nil {
			return fmt.Errorf("dispatch webhooks: list events: %w", repoErr(err, "event"))
		}
		now := s.now()
		hooks := map[string][]models.Webhook{}
		for _, e := range rows {
			res := db.Model(&models.OutboxEvent{}).Where("seq = ? AND dispatched_at IS NULL", e.Seq).Update("dispatched_at", now)
			if res.Error != nil {
				return fmt.Errorf("dispatch webhooks: stamp event: %w", repoErr(res.Error, "event"))
			}
			if res.RowsAffected == 0 {
				continue
			}
			events++
			if e.TenantID == nil || *e.TenantID == "" {
				continue
			}
			tenant := *e.TenantID
			list, ok := hooks[tenant]
			if !ok {
				if err := db.Where("tenant_id = ? AND enabled", tenant).Order("created_at, id").Find(&list).Error; err != nil {
					return fmt.Errorf("dispatch webhooks: list webhooks: %w", repoErr(err, "webhook"))
				}
				hooks[tenant] = list
			}
			for k := range list {
				if !list[k].Subscribes(e.Type) {
					continue
				}
				d := &models.WebhookDelivery{WebhookID: list[k].ID, TenantID: tenant, EventID: e.ID, EventType: e.Type,
					EventSource: e.Source, EventSubject: e.Subject, EventTime: e.Time.UTC(), Data: e.Data, TraceParent: e.TraceParent}
				if err := s.CreateWebhookDelivery(ctx, d); err != nil {
					return err
				}
				deliveries++
			}
		}
		return nil
	})
	if err != nil {
		return 0, 0, err
	}
	return events, deliveries, nil
}

// ClaimDueWebhookDeliveries leases up to limit pending deliveries that are
// due, not leased by another worker, and whose webhook is enabled, for
// lease, counting the attempt. Each row is claimed with its own
// conditional UPDATE, so of several workers exactly one wins a row
// (PostgreSQL re-checks the condition after the row lock; SQLite has one
// writer); a worker that dies mid-send loses its lease when it expires and
// the delivery is tried again.
func (s *Store) ClaimDueWebhookDeliveries(ctx context.Context, limit int, lease time.Duration) ([]models.WebhookDelivery, error) {
	now := s.now()
	var due []models.WebhookDelivery
	err := s.db(ctx).Where("status = ? AND next_attempt_at <= ? AND (leased_until IS NULL OR leased_until < ?)", models.DeliveryPending, now, now).
		Where("EXISTS (SELECT 1 FROM webhooks WHERE webhooks.id = webhook_deliveries.webhook_id AND webhooks.enabled)").
		Order("next_attempt_at").Limit(limit).Find(&due).Error
	if err != nil {
		return nil, fmt.Errorf("list due webhook deliveries: %w", repoErr(err, "webhook_delivery"))
	}
	out := due[:0]
	for _, d := range due {
		until := now.Add(lease)
		res := s.db(ctx).Model(&models.WebhookDelivery{}).
			Where("id = ? AND status = ? AND (leased_until IS NULL OR leased_until < ?)", d.ID, models.DeliveryPending, now).
			Updates(map[string]any{"leased_until": until, "attempts": gorm.Expr("attempts + 1")})
		if res.Error != nil {
			if isConflict(res.Error) {
				continue
			}
			return nil, fmt.Errorf("claim webhook delivery: %w", repoErr(res.Error, "webhook_delivery"))
		}
		if res.RowsAffected == 1 {
			d.Attempts++
			d.LeasedUntil = &until
			out = append(out, d)
		}
	}
	return out, nil
}

// WebhookAttemptResult is what one attempt of a delivery ends in: the
// delivery's new state (Status; NextAttemptAt when it stays pending) and
// the attempt's log row.
type WebhookAttemptResult struct {
	Attempt       models.WebhookAttempt
	Status        string
	NextAttemptAt time.Time
}

// RecordWebhookAttempt writes the attempt to the delivery log and the
// delivery's new state (releasing its lease), and counts the webhook's
// consecutive failures (reset by a delivery, raised by anything else), in
// one transaction. It returns the webhook's consecutive failures after it.
func (s *Store) RecordWebhookAttempt(ctx context.Context, d *models.WebhookDelivery, r WebhookAttemptResult) (int, error) {
	failures := 0
	err := s.InTx(ctx, func(ctx context.Context) error {
		db := s.db(ctx)
		now := s.now()
		a := r.Attempt
		a.ID, a.DeliveryID, a.WebhookID, a.TenantID, a.Attempt, a.CreatedAt = uuid.NewString(), d.ID, d.WebhookID, d.TenantID, d.Attempts, now
		if err := db.Create(&a).Error; err != nil {
			return fmt.Errorf("record webhook attempt: %w", repoErr(err, "webhook_attempt"))
		}
		upd := map[string]any{"status": r.Status, "leased_until": nil, "last_status_code": a.StatusCode,
			"last_error": a.Error, "last_latency_ms": a.LatencyMS}
		if r.Status == models.DeliveryPending {
			upd["next_attempt_at"] = r.NextAttemptAt.UTC()
		}
		if r.Status == models.DeliveryDelivered {
			upd["delivered_at"] = now
		}
		if err := db.Model(&models.WebhookDelivery{}).Where("id = ?", d.ID).Updates(upd).Error; err != nil {
			return fmt.Errorf("record webhook attempt: %w", repoErr(err, "webhook_delivery"))
		}
		hook := db.Model(&models.Webhook{}).Where("id = ?", d.WebhookID)
		var err error
		if r.Status == models.DeliveryDelivered {
			err = hook.Update("consecutive_failures", 0).Error
		} else {
			err = hook.Update("consecutive_failures", gorm.Expr("consecutive_failures + 1")).Error
		}
		if err != nil {
			return fmt.Errorf("record webhook attempt: %w", repoErr(err, "webhook"))
		}
		var n []int
		if err := db.Model(&models.Webhook{}).Where("id = ?", d.WebhookID).Pluck("consecutive_failures", &n).Error; err != nil {
			return fmt.Errorf("record webhook attempt: %w", repoErr(err, "webhook"))
		}
		if len(n) == 1 {
			failures = n[0]
		}
		return nil
	})
	return failures, err
}

// HoldLease takes the named job lease for holder until now+ttl when it is
// free, or renews it when it is already holder's: a job that runs often
// keeps its lease from one round to the next, and another instance takes
// over once it expires.
func (s *Store) HoldLease(ctx context.Context, name, holder string, ttl time.Duration) (bool, error) {
	won, err := s.AcquireLease(ctx, name, holder, ttl)
	if err != nil || won {
		return won, err
	}
	return s.RenewLease(ctx, name, holder, ttl)
}

// PruneWebhookDeliveries deletes the deliveries (and their log) created
// before cutoff that are no longer pending, in batches, and returns how
// many it deleted.
func (s *Store) PruneWebhookDeliveries(ctx context.Context, cutoff time.Time, batch int) (int64, error) {
	return s.deleteBatched(ctx, "webhook_deliveries", "id", batch, "created_at < ? AND status <> ?", cutoff.UTC(), models.DeliveryPending)
}
