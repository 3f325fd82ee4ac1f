package app

import (
	"net/http"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/webhook"
)

// buildWebhooks wires issue 11 §3: the webhooks service (for the API) and
// the two worker jobs that deliver (the dispatcher, under a job lease, and
// the deliverer, any number of instances). Webhooks work with or without
// RabbitMQ: they read the outbox, not the broker.
func (a *App) buildWebhooks(cfg *Config) error {
	var err error
	if a.Webhooks, err = identity.NewWebhooks(identity.WebhooksDeps{Store: a.Store, Owners: a.Store, Tx: a.Store, Auditor: a.Auditor,
		Sealer: a.Ring, Mailer: a.AccountMail, AllowPrivate: cfg.WebhookAllowPrivate, Issuer: cfg.Issuer, Log: a.Log}); err != nil {
		return err
	}
	dispatcher := &webhook.Dispatcher{Store: a.Store, Holder: pruneHolder(), Interval: cfg.WebhookInterval, Batch: cfg.WebhookBatch, Log: a.Log}
	deliverer := &webhook.Deliverer{Store: a.Store, Secrets: a.Ring, Disabler: a.Webhooks, Metrics: a.Metrics, Log: a.Log,
		Client: webhookClient(cfg), Interval: cfg.WebhookInterval, Batch: cfg.WebhookBatch, Timeout: cfg.WebhookTimeout,
		BackoffBase: cfg.WebhookBackoffBase, BackoffCap: cfg.WebhookBackoffCap, MaxAge: cfg.WebhookMaxAge, DisableAfter: cfg.WebhookDisableAfter}
	a.extraJobs = append(a.extraJobs,
		Job{Name: "webhook-dispatch", Run: dispatcher.Run},
		Job{Name: "webhook-deliver", Run: deliverer.Run})
	return nil
}

// webhookClient is the deliveries' HTTP client: the SSRF-checking dialer
// unless IDENTITY_WEBHOOK_ALLOW_PRIVATE.
func webhookClient(cfg *Config) *http.Client {
	return webhook.NewClient(cfg.WebhookTimeout, cfg.WebhookAllowPrivate)
}

// The Store implements the webhook stores.
var (
	_ identity.WebhookStore       = (*storage.Store)(nil)
	_ identity.WebhookOwnerLookup = (*storage.Store)(nil)
	_ webhook.DispatchStore       = (*storage.Store)(nil)
	_ webhook.DeliveryStore       = (*storage.Store)(nil)
)
