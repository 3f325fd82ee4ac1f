-- +goose Up
-- The profile a user edits themself (issue 10, part 5), released as OpenID
-- Connect standard claims per scope. profile_updated_at is the claim
-- updated_at: when a profile field last changed, not any column.
ALTER TABLE users ADD COLUMN given_name text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN family_name text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN locale text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN zoneinfo text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN picture text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN phone_number text NOT NULL DEFAULT '';
ALTER TABLE users ADD COLUMN phone_number_verified boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN marketing_emails boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN profile_visible_to_colleagues boolean NOT NULL DEFAULT false;
ALTER TABLE users ADD COLUMN profile_updated_at timestamptz;

-- +goose Down
ALTER TABLE users DROP COLUMN profile_updated_at;
ALTER TABLE users DROP COLUMN profile_visible_to_colleagues;
ALTER TABLE users DROP COLUMN marketing_emails;
ALTER TABLE users DROP COLUMN phone_number_verified;
ALTER TABLE users DROP COLUMN phone_number;
ALTER TABLE users DROP COLUMN picture;
ALTER TABLE users DROP COLUMN zoneinfo;
ALTER TABLE users DROP COLUMN locale;
ALTER TABLE users DROP COLUMN family_name;
ALTER TABLE users DROP COLUMN given_name;
