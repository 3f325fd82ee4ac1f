package quickstart

import (
	"fmt"
	"os"
	"regexp"
	"strings"
)

// The markers the README puts on the line right before a ```sh block the
// test does not run as it stands.
const (
	// markerServer: the command that starts the server. The test starts the
	// built binary with the variables that line sets.
	markerServer = "<!-- quickstart: the server; the test starts it with these variables -->"
	// markerBrowser: what a person does in the browser. The test signs in
	// itself, then sets the variable the block sets.
	markerBrowser = "<!-- quickstart: browser step, not run by the test -->"
)

// The two lines of the runnable blocks that the test rewrites; every other
// line runs exactly as the README prints it.
const (
	// aliasLine is dropped: identityd is on the shell's PATH as the binary
	// the test built.
	aliasLine = "alias identityd='go run ./cmd/identityd'"
	// addressLine gets the test server's address instead of the default one.
	addressLine = "IDENTITY=http://localhost:8000"
)

type blockKind int

const (
	runBlock blockKind = iota
	serverBlock
	browserBlock
)

// block is one ```sh code block of the quickstart.
type block struct {
	kind blockKind
	line int // the line of its opening fence in README.md, from 1
	text string
}

func (b block) String() string {
	return fmt.Sprintf("README.md line %d:\n%s", b.line, b.text)
}

// quickstartBlocks reads the ```sh blocks of the README's "## Five-minute
// quickstart" section (up to the next "## " heading), in order.
func quickstartBlocks(readmePath string) ([]block, error) {
	raw, err := os.ReadFile(readmePath)
	if err != nil {
		return nil, fmt.Errorf("read the README: %w", err)
	}
	lines := strings.Split(string(raw), "\n")
	start := -1
	for i, l := range lines {
		if l == "## Five-minute quickstart" {
			start = i
			break
		}
	}
	if start < 0 {
		return nil, fmt.Errorf("%s has no \"## Five-minute quickstart\" heading", readmePath)
	}
	var (
		blocks []block
		cur    *block
		fenced bool // inside a code block that is not ```sh
		body   []string
	)
	for i := start + 1; i < len(lines); i++ {
		l := lines[i]
		switch {
		case cur != nil:
			if strings.TrimSpace(l) == "```" {
				cur.text = strings.Join(body, "\n") + "\n"
				blocks = append(blocks, *cur)
				cur, body = nil, nil
				continue
			}
			body = append(body, l)
		case fenced:
			if strings.HasPrefix(strings.TrimSpace(l), "```") {
				fenced = false
			}
		case strings.HasPrefix(l, "## "):
			i = len(lines)
		case l == "```sh":
			kind, err := markerBefore(lines, i)
			if err != nil {
				return nil, err
			}
			cur = &block{kind: kind, line: i + 1}
		case strings.HasPrefix(strings.TrimSpace(l), "```"):
			fenced = true
		}
	}
	if cur != nil {
		return nil, fmt.Errorf("README.md line %d: a ```sh block that never ends", cur.line)
	}
	return blocks, nil
}

// markerBefore is the kind the marker on the line before the fence at
// lines[i] gives (none: a block the test runs).
func markerBefore(lines []string, i int) (blockKind, error) {
	if i == 0 {
		return runBlock, nil
	}
	prev := strings.TrimSpace(lines[i-1])
	switch {
	case prev == markerServer:
		return serverBlock, nil
	case prev == markerBrowser:
		return browserBlock, nil
	case strings.HasPrefix(prev, "<!-- quickstart"):
		return 0, fmt.Errorf("README.md line %d: unknown marker %q (the test knows %q and %q)", i, prev, markerServer, markerBrowser)
	}
	return runBlock, nil
}

// envAssignment is one NAME=value word at the start of a command.
var envAssignment = regexp.MustCompile(`^([A-Z][A-Z0-9_]*)=(\S*)$`)

// serverEnv parses the server block: one line, "[NAME=value ...] go run
// ./cmd/identityd serve", and returns the variables it sets.
func serverEnv(b block) (map[string]string, error) {
	line := strings.TrimSpace(b.text)
	if strings.Contains(line, "\n") {
		return nil, fmt.Errorf("the server block is one command line, got %s", b)
	}
	words := strings.Fields(line)
	env := map[string]string{}
	for len(words) > 0 {
		m := envAssignment.FindStringSubmatch(words[0])
		if m == nil {
			break
		}
		env[m[1]] = m[2]
		words = words[1:]
	}
	if strings.Join(words, " ") != "go run ./cmd/identityd serve" {
		return nil, fmt.Errorf("the server block must be [NAME=value ...] go run ./cmd/identityd serve, got %s", b)
	}
	return env, nil
}

// rewrite applies the test's two rewrites (aliasLine dropped, addressLine
// pointed at base) to the runnable blocks, and checks that each of those
// lines appears exactly once and that no other line names the default
// address, so nothing the README prints reaches a server other than the
// test's.
func rewrite(blocks []block, base string) ([]block, error) {
	out := make([]block, len(blocks))
	seen := map[string]int{}
	for i, b := range blocks {
		out[i] = b
		if b.kind != runBlock {
			continue
		}
		lines := strings.Split(b.text, "\n")
		for j, l := range lines {
			switch strings.TrimSpace(l) {
			case aliasLine:
				seen[aliasLine]++
				lines[j] = ""
			case addressLine:
				seen[addressLine]++
				lines[j] = "IDENTITY=" + base
			default:
				if strings.Contains(l, "localhost:8000") {
					return nil, fmt.Errorf("README.md near line %d: %q names the default address; use $IDENTITY", b.line, l)
				}
			}
		}
		out[i].text = strings.Join(lines, "\n")
	}
	for _, l := range []string{aliasLine, addressLine} {
		if seen[l] != 1 {
			return nil, fmt.Errorf("the quickstart's blocks must hold the line %q exactly once, found %d", l, seen[l])
		}
	}
	return out, nil
}

// configVariables are the variables of the README's configuration table
// (`internal/app`'s readme test keeps it complete): the test's processes get
// none of them from the environment the test runs in.
func configVariables(readmePath string) ([]string, error) {
	raw, err := os.ReadFile(readmePath)
	if err != nil {
		return nil, fmt.Errorf("read the README: %w", err)
	}
	var names []string
	for _, m := range regexp.MustCompile("(?m)^\\| `([A-Z][A-Z0-9_]*)` \\|").FindAllStringSubmatch(string(raw), -1) {
		names = append(names, m[1])
	}
	if len(names) == 0 {
		return nil, fmt.Errorf("%s has no configuration table", readmePath)
	}
	return names, nil
}
