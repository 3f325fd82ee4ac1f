package identity_test

import (
	"context"
	"encoding/json"
	"errors"
	"go/ast"
	"go/token"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/identityd/identityd/identity"
	"github.com/identityd/identityd/storage"
	"github.com/identityd/identityd/storage/storagetest"
)

// stringConsts returns the string constants of the identity sources whose
// names start with prefix, name -> value: parsed from the code, so a new
// constant is seen without anyone listing it.
func stringConsts(t *testing.T, prefix string) map[string]string {
	t.Helper()
	_, files := sourceFiles(t, ".")
	out := map[string]string{}
	for _, f := range files {
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.CONST {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				for i, n := range vs.Names {
					if !strings.HasPrefix(n.Name, prefix) || i >= len(vs.Values) {
						continue
					}
					lit, ok := vs.Values[i].(*ast.BasicLit)
					if !ok || lit.Kind != token.STRING {
						continue
					}
					v, err := strconv.Unquote(lit.Value)
					if err != nil {
						t.Fatal(err)
					}
					out[n.Name] = v
				}
			}
		}
	}
	return out
}

// eventTypeConsts are the Event* constants that are event types.
func eventTypeConsts(t *testing.T) map[string]string {
	t.Helper()
	out := map[string]string{}
	for n, v := range stringConsts(t, "Event") {
		if strings.HasPrefix(v, "identity.") {
			out[n] = v
		}
	}
	if len(out) < 40 {
		t.Fatalf("found only %d event types: the parse is broken", len(out))
	}
	return out
}

var (
	docHeading = regexp.MustCompile("(?m)^### (identity\\.[a-z0-9_.]+)\\s*$")
	docJSON    = regexp.MustCompile("(?s)```json\n(.*?)\n```")
)

// TestEveryEventTypeDocumented: every event type constant has its section
// in docs/events.md with a JSON example that parses, is a CloudEvents 1.0
// envelope and names that type; every documented type is a constant.
func TestEveryEventTypeDocumented(t *testing.T) {
	raw, err := os.ReadFile("../docs/events.md")
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	consts := eventTypeConsts(t)
	known := map[string]bool{}
	for _, v := range consts {
		known[v] = true
	}
	heads := docHeading.FindAllStringSubmatchIndex(doc, -1)
	documented := map[string]bool{}
	for i, h := range heads {
		typ := doc[h[2]:h[3]]
		end := len(doc)
		if i+1 < len(heads) {
			end = heads[i+1][0]
		}
		if !known[typ] {
			t.Errorf("docs/events.md documents %s, which is no event type constant", typ)
		}
		if documented[typ] {
			t.Errorf("%s documented twice", typ)
		}
		documented[typ] = true
		section := doc[h[1]:end]
		if !strings.Contains(section, "| data field |") {
			t.Errorf("%s: no data fields table", typ)
		}
		m := docJSON.FindStringSubmatch(section)
		if m == nil {
			t.Errorf("%s: no JSON example", typ)
			continue
		}
		var ev map[string]any
		if err := json.Unmarshal([]byte(m[1]), &ev); err != nil {
			t.Errorf("%s: the example does not parse: %v", typ, err)
			continue
		}
		if ev["type"] != typ {
			t.Errorf("%s: the example's type is %v", typ, ev["type"])
		}
		if ev["specversion"] != "1.0" || ev["datacontenttype"] != "application/json" {
			t.Errorf("%s: the example is not a CloudEvents 1.0 JSON envelope: %v", typ, ev)
		}
		for _, k := range []string{"id", "source", "time", "subject", "tenantid"} {
			if _, ok := ev[k]; !ok {
				t.Errorf("%s: the example has no %s", typ, k)
			}
		}
		if _, ok := ev["data"].(map[string]any); !ok {
			t.Errorf("%s: the example's data is not an object", typ)
		}
		ex := identity.ExchangeOf(typ)
		if !strings.Contains(doc, "`"+ex+"`") {
			t.Errorf("%s: exchange %s not documented", typ, ex)
		}
	}
	for n, v := range consts {
		if !documented[v] {
			t.Errorf("%s (%s) is not documented in docs/events.md (a ### %s section with an example)", n, v, v)
		}
	}
}

