package packaging

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"text/template"

	"github.com/Masterminds/sprig/v3"
	"gopkg.in/yaml.v3"
)

// The chart is rendered here because CI has no helm binary. renderChart
// implements the part of Helm 3's engine the chart's templates use, which
// _helpers.tpl documents for template authors:
//
//   - every file under templates/ parsed into one template set, so a
//     define in _helpers.tpl is visible everywhere; files starting with _
//     render nothing;
//   - sprig's text functions (less env and expandenv, as in Helm), plus
//     Helm's include, required, fail and toYaml (2-space indent, no
//     trailing newline);
//   - missing keys render empty (Helm replaces "<no value>");
//   - values: values.yaml coalesced with the override files in order, maps
//     merged key by key and a null in an override deleting the key;
//   - .Release.Name, .Release.Namespace, .Release.Service ("Helm") and
//     .Chart.Name, .Chart.Version, .Chart.AppVersion from Chart.yaml.
//
// Not implemented, so not to be used by the templates: tpl, lookup,
// .Files, .Capabilities, .Template, subcharts and schema validation.
// On 2026-12-02 `helm template` of helm v4.3.2 (built from the module
// proxy, outside this module: it brings the k8s.io modules) gave the same
// objects as renderChart for the default and ci/full-values.yaml values,
// refused the same bad values, and its output decoded strictly into the
// k8s.io/api types; repeat that when adding a Helm feature to the chart.

const chartDir = "deploy/helm/identityd"

type chartMeta struct {
	APIVersion string `yaml:"apiVersion"`
	Name       string `yaml:"name"`
	Version    string `yaml:"version"`
	AppVersion string `yaml:"appVersion"`
}

// manifest is one rendered document, with the template file it came from.
type manifest struct {
	source string
	doc    map[string]any
}

func loadYAMLMap(path string) (map[string]any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read values: %w", err)
	}
	m := map[string]any{}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return nil, fmt.Errorf("parse %s: %w", path, err)
	}
	return m, nil
}

// coalesce merges override into base as Helm does for values files: maps
// key by key, anything else replaced, a null deleting the key.
func coalesce(base, override map[string]any) map[string]any {
	out := make(map[string]any, len(base))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range override {
		if v == nil {
			delete(out, k)
			continue
		}
		bm, bok := out[k].(map[string]any)
		om, ook := v.(map[string]any)
		if bok && ook {
			out[k] = coalesce(bm, om)
			continue
		}
		out[k] = v
	}
	return out
}

func toYAML(v any) (string, error) {
	var buf bytes.Buffer
	enc := yaml.NewEncoder(&buf)
	enc.SetIndent(2)
	if err := enc.Encode(v); err != nil {
		return "", fmt.Errorf("toYaml: %w", err)
	}
	if err := enc.Close(); err != nil {
		return "", fmt.Errorf("toYaml: %w", err)
	}
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

// renderChart renders the chart at dir with values.yaml and then each
// override (already parsed) applied in order. A template or value error is
// returned, never rendered around.
func renderChart(dir string, overrides ...map[string]any) ([]manifest, error) {
	metaBytes, err := os.ReadFile(filepath.Join(dir, "Chart.yaml"))
	if err != nil {
		return nil, fmt.Errorf("read Chart.yaml: %w", err)
	}
	var meta chartMeta
	if err := yaml.Unmarshal(metaBytes, &meta); err != nil {
		return nil, fmt.Errorf("parse Chart.yaml: %w", err)
	}
	values, err := loadYAMLMap(filepath.Join(dir, "values.yaml"))
	if err != nil {
		return nil, err
	}
	for _, o := range overrides {
		values = coalesce(values, o)
	}
	top := map[string]any{
		"Values":  values,
		"Release": map[string]any{"Name": "identity", "Namespace": "auth", "Service": "Helm", "IsInstall": true, "IsUpgrade": false},
		"Chart":   map[string]any{"Name": meta.Name, "Version": meta.Version, "AppVersion": meta.AppVersion},
	}

	funcs := sprig.TxtFuncMap()
	delete(funcs, "env")
	delete(funcs, "expandenv")
	t := template.New("chart").Option("missingkey=zero")
	funcs["include"] = func(name string, data any) (string, error) {
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, name, data); err != nil {
			return "", fmt.Errorf("include %s: %w", name, err)
		}
		return buf.String(), nil
	}
	funcs["required"] = func(msg string, v any) (any, error) {
		if v == nil {
			return nil, errors.New(msg)
		}
		if s, ok := v.(string); ok && s == "" {
			return nil, errors.New(msg)
		}
		return v, nil
	}
	funcs["fail"] = func(msg string) (string, error) { return "", errors.New(msg) }
	funcs["toYaml"] = func(v any) string {
		s, err := toYAML(v)
		if err != nil {
			// Helm's toYaml also swallows the error; the parse of the
			// output then fails.
			return "!!toYaml error: " + err.Error()
		}
		return s
	}
	t.Funcs(funcs)

	files, err := filepath.Glob(filepath.Join(dir, "templates", "*"))
	if err != nil {
		return nil, fmt.Errorf("list templates: %w", err)
	}
	sort.Strings(files)
	var names []string
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, fmt.Errorf("read template: %w", err)
		}
		name := filepath.Base(f)
		if _, err := t.New(name).Parse(string(b)); err != nil {
			return nil, fmt.Errorf("parse %s: %w", name, err)
		}
		if !strings.HasPrefix(name, "_") {
			names = append(names, name)
		}
	}
	var out []manifest
	for _, name := range names {
		var buf strings.Builder
		if err := t.ExecuteTemplate(&buf, name, top); err != nil {
			return nil, fmt.Errorf("render %s: %w", name, err)
		}
		text := strings.ReplaceAll(buf.String(), "<no value>", "")
		for i, part := range splitDocuments(text) {
			var doc map[string]any
			if err := yaml.Unmarshal([]byte(part), &doc); err != nil {
				return nil, fmt.Errorf("%s: document %d is not YAML: %w\n%s", name, i, err, part)
			}
			if doc == nil {
				continue // only comments or blank
			}
			out = append(out, manifest{source: name, doc: doc})
		}
	}
	return out, nil
}

