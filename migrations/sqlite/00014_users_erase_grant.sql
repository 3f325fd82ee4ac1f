-- +goose Up
-- Issue 10, part 9: erasing a user (GDPR Art. 17) (identity.users.erase)
-- is a danger action, like deleting one: the Danger Zone policy of
-- existing tenants gets it (new tenants are seeded with it); no system role
-- holds it.
UPDATE policies
SET permissions = substr(permissions, 1, length(permissions) - 1) || ',"identity.users.erase"]'
WHERE name = 'Danger Zone'
  AND permissions LIKE '[_%]'
  AND permissions NOT LIKE '%"identity.users.erase"%';

-- +goose Down
UPDATE policies
SET permissions = replace(permissions, ',"identity.users.erase"]', ']')
WHERE name = 'Danger Zone';
