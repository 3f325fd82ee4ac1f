-- +goose Up
-- Issue 10, part 4: invitations. The link's token is stored only as a
-- keyed hash (unique); the status is derived: accepted_at, revoked_at, or
-- expired once expires_at has passed.
CREATE TABLE invitations (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email            text NOT NULL,
    roles            text NOT NULL DEFAULT '[]',
    message          text NOT NULL DEFAULT '',
    inviter_id       uuid REFERENCES users (id) ON DELETE SET NULL,
    token_hash       text NOT NULL UNIQUE,
    expires_at       timestamptz NOT NULL,
    accepted_at      timestamptz,
    accepted_user_id uuid REFERENCES users (id) ON DELETE SET NULL,
    revoked_at       timestamptz,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL
);
CREATE INDEX invitations_tenant_idx ON invitations (tenant_id, created_at);

-- The Owner and Admin roles of existing tenants get the invitation
-- permissions (new tenants are seeded with them).
UPDATE roles
SET permissions = substr(permissions, 1, length(permissions) - 1) || ',"identity.invitations.read","identity.invitations.create","identity.invitations.revoke"]'
WHERE system AND name IN ('Owner', 'Admin')
  AND permissions LIKE '[_%]'
  AND permissions NOT LIKE '%"identity.invitations.read"%';

-- +goose Down
UPDATE roles
SET permissions = replace(permissions, ',"identity.invitations.read","identity.invitations.create","identity.invitations.revoke"]', ']')
WHERE system AND name IN ('Owner', 'Admin');
DROP TABLE invitations;