// splitDocuments splits a rendered file on lines that are "---".
func splitDocuments(text string) []string {
	var docs []string
	var cur strings.Builder
	for _, line := range strings.Split(text, "\n") {
		if strings.TrimSpace(line) == "---" {
			docs = append(docs, cur.String())
			cur.Reset()
			continue
		}
		cur.WriteString(line + "\n")
	}
	return append(docs, cur.String())
}

// path walks a decoded document by map keys and list indexes.
func path(v any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, ok := v.(map[string]any)
			if !ok {
				return nil
			}
			v = m[k]
		case int:
			l, ok := v.([]any)
			if !ok || k >= len(l) {
				return nil
			}
			v = l[k]
		}
	}
	return v
}

func str(v any) string {
	if v == nil {
		return ""
	}
	return fmt.Sprint(v)
}

func list(v any) []any {
	l, _ := v.([]any)
	return l
}

func readValuesFile(t *testing.T, rel string) map[string]any {
	t.Helper()
	m, err := loadYAMLMap(filepath.Join(root(t), rel))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func render(t *testing.T, overrides ...map[string]any) []manifest {
	t.Helper()
	ms, err := renderChart(filepath.Join(root(t), chartDir), overrides...)
	if err != nil {
		t.Fatalf("render chart: %v", err)
	}
	return ms
}

// podSpecs returns each workload's pod spec by "Kind/name".
func podSpecs(ms []manifest) map[string]map[string]any {
	out := map[string]map[string]any{}
	for _, m := range ms {
		switch str(m.doc["kind"]) {
		case "Deployment", "Job":
			spec, _ := path(m.doc, "spec", "template", "spec").(map[string]any)
			out[str(m.doc["kind"])+"/"+str(path(m.doc, "metadata", "name"))] = spec
		}
	}
	return out
}

func TestHelmChart(t *testing.T) {
	full := readValuesFile(t, chartDir+"/ci/full-values.yaml")
	tests := []struct {
		name      string
		overrides []map[string]any
		values    map[string]any // the merged values, for the secret checks
		wantKinds map[string]int
	}{
		{
			name:      "defaults",
			overrides: []map[string]any{{"issuer": "https://id.example.com"}},
			wantKinds: map[string]int{"Deployment": 1, "Service": 1, "PodDisruptionBudget": 1, "Job": 1, "ServiceAccount": 1},
		},
		{
			name:      "full",
			overrides: []map[string]any{full},
			wantKinds: map[string]int{"Deployment": 2, "Service": 2, "Ingress": 1, "HorizontalPodAutoscaler": 1,
				"PodDisruptionBudget": 1, "ServiceMonitor": 1, "Job": 1, "ServiceAccount": 1},
		},
	}
	chk := newChecker()
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ms := render(t, tt.overrides...)
			values := readValuesFile(t, chartDir+"/values.yaml")
			for _, o := range tt.overrides {
				values = coalesce(values, o)
			}
			kinds := map[string]int{}
			for _, m := range ms {
				for _, k := range []string{"apiVersion", "kind"} {
					if str(m.doc[k]) == "" {
						t.Errorf("%s: a manifest has no %s", m.source, k)
					}
				}
				if str(path(m.doc, "metadata", "name")) == "" {
					t.Errorf("%s: %s has no metadata.name", m.source, m.doc["kind"])
				}
				kinds[str(m.doc["kind"])]++
			}
			for k, n := range tt.wantKinds {
				if kinds[k] != n {
					t.Errorf("%d %s, want %d (all: %v)", kinds[k], k, n, kinds)
				}
			}
			for k := range kinds {
				if _, ok := tt.wantKinds[k]; !ok {
					t.Errorf("unexpected %s", k)
				}
			}
			checkAPIVersions(t, ms)
			checkWorkloads(t, chk, ms, values)
			checkHook(t, ms)
			checkServices(t, ms, values)
		})
	}
}

