package identity_test

import (
	"fmt"
	"go/ast"
	"go/token"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/identityd/identityd/identity"
)

// maxInterfaceMethods is the size a consumer-side interface may grow to
// (STYLE.md: small, about ten methods at most, embedding included).
const maxInterfaceMethods = 10

// typeOf is the reflect type of interface I.
func typeOf[I any]() reflect.Type { return reflect.TypeOf((*I)(nil)).Elem() }

// identityInterfaces lists every exported interface of package identity:
// the store dependencies of the services first, then the other
// collaborators. TestInterfacesAreSmall checks each one's full method set
// and that none is missing from here.
var identityInterfaces = []reflect.Type{
	// The stores.
	typeOf[identity.Tx](),
	typeOf[identity.AuditWriter](),
	typeOf[identity.EventWriter](),
	// Issue 12 §1: the upstream sign-in flow (and the foundation's counter).
	typeOf[identity.FederationProviderStore](),
	typeOf[identity.FederationStateStore](),
	typeOf[identity.FederationIdentityStore](),
	typeOf[identity.FederationRoleStore](),
	typeOf[identity.SignInMethodCounter](),
	// Issue 11 §3: webhooks.
	typeOf[identity.WebhookStore](),
	typeOf[identity.WebhookOwnerLookup](),
	// Issue 12 §1: identity providers, admin and account side.
	typeOf[identity.IdentityProviderStore](),
	typeOf[identity.RoleLookup](),
	typeOf[identity.LinkedIdentityStore](),
	typeOf[identity.UserLookup](),
	typeOf[identity.UserUpdater](),
	typeOf[identity.UserStateLookup](),
	typeOf[identity.EmailCodeStore](),
	typeOf[identity.RecoveryCodeStore](),
	typeOf[identity.CounterStore](),
	typeOf[identity.PINStore](),
	typeOf[identity.OneTimeCodeStore](),
	typeOf[identity.ChallengeStore](),
	typeOf[identity.BrowserSessionStore](),
	typeOf[identity.SessionStore](),
	typeOf[identity.SessionRevoker](),
	typeOf[identity.DeviceStore](),
	typeOf[identity.ActivityStore](),
	typeOf[identity.AuthzStore](),
	typeOf[identity.MailStore](),
	typeOf[identity.UserStore](),
	typeOf[identity.MembershipStore](),
	typeOf[identity.RoleStore](),
	typeOf[identity.PolicyStore](),
	typeOf[identity.ClientStore](),
	typeOf[identity.ServiceAccountStore](),
	typeOf[identity.APIKeyStore](),
	typeOf[identity.PushDeviceStore](),
	typeOf[identity.PushRemover](),
	typeOf[identity.InvitationStore](),
	typeOf[identity.InvitationPeople](),
	typeOf[identity.InvitationSignIn](),
	typeOf[identity.RegistrationStore](),
	typeOf[identity.VerificationStarter](),
	typeOf[identity.ConsentStore](),
	typeOf[identity.PrivacyStore](),
	typeOf[identity.ErasureStore](),
	typeOf[identity.TenantStore](),
	typeOf[identity.TenantGetter](),
	typeOf[identity.ImpersonationStore](),
	typeOf[identity.AuditLogStore](),
	typeOf[identity.PruneStore](),
	typeOf[identity.AuthenticatorStore](),
	typeOf[identity.EmailVerificationStore](),
	typeOf[identity.TenantDeletionStore](),
	typeOf[identity.RoleHolderLookup](),
	// Issue 12 §2: passkeys.
	typeOf[identity.PasskeyStore](),
	typeOf[identity.PasskeyRemover](),
	typeOf[identity.CeremonyStore](),
	typeOf[identity.SignInLocker](),
	// The other collaborators.
	typeOf[identity.Sealer](),
	typeOf[identity.Limiter](),
	typeOf[identity.Mailer](),
	typeOf[identity.SMSSender](),
	typeOf[identity.StepUpCache](),
	typeOf[identity.TokenIssuer](),
	typeOf[identity.TokenRevoker](),
	typeOf[identity.TokenIntrospector](),
	typeOf[identity.ImpersonationIssuer](),
	typeOf[identity.KeyedHasher](),
	typeOf[identity.SecretHasher](),
}

// tooBig names the interfaces of types with more than max methods in
// their method sets.
func tooBig(types []reflect.Type, max int) []string {
	var out []string
	for _, t := range types {
		if n := t.NumMethod(); n > max {
			out = append(out, fmt.Sprintf("%s (%d methods)", t.Name(), n))
		}
	}
	return out
}

// exportedInterfaces parses the package's non-test files in dir and
// returns the names of its exported interface types.
func exportedInterfaces(t *testing.T, dir string) []string {
	t.Helper()
	_, files := sourceFiles(t, dir)
	var names []string
	for _, file := range files {
		for _, decl := range file.Decls {
			gd, ok := decl.(*ast.GenDecl)
			if !ok || gd.Tok != token.TYPE {
				continue
			}
			for _, spec := range gd.Specs {
				ts := spec.(*ast.TypeSpec)
				if _, ok := ts.Type.(*ast.InterfaceType); ok && ts.Name.IsExported() {
					names = append(names, ts.Name.Name)
				}
			}
		}
	}
	return names
}

// TestInterfacesAreSmall: no interface a service declares for what it
// depends on (a store above all) has more than ten methods in its full
// method set, embedded interfaces included, and every exported interface
// of the package is in the table, so a new one is checked too.
func TestInterfacesAreSmall(t *testing.T) {
	t.Parallel()
	if big := tooBig(identityInterfaces, maxInterfaceMethods); len(big) > 0 {
		t.Errorf("interfaces over %d methods: %s; split them into small interfaces held by separate fields", maxInterfaceMethods, strings.Join(big, ", "))
	}
	listed := map[string]bool{}
	for _, it := range identityInterfaces {
		if it.Kind() != reflect.Interface || it.PkgPath() != "github.com/identityd/identityd/identity" {
			t.Errorf("%v is not an interface of package identity", it)
		}
		listed[it.Name()] = true
	}
	declared := exportedInterfaces(t, ".")
	var stores int
	for _, name := range declared {
		if strings.HasSuffix(name, "Store") {
			stores++
		}
		if !listed[name] {
			t.Errorf("exported interface %s is not in identityInterfaces: add it (its method set is checked there)", name)
		}
	}
	if stores == 0 || len(declared) < len(identityInterfaces) {
		t.Fatalf("parsed %d exported interfaces (%d stores), the table lists %d: the parse missed some", len(declared), stores, len(identityInterfaces))
	}
	for name := range listed {
		if !slices.Contains(declared, name) {
			t.Errorf("%s is in the table but not declared in the package's files", name)
		}
	}
}

// unionStore is the shape the check exists to refuse: small interfaces
// embedded into one big one.
type unionStore interface {
	identity.DeviceStore
	identity.SessionStore
	identity.ChallengeStore
}

// TestInterfacesAreSmallCatchesAUnion: the size check counts embedded
// methods, so a union of small interfaces fails it.
func TestInterfacesAreSmallCatchesAUnion(t *testing.T) {
	t.Parallel()
	big := tooBig([]reflect.Type{typeOf[unionStore](), typeOf[identity.DeviceStore]()}, maxInterfaceMethods)
	if len(big) != 1 || !strings.HasPrefix(big[0], "unionStore (14 methods)") {
		t.Fatalf("tooBig = %v, want only unionStore with 14 methods", big)
	}
}
