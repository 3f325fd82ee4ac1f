package packaging

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// commands are the identityd commands a deployment runs, with the flags
// each may be given. The build test checks the built binary's help names
// them, so a renamed command fails here too.
var commands = map[string][]string{
	"serve":   {"--no-worker"},
	"worker":  nil,
	"migrate": nil,
}

// commandProblem says what is wrong with args as an identityd command line
// ("" when it is a real one).
func commandProblem(args []string) string {
	if len(args) == 0 {
		return "no command"
	}
	flags, ok := commands[args[0]]
	if !ok {
		return "unknown command " + args[0]
	}
	for _, a := range args[1:] {
		if !slices.Contains(flags, a) {
			return args[0] + " has no argument " + a
		}
	}
	return ""
}

func TestCommandProblemCatchesFakes(t *testing.T) {
	tests := []struct {
		args []string
		ok   bool
	}{
		{[]string{"serve"}, true},
		{[]string{"serve", "--no-worker"}, true},
		{[]string{"worker"}, true},
		{[]string{"migrate"}, true},
		{nil, false},
		{[]string{"server"}, false},
		{[]string{"worker", "--no-worker"}, false},
		{[]string{"serve", "--workers=0"}, false},
	}
	for _, tt := range tests {
		if got := commandProblem(tt.args) == ""; got != tt.ok {
			t.Errorf("commandProblem(%q) accepted = %v, want %v", tt.args, got, tt.ok)
		}
	}
}

type composeFile struct {
	Services map[string]struct {
		Image       string    `yaml:"image"`
		Build       yaml.Node `yaml:"build"`
		Command     yaml.Node `yaml:"command"`
		Environment yaml.Node `yaml:"environment"`
		EnvFile     yaml.Node `yaml:"env_file"`
	} `yaml:"services"`
}

// composeEnvNames returns the variable names an environment: node sets, in
// either of compose's forms (a mapping, or a list of NAME=value).
func composeEnvNames(t *testing.T, n yaml.Node) []string {
	t.Helper()
	var names []string
	switch n.Kind {
	case 0:
	case yaml.MappingNode:
		for i := 0; i < len(n.Content); i += 2 {
			names = append(names, n.Content[i].Value)
		}
	case yaml.SequenceNode:
		for _, item := range n.Content {
			names = append(names, strings.SplitN(item.Value, "=", 2)[0])
		}
	default:
		t.Fatalf("environment at line %d is neither a mapping nor a list", n.Line)
	}
	return names
}

// composeCommand returns a command: node as arguments (a list, or a string
// split on spaces as compose does for simple strings).
func composeCommand(t *testing.T, n yaml.Node) []string {
	t.Helper()
	switch n.Kind {
	case 0:
		return nil
	case yaml.ScalarNode:
		return strings.Fields(n.Value)
	case yaml.SequenceNode:
		var args []string
		if err := n.Decode(&args); err != nil {
			t.Fatalf("command at line %d: %v", n.Line, err)
		}
		return args
	}
	t.Fatalf("command at line %d is neither a string nor a list", n.Line)
	return nil
}

// identitydServices are the compose services that run identityd: built
// from this repository's Dockerfile, or from an identityd image.
func identitydServices(t *testing.T, c composeFile) []string {
	var names []string
	for name, s := range c.Services {
		if s.Build.Kind != 0 || strings.Contains(s.Image, "identityd") {
			names = append(names, name)
		}
	}
	slices.Sort(names)
	if len(names) == 0 {
		t.Fatal("docker-compose.yml has no identityd service (build: or an identityd image)")
	}
	return names
}