// notEvents are the audit actions that publish no event, each with why. A
// new audit action must be mapped to events (identity/events.go) or listed
// here: TestEveryAuditActionDecided fails until one is done.
var notEvents = map[string]string{
	identity.Audit2FAVerified:           "a step of a sign-in: identity.login.succeeded follows",
	identity.Audit2FAFailed:             "a failed step of a sign-in: nothing changed (the login's own failures are identity.login.failed)",
	identity.Audit2FARecoveryUsed:       "a step of a sign-in; the recovery code is spent, nothing other services hold",
	identity.Audit2FARecoveryRegen:      "new recovery codes: secrets of the user's alone",
	identity.AuditPINVerified:           "a check, not a change",
	identity.AuditPINFailed:             "a failed check; the lock it may reach is identity.pin.locked",
	identity.AuditDeviceAdded:           "the device of a new session: identity.session.created names it",
	identity.AuditRefreshReuse:          "an OAuth grant revoked for refresh-token reuse: no device session or account changes",
	identity.AuditStepUp:                "an elevation of a session for minutes, not a change of state",
	identity.AuditImpersonationStarted:  "audit only: the impersonated user's changes name the admin as actor",
	identity.AuditImpersonated:          "audit only (see admin.impersonation_started)",
	identity.AuditExported:              "a read (the audit log exported)",
	identity.AuditUserExported:          "a read (users exported)",
	identity.AuditUserDataExported:      "a read (the person's own data exported)",
	identity.AuditClientUpdated:         "not among the issue's client events (created, secret rotated, deleted)",
	identity.AuditServiceAccountUpdated: "not among the issue's service-account events (created, rotated, revoked)",
	identity.AuditRoleCreated:           "the permission model's definitions: consumers hear assignments (role.assigned/removed)",
	identity.AuditRoleUpdated:           "the permission model's definitions (see role.created)",
	identity.AuditRoleDeleted:           "the permission model's definitions (see role.created)",
	identity.AuditPolicyCreated:         "the permission model's definitions (see role.created)",
	identity.AuditPolicyUpdated:         "the permission model's definitions (see role.created)",
	identity.AuditPolicyDeleted:         "the permission model's definitions (see role.created)",
	identity.AuditConsentRevoked:        "an OAuth consent of the user's, not an account or session change",
	identity.AuditEmailChangeRequested:  "nothing changes until the new address is proven (then user.updated and user.verified)",
	identity.AuditInvitationResent:      "the same invitation with a new link: its created event stands",
	identity.AuditOTPGenerated:          "a one-time code sent: a secret's life, nothing other services hold",
	identity.AuditOTPVerified:           "a check, not a change",
	identity.AuditOTPFailed:             "a failed check",
	identity.AuditPushDeviceRegistered:  "a push registration (a token of the user's phone), not a device session",
	identity.AuditPushDeviceRemoved:     "a push registration removed (see push_device.registered)",
	identity.AuditWebhookCreated:        "a tenant's delivery configuration, not an account, session or access change (audited)",
	identity.AuditWebhookUpdated:        "a tenant's delivery configuration (see webhook.created)",
	identity.AuditWebhookDeleted:        "a tenant's delivery configuration (see webhook.created)",
	identity.AuditWebhookSecretRotated:  "a signing secret's life: nothing other services hold (audited)",
	identity.AuditWebhookDisabled:       "the delivery worker's own state; the Owners are mailed and it is audited",
}

