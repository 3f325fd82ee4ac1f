package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"
)

type pflagFlag = pflag.Flag

// fieldKind is how a flag's text becomes a JSON value of the request.
type fieldKind int

const (
	kString fieldKind = iota
	kList             // comma-separated, or the flag repeated
	kBool
	kInt
	kJSON   // a JSON value (an object)
	kSecret // a string also readable from --NAME-file (a path, or - for stdin)
)

// field is one flag of a command and the JSON field (or query parameter)
// it fills. Only the flags given are sent, so an update changes only what
// is named.
type field struct {
	flag     string
	json     string // defaults to flag with - as _
	kind     fieldKind
	help     string
	required bool
}

func (f field) key() string {
	if f.json != "" {
		return f.json
	}
	return strings.ReplaceAll(f.flag, "-", "_")
}

// resource is one family of admin API objects and the commands over it.
type resource struct {
	name    string // the command: tenants, users…
	one     string // "tenant", for help texts
	path    string // the collection's path
	system  bool   // acts across tenants (system admins): no --tenant needed locally
	parent  *field // api-keys: --service-account
	idName  string // the argument's name in help: ID, CLIENT_ID
	create  []field
	update  []field
	list    []field // query parameters
	noGet   bool
	example string // an example create
	actions []action
}

// action is a POST to ITEM/suffix with no body (users unlock…).
type action struct {
	name, suffix, help string
}

var pagination = []field{
	{flag: "limit", kind: kInt, help: "at most this many items (the API's default when not given)"},
	{flag: "cursor", help: "the next_cursor of the previous page"},
}

