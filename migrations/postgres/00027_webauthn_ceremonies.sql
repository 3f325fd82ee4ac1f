-- +goose Up
-- Pending WebAuthn ceremonies (issue 12 §2, passkeys): what a begin step
-- (registration, second factor, step-up, passwordless sign-in) must hand
-- its finish step. A row is found by the SHA-256 of its WebAuthn
-- challenge (the client sends the challenge back inside clientDataJSON),
-- is consumed once, and lives minutes. auth_challenges cannot hold it: its
-- user_id is required, and a passwordless sign-in begins before anyone is
-- known. ref binds a second-factor ceremony to its login challenge, a
-- step-up's or registration's to the session that began it.
CREATE TABLE webauthn_ceremonies (
    id             uuid PRIMARY KEY,
    challenge_hash text NOT NULL UNIQUE,
    tenant_id      uuid NOT NULL REFERENCES tenants (id) ON DELETE CASCADE,
    user_id        uuid REFERENCES users (id) ON DELETE CASCADE,
    kind           text NOT NULL,
    ref            text NOT NULL DEFAULT '',
    data           text NOT NULL DEFAULT '{}',
    expires_at     timestamptz NOT NULL,
    consumed_at    timestamptz,
    created_at     timestamptz NOT NULL
);
CREATE INDEX webauthn_ceremonies_expires_idx ON webauthn_ceremonies (expires_at);

-- +goose Down
DROP TABLE webauthn_ceremonies;
