-- +goose Up
-- Issue 10, part 2: pending e-mail verifications. One per (tenant, user,
-- purpose): "signup" proves the user's current address, "change" a new
-- address before it replaces the old one (new_email is the address being
-- proved in both). The link's token and the 6-digit code are stored only
-- as keyed hashes; attempts counts the code's tries (claimed atomically).
CREATE TABLE email_verifications (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose    text NOT NULL,
    new_email  text NOT NULL,
    token_hash text NOT NULL UNIQUE,
    code_hash  text NOT NULL,
    attempts   integer NOT NULL DEFAULT 0,
    expires_at timestamptz NOT NULL,
    used_at    timestamptz,
    created_at timestamptz NOT NULL
);
CREATE UNIQUE INDEX email_verifications_subject_key ON email_verifications (tenant_id, user_id, purpose);
CREATE INDEX email_verifications_email_idx ON email_verifications (tenant_id, new_email);
CREATE INDEX email_verifications_expires_idx ON email_verifications (expires_at);

-- +goose Down
DROP TABLE email_verifications;
