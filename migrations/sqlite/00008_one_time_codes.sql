-- +goose Up
-- Issue 10 §6: one-time codes other services ask Identity to generate and
-- verify. One pending code per (tenant, user, purpose): a new code replaces
-- the row. The code is stored only as a keyed hash.
CREATE TABLE one_time_codes (
    id          text PRIMARY KEY,
    tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose     text NOT NULL,
    code_hash   text NOT NULL,
    attempts    integer NOT NULL DEFAULT 0,
    expires_at  datetime NOT NULL,
    consumed_at datetime,
    created_at  datetime NOT NULL
);
CREATE UNIQUE INDEX one_time_codes_subject_key ON one_time_codes (tenant_id, user_id, purpose);
CREATE INDEX one_time_codes_expires_idx ON one_time_codes (expires_at);

-- The Owner and Admin roles of existing tenants may grant the new
-- permissions to service accounts (new tenants are seeded with them).
UPDATE roles
SET permissions = substr(permissions, 1, length(permissions) - 1) || ',"identity.otp.send","identity.otp.verify"]'
WHERE system AND name IN ('Owner', 'Admin')
  AND permissions LIKE '[_%]'
  AND permissions NOT LIKE '%"identity.otp.send"%';

-- +goose Down
UPDATE roles
SET permissions = replace(permissions, ',"identity.otp.send","identity.otp.verify"]', ']')
WHERE system AND name IN ('Owner', 'Admin');
DROP TABLE one_time_codes;
