-- +goose Up
-- The transactional outbox (issue 11): every state change that matters
-- writes its CloudEvent here in the same transaction, so an event exists
-- if and only if the change committed. The relay publishes rows to
-- RabbitMQ in seq order and stamps published_at once the broker confirmed
-- them; the webhook dispatcher stamps dispatched_at once it has queued the
-- deliveries. data never holds a secret, a code, a hash or a token.
CREATE TABLE events (
    seq           integer PRIMARY KEY AUTOINCREMENT,
    id            text NOT NULL UNIQUE,
    tenant_id     text,
    type          text NOT NULL,
    source        text NOT NULL,
    subject       text NOT NULL DEFAULT '',
    time          datetime NOT NULL,
    data          text NOT NULL,
    trace_parent  text NOT NULL DEFAULT '',
    published_at  datetime,
    dispatched_at datetime,
    created_at    datetime NOT NULL
);
CREATE INDEX events_unpublished_idx ON events (seq) WHERE published_at IS NULL;
CREATE INDEX events_undispatched_idx ON events (seq) WHERE dispatched_at IS NULL;
CREATE INDEX events_created_idx ON events (created_at);
CREATE INDEX events_tenant_idx ON events (tenant_id, seq);

-- +goose Down
DROP TABLE events;
