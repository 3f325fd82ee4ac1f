// Package identity holds the domain services: one per aggregate, each
// method one use case. It never sees HTTP, GORM or fosite: each service
// holds the small store interfaces it needs, declared beside it (at most
// ten methods each, kept by stores_test.go, with what each method returns
// on not-found, conflict and race); storage implements them without
// importing this package, and internal/app checks that with compile-time
// assertions.
//
// The services, one file each:
//
//   - Login (login.go): password login, the second-factor step, PIN login,
//     the forced password change and browser sessions, and the tenant's
//     sign-in rules with the forced second-factor enrolment
//     (enrolment.go); Account
//     (account.go, profile.go): the user's own profile and the phone
//     number's verification code (sent through SMSSender); Password
//     (password.go): change, forgot and reset, and the password rules; TwoFactor (twofactor.go):
//     TOTP, e-mailed codes and recovery codes; PIN (pin.go); Sessions
//     (sessions.go): a user's sessions and devices; StepUp (stepup.go);
//     Authorizer (authz.go): a principal's permissions and the step-up gate;
//     ClientAuthThrottle (clientauth_throttle.go). The checks of a password,
//     code or PIN they share are one unexported type (credentials.go,
//     reauth.go, ratelimit.go), so no service calls another.
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
//   - Tenants (tenants.go): tenants with their seeded system roles, a
//     tenant's own settings (tenantsettings.go) and its own deletion with a
//     grace period (tenantdeletion.go);
//     Impersonation (impersonation.go); AuditLog (auditlog.go): the audit
//     log's pages and export; Pruner (prune.go): retention and expiry, and
//     the tenants whose deletion fell due, under one job lease; MailQueue (mailqueue.go): the mail outbox.
//   - OneTimeCodes (otp.go): codes other services have Identity generate,
//     e-mail and verify for a user (issue 10 §6).
//   - PushDevices (pushdevices.go): the users' push registrations
//     (Firebase and APNs tokens, sealed) and a notification service's read.
//   - Invitations (invitations.go): invitations by e-mail with roles the
//     inviter could grant, a single-use link, and acceptance (issue 10 §4).
//   - Registration (registration.go): sign-up, creating a tenant with its
//     Owner or joining a tenant that allows it (issue 10 §1).
//
// Every change runs in one transaction (Tx) with its audit row, written by
// the one Auditor (audit.go): the actor comes from the principal, the
// impersonating admin when there is one. The command line is the system
// principal (system.go) and calls the same service methods as the API.
// Every constructor NewX(XDeps) rejects a missing dependency.
package identity