func checkAPIVersions(t *testing.T, ms []manifest) {
	t.Helper()
	want := map[string]string{
		"Deployment": "apps/v1", "Service": "v1", "ServiceAccount": "v1", "Ingress": "networking.k8s.io/v1",
		"HorizontalPodAutoscaler": "autoscaling/v2", "PodDisruptionBudget": "policy/v1",
		"ServiceMonitor": "monitoring.coreos.com/v1", "Job": "batch/v1",
	}
	for _, m := range ms {
		if w := want[str(m.doc["kind"])]; w != "" && str(m.doc["apiVersion"]) != w {
			t.Errorf("%s: %s has apiVersion %s, want %s", m.source, m.doc["kind"], m.doc["apiVersion"], w)
		}
	}
}

// secretRefs are the Secret names the values allow: existingSecret and
// every secretEnv entry's own.
func secretRefs(values map[string]any) map[string]string {
	refs := map[string]string{}
	envs, _ := values["secretEnv"].(map[string]any)
	for name, r := range envs {
		ref, _ := r.(map[string]any)
		secret := str(ref["secret"])
		if secret == "" {
			secret = str(values["existingSecret"])
		}
		refs[name] = secret + "/" + str(ref["key"])
	}
	return refs
}

func checkWorkloads(t *testing.T, chk checker, ms []manifest, values map[string]any) {
	t.Helper()
	workerEnabled, _ := path(values, "worker", "enabled").(bool)
	refs := secretRefs(values)
	var commandsRun [][]string
	for id, spec := range podSpecs(ms) {
		if spec == nil {
			t.Errorf("%s has no pod spec", id)
			continue
		}
		if path(spec, "securityContext", "runAsNonRoot") != true {
			t.Errorf("%s: pod securityContext.runAsNonRoot is not true", id)
		}
		containers := list(spec["containers"])
		if len(containers) != 1 {
			t.Errorf("%s has %d containers, want 1", id, len(containers))
		}
		for _, c := range containers {
			if path(c, "securityContext", "readOnlyRootFilesystem") != true {
				t.Errorf("%s: container root file system is not read-only", id)
			}
			if path(c, "securityContext", "allowPrivilegeEscalation") != false {
				t.Errorf("%s: container allows privilege escalation", id)
			}
			if path(c, "resources") == nil {
				t.Errorf("%s: container has no resources", id)
			}
			var args []string
			for _, a := range list(path(c, "args")) {
				args = append(args, str(a))
			}
			if p := commandProblem(args); p != "" {
				t.Errorf("%s runs %q: %s", id, args, p)
			}
			commandsRun = append(commandsRun, args)

			seen := map[string]bool{}
			var names []string
			for _, e := range list(path(c, "env")) {
				name := str(path(e, "name"))
				if seen[name] {
					t.Errorf("%s sets %s twice", id, name)
				}
				seen[name] = true
				names = append(names, name)
				if ref := path(e, "valueFrom", "secretKeyRef"); ref != nil {
					got := str(path(ref, "name")) + "/" + str(path(ref, "key"))
					if want, ok := refs[name]; !ok || got != want {
						t.Errorf("%s: %s from secret %s, want %q from values.secretEnv", id, name, got, want)
					}
				} else if path(e, "value") == nil {
					t.Errorf("%s: %s has neither value nor valueFrom", id, name)
				}
			}
			if bad := chk.unknown(names); len(bad) > 0 {
				t.Errorf("%s sets variables identityd does not read: %q", id, bad)
			}
			for _, must := range []string{"IDENTITY_ISSUER", "DATABASE_URL", "IDENTITY_SECRET"} {
				if !seen[must] {
					t.Errorf("%s does not set %s", id, must)
				}
			}
			if args[0] == "worker" && !seen["IDENTITY_METRICS_ADDR"] {
				t.Errorf("%s: identityd worker needs IDENTITY_METRICS_ADDR (its only listener)", id)
			}
			if args[0] == "migrate" {
				if path(c, "livenessProbe") != nil {
					t.Errorf("%s: the migrations Job has a probe", id)
				}
				continue
			}
			for probe, want := range map[string]string{"livenessProbe": "/api/health/live", "readinessProbe": "/api/health/ready"} {
				if got := str(path(c, probe, "httpGet", "path")); got != want {
					t.Errorf("%s: %s path = %q, want %s", id, probe, got, want)
				}
				port := str(path(c, probe, "httpGet", "port"))
				if !containerHasPort(c, port) {
					t.Errorf("%s: %s port %q is not a container port", id, probe, port)
				}
			}
		}
	}
	var serve, worker int
	for _, args := range commandsRun {
		switch args[0] {
		case "serve":
			serve++
			noWorker := len(args) > 1 && args[1] == "--no-worker"
			if noWorker != workerEnabled {
				t.Errorf("serve runs %q with worker.enabled = %v", args, workerEnabled)
			}
		case "worker":
			worker++
		}
	}
	if serve != 1 || (worker == 1) != workerEnabled {
		t.Errorf("%d serve and %d worker Deployments with worker.enabled = %v", serve, worker, workerEnabled)
	}
}

