-- +goose Up
-- Webhooks (issue 11 §3): a tenant's HTTP receivers of its CloudEvents.
-- secret_sealed is the signing secret sealed under the keyring (never in
-- clear); event_types is a JSON array (empty: every event). Deleting a
-- tenant deletes its webhooks, deleting a webhook its deliveries, and a
-- delivery its attempts (the delivery log).
CREATE TABLE webhooks (
    id                   uuid PRIMARY KEY,
    tenant_id            uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    url                  text NOT NULL,
    description          text NOT NULL DEFAULT '',
    event_types          text NOT NULL DEFAULT '[]',
    secret_sealed        bytea NOT NULL,
    enabled              boolean NOT NULL DEFAULT true,
    disabled_reason      text NOT NULL DEFAULT '',
    disabled_at          timestamptz,
    consecutive_failures integer NOT NULL DEFAULT 0,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);
CREATE INDEX webhooks_tenant_idx ON webhooks (tenant_id, created_at);

CREATE TABLE webhook_deliveries (
    id               uuid PRIMARY KEY,
    webhook_id       uuid NOT NULL REFERENCES webhooks (id) ON DELETE CASCADE,
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    event_id         uuid NOT NULL,
    event_type       text NOT NULL,
    event_source     text NOT NULL,
    event_subject    text NOT NULL DEFAULT '',
    event_time       timestamptz NOT NULL,
    data             text NOT NULL,
    trace_parent     text NOT NULL DEFAULT '',
    status           text NOT NULL,
    attempts         integer NOT NULL DEFAULT 0,
    next_attempt_at  timestamptz NOT NULL,
    leased_until     timestamptz,
    last_status_code integer NOT NULL DEFAULT 0,
    last_error       text NOT NULL DEFAULT '',
    last_latency_ms  bigint  NOT NULL DEFAULT 0,
    created_at       timestamptz NOT NULL,
    delivered_at     timestamptz
);
CREATE INDEX webhook_deliveries_due_idx ON webhook_deliveries (next_attempt_at) WHERE status = 'pending';
CREATE INDEX webhook_deliveries_webhook_idx ON webhook_deliveries (webhook_id, created_at);
CREATE INDEX webhook_deliveries_created_idx ON webhook_deliveries (created_at);

CREATE TABLE webhook_attempts (
    id          uuid PRIMARY KEY,
    delivery_id uuid NOT NULL REFERENCES webhook_deliveries (id) ON DELETE CASCADE,
    webhook_id  uuid NOT NULL,
    tenant_id   uuid NOT NULL,
    attempt     integer NOT NULL,
    outcome     text NOT NULL,
    status_code integer NOT NULL DEFAULT 0,
    error       text NOT NULL DEFAULT '',
    latency_ms  bigint  NOT NULL DEFAULT 0,
    created_at  timestamptz NOT NULL
);
CREATE INDEX webhook_attempts_delivery_idx ON webhook_attempts (delivery_id, attempt);

-- Rotating a webhook's secret is a danger action: the Danger Zone policy
-- of existing tenants gets it (new tenants are seeded with it).
UPDATE policies
SET permissions = substr(permissions, 1, length(permissions) - 1) || ',"identity.webhooks.rotate"]'
WHERE name = 'Danger Zone'
  AND permissions LIKE '[_%]'
  AND permissions NOT LIKE '%"identity.webhooks.rotate"%';

-- The Owner and Admin roles of existing tenants get the webhook
-- permissions (new tenants are seeded with them).
UPDATE roles
SET permissions = substr(permissions, 1, length(permissions) - 1) || ',"identity.webhooks.read","identity.webhooks.create","identity.webhooks.update","identity.webhooks.delete"]'
WHERE system AND name IN ('Owner', 'Admin')
  AND permissions LIKE '[_%]'
  AND permissions NOT LIKE '%"identity.webhooks.read"%';

-- +goose Down
UPDATE roles
SET permissions = replace(permissions, ',"identity.webhooks.read","identity.webhooks.create","identity.webhooks.update","identity.webhooks.delete"]', ']')
WHERE system AND name IN ('Owner', 'Admin');
UPDATE policies
SET permissions = replace(permissions, ',"identity.webhooks.rotate"]', ']')
WHERE name = 'Danger Zone';
DROP TABLE webhook_attempts;
DROP TABLE webhook_deliveries;
DROP TABLE webhooks;