var resources = []resource{
	{
		name: "tenants", one: "tenant", path: "/api/admin/tenants", system: true, idName: "ID",
		create: []field{
			{flag: "slug", help: "the tenant's slug: lower-case letters, digits and hyphens; users type it at sign-in", required: true},
			{flag: "name", help: "the tenant's display name", required: true},
		},
		update: []field{
			{flag: "name", help: "the tenant's new display name"},
			{flag: "audit-retention-days", kind: kInt, help: "days the tenant's audit rows are kept"},
		},
		list:    append([]field{{flag: "q", help: "only tenants whose slug or name contains this"}}, pagination...),
		example: `identityd tenants create --slug acme --name "Acme Inc"`,
		actions: []action{
			{"suspend", "suspend", "Suspend a tenant: every login and token of it is refused at once"},
			{"unsuspend", "unsuspend", "Lift a tenant's suspension"},
		},
	},
	{
		name: "users", one: "user", path: "/api/users", idName: "ID",
		create: []field{
			{flag: "email", help: "the user's e-mail address (their sign-in name)", required: true},
			{flag: "password", kind: kSecret, help: "the first password; it must meet the tenant's password policy", required: true},
			{flag: "name", help: "the user's display name"},
			{flag: "role", json: "roles", kind: kList, help: "a role of the tenant to assign (Owner, Admin, Manager, Member or a custom one); repeat or comma-separate"},
			{flag: "force-password-change", kind: kBool, help: "ask for a new password at the first sign-in"},
		},
		update: []field{
			{flag: "name", help: "the new display name"},
			{flag: "email", help: "the new e-mail address"},
			{flag: "is-active", kind: kBool, help: "false deactivates the user (sessions and tokens revoked)"},
		},
		list: []field{
			{flag: "q", help: "only users whose e-mail or name contains this"},
			{flag: "role", help: "only users holding this role (its name)"},
			{flag: "is-active", help: "true or false"},
			{flag: "locked", help: "true or false"},
			{flag: "two-factor", help: "true or false: only users with (or without) a second factor"},
			{flag: "page", kind: kInt, help: "the page, from 1"},
			{flag: "per-page", kind: kInt, help: "users per page"},
		},
		example: `identityd users create --tenant acme --email ada@example.com --password-file - --role Admin`,
		actions: []action{
			{"unlock", "unlock", "Clear a user's lockout after failed sign-ins"},
			{"deactivate", "deactivate", "Deactivate a user: their sessions and tokens are revoked"},
			{"reset-2fa", "reset-2fa", "Remove a user's second factor and recovery codes"},
		},
	},
	{
		name: "clients", one: "OAuth client", path: "/api/clients", idName: "CLIENT_ID",
		create: []field{
			{flag: "id", json: "client_id", help: "the client id (generated when not given; only without --endpoint)"},
			{flag: "secret", json: "client_secret", kind: kSecret, help: "the client secret (32 random bytes when not given; only without --endpoint)"},
			{flag: "name", help: "the display name shown on the consent page"},
			{flag: "grant-types", kind: kList, help: "grant types: client_credentials, authorization_code, refresh_token, urn:ietf:params:oauth:grant-type:device_code…", required: true},
			{flag: "scopes", kind: kList, help: "scopes the client may ask for"},
			{flag: "redirect-uris", kind: kList, help: "redirect URIs, matched exactly (https, or http on a loopback host)"},
			{flag: "audience", kind: kList, help: "audiences the client may ask tokens for"},
			{flag: "public", kind: kBool, help: "a public client: no secret, PKCE required"},
			{flag: "skip-consent", kind: kBool, help: "skip the consent page (first-party applications)"},
			{flag: "token-endpoint-auth-method", kind: kList, help: "client_secret_basic, client_secret_post, both comma-separated, or none (default: both for a confidential client)"},
			{flag: "access-token-format", help: "opaque (the default) or jwt"},
			{flag: "id-token-signed-response-alg", help: "the ID tokens' signing algorithm: RS256 (the default) or ES256"},
			{flag: "post-logout-redirect-uris", kind: kList, help: "URIs RP-initiated logout may return to (exact match)"},
			{flag: "introspect-all-tenants", kind: kBool, help: "a system-level resource server that may introspect every tenant's tokens (system administrators only)"},
			{flag: "service-account", json: "service_account_id", help: "the id of a service account the client acts as (client_credentials)"},
		},
		update: []field{
			{flag: "name", help: "the new display name"},
			{flag: "grant-types", kind: kList, help: "the grant types, replacing the old ones"},
			{flag: "scopes", kind: kList, help: "the scopes, replacing the old ones"},
			{flag: "redirect-uris", kind: kList, help: "the redirect URIs, replacing the old ones"},
			{flag: "audience", kind: kList, help: "the audiences, replacing the old ones"},
			{flag: "skip-consent", kind: kBool, help: "skip the consent page"},
			{flag: "access-token-format", help: "opaque or jwt"},
			{flag: "id-token-signed-response-alg", help: "the ID tokens' signing algorithm: RS256 or ES256"},
			{flag: "post-logout-redirect-uris", kind: kList, help: "the post-logout redirect URIs, replacing the old ones"},
			{flag: "token-endpoint-auth-methods", kind: kList, help: "client_secret_basic and/or client_secret_post"},
			{flag: "introspect-all-tenants", kind: kBool, help: "may introspect every tenant's tokens (system administrators only)"},
		},
		list:    pagination,
		example: `identityd clients create --tenant acme --id billing --grant-types client_credentials --scopes service`,
	},
	{
		name: "roles", one: "role", path: "/api/roles", idName: "ID",
		create: permissionSetFields("role", true), update: permissionSetFields("role", false),
		list:    pagination,
		example: `identityd roles create --tenant acme --name Auditor --permissions identity.audit.read,identity.audit.export`,
	},
	{
		name: "policies", one: "policy", path: "/api/policies", idName: "ID",
		create: permissionSetFields("policy", true), update: permissionSetFields("policy", false),
		list:    pagination,
		example: `identityd policies create --tenant acme --name exporters --permissions identity.users.export`,
	},
	{
		name: "service-accounts", one: "service account", path: "/api/service-accounts", idName: "ID",
		create: []field{
			{flag: "name", help: "the service account's name", required: true},
			{flag: "description", help: "what it is for"},
		},
		update: []field{
			{flag: "name", help: "the new name"},
			{flag: "description", help: "the new description"},
			{flag: "is-active", kind: kBool, help: "false stops its keys and tokens from working"},
		},
		list:    pagination,
		example: `identityd service-accounts create --tenant acme --name reporting`,
	},
	{
		name: "api-keys", one: "API key", path: "/api/service-accounts/%s/api-keys", idName: "KEY_ID",
		parent: &field{flag: "service-account", help: "the id of the service account the keys belong to", required: true},
		create: []field{
			{flag: "name", help: "the key's name", required: true},
			{flag: "expires-in-days", kind: kInt, help: "the key stops working after this many days"},
		},
		noGet:   true,
		example: `identityd api-keys create --tenant acme --service-account SA_ID --name ci`,
		actions: []action{{"rotate", "rotate", "Rotate an API key: a new key (shown once) replaces it"}},
	},
	{
		name: "identity-providers", one: "identity provider", path: "/api/identity-providers", idName: "ID",
		create: idpFields(true), update: idpFields(false),
		example: `identityd identity-providers create --tenant acme --kind oidc --name Corp --issuer https://login.corp.example --client-id identityd --client-secret-file secret.txt`,
	},
	{
		name: "webhooks", one: "webhook", path: "/api/webhooks", idName: "ID",
		create: []field{
			{flag: "url", help: "the receiver's absolute https URL", required: true},
			{flag: "description", help: "what the receiver is"},
			{flag: "event-types", kind: kList, help: "the event types it receives (all when not given)"},
			{flag: "enabled", kind: kBool, help: "whether deliveries are made (default true)"},
		},
		update: []field{
			{flag: "url", help: "the new URL"},
			{flag: "description", help: "the new description"},
			{flag: "event-types", kind: kList, help: "the event types, replacing the old ones"},
			{flag: "enabled", kind: kBool, help: "false pauses deliveries"},
		},
		list: []field{
			{flag: "page", kind: kInt, help: "the page, from 1"},
			{flag: "per-page", kind: kInt, help: "webhooks per page"},
		},
		example: `identityd webhooks create --tenant acme --url https://hooks.acme.example/identity --event-types identity.user.created`,
		actions: []action{
			{"rotate-secret", "rotate-secret", "Rotate the webhook's signing secret: the new one is shown once"},
			{"test", "test", "Send an identity.webhook.test event to the webhook now"},
		},
	},
}

