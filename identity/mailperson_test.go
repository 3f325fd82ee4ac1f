package identity_test

import (
	"go/ast"
	"testing"
)

// TestMessagesNameTheirPerson: every e-mail the services build names the
// tenant it is for (a Message literal with TenantID), so the outbox can
// find it when the person is erased. A message to a user should name the
// user too (UserID); one to an address without an account (an invitation)
// is found by the keyed hash of its address within the tenant.
func TestMessagesNameTheirPerson(t *testing.T) {
	t.Parallel()
	fset, files := sourceFiles(t, ".")
	seen := 0
	for _, file := range files {
		ast.Inspect(file.File, func(n ast.Node) bool {
			lit, ok := n.(*ast.CompositeLit)
			if !ok {
				return true
			}
			if id, ok := lit.Type.(*ast.Ident); !ok || id.Name != "Message" {
				return true
			}
			seen++
			for _, el := range lit.Elts {
				if kv, ok := el.(*ast.KeyValueExpr); ok {
					if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "TenantID" {
						return true
					}
				}
			}
			t.Errorf("%s: a Message without TenantID: erasure could not withdraw it from the outbox", fset.Position(lit.Pos()))
			return true
		})
	}
	if seen < 5 {
		t.Fatalf("found %d Message literals: the scan missed them", seen)
	}
}
