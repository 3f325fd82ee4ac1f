package identity_test

import (
	"go/ast"
	"path/filepath"
	"testing"
)

// TestEmailIsSetOnlyThroughSetEmail keeps the rule "an address set without
// proof is unverified" in one place: in the packages that change users
// (identity, handlers, oauth, the CLI), nothing assigns a user's Email or
// EmailVerified but identity's setEmail, which takes whether the address
// was proved; and a new user is built verified only where the address was
// proved (an accepted invitation). A new place that sets an address fails
// here until it goes through setEmail.
func TestEmailIsSetOnlyThroughSetEmail(t *testing.T) {
	t.Parallel()
	provedAtCreation := map[string]bool{"invitations.go": true}
	fset, files := sourceFiles(t, ".", "../handlers", "../oauth", "../cmd/identityd")
	for _, file := range files {
		name, dir := file.Name, filepath.Dir(file.Name)
		for _, decl := range file.Decls {
			fn, ok := decl.(*ast.FuncDecl)
			if !ok || fn.Body == nil || (dir == "." && fn.Name.Name == "setEmail") {
				continue
			}
			ast.Inspect(fn.Body, func(n ast.Node) bool {
				switch n := n.(type) {
				case *ast.AssignStmt:
					for _, lhs := range n.Lhs {
						if sel, ok := lhs.(*ast.SelectorExpr); ok && (sel.Sel.Name == "Email" || sel.Sel.Name == "EmailVerified") {
							t.Errorf("%s: %s assigns .%s directly; use setEmail (an address set without proof is unverified)",
								fset.Position(n.Pos()), fn.Name.Name, sel.Sel.Name)
						}
					}
				case *ast.CompositeLit:
					if sel, ok := n.Type.(*ast.SelectorExpr); ok && sel.Sel.Name == "User" {
						for _, el := range n.Elts {
							if kv, ok := el.(*ast.KeyValueExpr); ok {
								if k, ok := kv.Key.(*ast.Ident); ok && k.Name == "EmailVerified" && !provedAtCreation[filepath.Base(name)] {
									t.Errorf("%s: %s creates a user with EmailVerified set where nothing proved the address",
										fset.Position(n.Pos()), fn.Name.Name)
								}
							}
						}
					}
				}
				return true
			})
		}
	}
}
