-- +goose Up
ALTER TABLE users ADD COLUMN is_active boolean NOT NULL DEFAULT true;
ALTER TABLE users ADD COLUMN failed_logins integer NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN locked_until datetime;
ALTER TABLE users ADD COLUMN password_changed_at datetime;
ALTER TABLE users ADD COLUMN force_password_change boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN totp_enabled boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN totp_secret_sealed blob;
ALTER TABLE users ADD COLUMN totp_pending_sealed blob;
ALTER TABLE users ADD COLUMN totp_last_step bigint NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN email_2fa_enabled boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN pin_hash text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN pin_failed integer NOT NULL DEFAULT 0;
ALTER TABLE users ADD COLUMN pin_locked_until datetime;

CREATE TABLE password_history (
    id         text PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    hash       text NOT NULL,
    created_at datetime NOT NULL
);
CREATE INDEX password_history_user_idx ON password_history (user_id, created_at);

CREATE TABLE recovery_codes (
    id         text PRIMARY KEY,
    tenant_id  text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id    text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash  text NOT NULL,
    used_at    datetime,
    created_at datetime NOT NULL,
    CONSTRAINT recovery_codes_user_code_key UNIQUE (user_id, code_hash)
);

CREATE TABLE email_codes (
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
CREATE INDEX email_codes_user_idx ON email_codes (user_id, purpose, created_at);

-- Devices are browsers or apps a user signed in from with the password; the
-- device token (a cookie or header) is stored as its SHA-256.
CREATE TABLE devices (
    id            text PRIMARY KEY,
    tenant_id     text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id       text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    token_hash    text NOT NULL UNIQUE,
    name          text NOT NULL DEFAULT '',
    browser       text NOT NULL DEFAULT '',
    os            text NOT NULL DEFAULT '',
    trusted_until datetime,
    revoked_at    datetime,
    created_at    datetime NOT NULL,
    last_seen_at  datetime NOT NULL
);
CREATE INDEX devices_user_idx ON devices (tenant_id, user_id);

-- A session is one login: API or browser. Tokens carry its id.
CREATE TABLE sessions (
    id             text PRIMARY KEY,
    tenant_id      text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id        text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    device_id      text REFERENCES devices (id) ON DELETE SET NULL,
    kind           text NOT NULL,
    device_name    text NOT NULL DEFAULT '',
    browser        text NOT NULL DEFAULT '',
    os             text NOT NULL DEFAULT '',
    ip_address     text NOT NULL DEFAULT '',
    user_agent     text NOT NULL DEFAULT '',
    auth_methods   text NOT NULL DEFAULT '[]',
    created_at     datetime NOT NULL,
    last_active_at datetime NOT NULL,
    expires_at     datetime NOT NULL,
    revoked_at     datetime
);
CREATE INDEX sessions_user_idx ON sessions (tenant_id, user_id);

ALTER TABLE login_sessions ADD COLUMN session_id text REFERENCES sessions (id) ON DELETE CASCADE;

-- Pending second steps of a login (second factor, forced password change).
CREATE TABLE auth_challenges (
    id           text PRIMARY KEY,
    token_hash   text NOT NULL UNIQUE,
    tenant_id    text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id      text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    kind         text NOT NULL,
    data         text NOT NULL DEFAULT '{}',
    attempts     integer NOT NULL DEFAULT 0,
    expires_at   datetime NOT NULL,
    consumed_at  datetime,
    created_at   datetime NOT NULL
);

CREATE TABLE audit_logs (
    id          text PRIMARY KEY,
    tenant_id   text,
    user_id     text,
    actor_id    text NOT NULL DEFAULT '',
    action      text NOT NULL,
    ip_address  text NOT NULL DEFAULT '',
    user_agent  text NOT NULL DEFAULT '',
    metadata    text NOT NULL DEFAULT '{}',
    created_at  datetime NOT NULL
);
CREATE INDEX audit_logs_tenant_idx ON audit_logs (tenant_id, created_at);
CREATE INDEX audit_logs_user_idx ON audit_logs (user_id, created_at);

-- Tokens know the login session they belong to, so revoking a device or
-- signing out everywhere is one indexed DELETE.
ALTER TABLE oauth_access_tokens ADD COLUMN session_id text NOT NULL DEFAULT '';
ALTER TABLE oauth_refresh_tokens ADD COLUMN session_id text NOT NULL DEFAULT '';
ALTER TABLE oauth_codes ADD COLUMN session_id text NOT NULL DEFAULT '';
ALTER TABLE oauth_oidc_sessions ADD COLUMN session_id text NOT NULL DEFAULT '';
ALTER TABLE oauth_pkce_sessions ADD COLUMN session_id text NOT NULL DEFAULT '';
CREATE INDEX oauth_access_tokens_session_idx ON oauth_access_tokens (session_id);
CREATE INDEX oauth_refresh_tokens_session_idx ON oauth_refresh_tokens (session_id);
CREATE INDEX oauth_access_tokens_subject_idx ON oauth_access_tokens (tenant_id, subject);
CREATE INDEX oauth_refresh_tokens_subject_idx ON oauth_refresh_tokens (tenant_id, subject);

-- +goose Down
DROP INDEX oauth_refresh_tokens_subject_idx;
DROP INDEX oauth_access_tokens_subject_idx;
DROP INDEX oauth_refresh_tokens_session_idx;
DROP INDEX oauth_access_tokens_session_idx;
ALTER TABLE oauth_pkce_sessions DROP COLUMN session_id;
ALTER TABLE oauth_oidc_sessions DROP COLUMN session_id;
ALTER TABLE oauth_codes DROP COLUMN session_id;
ALTER TABLE oauth_refresh_tokens DROP COLUMN session_id;
ALTER TABLE oauth_access_tokens DROP COLUMN session_id;
DROP TABLE audit_logs;
DROP TABLE auth_challenges;
ALTER TABLE login_sessions DROP COLUMN session_id;
DROP TABLE sessions;
DROP TABLE devices;
DROP TABLE email_codes;
DROP TABLE recovery_codes;
DROP TABLE password_history;
ALTER TABLE users DROP COLUMN pin_locked_until;
ALTER TABLE users DROP COLUMN pin_failed;
ALTER TABLE users DROP COLUMN pin_hash;
ALTER TABLE users DROP COLUMN email_2fa_enabled;
ALTER TABLE users DROP COLUMN totp_last_step;
ALTER TABLE users DROP COLUMN totp_pending_sealed;
ALTER TABLE users DROP COLUMN totp_secret_sealed;
ALTER TABLE users DROP COLUMN totp_enabled;
ALTER TABLE users DROP COLUMN force_password_change;
ALTER TABLE users DROP COLUMN password_changed_at;
ALTER TABLE users DROP COLUMN locked_until;
ALTER TABLE users DROP COLUMN failed_logins;
ALTER TABLE users DROP COLUMN is_active;