// permissionSetFields are a role's or a policy's: a name, a description
// and the permissions it grants.
func permissionSetFields(one string, create bool) []field {
	if create {
		return []field{
			{flag: "name", help: "the " + one + "'s name", required: true},
			{flag: "description", help: "what the " + one + " is for"},
			{flag: "permissions", kind: kList, help: "permissions the " + one + " grants, e.g. identity.users.read,identity.users.update"},
		}
	}
	return []field{
		{flag: "name", help: "the new name"},
		{flag: "description", help: "the new description"},
		{flag: "permissions", kind: kList, help: "the permissions, replacing the old ones"},
	}
}

func idpFields(create bool) []field {
	return []field{
		{flag: "kind", help: "oidc or oauth2", required: create},
		{flag: "name", help: "the provider's name", required: create},
		{flag: "button-label", help: "the sign-in button's text"},
		{flag: "issuer", help: "the OpenID Connect issuer (discovery)"},
		{flag: "authorization-url", help: "the authorization endpoint (plain OAuth 2.0)"},
		{flag: "token-url", help: "the token endpoint (plain OAuth 2.0)"},
		{flag: "userinfo-url", help: "the userinfo endpoint (plain OAuth 2.0)"},
		{flag: "client-id", help: "our client id at the provider"},
		{flag: "client-secret", kind: kSecret, help: "our client secret at the provider (or --client-secret-file)"},
		{flag: "client-auth-method", help: "client_secret_basic or client_secret_post"},
		{flag: "scopes", kind: kList, help: "scopes to ask the provider for"},
		{flag: "claims", kind: kJSON, help: `the claim mapping as JSON, e.g. {"email":"mail"}`},
		{flag: "group-roles", kind: kJSON, help: `groups to roles as JSON, e.g. {"admins":["Admin"]}`},
		{flag: "jit-provisioning", kind: kBool, help: "create a user at the first sign-in"},
		{flag: "allowed-domains", kind: kList, help: "e-mail domains the provider may sign in"},
		{flag: "enabled", kind: kBool, help: "whether the sign-in button is shown"},
	}
}

