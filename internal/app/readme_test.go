package app

import (
	"os"
	"strings"
	"testing"
)

// Every environment variable identityd reads is documented in the README's
// table, and the README opens with exactly the two set-up commands.
func TestREADMEDocumentsConfiguration(t *testing.T) {
	b, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	readme := string(b)
	for _, v := range envVars {
		if !strings.Contains(readme, "| `"+v.name+"` |") {
			t.Errorf("README.md has no table row for %s", v.name)
		}
	}
	first := strings.SplitN(readme, "```sh\n", 2)
	if len(first) != 2 {
		t.Fatal("README.md does not open with a sh block")
	}
	block := strings.SplitN(first[1], "```", 2)[0]
	lines := strings.Split(strings.TrimSpace(block), "\n")
	if len(lines) != 2 || !strings.HasPrefix(lines[0], "go run ./cmd/identityd serve") || !strings.HasPrefix(lines[1], "go test ") {
		t.Errorf("README.md must open with the run and test commands, got %q", lines)
	}
}