// TestEveryAuditActionDecided: every Audit* constant of the identity
// sources either publishes events by default or is in notEvents with a
// reason; none is both.
func TestEveryAuditActionDecided(t *testing.T) {
	actions := stringConsts(t, "Audit")
	if len(actions) < 60 {
		t.Fatalf("found only %d audit actions: the parse is broken", len(actions))
	}
	byValue := map[string]string{}
	for n, v := range actions {
		byValue[v] = n
	}
	for n, v := range actions {
		mapped := identity.EventTypesOf(v)
		_, listed := notEvents[v]
		switch {
		case len(mapped) == 0 && !listed:
			t.Errorf("%s (%q) publishes no event and is not in notEvents: map it in identity/events.go or say why not", n, v)
		case len(mapped) > 0 && listed:
			t.Errorf("%s (%q) is both mapped to %v and listed as no event", n, v, mapped)
		}
		for _, typ := range mapped {
			if !strings.HasPrefix(typ, "identity.") {
				t.Errorf("%s maps to %q, not an event type", n, typ)
			}
		}
	}
	for v, reason := range notEvents {
		if strings.TrimSpace(reason) == "" {
			t.Errorf("notEvents gives %q no reason", v)
		}
		if _, ok := byValue[v]; !ok {
			t.Errorf("notEvents lists %q, which is no audit action", v)
		}
	}
	// Every event type is published by some action (or named by a use
	// case through Event.Publish, listed here).
	// identity.webhook.test never enters the outbox: POST
	// /api/webhooks/{id}/test queues it for that one webhook.
	published := map[string]bool{identity.EventUserReactivated: true, identity.EventPasswordReset: true,
		identity.EventWebhookTest: true}
	for _, v := range actions {
		for _, typ := range identity.EventTypesOf(v) {
			published[typ] = true
		}
	}
	for n, typ := range eventTypeConsts(t) {
		if !published[typ] {
			t.Errorf("%s (%s) is published by no audit action", n, typ)
		}
	}
}

// failAfterTx is a Tx that runs fn in storage's transaction and then fails,
// as a change would whose last step failed after its audit row was written.
type failAfterTx struct{ st *storage.Store }

var errForced = errors.New("forced failure after the audit row")

func (f failAfterTx) InTx(ctx context.Context, fn func(ctx context.Context) error) error {
	return f.st.InTx(ctx, func(ctx context.Context) error {
		if err := fn(ctx); err != nil {
			return err
		}
		return errForced
	})
}

// TestEventsRollBackWithTheChange: a change that fails after its audit row
// and events were written inside the transaction leaves neither; the same
// change committed leaves both (the control).
func TestEventsRollBackWithTheChange(t *testing.T) {
	for _, b := range storagetest.Backends(t) {
		t.Run(b.Name, func(t *testing.T) {
			e := newDirEnv(t, b)
			ctx := t.Context()
			audit := identity.Auditor{Store: e.st, Events: e.st, Source: "https://id.test"}
			users := func(tx identity.Tx) *identity.Users {
				u, err := identity.NewUsers(identity.UsersDeps{Store: e.st, Memberships: e.st, Tx: tx, Auditor: audit, PasswordCost: bcrypt.MinCost, Push: e.st, Passkeys: e.st})
				if err != nil {
					t.Fatal(err)
				}
				return u
			}
			target := e.user(t, "acme", "target@acme.example", identity.RoleMember)
			before := countEvents(t, e.st, "")
			if _, err := users(failAfterTx{e.st}).Deactivate(ctx, e.owner, target.ID); !errors.Is(err, errForced) {
				t.Fatalf("deactivate: %v, want the forced failure", err)
			}
			if n := e.auditCount(t, identity.AuditUserDeactivated, target.ID); n != 0 {
				t.Errorf("%d audit rows after the rollback", n)
			}
			if n := countEvents(t, e.st, ""); n != before {
				t.Errorf("%d events after the rollback, want %d", n, before)
			}
			u, err := e.st.GetUser(ctx, target.TenantID, target.ID)
			if err != nil || !u.IsActive {
				t.Fatalf("the user changed despite the rollback: %v %+v", err, u)
			}
			// The control: committed, the audit row and both events exist.
			if _, err := users(e.st).Deactivate(ctx, e.owner, target.ID); err != nil {
				t.Fatal(err)
			}
			if n := e.auditCount(t, identity.AuditUserDeactivated, target.ID); n != 1 {
				t.Errorf("%d audit rows after the commit", n)
			}
			if n := countEvents(t, e.st, identity.EventUserDeactivated); n != 1 {
				t.Errorf("%d user.deactivated events after the commit", n)
			}
			if n := countEvents(t, e.st, identity.EventSessionsRevoked); n != 1 {
				t.Errorf("%d session.revoked_all events after the commit", n)
			}
		})
	}
}

// countEvents counts the outbox rows of typ ("": all).
func countEvents(t *testing.T, st *storage.Store, typ string) int {
	t.Helper()
	db, err := st.SQLDB()
	if err != nil {
		t.Fatal(err)
	}
	q, args := "SELECT count(*) FROM events", []any{}
	if typ != "" {
		q, args = q+" WHERE type = $1", []any{typ}
	}
	var n int
	if err := db.QueryRow(q, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}
