package identity

// Audit actions of sign-in beyond passwords (issue 12): a tenant's upstream
// identity providers, the identities linked to accounts, and passkeys. The
// events each publishes are in eventsOf (events.go).
const (
	// AuditIdentityProviderCreated: a tenant connected an upstream
	// OpenID Connect or OAuth 2.0 provider.
	AuditIdentityProviderCreated = "identity_provider.created"
	// AuditIdentityProviderUpdated: its settings changed (the secret too).
	AuditIdentityProviderUpdated = "identity_provider.updated"
	// AuditIdentityProviderDeleted: the provider was removed, and with it
	// every identity linked through it.
	AuditIdentityProviderDeleted = "identity_provider.deleted"
	// AuditIdentityLinked: an upstream identity was linked to an account
	// (just-in-time provisioning, or a person who proved the account).
	AuditIdentityLinked = "user.identity_linked"
	// AuditIdentityUnlinked: a linked identity was removed.
	AuditIdentityUnlinked = "user.identity_unlinked"
	// AuditUserProvisioned: an account created just in time by a first
	// sign-in through an upstream provider.
	AuditUserProvisioned = "user.provisioned"
	// AuditFederatedLoginFailed: a sign-in through an upstream provider
	// was refused (bad state, a token that does not validate, an
	// unverified e-mail, provisioning off, a domain not allowed).
	AuditFederatedLoginFailed = "login.federation_failed"
	// AuditPasskeyAdded: a passkey (WebAuthn credential) was registered.
	AuditPasskeyAdded = "passkey.added"
	// AuditPasskeyRenamed: a passkey's name changed.
	AuditPasskeyRenamed = "passkey.renamed"
	// AuditPasskeyRemoved: a passkey was deleted.
	AuditPasskeyRemoved = "passkey.removed"
	// AuditPasskeyCloneDetected: an assertion's sign counter did not
	// advance: the authenticator may be cloned; the passkey is disabled.
	AuditPasskeyCloneDetected = "passkey.clone_detected"
)

// Permissions of a tenant's upstream identity providers.
const (
	// PermIdentityProvidersRead lists and reads providers (never a secret).
	PermIdentityProvidersRead = "identity.identity_providers.read"
	// PermIdentityProvidersCreate connects a provider.
	PermIdentityProvidersCreate = "identity.identity_providers.create"
	// PermIdentityProvidersUpdate changes one (its group → role mapping
	// grants roles: the one grant rule applies to every role it names).
	PermIdentityProvidersUpdate = "identity.identity_providers.update"
	// PermIdentityProvidersDelete removes one, unlinking its identities.
	PermIdentityProvidersDelete = "identity.identity_providers.delete"
)
