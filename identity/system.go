package identity

// PrincipalSystem is the Kind of the system principal: the operator at the
// command line (identityd tenants|users|clients create), who has the
// database in hand and so every permission. It goes through the same
// service methods, validation and audit as the API; the audit log names it
// SystemActorID.
const PrincipalSystem = "system"

// SystemActorID is the actor_id of what the command line did.
const SystemActorID = "system:cli"

// SystemPrincipal is the command line acting in tenantID ("" for none).
func SystemPrincipal(tenantID string) Principal {
	return Principal{Kind: PrincipalSystem, SystemAdmin: true, TenantID: tenantID, UserID: SystemActorID}
}

// SystemActor is SystemPrincipal as the Actor every service takes, with
// SystemMeta.
func SystemActor(tenantID string) Actor {
	return Actor{Principal: SystemPrincipal(tenantID), Meta: SystemMeta()}
}

// SystemMeta is where a command-line action comes from, for the audit log.
func SystemMeta() Meta { return Meta{UserAgent: "identityd (command line)"} }
