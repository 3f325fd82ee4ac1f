-- +goose Up
-- Issue 10, part 7: push registrations (Firebase and APNs). One row per
-- token and tenant: the token is sealed (AES-GCM under IDENTITY_SECRET) and
-- found by its keyed hash. A user's deletion removes them (cascade); the
-- revocation of the device they were made from removes them too (the store
-- deletes them with the device's sessions; the cascade covers a deleted
-- device row).
CREATE TABLE push_devices (
    id           uuid PRIMARY KEY,
    tenant_id    uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id      uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id    uuid REFERENCES devices (id) ON DELETE CASCADE,
    platform     text NOT NULL,
    token_hash   text NOT NULL,
    token_sealed bytea NOT NULL,
    app_id       text NOT NULL,
    device_name  text NOT NULL DEFAULT '',
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    UNIQUE (tenant_id, token_hash)
);
CREATE INDEX push_devices_user_idx ON push_devices (tenant_id, user_id);
CREATE INDEX push_devices_device_idx ON push_devices (device_id);

-- Reading a user's full push tokens (identity.push_devices.read) is a
-- danger action: the Danger Zone policy of existing tenants gets it (new
-- tenants are seeded with it); no system role holds it.
UPDATE policies
SET permissions = substr(permissions, 1, length(permissions) - 1) || ',"identity.push_devices.read"]'
WHERE name = 'Danger Zone'
  AND permissions LIKE '[_%]'
  AND permissions NOT LIKE '%"identity.push_devices.read"%';

-- +goose Down
UPDATE policies
SET permissions = replace(permissions, ',"identity.push_devices.read"]', ']')
WHERE name = 'Danger Zone';
DROP INDEX push_devices_device_idx;
DROP INDEX push_devices_user_idx;
DROP TABLE push_devices;