// flagSet holds the values of a command's fields.
type flagSet struct {
	fields  []field
	str     map[string]*string
	list    map[string]*[]string
	boolean map[string]*bool
	integer map[string]*int
	file    map[string]*string // kSecret: --NAME-file
}

func bindFields(cmd *cobra.Command, fields []field) *flagSet {
	fs := &flagSet{fields: fields, str: map[string]*string{}, list: map[string]*[]string{},
		boolean: map[string]*bool{}, integer: map[string]*int{}, file: map[string]*string{}}
	for _, f := range fields {
		help := f.help
		if f.required {
			help += " (required)"
		}
		switch f.kind {
		case kList:
			fs.list[f.flag] = cmd.Flags().StringSlice(f.flag, nil, help)
		case kBool:
			fs.boolean[f.flag] = cmd.Flags().Bool(f.flag, false, help)
		case kInt:
			fs.integer[f.flag] = cmd.Flags().Int(f.flag, 0, help)
		case kSecret:
			fs.str[f.flag] = cmd.Flags().String(f.flag, "", help)
			fs.file[f.flag] = cmd.Flags().String(f.flag+"-file", "", "read --"+f.flag+" from this file (- for stdin); it is never echoed")
		default:
			fs.str[f.flag] = cmd.Flags().String(f.flag, "", help)
		}
	}
	return fs
}

