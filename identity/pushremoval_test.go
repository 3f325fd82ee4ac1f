package identity_test

import (
	"go/ast"
	"testing"
)

// callersOf returns, for every call of a method or function named name in
// the package's non-test files, the function it is made from.
func callersOf(t *testing.T, name string) []string {
	t.Helper()
	_, files := sourceFiles(t, ".")
	var out []string
	for _, file := range files {
		for _, decl := range file.Decls {
			fd, ok := decl.(*ast.FuncDecl)
			if !ok || fd.Body == nil {
				continue
			}
			ast.Inspect(fd.Body, func(n ast.Node) bool {
				call, ok := n.(*ast.CallExpr)
				if !ok {
					return true
				}
				switch fn := call.Fun.(type) {
				case *ast.SelectorExpr:
					if fn.Sel.Name == name {
						out = append(out, fd.Name.Name)
					}
				case *ast.Ident:
					if fn.Name == name {
						out = append(out, fd.Name.Name)
					}
				}
				return true
			})
		}
	}
	return out
}

// TestOnePushRemover: push registrations are deleted in one place,
// removePushDevices, which writes push_device.removed for each; and every
// use case that removes them goes through it (the end-to-end
// TestPushRegistrationRemovalPaths checks each of their routes).
func TestOnePushRemover(t *testing.T) {
	t.Parallel()
	if got := callersOf(t, "DeletePushDevices"); len(got) != 1 || got[0] != "removePushDevices" {
		t.Fatalf("DeletePushDevices is called from %v; only removePushDevices may call it (it audits each removal)", got)
	}
	want := map[string]bool{"Remove": true, "RevokeDevice": true, "Delete": true, "erase": true}
	for _, fn := range callersOf(t, "removePushDevices") {
		if !want[fn] {
			t.Errorf("removePushDevices is called from %s: add that path to TestPushRegistrationRemovalPaths and here", fn)
		}
		delete(want, fn)
	}
	for fn := range want {
		t.Errorf("%s no longer removes push registrations through removePushDevices", fn)
	}
}
