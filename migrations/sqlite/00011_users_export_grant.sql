-- +goose Up
-- Issue 10, part 8: exporting every user of a tenant (identity.users.export)
-- is a danger action, like identity.audit.export: the Danger Zone policy of
-- existing tenants gets it (new tenants are seeded with it); no system role
-- holds it.
UPDATE policies
SET permissions = substr(permissions, 1, length(permissions) - 1) || ',"identity.users.export"]'
WHERE name = 'Danger Zone'
  AND permissions LIKE '[_%]'
  AND permissions NOT LIKE '%"identity.users.export"%';

-- +goose Down
UPDATE policies
SET permissions = replace(permissions, ',"identity.users.export"]', ']')
WHERE name = 'Danger Zone';
