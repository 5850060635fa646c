package ops

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"helm.sh/helm/v4/pkg/chart/common"
	"helm.sh/helm/v4/pkg/chart/common/util"
	"helm.sh/helm/v4/pkg/chart/v2/lint"
	"helm.sh/helm/v4/pkg/chart/v2/lint/support"
	"helm.sh/helm/v4/pkg/chart/v2/loader"
	"helm.sh/helm/v4/pkg/engine"
	"sigs.k8s.io/yaml"

	"github.com/openrecon/recon/services/notifier"
)

var roles = []string{"console", "ingestor", "loader", "matcher", "notifier"}

// TestHelmChart renders deploy/helm/recon with Helm's own engine (the Go
// SDK) for its defaults and each example values file, runs Helm's lint
// rules, and validates every object against Kubernetes' OpenAPI schemas
// (v1.36, strict: no unknown fields) and the CRDs' schemas
// (testdata/kubernetes-schemas.json, written by scripts/k8s-schemas.sh).
// Then what the chart promises: per role a Deployment with probes on the
// ops port, a restricted security context and resources, a Service, a
// PodDisruptionBudget, an autoscaler, a NetworkPolicy that lets in only
// the ops port (and the console's pages) and out only what the role uses;
// every RECON_ variable a setting of its role; secrets only by reference;
// the routes file a valid one.
func TestHelmChart(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(root, "deploy", "helm", "recon")
	ch, err := loader.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	schemas := loadSchemas(t, filepath.Join(dir, "testdata", "kubernetes-schemas.json"))
	settings := roleSettings(t)
	examples, _ := filepath.Glob(filepath.Join(dir, "examples", "*.yaml"))
	if len(examples) < 2 {
		t.Fatalf("want two example values files, have %v", examples)
	}
	for _, vf := range append([]string{""}, examples...) {
		name := "defaults"
		if vf != "" {
			name = filepath.Base(vf)
		}
		t.Run(name, func(t *testing.T) {
			vals := map[string]any{}
			if vf != "" {
				v, err := common.ReadValuesFile(vf)
				if err != nil {
					t.Fatal(err)
				}
				vals = v
			}
			for _, m := range lint.RunAll(dir, vals, "recon").Messages {
				if m.Severity >= support.WarningSev {
					t.Errorf("helm lint: %s", m)
				}
			}
			rv, err := util.ToRenderValues(ch, vals, common.ReleaseOptions{Name: "recon", Namespace: "recon", IsInstall: true}, common.DefaultCapabilities)
			if err != nil {
				t.Fatal(err)
			}
			files, err := engine.Render(ch, rv)
			if err != nil {
				t.Fatal(err)
			}
			objs := objects(t, files)
			for _, o := range objs {
				validate(t, schemas, o)
			}
			checkChart(t, objs, settings, rv)
			t.Logf("helm: %s: %d objects rendered and valid", name, len(objs))
		})
	}
}

// object is one rendered manifest.
type object struct {
	file string
	raw  []byte // JSON
	m    map[string]any
}

func (o object) gvk() string  { return fmt.Sprint(o.m["apiVersion"], "/", o.m["kind"]) }
func (o object) name() string { return dig[string](o.m, "metadata", "name") }

func objects(t *testing.T, files map[string]string) []object {
	var out []object
	for _, f := range slices.Sorted(func(yield func(string) bool) {
		for k := range files {
			if !yield(k) {
				return
			}
		}
	}) {
		if !strings.HasSuffix(f, ".yaml") {
			continue
		}
		for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(files[f], -1) {
			if strings.TrimSpace(regexp.MustCompile(`(?m)^\s*#.*$`).ReplaceAllString(doc, "")) == "" {
				continue
			}
			js, err := yaml.YAMLToJSON([]byte(doc))
			if err != nil {
				t.Fatalf("%s: not YAML: %v\n%s", f, err, doc)
			}
			var m map[string]any
			if err := json.Unmarshal(js, &m); err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			out = append(out, object{file: f, raw: js, m: m})
		}
	}
	return out
}

type schemaSet struct {
	c     *jsonschema.Compiler
	kinds map[string]string
	cache map[string]*jsonschema.Schema
}

func loadSchemas(t *testing.T, path string) *schemaSet {
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	var idx struct{ Kinds map[string]string }
	if err := json.Unmarshal(b, &idx); err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	c.DefaultDraft(jsonschema.Draft7) // OpenAPI v3 schemas are draft-4/7 style
	if err := c.AddResource("file:///kubernetes-schemas.json", doc); err != nil {
		t.Fatal(err)
	}
	return &schemaSet{c: c, kinds: idx.Kinds, cache: map[string]*jsonschema.Schema{}}
}

