-- +goose Up
ALTER TABLE users ADD COLUMN is_system_admin boolean NOT NULL DEFAULT false;
ALTER TABLE tenants ADD COLUMN suspended_at timestamptz;
ALTER TABLE tenants ADD COLUMN audit_retention_days integer NOT NULL DEFAULT 0;

-- Roles: tenant_id NULL is a global role.
CREATE TABLE roles (
    id          uuid PRIMARY KEY,
    tenant_id   uuid REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    permissions text NOT NULL DEFAULT '[]',
    system      boolean NOT NULL DEFAULT false,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL
);
CREATE UNIQUE INDEX roles_tenant_name_key ON roles (COALESCE(tenant_id, '00000000-0000-0000-0000-000000000000'), name);

-- Policies: named permission sets assigned to users directly.
CREATE TABLE policies (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    permissions text NOT NULL DEFAULT '[]',
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT policies_tenant_name_key UNIQUE (tenant_id, name)
);

CREATE TABLE service_accounts (
    id          uuid PRIMARY KEY,
    tenant_id   uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name        text NOT NULL,
    description text NOT NULL DEFAULT '',
    is_active   boolean NOT NULL DEFAULT true,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CONSTRAINT service_accounts_tenant_name_key UNIQUE (tenant_id, name)
);

-- Principal assignments: a user or a service account holds roles and policies.
CREATE TABLE role_assignments (
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    principal_id   uuid NOT NULL,
    principal_type text NOT NULL,
    role_id        uuid NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (principal_id, role_id)
);
CREATE INDEX role_assignments_tenant_idx ON role_assignments (tenant_id, principal_id);

CREATE TABLE policy_assignments (
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    principal_id   uuid NOT NULL,
    principal_type text NOT NULL,
    policy_id      uuid NOT NULL REFERENCES policies (id) ON DELETE CASCADE,
    created_at     timestamptz NOT NULL,
    PRIMARY KEY (principal_id, policy_id)
);

CREATE TABLE api_keys (
    id                 uuid PRIMARY KEY,
    tenant_id          uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    service_account_id uuid NOT NULL REFERENCES service_accounts (id) ON DELETE CASCADE,
    name               text NOT NULL DEFAULT '',
    prefix             text NOT NULL,
    key_hash           text NOT NULL UNIQUE,
    last_used_at       timestamptz,
    expires_at         timestamptz,
    revoked_at         timestamptz,
    created_at         timestamptz NOT NULL
);
CREATE INDEX api_keys_sa_idx ON api_keys (tenant_id, service_account_id);

ALTER TABLE oauth_clients ADD COLUMN service_account_id uuid REFERENCES service_accounts (id) ON DELETE SET NULL;

-- Jobs that must run on one instance at a time take a lease here.
CREATE TABLE job_leases (
    name         text PRIMARY KEY,
    holder       text NOT NULL,
    leased_until timestamptz NOT NULL
);

-- +goose Down
DROP TABLE job_leases;
ALTER TABLE oauth_clients DROP COLUMN service_account_id;
DROP TABLE api_keys;
DROP TABLE policy_assignments;
DROP TABLE role_assignments;
DROP TABLE service_accounts;
DROP TABLE policies;
DROP TABLE roles;
ALTER TABLE tenants DROP COLUMN audit_retention_days;
ALTER TABLE tenants DROP COLUMN suspended_at;
ALTER TABLE users DROP COLUMN is_system_admin;
