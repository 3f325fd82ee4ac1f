-- +goose Up
-- How many usable (not disabled) passkeys each user has (issue 12 §2),
-- kept by the storage methods that add, disable and delete passkeys in
-- the same transaction. It makes "has a second factor" a fact of the
-- user row (models.User.HasSecondFactor), read by the sign-in and every
-- view of the user without another query, and never guessed when a
-- count fails.
ALTER TABLE users ADD COLUMN passkeys integer NOT NULL DEFAULT 0;
UPDATE users SET passkeys = (
    SELECT COUNT(*) FROM webauthn_credentials w
    WHERE w.tenant_id = users.tenant_id AND w.user_id = users.id AND NOT w.disabled
);

-- +goose Down
ALTER TABLE users DROP COLUMN passkeys;
