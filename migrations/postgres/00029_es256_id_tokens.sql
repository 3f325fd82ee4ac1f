-- +goose Up
-- ES256 ID tokens (issue 14): a client chooses the JWS algorithm of its ID
-- tokens (OpenID Connect Dynamic Client Registration 1.0 §2,
-- id_token_signed_response_alg), and the keyring holds one signing key per
-- algorithm.
ALTER TABLE oauth_clients ADD COLUMN id_token_signed_response_alg text NOT NULL DEFAULT 'RS256';

-- Every algorithm's keys live in jwk_signing_keys. Instances of the
-- previous release, still running during a rolling upgrade, read and rotate
-- signing_keys as RSA keys only: it stays, as a view of the RS256 keys
-- (updatable, so their `identityd keys rotate` retires and adds RS256 keys
-- alone), so an ES256 key never reaches code that cannot parse it. A later
-- release drops the view.
ALTER TABLE signing_keys RENAME TO jwk_signing_keys;
CREATE VIEW signing_keys AS
    SELECT id, algorithm, public_jwk, private_sealed, created_at, retired_at, publish_until
    FROM jwk_signing_keys WHERE algorithm = 'RS256'
    WITH LOCAL CHECK OPTION;

-- +goose Down
DROP VIEW signing_keys;
DELETE FROM jwk_signing_keys WHERE algorithm <> 'RS256';
ALTER TABLE jwk_signing_keys RENAME TO signing_keys;
ALTER TABLE oauth_clients DROP COLUMN id_token_signed_response_alg;
