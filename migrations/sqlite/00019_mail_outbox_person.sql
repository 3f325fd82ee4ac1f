-- +goose Up
-- Queued mail names the person it is for, so erasing them (DELETE
-- /api/auth/me, POST /api/users/{id}/erase) deletes what was queued for
-- them and not yet sent, and the worker never sends a message of a person
-- who is gone. user_id is the recipient's user (when the message is for a
-- user); recipient_hash a keyed hash of the lower-cased address (never
-- the address itself: the message stays sealed), for messages to an
-- address that has no user yet, such as an invitation.
ALTER TABLE mail_outbox ADD COLUMN user_id text;
ALTER TABLE mail_outbox ADD COLUMN recipient_hash text NOT NULL DEFAULT '';
CREATE INDEX mail_outbox_person_idx ON mail_outbox (tenant_id, user_id);
CREATE INDEX mail_outbox_recipient_idx ON mail_outbox (tenant_id, recipient_hash);

-- +goose Down
DROP INDEX mail_outbox_recipient_idx;
DROP INDEX mail_outbox_person_idx;
ALTER TABLE mail_outbox DROP COLUMN recipient_hash;
ALTER TABLE mail_outbox DROP COLUMN user_id;