func TestComposeFile(t *testing.T) {
	var c composeFile
	if err := yaml.Unmarshal([]byte(readFile(t, "docker-compose.yml")), &c); err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	for _, want := range []string{"identityd", "postgres", "redis", "rabbitmq"} {
		if _, ok := c.Services[want]; !ok {
			t.Errorf("docker-compose.yml has no %s service", want)
		}
	}
	chk := newChecker()
	dockerfileCmd := dockerfileDefaultCommand(t)
	for _, name := range identitydServices(t, c) {
		s := c.Services[name]
		if bad := chk.unknown(composeEnvNames(t, s.Environment)); len(bad) > 0 {
			t.Errorf("service %s sets variables identityd does not read: %q", name, bad)
		}
		args := composeCommand(t, s.Command)
		if args == nil {
			args = dockerfileCmd
		}
		if p := commandProblem(args); p != "" {
			t.Errorf("service %s runs %q: %s", name, args, p)
		}
	}
	// The compose file names the database, Redis and RabbitMQ services it
	// also defines.
	env := c.Services["identityd"].Environment
	var vals map[string]string
	if err := env.Decode(&vals); err != nil {
		t.Fatalf("identityd environment: %v", err)
	}
	for v, host := range map[string]string{"DATABASE_URL": "@postgres:", "REDIS_URL": "//redis:", "RABBITMQ_URL": "@rabbitmq:"} {
		if !strings.Contains(vals[v], host) {
			t.Errorf("identityd's %s = %q does not point at the compose service (%s)", v, vals[v], host)
		}
	}
}

// The checker of the compose test refuses a variable identityd does not
// read: a compose file with one fails.
func TestComposeCheckCatchesFakeVariable(t *testing.T) {
	const fake = `services:
  identityd:
    build: .
    environment:
      DATABASE_URL: postgres://x@postgres/identity
      IDENTITY_DATABASE_URL: postgres://x@postgres/identity
    command: ["serve"]
`
	var c composeFile
	if err := yaml.Unmarshal([]byte(fake), &c); err != nil {
		t.Fatal(err)
	}
	got := newChecker().unknown(composeEnvNames(t, c.Services["identityd"].Environment))
	if !slices.Equal(got, []string{"IDENTITY_DATABASE_URL"}) {
		t.Errorf("unknown = %q, want [IDENTITY_DATABASE_URL]", got)
	}
	list := yaml.Node{Kind: yaml.SequenceNode, Content: []*yaml.Node{{Kind: yaml.ScalarNode, Value: "IDENTITY_ADR=0.0.0.0:8000"}}}
	if got := newChecker().unknown(composeEnvNames(t, list)); !slices.Equal(got, []string{"IDENTITY_ADR"}) {
		t.Errorf("list form: unknown = %q, want [IDENTITY_ADR]", got)
	}
}

// dockerInstruction is one Dockerfile instruction with its continuation
// lines joined.
type dockerInstruction struct{ op, args string }

func parseDockerfile(t *testing.T, text string) []dockerInstruction {
	t.Helper()
	var out []dockerInstruction
	var cur strings.Builder
	flush := func() {
		line := strings.TrimSpace(cur.String())
		cur.Reset()
		if line == "" {
			return
		}
		op, args, _ := strings.Cut(line, " ")
		out = append(out, dockerInstruction{strings.ToUpper(op), strings.TrimSpace(args)})
	}
	for _, line := range strings.Split(text, "\n") {
		trimmed := strings.TrimSpace(line)
		if strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.HasSuffix(trimmed, "\\") {
			cur.WriteString(strings.TrimSuffix(trimmed, "\\") + " ")
			continue
		}
		cur.WriteString(trimmed)
		flush()
	}
	flush()
	return out
}

// execForm decodes a JSON-array (exec form) instruction argument.
func execForm(t *testing.T, in dockerInstruction) []string {
	t.Helper()
	var args []string
	if err := json.Unmarshal([]byte(in.args), &args); err != nil {
		t.Fatalf("%s %s: use the exec (JSON array) form: %v", in.op, in.args, err)
	}
	return args
}

