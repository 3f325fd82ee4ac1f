// Package exampletest holds what the examples' tests share: finding node
// and an example's node_modules, and the rule for when their absence skips
// a test.
package exampletest

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// RequireExamples is the variable that turns the skips of this package into
// failures (CI sets it, after npm ci).
const RequireExamples = "IDENTITY_REQUIRE_EXAMPLES"

// skip skips the test with msg, or fails it when IDENTITY_REQUIRE_EXAMPLES=1.
func skip(t testing.TB, msg string) {
	t.Helper()
	if os.Getenv(RequireExamples) == "1" {
		t.Fatal(msg + " (and " + RequireExamples + "=1 requires it)")
	}
	t.Skip(msg)
}

// NodeModules checks that dir (an example's directory, relative to the
// test's) has its npm packages installed, and returns its absolute path.
func NodeModules(t testing.TB, dir string) string {
	t.Helper()
	abs, err := filepath.Abs(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st, err := os.Stat(filepath.Join(abs, "node_modules")); err != nil || !st.IsDir() {
		skip(t, "run npm ci in examples/"+filepath.Base(abs)+": its node_modules is missing")
	}
	return abs
}

// Node is the path of the node binary.
func Node(t testing.TB) string {
	t.Helper()
	p, err := exec.LookPath("node")
	if err != nil {
		skip(t, "no node on PATH: install Node.js 20 or later to run this example's test")
	}
	return p
}

// TamperScope rewrites a JWT's scope claim to scope without re-signing it:
// a token every verifier must refuse.
func TamperScope(t testing.TB, token, scope string) string {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("tamper: not a JWT (%d parts)", len(parts))
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("tamper: payload: %v", err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatalf("tamper: claims: %v", err)
	}
	claims["scope"] = scope
	if payload, err = json.Marshal(claims); err != nil {
		t.Fatalf("tamper: encode: %v", err)
	}
	parts[1] = base64.RawURLEncoding.EncodeToString(payload)
	return strings.Join(parts, ".")
}