func validate(t *testing.T, s *schemaSet, o object) {
	t.Helper()
	ref, ok := s.kinds[o.gvk()]
	if !ok {
		t.Errorf("%s: %s %s: no schema for this kind", o.file, o.gvk(), o.name())
		return
	}
	sch := s.cache[ref]
	if sch == nil {
		var err error
		if sch, err = s.c.Compile("file:///kubernetes-schemas.json" + ref); err != nil {
			t.Fatal(err)
		}
		s.cache[ref] = sch
	}
	v, err := jsonschema.UnmarshalJSON(bytes.NewReader(o.raw))
	if err != nil {
		t.Fatal(err)
	}
	if err := sch.Validate(v); err != nil {
		t.Errorf("%s: %s %s does not validate:\n%v", o.file, o.gvk(), o.name(), err)
	}
}

// dig walks m by keys and returns the value there as T (its zero value
// when absent).
func dig[T any](m any, keys ...any) T {
	var zero T
	for _, k := range keys {
		switch x := m.(type) {
		case map[string]any:
			m = x[k.(string)]
		case []any:
			i := k.(int)
			if i >= len(x) {
				return zero
			}
			m = x[i]
		default:
			return zero
		}
	}
	v, _ := m.(T)
	return v
}

// roleSettings lists each role's RECON_ variables from its -h.
func roleSettings(t *testing.T) map[string]map[string]bool {
	envName := regexp.MustCompile(`\[(RECON_[A-Z0-9_]+)\]`)
	out := map[string]map[string]bool{}
	for _, role := range roles {
		b, _ := exec.Command(reconBin, role, "-h").CombinedOutput()
		out[role] = map[string]bool{}
		for _, m := range envName.FindAllStringSubmatch(string(b), -1) {
			out[role][m[1]] = true
		}
		if len(out[role]) < 5 {
			t.Fatalf("recon %s -h lists %d settings", role, len(out[role]))
		}
	}
	return out
}