func containerHasPort(c any, port string) bool {
	for _, p := range list(path(c, "ports")) {
		if str(path(p, "name")) == port || str(path(p, "containerPort")) == port {
			return true
		}
	}
	return false
}

func checkHook(t *testing.T, ms []manifest) {
	t.Helper()
	for _, m := range ms {
		if str(m.doc["kind"]) != "Job" {
			continue
		}
		if got := str(path(m.doc, "metadata", "annotations", "helm.sh/hook")); got != "pre-install,pre-upgrade" {
			t.Errorf("%s: Job's helm.sh/hook = %q, want pre-install,pre-upgrade", m.source, got)
		}
		if got := str(path(m.doc, "spec", "template", "spec", "restartPolicy")); got != "Never" && got != "OnFailure" {
			t.Errorf("%s: Job's restartPolicy = %q", m.source, got)
		}
		// Before install the chart's ServiceAccount does not exist yet.
		if sa := str(path(m.doc, "spec", "template", "spec", "serviceAccountName")); sa != "" {
			for _, o := range ms {
				if str(o.doc["kind"]) == "ServiceAccount" && str(path(o.doc, "metadata", "name")) == sa {
					t.Errorf("the hook Job uses the ServiceAccount %s the chart creates after it", sa)
				}
			}
		}
	}
}

