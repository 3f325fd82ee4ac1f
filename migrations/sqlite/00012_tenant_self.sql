-- +goose Up
-- Issue 10, part 3: a tenant's own presentation, which its Owner edits
-- through PATCH /api/tenant (one column each; "" is unset), and its
-- settings (one JSON column). The Admin
-- system role of existing tenants gets identity.tenants.read (new tenants
-- are seeded with it); identity.tenants.update stays a danger action that
-- only the Danger Zone policy grants.
ALTER TABLE tenants ADD COLUMN description text NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN website text NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN logo_url text NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN primary_colour text NOT NULL DEFAULT '';
ALTER TABLE tenants ADD COLUMN default_locale text NOT NULL DEFAULT '';
-- The tenant's own settings (identity.TenantSettings), one JSON object:
-- absent members take their defaults, so '{}' keeps today's behaviour.
ALTER TABLE tenants ADD COLUMN settings text NOT NULL DEFAULT '{}';
UPDATE roles
SET permissions = substr(permissions, 1, length(permissions) - 1) || ',"identity.tenants.read"]'
WHERE name = 'Admin'
  AND system
  AND tenant_id IS NOT NULL
  AND permissions LIKE '[_%]'
  AND permissions NOT LIKE '%"identity.tenants.read"%';

-- +goose Down
UPDATE roles
SET permissions = replace(permissions, ',"identity.tenants.read"]', ']')
WHERE name = 'Admin' AND system;
ALTER TABLE tenants DROP COLUMN settings;
ALTER TABLE tenants DROP COLUMN default_locale;
ALTER TABLE tenants DROP COLUMN primary_colour;
ALTER TABLE tenants DROP COLUMN logo_url;
ALTER TABLE tenants DROP COLUMN website;
ALTER TABLE tenants DROP COLUMN description;
