-- +goose Up
-- Issue 8: every path that can grant a danger action is one itself.
-- Assigning policies, editing roles' and policies' permissions and binding
-- OAuth clients to service accounts joined the danger actions; the Danger
-- Zone policy of existing tenants gets them (new tenants are seeded with
-- them). Existing Owner and Admin roles keep what they held, now behind a
-- step-up.
UPDATE policies
SET permissions = substr(permissions, 1, length(permissions) - 1)
    || ',"identity.membership.manage","identity.roles.update","identity.policies.update","identity.oauth_clients.bind"]'
WHERE name = 'Danger Zone'
  AND permissions LIKE '[_%]'
  AND permissions NOT LIKE '%"identity.membership.manage"%';

-- +goose Down
UPDATE policies
SET permissions = replace(permissions, ',"identity.membership.manage","identity.roles.update","identity.policies.update","identity.oauth_clients.bind"]', ']')
WHERE name = 'Danger Zone';
