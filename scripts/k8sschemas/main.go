// Command k8sschemas writes the JSON schemas the Helm chart's test
// validates rendered objects against (deploy/helm/recon/testdata/
// kubernetes-schemas.json): for each kind the chart renders, the
// definitions reachable from it in Kubernetes' published OpenAPI v3
// documents, and the custom resources' schemas from their CRDs (the
// Prometheus Operator's ServiceMonitor, KEDA's ScaledObject). Like
// kubeconform's strict mode, an object with declared properties admits no
// others, so a misspelt or misplaced field fails. Descriptions are
// dropped to keep the file small.
//
//	scripts/k8s-schemas.sh   (downloads the sources with the go command, then runs this)
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"gopkg.in/yaml.v3"
)

// kinds are the built-in kinds the chart renders: apiVersion/kind → the
// OpenAPI document and definition.
var kinds = map[string][2]string{
	"v1/ConfigMap":                           {"api__v1_openapi.json", "io.k8s.api.core.v1.ConfigMap"},
	"v1/Service":                             {"api__v1_openapi.json", "io.k8s.api.core.v1.Service"},
	"v1/ServiceAccount":                      {"api__v1_openapi.json", "io.k8s.api.core.v1.ServiceAccount"},
	"apps/v1/Deployment":                     {"apis__apps__v1_openapi.json", "io.k8s.api.apps.v1.Deployment"},
	"policy/v1/PodDisruptionBudget":          {"apis__policy__v1_openapi.json", "io.k8s.api.policy.v1.PodDisruptionBudget"},
	"autoscaling/v2/HorizontalPodAutoscaler": {"apis__autoscaling__v2_openapi.json", "io.k8s.api.autoscaling.v2.HorizontalPodAutoscaler"},
	"networking.k8s.io/v1/NetworkPolicy":     {"apis__networking.k8s.io__v1_openapi.json", "io.k8s.api.networking.v1.NetworkPolicy"},
}

// crds are the custom resources: apiVersion/kind → CRD file and version.
var crds = map[string][2]string{
	"monitoring.coreos.com/v1/ServiceMonitor": {"monitoring.coreos.com_servicemonitors.yaml", "v1"},
	"keda.sh/v1alpha1/ScaledObject":           {"keda.sh_scaledobjects.yaml", "v1alpha1"},
}

func main() {
	openapi := flag.String("openapi", "", "Kubernetes' api/openapi-spec/v3 folder")
	crdDirs := flag.String("crds", "", "folders holding the CRD files, comma-separated")
	version := flag.String("version", "", "the Kubernetes version the OpenAPI documents are from")
	sources := flag.String("sources", "", "one line per source, written into the output")
	out := flag.String("out", "", "output file")
	flag.Parse()
	if err := run(*openapi, strings.Split(*crdDirs, ","), *version, *sources, *out); err != nil {
		fmt.Fprintln(os.Stderr, "k8sschemas:", err)
		os.Exit(1)
	}
}

func run(openapi string, crdDirs []string, version, sources, out string) error {
	defs := map[string]any{}
	index := map[string]string{}
	docs := map[string]map[string]any{}
	for _, gvk := range slices.Sorted(maps.Keys(kinds)) {
		src := kinds[gvk]
		if docs[src[0]] == nil {
			var doc struct {
				Components struct {
					Schemas map[string]any `json:"schemas"`
				} `json:"components"`
			}
			b, err := os.ReadFile(filepath.Join(openapi, src[0]))
			if err != nil {
				return err
			}
			if err := json.Unmarshal(b, &doc); err != nil {
				return fmt.Errorf("%s: %w", src[0], err)
			}
			docs[src[0]] = doc.Components.Schemas
		}
		if err := collect(docs[src[0]], src[1], defs); err != nil {
			return fmt.Errorf("%s: %w", gvk, err)
		}
		index[gvk] = "#/defs/" + src[1]
	}
	for _, gvk := range slices.Sorted(maps.Keys(crds)) {
		src := crds[gvk]
		var crd struct {
			Spec struct {
				Versions []struct {
					Name   string
					Schema struct {
						OpenAPIV3Schema map[string]any `yaml:"openAPIV3Schema"`
					}
				}
			}
		}
		var b []byte
		var err error
		for _, d := range crdDirs {
			if b, err = os.ReadFile(filepath.Join(d, src[0])); err == nil {
				break
			}
		}
		if err != nil {
			return fmt.Errorf("%s: %w", gvk, err)
		}
		if err := yaml.Unmarshal(b, &crd); err != nil {
			return fmt.Errorf("%s: %w", src[0], err)
		}
		name := strings.ReplaceAll(gvk, "/", ".")
		for _, v := range crd.Spec.Versions {
			if v.Name == src[1] {
				defs[name] = strict(v.Schema.OpenAPIV3Schema)
			}
		}
		if defs[name] == nil {
			return fmt.Errorf("%s: version %s not in %s", gvk, src[1], src[0])
		}
		index[gvk] = "#/defs/" + name
	}
	b, err := json.MarshalIndent(map[string]any{"kubernetes": version, "sources": strings.Split(sources, "\n"), "kinds": index, "defs": defs}, "", " ")
	if err != nil {
		return err
	}
	return os.WriteFile(out, append(b, '\n'), 0o644)
}

// collect copies definition name and every definition it refers to.
func collect(all map[string]any, name string, into map[string]any) error {
	if _, ok := into[name]; ok {
		return nil
	}
	s, ok := all[name]
	if !ok {
		return fmt.Errorf("no definition %s", name)
	}
	into[name] = strict(s)
	var refs []string
	walk(s, func(m map[string]any) {
		if r, ok := m["$ref"].(string); ok {
			refs = append(refs, strings.TrimPrefix(r, "#/components/schemas/"))
		}
	})
	for _, r := range refs {
		if err := collect(all, r, into); err != nil {
			return err
		}
	}
	return nil
}

func walk(v any, f func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		f(x)
		for _, c := range x {
			walk(c, f)
		}
	case []any:
		for _, c := range x {
			walk(c, f)
		}
	}
}

// strict returns a copy of schema s without descriptions, with $refs
// pointing into defs, and no undeclared property admitted where
// properties are declared (unless the schema keeps unknown fields).
func strict(s any) any {
	switch x := s.(type) {
	case map[string]any:
		out := map[string]any{}
		for k, v := range x {
			switch {
			case k == "description" || k == "example":
				continue
			case k == "$ref":
				out[k] = "#/defs/" + strings.TrimPrefix(v.(string), "#/components/schemas/")
			case k == "properties":
				props := map[string]any{}
				for pk, pv := range v.(map[string]any) { // property names, not keywords
					props[pk] = strict(pv)
				}
				out[k] = props
			case strings.HasPrefix(k, "x-kubernetes-") && k != "x-kubernetes-preserve-unknown-fields" && k != "x-kubernetes-int-or-string":
				continue
			default:
				out[k] = strict(v)
			}
		}
		if _, ok := out["properties"]; ok {
			if _, ok := out["additionalProperties"]; !ok && out["x-kubernetes-preserve-unknown-fields"] != true {
				out["additionalProperties"] = false
			}
		}
		if out["x-kubernetes-int-or-string"] == true && out["anyOf"] == nil && out["oneOf"] == nil {
			out["type"] = []any{"integer", "string"}
		}
		delete(out, "x-kubernetes-int-or-string")
		delete(out, "x-kubernetes-preserve-unknown-fields")
		return out
	case []any:
		out := make([]any, len(x))
		for i, v := range x {
			out[i] = strict(v)
		}
		return out
	}
	return s
}
