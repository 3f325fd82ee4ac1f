package identity_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// configuresTOTPOrEmail are the functions that may ask
// models.User.TwoFactorEnabled (is TOTP or are e-mail codes configured?):
// they turn those factors on or off. Every other question of whether a
// user has a second factor asks HasSecondFactor, which counts passkeys
// too; a passkey-only user was once refused new recovery codes and shown
// to admins without two-step verification because two places asked the
// narrower question.
var configuresTOTPOrEmail = map[string]bool{
	"HasSecondFactor": true, // the rule itself (models)
	"loadEnrolment":   true, // a forced enrolment of TOTP or e-mail codes
	"enrol":           true,
	"Disable":         true, // turns TOTP and e-mail codes off
	"EnableEmail":     true, // turns e-mail codes on
}

// TestOneSecondFactorRule fails for a call of TwoFactorEnabled outside the
// functions that configure TOTP or e-mail codes, in every package that
// serves requests.
func TestOneSecondFactorRule(t *testing.T) {
	fset := token.NewFileSet()
	found := 0
	for _, dir := range []string{".", "../handlers", "../oauth", "../models", "../internal/app"} {
		files, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, path := range files {
			if strings.HasSuffix(path, "_test.go") {
				continue
			}
			src, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			f, err := parser.ParseFile(fset, path, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			for _, d := range f.Decls {
				fn, ok := d.(*ast.FuncDecl)
				if !ok || fn.Body == nil {
					continue
				}
				ast.Inspect(fn.Body, func(n ast.Node) bool {
					call, ok := n.(*ast.CallExpr)
					if !ok {
						return true
					}
					sel, ok := call.Fun.(*ast.SelectorExpr)
					if !ok || sel.Sel.Name != "TwoFactorEnabled" {
						return true
					}
					found++
					if !configuresTOTPOrEmail[fn.Name.Name] {
						t.Errorf("%s: %s asks TwoFactorEnabled; ask HasSecondFactor (passkeys are a second factor too)", fset.Position(call.Pos()), fn.Name.Name)
					}
					return true
				})
			}
		}
	}
	if found < 3 {
		t.Fatalf("found only %d calls of TwoFactorEnabled: the parse is broken", found)
	}
}
