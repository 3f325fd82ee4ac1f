// Package identity holds the domain services: one per aggregate, each
// method one use case. It never sees HTTP, GORM or fosite: each service
// declares the small store interface it needs beside it (with what each
// method returns on not-found, conflict and race), storage implements them
// without importing this package, and cmd/identityd/wire.go checks that
// with compile-time assertions.
//
// The services, one file each:
//
//   - Accounts (accounts.go, login.go, twofactor.go, pinflow.go,
//     selfservice.go): login, two-factor, PIN, passwords, sessions and the
//     user's own profile; Authorizer (authz.go): permissions and step-up.
//   - Authenticator (authenticate.go): a bearer credential to a Principal:
//     API keys, first-party user tokens (impersonation included) and
//     client-credentials tokens of clients held by a service account. The
//     token lookup itself is a TokenIntrospector the HTTP layer supplies.
//   - Users (users.go): a tenant's users, their state and system
//     administration; Memberships (memberships.go): the roles and policies
//     they hold; Roles (roles.go) and Policies (policies.go): the
//     permission sets. grants.go holds the anti-escalation rules all of
//     them apply (CanGrant, CanActOn).
//   - Clients (clients.go): OAuth clients, their validation and secret
//     rotation; ServiceAccounts (serviceaccounts.go) and APIKeys
//     (apikeys.go): a tenant's non-human callers.
//   - Tenants (tenants.go): tenants with their seeded system roles;
//     Impersonation (impersonation.go); AuditLog (auditlog.go): the audit
//     log's pages and export; Pruner (prune.go): retention and expiry
//     under one job lease; MailQueue (mailqueue.go): the mail outbox.
//
// Every change runs in one transaction (Tx) with its audit row, written by
// the one Auditor (audit.go): the actor comes from the principal, the
// impersonating admin when there is one. The command line is the system
// principal (system.go) and calls the same service methods as the API.
// Every constructor NewX(XDeps) rejects a missing dependency.
package identity
