-- +goose Up
-- Sign-in beyond passwords (issue 12): a tenant's upstream identity
-- providers, the upstream identities linked to accounts, and passkeys.
-- client_secret_sealed is sealed under the keyring, never in clear;
-- scopes, allowed_domains and transports are JSON arrays, claims and
-- group_roles JSON objects. Deleting a tenant deletes all three; deleting
-- a provider its linked identities; deleting a user theirs and their
-- passkeys.
CREATE TABLE identity_providers (
    id                   uuid PRIMARY KEY,
    tenant_id            uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    kind                 text NOT NULL,
    name                 text NOT NULL,
    button_label         text NOT NULL DEFAULT '',
    issuer               text NOT NULL DEFAULT '',
    authorization_url    text NOT NULL DEFAULT '',
    token_url            text NOT NULL DEFAULT '',
    userinfo_url         text NOT NULL DEFAULT '',
    client_id            text NOT NULL,
    client_secret_sealed bytea,
    client_auth_method   text NOT NULL DEFAULT 'client_secret_basic',
    scopes               text NOT NULL DEFAULT '[]',
    claims               text NOT NULL DEFAULT '{}',
    group_roles          text NOT NULL DEFAULT '{}',
    jit_provisioning     boolean NOT NULL DEFAULT false,
    allowed_domains      text NOT NULL DEFAULT '[]',
    enabled              boolean NOT NULL DEFAULT true,
    created_at           timestamptz NOT NULL,
    updated_at           timestamptz NOT NULL
);
CREATE INDEX identity_providers_tenant_idx ON identity_providers (tenant_id, created_at);

CREATE TABLE user_identities (
    id            uuid PRIMARY KEY,
    tenant_id     uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id       uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id   uuid NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    subject       text NOT NULL,
    email         text NOT NULL DEFAULT '',
    created_at    timestamptz NOT NULL,
    last_login_at timestamptz
);
CREATE UNIQUE INDEX user_identities_subject_idx ON user_identities (provider_id, subject);
CREATE INDEX user_identities_user_idx ON user_identities (user_id);

CREATE TABLE webauthn_credentials (
    id               uuid PRIMARY KEY,
    tenant_id        uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id          uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name             text NOT NULL,
    credential_id    bytea NOT NULL,
    public_key       bytea NOT NULL,
    attestation_type text NOT NULL DEFAULT '',
    aaguid           bytea,
    sign_count       bigint NOT NULL DEFAULT 0,
    transports       text NOT NULL DEFAULT '[]',
    user_verified    boolean NOT NULL DEFAULT false,
    backup_eligible  boolean NOT NULL DEFAULT false,
    backup_state     boolean NOT NULL DEFAULT false,
    disabled         boolean NOT NULL DEFAULT false,
    created_at       timestamptz NOT NULL,
    last_used_at     timestamptz
);
-- A credential id is globally unique (WebAuthn §6.1): one row per
-- authenticator credential whatever the tenant.
CREATE UNIQUE INDEX webauthn_credentials_credential_idx ON webauthn_credentials (credential_id);
CREATE INDEX webauthn_credentials_user_idx ON webauthn_credentials (tenant_id, user_id);

-- The Owner and Admin roles of existing tenants get the identity-provider
-- permissions (new tenants are seeded with them).
UPDATE roles
SET permissions = substr(permissions, 1, length(permissions) - 1) || ',"identity.identity_providers.read","identity.identity_providers.create","identity.identity_providers.update","identity.identity_providers.delete"]'
WHERE system AND name IN ('Owner', 'Admin')
  AND permissions LIKE '[_%]'
  AND permissions NOT LIKE '%"identity.identity_providers.read"%';

-- +goose Down
UPDATE roles
SET permissions = replace(permissions, ',"identity.identity_providers.read","identity.identity_providers.create","identity.identity_providers.update","identity.identity_providers.delete"]', ']')
WHERE system AND name IN ('Owner', 'Admin');
DROP TABLE webauthn_credentials;
DROP TABLE user_identities;
DROP TABLE identity_providers;
