-- +goose Up
-- The sign-in flow through a tenant's upstream identity provider (issue 12
-- §1). federation_states: one row per started flow, found by the keyed
-- hash of the random state sent upstream (never the state itself),
-- consumed exactly once, 10 minutes to live. pkce_verifier_sealed is
-- sealed under the keyring bound to the row id. federation_role_grants:
-- the roles a provider's group mapping granted a user, so that a group
-- gone upstream takes back only what the mapping gave. federation_logins:
-- the upstream ID token of a federated browser session (sealed, bound to
-- the session id), kept only for the upstream logout's id_token_hint.
CREATE TABLE federation_states (
    id                   text PRIMARY KEY,
    tenant_id            text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    provider_id          text NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    state_hash           text NOT NULL,
    nonce                text NOT NULL,
    pkce_verifier_sealed blob NOT NULL,
    return_to            text NOT NULL DEFAULT '',
    browser              boolean NOT NULL DEFAULT true,
    remember             boolean NOT NULL DEFAULT false,
    force_second_factor  boolean NOT NULL DEFAULT false,
    link_user_id         text REFERENCES users (id) ON DELETE CASCADE,
    expires_at           datetime NOT NULL,
    consumed_at          datetime,
    created_at           datetime NOT NULL
);
CREATE UNIQUE INDEX federation_states_hash_idx ON federation_states (state_hash);
CREATE INDEX federation_states_expires_idx ON federation_states (expires_at);

CREATE TABLE federation_role_grants (
    tenant_id   text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id     text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id text NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    role_id     text NOT NULL REFERENCES roles (id) ON DELETE CASCADE,
    created_at  datetime NOT NULL,
    PRIMARY KEY (user_id, provider_id, role_id)
);

CREATE TABLE federation_logins (
    session_id      text PRIMARY KEY REFERENCES sessions (id) ON DELETE CASCADE,
    tenant_id       text NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id         text NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    provider_id     text NOT NULL REFERENCES identity_providers (id) ON DELETE CASCADE,
    id_token_sealed blob,
    created_at      datetime NOT NULL,
    expires_at      datetime NOT NULL
);
CREATE INDEX federation_logins_expires_idx ON federation_logins (expires_at);

-- +goose Down
DROP TABLE federation_logins;
DROP TABLE federation_role_grants;
DROP TABLE federation_states;
