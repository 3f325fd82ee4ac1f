package layers_test

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/identityd/identityd/"

// rules are the imports each layer must not reach, directly or through
// another package: a prefix of the import path ("gorm.io/" is every GORM
// package). models may import the standard library only.
var rules = []struct {
	pkg       string
	forbidden []string
}{
	{"identity", []string{"github.com/labstack/echo", "gorm.io/", "github.com/ory/fosite", "github.com/redis/go-redis",
		module + "storage", module + "oauth", module + "handlers", module + "internal/app", module + "internal/apptest"}},
	{"oauth", []string{"github.com/labstack/echo", "gorm.io/", "github.com/redis/go-redis",
		module + "storage", module + "identity", module + "handlers", module + "internal/app", module + "internal/apptest"}},
	{"storage", []string{"github.com/labstack/echo", module + "oauth", module + "identity", module + "handlers",
		module + "internal/app", module + "internal/apptest"}},
	{"handlers", []string{"gorm.io/", "github.com/redis/go-redis", module + "storage", module + "internal/app", module + "internal/apptest"}},
	// internal/app is the one place that knows every layer (the wiring);
	// it and the binary never reach the test harness.
	{"internal/app", []string{module + "internal/apptest", module + "cmd/"}},
	{"cmd/identityd", []string{module + "internal/apptest"}},
	// The CLI's OAuth client speaks the protocol over HTTP only, like any
	// client of the server: it knows none of the server's layers.
	{"internal/oauthcli", []string{module + "storage", module + "oauth", module + "identity", module + "handlers",
		module + "internal/app", module + "internal/apptest", "gorm.io/", "github.com/ory/fosite"}},
}

// deps lists every package pkg depends on (go list -deps), without tests.
func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", module+pkg).Output()
	if err != nil {
		var stderr string
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = string(ee.Stderr)
		}
		t.Fatalf("go list -deps %s: %v\n%s", pkg, err, stderr)
	}
	return strings.Fields(string(out))
}

// matches reports whether import path p is prefix or lies below it.
func matches(p, prefix string) bool {
	if strings.HasSuffix(prefix, "/") {
		return strings.HasPrefix(p, prefix)
	}
	return p == prefix || strings.HasPrefix(p, prefix+"/")
}

func TestLayerImports(t *testing.T) {
	for _, r := range rules {
		t.Run(r.pkg, func(t *testing.T) {
			for _, d := range deps(t, r.pkg) {
				for _, f := range r.forbidden {
					if matches(d, f) {
						t.Errorf("%s depends on %s (forbidden: %s)", r.pkg, d, f)
					}
				}
			}
		})
	}
}

// TestModelsStandardLibraryOnly: models is plain data; every dependency is
// the standard library (no dot in the first path element) or models itself.
func TestModelsStandardLibraryOnly(t *testing.T) {
	for _, d := range deps(t, "models") {
		if d == module+"models" {
			continue
		}
		if first, _, _ := strings.Cut(d, "/"); strings.Contains(first, ".") {
			t.Errorf("models depends on %s: models may import the standard library only", d)
		}
	}
}

// TestRulesCanFail: the matcher sees a forbidden dependency, so the tests
// above cannot pass by matching nothing.
func TestRulesCanFail(t *testing.T) {
	found := false
	for _, d := range deps(t, "storage") {
		if matches(d, "gorm.io/") {
			found = true
		}
	}
	if !found {
		t.Fatal("storage shows no gorm.io dependency: the dependency list is not being read")
	}
	if matches(module+"storagex", module+"storage") || !matches(module+"storage/storagetest", module+"storage") {
		t.Fatal("matches treats path prefixes wrongly")
	}
}
