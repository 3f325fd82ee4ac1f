-- +goose Up
-- Which device session enrolled each second factor, so that a factor added
-- with a stolen token cannot be the one that elevates that token's session.
ALTER TABLE users ADD COLUMN totp_session_id text;
ALTER TABLE users ADD COLUMN email_2fa_session_id text;
ALTER TABLE users ADD COLUMN pin_session_id text;

-- +goose Down
ALTER TABLE users DROP COLUMN pin_session_id;
ALTER TABLE users DROP COLUMN email_2fa_session_id;
ALTER TABLE users DROP COLUMN totp_session_id;