// dockerfileDefaultCommand is what the image runs without arguments: its
// CMD after an ENTRYPOINT that must be identityd.
func dockerfileDefaultCommand(t *testing.T) []string {
	t.Helper()
	var entry, cmd []string
	for _, in := range parseDockerfile(t, readFile(t, "Dockerfile")) {
		switch in.op {
		case "ENTRYPOINT":
			entry = execForm(t, in)
		case "CMD":
			cmd = execForm(t, in)
		}
	}
	if len(entry) != 1 || filepath.Base(entry[0]) != "identityd" {
		t.Fatalf("Dockerfile ENTRYPOINT = %q, want the identityd binary alone", entry)
	}
	return cmd
}

func TestDockerfileBuildsTheRelease(t *testing.T) {
	ins := parseDockerfile(t, readFile(t, "Dockerfile"))
	vars := buildinfoVariables(t)
	args := map[string]bool{}
	var build []string
	for _, in := range ins {
		switch in.op {
		case "ARG":
			name, _, _ := strings.Cut(in.args, "=")
			args[name] = true
		case "RUN":
			if strings.Contains(in.args, "go build") || strings.Contains(in.args, "scripts/build.sh") {
				build = append(build, in.args)
			}
		}
	}
	if len(build) != 1 {
		t.Fatalf("Dockerfile has %d RUN lines that build identityd, want 1: %q", len(build), build)
	}
	run := build[0]
	if strings.Contains(run, "scripts/build.sh") {
		// One definition: the script's flags are the release's.
		if p := releaseFlagProblems(readFile(t, "scripts/build.sh"), vars); len(p) > 0 {
			t.Errorf("scripts/build.sh lacks %q", p)
		}
	} else if p := releaseFlagProblems(run, vars); len(p) > 0 {
		t.Errorf("the Dockerfile's build lacks %q: %s", p, run)
	}
	for _, v := range []string{"VERSION", "COMMIT", "DATE"} {
		if !args[v] {
			t.Errorf("Dockerfile has no ARG %s", v)
		}
		if !strings.Contains(run, "$"+v) {
			t.Errorf("the Dockerfile's build does not pass $%s: %s", v, run)
		}
	}
	if cmd := dockerfileDefaultCommand(t); !slices.Equal(cmd, []string{"serve"}) {
		t.Errorf("Dockerfile CMD = %q, want [serve]", cmd)
	}
	var user string
	for _, in := range ins {
		if in.op == "USER" {
			user = in.args
		}
	}
	if user == "" || strings.HasPrefix(user, "root") || strings.HasPrefix(user, "0") {
		t.Errorf("Dockerfile's final USER = %q, want a non-root user", user)
	}
}

func TestDockerfileCheckCatchesAPlainBuild(t *testing.T) {
	run := `CGO_ENABLED=0 go build -ldflags="-s -w" -o /out/identityd ./cmd/identityd`
	p := releaseFlagProblems(run, []string{"Version", "Commit", "Date"})
	for _, want := range []string{"-trimpath", "-X " + buildinfoPkg + ".Version=…"} {
		if !slices.Contains(p, want) {
			t.Errorf("problems %q do not name %s", p, want)
		}
	}
}

var envLine = regexp.MustCompile(`^#?\s*([A-Za-z_][A-Za-z0-9_]*)=`)

func TestEnvExample(t *testing.T) {
	text := readFile(t, ".env.example")
	readme := readFile(t, "README.md")
	chk := newChecker()
	seen := map[string]bool{}
	for i, line := range strings.Split(text, "\n") {
		m := envLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		name := m[1]
		if seen[name] {
			t.Errorf(".env.example:%d: %s twice", i+1, name)
		}
		seen[name] = true
		// compose reads these for its own interpolation, not identityd.
		if name == "POSTGRES_PASSWORD" || name == "RABBITMQ_PASSWORD" {
			continue
		}
		if !chk.known(name) {
			t.Errorf(".env.example:%d: %s is not a variable identityd reads", i+1, name)
			continue
		}
		if !strings.Contains(readme, "| `"+name+"` |") {
			t.Errorf(".env.example:%d: %s is not in README.md's table", i+1, name)
		}
	}
	for _, want := range []string{"IDENTITY_SECRET", "IDENTITY_ISSUER", "POSTGRES_PASSWORD", "RABBITMQ_PASSWORD"} {
		if !seen[want] {
			t.Errorf(".env.example does not list %s", want)
		}
	}
	// compose interpolates what it uses from .env; .env.example offers each.
	compose := readFile(t, "docker-compose.yml")
	for _, m := range regexp.MustCompile(`\$\{([A-Z_][A-Z0-9_]*)`).FindAllStringSubmatch(compose, -1) {
		if m[1] != "VERSION" && m[1] != "COMMIT" && m[1] != "DATE" && !seen[m[1]] {
			t.Errorf("docker-compose.yml uses ${%s} but .env.example does not list it", m[1])
		}
	}
}

