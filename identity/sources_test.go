package identity_test

import (
	"go/ast"
	"go/parser"
	"go/token"
	"path/filepath"
	"strings"
	"testing"
)

// sourceFile is one parsed non-test Go file of the tree.
type sourceFile struct {
	Name string // its path, as globbed
	*ast.File
}

// sourceFiles parses the non-test Go files of each dir (relative to this
// package), for the tests that read the code itself to keep a rule in one
// place; positions resolve through the returned FileSet.
func sourceFiles(t *testing.T, dirs ...string) (*token.FileSet, []sourceFile) {
	t.Helper()
	fset := token.NewFileSet()
	var out []sourceFile
	for _, dir := range dirs {
		names, err := filepath.Glob(filepath.Join(dir, "*.go"))
		if err != nil {
			t.Fatal(err)
		}
		for _, name := range names {
			if strings.HasSuffix(name, "_test.go") {
				continue
			}
			file, err := parser.ParseFile(fset, name, nil, parser.SkipObjectResolution)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, sourceFile{Name: name, File: file})
		}
	}
	return fset, out
}
