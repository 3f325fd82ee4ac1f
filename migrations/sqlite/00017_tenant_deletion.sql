-- +goose Up
-- Issue 10, part 3: a tenant's Owner deletes their own tenant with a grace
-- period (DELETE /api/tenant): deletion_scheduled_at is when it was asked
-- for, deletes_at when the pruner deletes the tenant and everything it
-- owns; both NULL when no deletion is pending (POST /api/tenant/restore
-- clears them). identity.tenants.delete is a danger action, like
-- identity.tenants.update: the Danger Zone policy of existing tenants gets
-- it (new tenants are seeded with it); no system role holds it.
ALTER TABLE tenants ADD COLUMN deletion_scheduled_at datetime;
ALTER TABLE tenants ADD COLUMN deletes_at datetime;
CREATE INDEX tenants_deletes_at_idx ON tenants (deletes_at);
UPDATE policies
SET permissions = substr(permissions, 1, length(permissions) - 1) || ',"identity.tenants.delete"]'
WHERE name = 'Danger Zone'
  AND permissions LIKE '[_%]'
  AND permissions NOT LIKE '%"identity.tenants.delete"%';

-- +goose Down
UPDATE policies
SET permissions = replace(permissions, ',"identity.tenants.delete"]', ']')
WHERE name = 'Danger Zone';
DROP INDEX tenants_deletes_at_idx;
ALTER TABLE tenants DROP COLUMN deletes_at;
ALTER TABLE tenants DROP COLUMN deletion_scheduled_at;