// scripts/build.sh builds a static, stamped binary of ./cmd/identityd, and
// its help names the commands the deployment files run.
func TestBuildScript(t *testing.T) {
	if _, err := exec.LookPath("go"); err != nil {
		t.Skip("no go toolchain on PATH")
	}
	out := filepath.Join(t.TempDir(), "bin", "identityd")
	const version = "v0.0.0-packaging-test"
	cmd := exec.CommandContext(t.Context(), "sh", filepath.Join(root(t), "scripts", "build.sh"), "-o", out)
	cmd.Dir = t.TempDir() // -o is taken relative to the caller, whatever the directory
	cmd.Env = append(os.Environ(), "VERSION="+version, "COMMIT=c0ffee5eed", "DATE=2026-12-02T10:00:00Z")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("scripts/build.sh: %v\n%s", err, b)
	}
	st, err := os.Stat(out)
	if err != nil {
		t.Fatalf("scripts/build.sh did not write %s: %v", out, err)
	}
	if st.Mode()&0o111 == 0 {
		t.Errorf("%s is not executable", out)
	}
	bin, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// The stamp is in the binary (the -X flags named real variables).
	for _, stamp := range []string{version, "c0ffee5eed", "2026-12-02T10:00:00Z"} {
		if !bytes.Contains(bin, []byte(stamp)) {
			t.Errorf("the binary does not carry the stamp %q (-X buildinfo)", stamp)
		}
	}
	meta, err := exec.CommandContext(t.Context(), "go", "version", "-m", out).CombinedOutput()
	if err != nil {
		t.Fatalf("go version -m: %v\n%s", err, meta)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath=true", "path\tgithub.com/identityd/identityd/cmd/identityd"} {
		if !strings.Contains(string(meta), want) {
			t.Errorf("go version -m %s lacks %q:\n%s", out, want, meta)
		}
	}
	help, _ := exec.CommandContext(t.Context(), out, "help").CombinedOutput()
	for c, flags := range commands {
		if !regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(c) + `\b`).Match(help) {
			t.Errorf("identityd help does not name %q, which the deployment files use:\n%s", c, help)
		}
		// Each command's own help names the flags the deployment files give it.
		cmdHelp, err := exec.CommandContext(t.Context(), out, c, "--help").CombinedOutput()
		if err != nil {
			t.Errorf("identityd %s --help: %v\n%s", c, err, cmdHelp)
		}
		for _, word := range flags {
			if !regexp.MustCompile(`(^|\s)` + regexp.QuoteMeta(word) + `\b`).Match(cmdHelp) {
				t.Errorf("identityd %s --help does not name %q, which the deployment files use:\n%s", c, word, cmdHelp)
			}
		}
	}
	// identityd version reports the stamp.
	ver, err := exec.CommandContext(t.Context(), out, "version", "-o", "json").Output()
	if err != nil {
		t.Fatalf("identityd version: %v", err)
	}
	for _, stamp := range []string{version, "c0ffee5eed", "2026-12-02T10:00:00Z"} {
		if !bytes.Contains(ver, []byte(stamp)) {
			t.Errorf("identityd version does not report %q: %s", stamp, ver)
		}
	}
}
