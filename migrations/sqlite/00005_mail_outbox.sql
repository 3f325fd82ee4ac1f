-- +goose Up
-- E-mail waits here until the mail worker has delivered it: written in the
-- transaction of the action that sends it, so a request never waits on SMTP
-- and a crash never loses a message. The message is sealed (AES-256-GCM):
-- it may carry a one-time code. A delivered row is deleted.
CREATE TABLE mail_outbox (
    id              text PRIMARY KEY,
    tenant_id       text,
    sealed          blob NOT NULL,
    attempts        integer NOT NULL DEFAULT 0,
    next_attempt_at datetime NOT NULL,
    leased_until    datetime,
    last_error      text NOT NULL DEFAULT '',
    created_at      datetime NOT NULL
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at);

-- +goose Down
DROP TABLE mail_outbox;
