-- +goose Up
-- ES256 ID tokens (issue 14): a client chooses the JWS algorithm of its ID
-- tokens (OpenID Connect Dynamic Client Registration 1.0 §2,
-- id_token_signed_response_alg), and the keyring holds one signing key per
-- algorithm.
ALTER TABLE oauth_clients ADD COLUMN id_token_signed_response_alg text NOT NULL DEFAULT 'RS256';

-- Every algorithm's keys live in jwk_signing_keys, as on PostgreSQL. An
-- embedded SQLite database has one process, so no instance of the previous
-- release runs beside this one: unlike PostgreSQL, no signing_keys view of
-- the RS256 keys is kept for a rolling upgrade.
ALTER TABLE signing_keys RENAME TO jwk_signing_keys;

-- +goose Down
DELETE FROM jwk_signing_keys WHERE algorithm <> 'RS256';
ALTER TABLE jwk_signing_keys RENAME TO signing_keys;
ALTER TABLE oauth_clients DROP COLUMN id_token_signed_response_alg;