// checkServices: every Service selects pods of a workload and targets
// ports they have; Ingress, HPA, PDB and ServiceMonitor point at real
// objects and ports.
func checkServices(t *testing.T, ms []manifest, values map[string]any) {
	t.Helper()
	byKind := map[string][]map[string]any{}
	for _, m := range ms {
		byKind[str(m.doc["kind"])] = append(byKind[str(m.doc["kind"])], m.doc)
	}
	matches := func(selector any, labels any) bool {
		sel, _ := selector.(map[string]any)
		lab, _ := labels.(map[string]any)
		if len(sel) == 0 {
			return false
		}
		for k, v := range sel {
			if str(lab[k]) != str(v) {
				return false
			}
		}
		return true
	}
	servicePorts := map[string][]string{} // service name -> port names
	for _, svc := range byKind["Service"] {
		name := str(path(svc, "metadata", "name"))
		var backing []any
		for _, d := range byKind["Deployment"] {
			if matches(path(svc, "spec", "selector"), path(d, "spec", "template", "metadata", "labels")) {
				backing = append(backing, d)
			}
		}
		if len(backing) != 1 {
			t.Errorf("Service %s selects %d Deployments, want 1", name, len(backing))
			continue
		}
		c := path(backing[0], "spec", "template", "spec", "containers", 0)
		for _, p := range list(path(svc, "spec", "ports")) {
			servicePorts[name] = append(servicePorts[name], str(path(p, "name")))
			if tp := str(path(p, "targetPort")); !containerHasPort(c, tp) {
				t.Errorf("Service %s targets port %q its pods do not have", name, tp)
			}
		}
	}
	for _, d := range byKind["Deployment"] {
		if !matches(path(d, "spec", "selector", "matchLabels"), path(d, "spec", "template", "metadata", "labels")) {
			t.Errorf("Deployment %s's selector does not match its pods", path(d, "metadata", "name"))
		}
	}
	for _, ing := range byKind["Ingress"] {
		for _, r := range list(path(ing, "spec", "rules")) {
			for _, p := range list(path(r, "http", "paths")) {
				svc, port := str(path(p, "backend", "service", "name")), str(path(p, "backend", "service", "port", "name"))
				if !contains(servicePorts[svc], port) {
					t.Errorf("Ingress backend %s:%s is not a Service port", svc, port)
				}
				if port == "metrics" {
					t.Errorf("Ingress exposes the metrics port")
				}
			}
		}
	}
	names := map[string]bool{}
	for _, d := range byKind["Deployment"] {
		names[str(path(d, "metadata", "name"))] = true
	}
	for _, h := range byKind["HorizontalPodAutoscaler"] {
		if !names[str(path(h, "spec", "scaleTargetRef", "name"))] {
			t.Errorf("HPA scales %v, not a Deployment of the chart", path(h, "spec", "scaleTargetRef", "name"))
		}
		for _, d := range byKind["Deployment"] {
			if str(path(d, "metadata", "name")) == str(path(h, "spec", "scaleTargetRef", "name")) && path(d, "spec", "replicas") != nil {
				t.Errorf("Deployment %s sets replicas while an HPA scales it", path(d, "metadata", "name"))
			}
		}
	}
	for _, p := range byKind["PodDisruptionBudget"] {
		spec, _ := p["spec"].(map[string]any)
		_, min := spec["minAvailable"]
		_, max := spec["maxUnavailable"]
		if min == max {
			t.Errorf("PDB must set exactly one of minAvailable and maxUnavailable: %v", spec)
		}
	}
	for _, sm := range byKind["ServiceMonitor"] {
		eps := list(path(sm, "spec", "endpoints"))
		if len(eps) == 0 {
			t.Errorf("ServiceMonitor has no endpoints")
		}
		selected := 0
		for _, svc := range byKind["Service"] {
			if matches(path(sm, "spec", "selector", "matchLabels"), path(svc, "metadata", "labels")) {
				selected++
				for _, ep := range eps {
					if !contains(servicePorts[str(path(svc, "metadata", "name"))], str(path(ep, "port"))) {
						t.Errorf("ServiceMonitor scrapes port %v, which Service %v lacks", path(ep, "port"), path(svc, "metadata", "name"))
					}
				}
			}
		}
		if selected == 0 {
			t.Errorf("ServiceMonitor selects no Service")
		}
		for _, ep := range eps {
			if str(path(ep, "path")) != "/metrics" {
				t.Errorf("ServiceMonitor path = %v, want /metrics", path(ep, "path"))
			}
			if cred := path(ep, "authorization", "credentials"); cred != nil {
				if want := path(values, "metrics", "serviceMonitor", "bearerTokenSecret"); str(path(cred, "name")) != str(path(want, "name")) {
					t.Errorf("ServiceMonitor's token from %v, want values' %v", cred, want)
				}
			}
		}
	}
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}

