-- +goose Up
-- Issue 8, protocol edges. post_logout_redirect_uris: where RP-initiated
-- logout may send the browser back (exact match). token_endpoint_auth_methods:
-- every method the client may authenticate with; '[]' (rows created before
-- this migration) means token_endpoint_auth_method alone.
-- introspect_all_tenants: a system-level resource server that may introspect
-- tokens of every tenant (set only by a system administrator).
ALTER TABLE oauth_clients ADD COLUMN post_logout_redirect_uris text NOT NULL DEFAULT '[]';
ALTER TABLE oauth_clients ADD COLUMN token_endpoint_auth_methods text NOT NULL DEFAULT '[]';
ALTER TABLE oauth_clients ADD COLUMN introspect_all_tenants boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE oauth_clients DROP COLUMN introspect_all_tenants;
ALTER TABLE oauth_clients DROP COLUMN token_endpoint_auth_methods;
ALTER TABLE oauth_clients DROP COLUMN post_logout_redirect_uris;
