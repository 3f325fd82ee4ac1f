-- +goose Up
CREATE TABLE tenants (
    id         uuid PRIMARY KEY,
    slug       text NOT NULL UNIQUE,
    name       text NOT NULL,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);

CREATE TABLE users (
    id             uuid PRIMARY KEY,
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    email          text NOT NULL,
    password_hash  text NOT NULL,
    name           text NOT NULL DEFAULT '',
    email_verified boolean NOT NULL DEFAULT false,
    created_at     timestamptz NOT NULL,
    updated_at     timestamptz NOT NULL,
    CONSTRAINT users_tenant_email_key UNIQUE (tenant_id, email)
);

CREATE TABLE oauth_clients (
    id                         text PRIMARY KEY,
    tenant_id                  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    name                       text NOT NULL DEFAULT '',
    secret_hash                text NOT NULL DEFAULT '',
    rotated_secret_hash        text NOT NULL DEFAULT '',
    rotated_secret_expires_at  timestamptz,
    redirect_uris              text NOT NULL DEFAULT '[]',
    grant_types                text NOT NULL DEFAULT '[]',
    response_types             text NOT NULL DEFAULT '[]',
    scopes                     text NOT NULL DEFAULT '[]',
    audience                   text NOT NULL DEFAULT '[]',
    token_endpoint_auth_method text NOT NULL,
    public                     boolean NOT NULL DEFAULT false,
    skip_consent               boolean NOT NULL DEFAULT false,
    access_token_format        text NOT NULL DEFAULT 'opaque',
    created_at                 timestamptz NOT NULL,
    updated_at                 timestamptz NOT NULL
);
CREATE INDEX oauth_clients_tenant_idx ON oauth_clients (tenant_id);

-- The fosite request tables share one shape (see storage/fosite.go). The
-- primary key is the SHA-256 of the token signature, never the token itself.
CREATE TABLE oauth_codes (
    signature        text PRIMARY KEY,
    request_id       text NOT NULL,
    tenant_id        text NOT NULL DEFAULT '',
    client_id        text NOT NULL,
    subject          text NOT NULL DEFAULT '',
    requested_at     timestamptz NOT NULL,
    expires_at       timestamptz,
    scopes           text NOT NULL DEFAULT '[]',
    granted_scopes   text NOT NULL DEFAULT '[]',
    audience         text NOT NULL DEFAULT '[]',
    granted_audience text NOT NULL DEFAULT '[]',
    form_data        text NOT NULL DEFAULT '',
    session_data     text NOT NULL DEFAULT '',
    active           boolean NOT NULL DEFAULT true
);
CREATE INDEX oauth_codes_request_idx ON oauth_codes (request_id);
CREATE INDEX oauth_codes_expires_idx ON oauth_codes (expires_at);

CREATE TABLE oauth_access_tokens (LIKE oauth_codes INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE oauth_access_tokens ADD PRIMARY KEY (signature);
CREATE INDEX oauth_access_tokens_request_idx ON oauth_access_tokens (request_id);
CREATE INDEX oauth_access_tokens_expires_idx ON oauth_access_tokens (expires_at);

CREATE TABLE oauth_refresh_tokens (LIKE oauth_codes INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE oauth_refresh_tokens ADD PRIMARY KEY (signature);
ALTER TABLE oauth_refresh_tokens ADD COLUMN first_used_at timestamptz;
ALTER TABLE oauth_refresh_tokens ADD COLUMN access_token_signature text NOT NULL DEFAULT '';
CREATE INDEX oauth_refresh_tokens_request_idx ON oauth_refresh_tokens (request_id);
CREATE INDEX oauth_refresh_tokens_expires_idx ON oauth_refresh_tokens (expires_at);

CREATE TABLE oauth_oidc_sessions (LIKE oauth_codes INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE oauth_oidc_sessions ADD PRIMARY KEY (signature);
CREATE INDEX oauth_oidc_sessions_expires_idx ON oauth_oidc_sessions (expires_at);

CREATE TABLE oauth_pkce_sessions (LIKE oauth_codes INCLUDING DEFAULTS INCLUDING CONSTRAINTS);
ALTER TABLE oauth_pkce_sessions ADD PRIMARY KEY (signature);
CREATE INDEX oauth_pkce_sessions_expires_idx ON oauth_pkce_sessions (expires_at);

CREATE TABLE oauth_jtis (
    jti_hash   text PRIMARY KEY,
    expires_at timestamptz NOT NULL
);

CREATE TABLE signing_keys (
    id             text PRIMARY KEY,
    algorithm      text NOT NULL,
    public_jwk     text NOT NULL,
    private_sealed bytea NOT NULL,
    created_at     timestamptz NOT NULL,
    retired_at     timestamptz,
    publish_until  timestamptz
);

CREATE TABLE consents (
    id         uuid PRIMARY KEY,
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    client_id  text NOT NULL REFERENCES oauth_clients (id) ON DELETE CASCADE,
    scopes     text NOT NULL DEFAULT '[]',
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL,
    CONSTRAINT consents_user_client_key UNIQUE (tenant_id, user_id, client_id)
);

CREATE TABLE login_sessions (
    id         uuid PRIMARY KEY,
    token_hash text NOT NULL UNIQUE,
    tenant_id  uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    uuid NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    auth_time  timestamptz NOT NULL,
    remember   boolean NOT NULL DEFAULT false,
    expires_at timestamptz NOT NULL,
    created_at timestamptz NOT NULL
);
CREATE INDEX login_sessions_user_idx ON login_sessions (tenant_id, user_id);

-- +goose Down
DROP TABLE login_sessions;
DROP TABLE consents;
DROP TABLE signing_keys;
DROP TABLE oauth_jtis;
DROP TABLE oauth_pkce_sessions;
DROP TABLE oauth_oidc_sessions;
DROP TABLE oauth_refresh_tokens;
DROP TABLE oauth_access_tokens;
DROP TABLE oauth_codes;
DROP TABLE oauth_clients;
DROP TABLE users;
DROP TABLE tenants;
