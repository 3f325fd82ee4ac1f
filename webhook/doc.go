// Package webhook delivers the outbox's CloudEvents to tenants' webhooks
// (issue 11 §3): the Dispatcher fans each event out into one delivery per
// subscribed webhook, the Deliverer POSTs them, signed the Standard
// Webhooks way, through an HTTP client whose dialer refuses private,
// loopback and link-local addresses at connect time (SSRF), retrying with
// exponential backoff for up to a day and disabling a webhook that keeps
// failing (through identity.Webhooks, which writes the audit row and mails
// the tenant's Owners). docs/webhooks.md describes it for receivers.
package webhook