// A mistake in the values stops the render with a message naming it; it is
// never rendered into a manifest that Kubernetes would take.
func TestHelmChartRefusesBadValues(t *testing.T) {
	issuer := map[string]any{"issuer": "https://id.example.com"}
	tests := []struct {
		name     string
		override map[string]any
		want     string
	}{
		{"no issuer", map[string]any{}, "issuer is required"},
		{"a chart-managed variable in env", map[string]any{"env": map[string]any{"IDENTITY_ADDR": "0.0.0.0:9000"}}, "env.IDENTITY_ADDR"},
		{"a variable both plain and secret", map[string]any{"env": map[string]any{"DATABASE_URL": "postgres://x"}}, "both env and secretEnv"},
		{"a secret without a key", map[string]any{"secretEnv": map[string]any{"RABBITMQ_URL": map[string]any{"secret": "mq"}}}, "secretEnv.RABBITMQ_URL.key"},
		{"a secret without a Secret", map[string]any{"existingSecret": nil, "secretEnv": map[string]any{"REDIS_URL": map[string]any{"key": "url"}}}, "secretEnv"},
		{"both PDB limits", map[string]any{"podDisruptionBudget": map[string]any{"minAvailable": 1}}, "not both"},
		{"an Ingress without hosts", map[string]any{"ingress": map[string]any{"enabled": true}}, "ingress.hosts"},
		{"a ServiceMonitor without a metrics port", map[string]any{"metrics": map[string]any{"separateListener": false, "serviceMonitor": map[string]any{"enabled": true}}}, "serviceMonitor"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			overrides := []map[string]any{tt.override}
			if tt.name != "no issuer" {
				overrides = []map[string]any{issuer, tt.override}
			}
			_, err := renderChart(filepath.Join(root(t), chartDir), overrides...)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("render error = %v, want one naming %q", err, tt.want)
			}
		})
	}
}

// The renderer itself reports what Helm would: a broken template, an
// unknown function, a file that does not render YAML.
func TestRendererReportsTemplateErrors(t *testing.T) {
	tests := []struct {
		name, template, want string
	}{
		{"parse error", "kind: {{ .Values.x ", "parse"},
		{"unknown function", "kind: {{ nosuchfunc 1 }}", "nosuchfunc"},
		{"not YAML", "kind: [unclosed\n", "not YAML"},
		{"fail", `{{ fail "stop here" }}`, "stop here"},
		{"missing include", `{{ include "nope" . }}`, "nope"},
		// Helm functions outside the subset do not parse, so a template
		// that needs them cannot pass unnoticed.
		{"tpl is not implemented", `{{ tpl "x" . }}`, "tpl"},
		{"lookup is not implemented", `{{ lookup "v1" "Secret" "ns" "x" }}`, "lookup"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			if err := os.MkdirAll(filepath.Join(dir, "templates"), 0o755); err != nil {
				t.Fatal(err)
			}
			files := map[string]string{
				"Chart.yaml":         "apiVersion: v2\nname: x\nversion: 0.0.1\nappVersion: \"1\"\n",
				"values.yaml":        "x: 1\n",
				"templates/bad.yaml": tt.template,
			}
			for name, body := range files {
				if err := os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			_, err := renderChart(dir)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("render error = %v, want one containing %q", err, tt.want)
			}
		})
	}
}

func TestChartMetadata(t *testing.T) {
	var meta chartMeta
	if err := yaml.Unmarshal([]byte(readFile(t, chartDir+"/Chart.yaml")), &meta); err != nil {
		t.Fatal(err)
	}
	if meta.APIVersion != "v2" || meta.Name != "identityd" || meta.Version == "" || meta.AppVersion == "" {
		t.Errorf("Chart.yaml = %+v, want apiVersion v2, name identityd, a version and an appVersion", meta)
	}
}

// PACKAGING_DUMP=1 prints the full render, for reading it.
func TestDumpFullRender(t *testing.T) {
	if os.Getenv("PACKAGING_DUMP") != "1" {
		t.Skip("set PACKAGING_DUMP=1")
	}
	for _, m := range render(t, readValuesFile(t, chartDir+"/ci/full-values.yaml")) {
		s, _ := toYAML(m.doc)
		t.Logf("# %s\n%s\n---", m.source, s)
	}
}

// The chart's variable check catches a name identityd does not read: the
// chart renders it (env is free-form), and checkWorkloads' checker refuses it.
func TestHelmEnvCheckCatchesFakeVariable(t *testing.T) {
	ms := render(t, map[string]any{"issuer": "https://id.example.com", "env": map[string]any{"IDENTITY_LOGLEVEL": "debug"}})
	var names []string
	for _, spec := range podSpecs(ms) {
		for _, c := range list(spec["containers"]) {
			for _, e := range list(path(c, "env")) {
				names = append(names, str(path(e, "name")))
			}
		}
	}
	got := newChecker().unknown(names)
	if len(got) == 0 || got[0] != "IDENTITY_LOGLEVEL" || got[len(got)-1] != "IDENTITY_LOGLEVEL" {
		t.Errorf("unknown = %q, want only IDENTITY_LOGLEVEL (once per workload)", got)
	}
}