// values are the JSON fields (or query parameters) of the flags given;
// missing required flags are named together.
func (fs *flagSet) values(c *cli, cmd *cobra.Command) (map[string]any, error) {
	out := map[string]any{}
	var missing []string
	for _, f := range fs.fields {
		given := cmd.Flags().Changed(f.flag)
		switch f.kind {
		case kList:
			if given {
				vals := []string{}
				for _, v := range *fs.list[f.flag] {
					if v = strings.TrimSpace(v); v != "" {
						vals = append(vals, v)
					}
				}
				out[f.key()] = vals
			}
		case kBool:
			if given {
				out[f.key()] = *fs.boolean[f.flag]
			}
		case kInt:
			if given {
				out[f.key()] = *fs.integer[f.flag]
			}
		case kJSON:
			if given {
				var v any
				if err := json.Unmarshal([]byte(*fs.str[f.flag]), &v); err != nil {
					return nil, errUsage{fmt.Sprintf("--%s: not JSON: %v", f.flag, err)}
				}
				out[f.key()] = v
			}
		case kSecret:
			v := *fs.str[f.flag]
			if p := *fs.file[f.flag]; p != "" {
				if given {
					return nil, errUsage{fmt.Sprintf("give --%s or --%s-file, not both", f.flag, f.flag)}
				}
				s, err := readSecretFile(p, c.stdin)
				if err != nil {
					return nil, errUsage{fmt.Sprintf("--%s-file: %v", f.flag, err)}
				}
				v, given = s, true
			}
			if given {
				out[f.key()] = v
			}
		default:
			if given {
				out[f.key()] = *fs.str[f.flag]
			}
		}
		if f.required && (!given || isBlank(out[f.key()])) {
			name := "--" + f.flag
			if f.kind == kSecret {
				name += " (or --" + f.flag + "-file)"
			}
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return nil, errUsage{cmd.CommandPath() + ": missing " + strings.Join(missing, ", ")}
	}
	return out, nil
}

func isBlank(v any) bool {
	switch t := v.(type) {
	case nil:
		return true
	case string:
		return strings.TrimSpace(t) == ""
	case []string:
		return len(t) == 0
	}
	return false
}

// query turns values into a query string.
func query(vals map[string]any) string {
	if len(vals) == 0 {
		return ""
	}
	q := url.Values{}
	for k, v := range vals {
		switch t := v.(type) {
		case []string:
			q.Set(k, strings.Join(t, ","))
		case int:
			q.Set(k, strconv.Itoa(t))
		default:
			q.Set(k, fmt.Sprint(t))
		}
	}
	return "?" + q.Encode()
}

// resourceCommand builds NAME create|get|list|update|delete and the
// resource's actions.
func (c *cli) resourceCommand(r resource) *cobra.Command {
	group := c.group(r.name, "Manage "+r.one+"s through the admin API ("+strings.Replace(r.path, "%s", "{id}", 1)+")")
	// Each command has its own --service-account (api-keys).
	parents := map[*cobra.Command]*string{}
	addParent := func(cmd *cobra.Command) {
		if r.parent != nil {
			parents[cmd] = cmd.Flags().String(r.parent.flag, "", r.parent.help+" (required)")
		}
	}
	base := func(cmd *cobra.Command) (string, error) {
		if r.parent == nil {
			return r.path, nil
		}
		id := strings.TrimSpace(*parents[cmd])
		if id == "" {
			return "", errUsage{cmd.CommandPath() + ": missing --" + r.parent.flag}
		}
		return fmt.Sprintf(r.path, pathID(id)), nil
	}
	scope := "the tenant's"
	if r.system {
		scope = "every"
	}

	if r.create != nil {
		create := &cobra.Command{Use: "create", Short: "Create a " + r.one, Args: cobra.NoArgs, Example: "  " + r.example}
		fs := bindFields(create, r.create)
		addParent(create)
		var systemAdmin *bool
		if r.name == "users" {
			systemAdmin = create.Flags().Bool("system-admin", false, "also make the user a system administrator (a system administrator's act)")
		}
		create.RunE = c.runE(func(cmd *cobra.Command, _ []string) error {
			path, err := base(cmd)
			if err != nil {
				return err
			}
			body, err := fs.values(c, cmd)
			if err != nil {
				return err
			}
			if r.name == "clients" {
				clientAuthMethods(body)
			}
			ans, err := c.call(apiCall{method: http.MethodPost, path: path, body: body, system: r.system})
			if err != nil {
				return err
			}
			if systemAdmin != nil && *systemAdmin {
				return c.grantSystemAdmin(ans)
			}
			return c.printAnswer(ans)
		})
		group.AddCommand(create)
	}
	// itemCommand is a call on one item (ITEM or ITEM/suffix); empty is
	// what to print when the API answers without a body (204).
	itemCommand := func(use, short, example, method, suffix string, empty func(id string) any) *cobra.Command {
		cmd := &cobra.Command{Use: use + " " + r.idName, Short: short, Args: exactArgs(1),
			Example: "  identityd " + r.name + " " + use + " " + r.idName + example}
		addParent(cmd)
		cmd.RunE = c.runE(func(cmd *cobra.Command, args []string) error {
			path, err := base(cmd)
			if err != nil {
				return err
			}
			path += "/" + pathID(args[0])
			if suffix != "" {
				path += "/" + suffix
			}
			ans, err := c.call(apiCall{method: method, path: path, system: r.system})
			if err != nil {
				return err
			}
			if len(ans.body) == 0 && empty != nil {
				return c.print(empty(args[0]))
			}
			return c.printAnswer(ans)
		})
		return cmd
	}
	if !r.noGet {
		group.AddCommand(itemCommand("get", "Show one "+r.one, " -o yaml", http.MethodGet, "", nil))
	}
	list := &cobra.Command{Use: "list", Short: "List " + scope + " " + r.one + "s", Args: cobra.NoArgs,
		Example: "  identityd " + r.name + " list -o table"}
	lfs := bindFields(list, r.list)
	addParent(list)
	list.RunE = c.runE(func(cmd *cobra.Command, _ []string) error {
		path, err := base(cmd)
		if err != nil {
			return err
		}
		q, err := lfs.values(c, cmd)
		if err != nil {
			return err
		}
		ans, err := c.call(apiCall{method: http.MethodGet, path: path + query(q), system: r.system})
		if err != nil {
			return err
		}
		return c.printAnswer(ans)
	})
	group.AddCommand(list)
	if r.update != nil {
		update := &cobra.Command{Use: "update " + r.idName + " [flags]", Short: "Change a " + r.one + " (only the flags given change)",
			Args: exactArgs(1), Example: "  identityd " + r.name + " update " + r.idName + " --" + r.update[0].flag + " …"}
		fs := bindFields(update, r.update)
		addParent(update)
		update.RunE = c.runE(func(cmd *cobra.Command, args []string) error {
			path, err := base(cmd)
			if err != nil {
				return err
			}
			body, err := fs.values(c, cmd)
			if err != nil {
				return err
			}
			if len(body) == 0 {
				return errUsage{cmd.CommandPath() + ": nothing to change: give at least one flag"}
			}
			ans, err := c.call(apiCall{method: http.MethodPatch, path: path + "/" + pathID(args[0]), body: body, system: r.system})
			if err != nil {
				return err
			}
			return c.printAnswer(ans)
		})
		group.AddCommand(update)
	}
	group.AddCommand(itemCommand("delete", "Delete a "+r.one, "", http.MethodDelete, "",
		func(id string) any { return map[string]any{"deleted": id} }))
	for _, a := range r.actions {
		suffix := a.suffix
		group.AddCommand(itemCommand(a.name, a.help, "", http.MethodPost, suffix,
			func(id string) any { return map[string]any{"id": id, "done": suffix} }))
	}
	return group
}

// clientAuthMethods: one --token-endpoint-auth-method restricts the client
// to it; a list accepts each.
func clientAuthMethods(body map[string]any) {
	m, ok := body["token_endpoint_auth_method"].([]string)
	if !ok {
		return
	}
	delete(body, "token_endpoint_auth_method")
	switch {
	case len(m) == 1:
		body["token_endpoint_auth_method"] = m[0]
	case len(m) > 1:
		body["token_endpoint_auth_methods"] = m
	}
}

// exactArgs is cobra.ExactArgs with the argument named in the error.
func exactArgs(n int) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != n {
			return errUsage{fmt.Sprintf("%s: takes %d argument(s) (%s), got %d", cmd.CommandPath(), n, strings.Join(strings.Fields(cmd.Use)[1:], " "), len(args))}
		}
		return nil
	}
}

// grantSystemAdmin is users create --system-admin: the created user (the
// answer of POST /api/users) made a system administrator through the one
// audited route for it; the answer shows the user as it now is.
func (c *cli) grantSystemAdmin(created *apiAnswer) error {
	var out map[string]any
	if err := json.Unmarshal(created.body, &out); err != nil {
		return fmt.Errorf("the answer is not JSON: %w", err)
	}
	user, _ := out["user"].(map[string]any)
	id, _ := user["id"].(string)
	if id == "" {
		return fmt.Errorf("the created user has no id in the answer")
	}
	ans, err := c.call(apiCall{method: http.MethodPut, path: "/api/admin/users/" + pathID(id) + "/system-admin",
		body: map[string]any{"is_system_admin": true}})
	if err != nil {
		return fmt.Errorf("user %s was created, but making them a system administrator failed: %w", id, err)
	}
	var granted any
	if err := json.Unmarshal(ans.body, &granted); err != nil {
		return fmt.Errorf("the answer is not JSON: %w", err)
	}
	out["user"] = granted
	return c.print(out)
}
