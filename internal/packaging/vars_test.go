package packaging

import (
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/identityd/identityd/internal/app"
	"github.com/identityd/identityd/telemetry"
)

// root is the module root, found from this file's directory.
func root(t *testing.T) string {
	t.Helper()
	_, file, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("no caller information")
	}
	return filepath.Join(filepath.Dir(file), "..", "..")
}

func readFile(t *testing.T, rel string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(root(t), rel))
	if err != nil {
		t.Fatalf("read %s: %v", rel, err)
	}
	return string(b)
}

// tracingVariables are the OTEL_* variables package telemetry reads, found
// by running telemetry.FromEnv with a getenv that records what it is asked
// (once with nothing set, once with a sampler that takes an argument, so
// every branch asks), rather than by copying the list.
func tracingVariables() map[string]bool {
	asked := map[string]bool{}
	envs := []map[string]string{
		{},
		{"OTEL_EXPORTER_OTLP_ENDPOINT": "http://collector:4318", "OTEL_TRACES_SAMPLER": "parentbased_traceidratio", "OTEL_TRACES_SAMPLER_ARG": "0.5"},
		{"OTEL_EXPORTER_OTLP_TRACES_ENDPOINT": "http://collector:4318/v1/traces", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL": "grpc"},
	}
	for _, env := range envs {
		_, _ = telemetry.FromEnv(func(name string) string {
			asked[name] = true
			return env[name]
		})
	}
	return asked
}

// sdkVariables are read by the OpenTelemetry SDK itself, not by our code
// (README: "The exporter also reads …"); allowed in deployment files too.
var sdkVariables = []string{"OTEL_RESOURCE_ATTRIBUTES", "OTEL_EXPORTER_OTLP_HEADERS", "OTEL_EXPORTER_OTLP_TIMEOUT"}

// checker answers whether a variable is one identityd (or its tracing
// SDK) reads.
type checker struct{ tracing map[string]bool }

func newChecker() checker { return checker{tracing: tracingVariables()} }

func (c checker) known(name string) bool {
	return app.KnownVariable(name) || c.tracing[name] || slices.Contains(sdkVariables, name)
}

// unknown returns the names that are not real variables, sorted.
func (c checker) unknown(names []string) []string {
	var bad []string
	for _, n := range names {
		if !c.known(n) {
			bad = append(bad, n)
		}
	}
	sort.Strings(bad)
	return bad
}

func TestCheckerKnowsRealVariablesOnly(t *testing.T) {
	c := newChecker()
	for _, name := range []string{"DATABASE_URL", "REDIS_URL", "IDENTITY_SECRET", "IDENTITY_METRICS_ADDR", "RABBITMQ_URL",
		"OTEL_EXPORTER_OTLP_ENDPOINT", "OTEL_SERVICE_NAME", "OTEL_TRACES_SAMPLER_ARG", "OTEL_EXPORTER_OTLP_TRACES_PROTOCOL"} {
		if !c.known(name) {
			t.Errorf("%s is read by identityd but the checker refuses it", name)
		}
	}
	fakes := []string{"IDENTITY_NOT_A_VARIABLE", "IDENTITY_DATABASE_URL", "IDENTITY_REDIS_URL", "OTEL_MADE_UP", "identity_secret", ""}
	if got := c.unknown(fakes); len(got) != len(fakes) {
		t.Errorf("unknown(%q) = %q, want every name refused", fakes, got)
	}
}

// buildinfoVariables are the string variables of internal/buildinfo that
// the linker sets, read from its source.
func buildinfoVariables(t *testing.T) []string {
	t.Helper()
	fset := token.NewFileSet()
	dir := filepath.Join(root(t), "internal", "buildinfo")
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".go") || strings.HasSuffix(e.Name(), "_test.go") {
			continue
		}
		f, err := parser.ParseFile(fset, filepath.Join(dir, e.Name()), nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range f.Decls {
			g, ok := d.(*ast.GenDecl)
			if !ok || g.Tok != token.VAR {
				continue
			}
			for _, s := range g.Specs {
				vs := s.(*ast.ValueSpec)
				if id, ok := vs.Type.(*ast.Ident); !ok || id.Name != "string" || len(vs.Values) != 0 {
					continue
				}
				for _, n := range vs.Names {
					if n.IsExported() {
						names = append(names, n.Name)
					}
				}
			}
		}
	}
	if len(names) == 0 {
		t.Fatal("internal/buildinfo declares no exported string variable for the linker")
	}
	return names
}

const buildinfoPkg = "github.com/identityd/identityd/internal/buildinfo"

// releaseFlagProblems lists what a build command (a shell script or a RUN
// line) lacks of the release build.
func releaseFlagProblems(cmd string, vars []string) []string {
	var missing []string
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath", "-ldflags", "-s -w", "./cmd/identityd"} {
		if !strings.Contains(cmd, want) {
			missing = append(missing, want)
		}
	}
	for _, v := range vars {
		// Either spelled out or through a $pkg variable holding the path.
		if !strings.Contains(cmd, "-X "+buildinfoPkg+"."+v+"=") && !strings.Contains(cmd, "."+v+"=$") {
			missing = append(missing, fmt.Sprintf("-X %s.%s=…", buildinfoPkg, v))
		}
	}
	if !strings.Contains(cmd, buildinfoPkg) {
		missing = append(missing, buildinfoPkg)
	}
	return missing
}