func checkChart(t *testing.T, objs []object, settings map[string]map[string]bool, rv common.Values) {
	byKind := map[string]map[string]object{}
	for _, o := range objs {
		if byKind[o.gvk()] == nil {
			byKind[o.gvk()] = map[string]object{}
		}
		if _, dup := byKind[o.gvk()][o.name()]; dup {
			t.Errorf("%s %s rendered twice", o.gvk(), o.name())
		}
		byKind[o.gvk()][o.name()] = o
	}
	values := rv["Values"].(common.Values)
	keda := dig[bool](map[string]any(values), "keda", "enabled")
	opsPort := dig[float64](toJSONMap(t, values), "opsPort")
	for _, role := range roles {
		name := "recon-recon-" + role
		d, ok := byKind["apps/v1/Deployment"][name]
		if !ok {
			t.Errorf("%s: no Deployment", role)
			continue
		}
		for _, kind := range []string{"v1/Service", "policy/v1/PodDisruptionBudget", "networking.k8s.io/v1/NetworkPolicy", "v1/ConfigMap"} {
			if _, ok := byKind[kind][name]; !ok {
				t.Errorf("%s: no %s", role, kind)
			}
		}
		_, hpa := byKind["autoscaling/v2/HorizontalPodAutoscaler"][name]
		_, so := byKind["keda.sh/v1alpha1/ScaledObject"][name]
		auto := dig[bool](toJSONMap(t, values), "roles", role, "autoscaling", "enabled")
		switch {
		case role == "matcher" && keda:
			if !so || hpa {
				t.Errorf("matcher with KEDA: ScaledObject %v, HPA %v", so, hpa)
			}
		case auto != hpa:
			t.Errorf("%s: autoscaling %v but HPA %v", role, auto, hpa)
		}
		if (auto || (role == "matcher" && keda)) && d.m["spec"].(map[string]any)["replicas"] != nil {
			t.Errorf("%s: an autoscaled Deployment must not set replicas (each upgrade would reset them)", role)
		}
		pod := dig[map[string]any](d.m, "spec", "template", "spec")
		if dig[bool](pod, "securityContext", "runAsNonRoot") != true || dig[string](pod, "securityContext", "seccompProfile", "type") != "RuntimeDefault" {
			t.Errorf("%s: pod security context not restricted: %v", role, pod["securityContext"])
		}
		c := dig[map[string]any](pod, "containers", 0)
		sc := dig[map[string]any](c, "securityContext")
		if sc["readOnlyRootFilesystem"] != true || sc["allowPrivilegeEscalation"] != false || fmt.Sprint(dig[[]any](sc, "capabilities", "drop")) != "[ALL]" {
			t.Errorf("%s: container security context %v", role, sc)
		}
		for probe, path := range map[string]string{"livenessProbe": "/healthz", "readinessProbe": "/readyz"} {
			if dig[string](c, probe, "httpGet", "path") != path || dig[string](c, probe, "httpGet", "port") != "ops" {
				t.Errorf("%s: %s %v", role, probe, c[probe])
			}
		}
		if dig[float64](c, "ports", 0, "containerPort") != opsPort {
			t.Errorf("%s: ops port %v", role, c["ports"])
		}
		if dig[string](c, "resources", "requests", "cpu") == "" || dig[string](c, "resources", "requests", "memory") == "" || dig[string](c, "resources", "limits", "memory") == "" {
			t.Errorf("%s: resources %v", role, c["resources"])
		}
		// Settings: the ConfigMap and the env name settings of the role;
		// secrets only by reference.
		cm := dig[map[string]any](byKind["v1/ConfigMap"][name].m, "data")
		for k, v := range cm {
			if !settings[role][k] {
				t.Errorf("%s: ConfigMap key %s names no setting of recon %s", role, k, role)
			}
			if s := fmt.Sprint(v); regexp.MustCompile(`://[^/@]+:[^/@]+@`).MatchString(s) || (regexp.MustCompile(`PASSWORD|SECRET|TOKEN`).MatchString(k) && !strings.HasSuffix(k, "_FILE")) {
				t.Errorf("%s: ConfigMap holds a secret: %s=%s", role, k, s)
			}
		}
		for _, e := range dig[[]any](c, "env") {
			k := dig[string](e, "name")
			if strings.HasPrefix(k, "RECON_") && !settings[role][k] {
				t.Errorf("%s: env %s names no setting of recon %s", role, k, role)
			}
			if v := dig[string](e, "value"); regexp.MustCompile(`://[^/@]+:[^/@]+@`).MatchString(v) {
				t.Errorf("%s: env %s holds credentials inline", role, k)
			}
		}
		// NetworkPolicy: in, the ops port (and the console's pages).
		np := byKind["networking.k8s.io/v1/NetworkPolicy"][name].m
		var in []string
		for _, r := range dig[[]any](np, "spec", "ingress") {
			for _, p := range dig[[]any](r, "ports") {
				in = append(in, fmt.Sprint(dig[float64](p, "port")))
			}
		}
		wantIn := []string{fmt.Sprint(opsPort)}
		if role == "console" {
			wantIn = append(wantIn, fmt.Sprint(dig[float64](toJSONMap(t, values), "console", "port")))
		}
		if fmt.Sprint(in) != fmt.Sprint(wantIn) {
			t.Errorf("%s: NetworkPolicy lets in %v, want %v", role, in, wantIn)
		}
		var out []float64
		for _, r := range dig[[]any](np, "spec", "egress") {
			for _, p := range dig[[]any](r, "ports") {
				out = append(out, dig[float64](p, "port"))
			}
		}
		needs := map[string]string{"matcher": "redis", "notifier": "redis", "loader": "warehouse", "console": "warehouse"}
		if what, ok := needs[role]; ok && !slices.Contains(out, dig[float64](toJSONMap(t, values), what, "port")) {
			t.Errorf("%s: NetworkPolicy lets out %v, not the %s port", role, out, what)
		}
		if role == "ingestor" && slices.Contains(out, dig[float64](toJSONMap(t, values), "redis", "port")) {
			t.Errorf("ingestor: NetworkPolicy lets out to Redis, which it does not use")
		}
	}
	if routes, ok := byKind["v1/ConfigMap"]["recon-recon-routes"]; ok {
		p := filepath.Join(t.TempDir(), "routes.yaml")
		if err := os.WriteFile(p, []byte(dig[string](routes.m, "data", "routes.yaml")), 0o600); err != nil {
			t.Fatal(err)
		}
		if _, err := notifier.LoadRouting(p); err != nil {
			t.Errorf("the notifier's routes file: %v", err)
		}
	}
}

func toJSONMap(t *testing.T, v common.Values) map[string]any {
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}
