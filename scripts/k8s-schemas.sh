#!/usr/bin/env bash
# Writes deploy/helm/recon/testdata/kubernetes-schemas.json, the schemas
# the chart's test (TestHelmChart, tests/ops) validates rendered objects
# against, from the sources the go command downloads from the module
# proxy: Kubernetes' OpenAPI v3 documents (k8s.io/kubernetes), the
# Prometheus Operator's and KEDA's CRDs. All three are Apache-2.0.
set -euo pipefail
cd "$(dirname "$0")/.."
K8S=v1.36.3 PROMOP=v0.85.0 KEDA=v2.20.2
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
dir() { # module@version → its folder in the module cache
  (cd "$tmp" && GOFLAGS=-mod=mod GOTOOLCHAIN=local go mod download -json "$1" 2>/dev/null | sed -n 's/.*"Dir": "\(.*\)",/\1/p')
}
(cd "$tmp" && go mod init k8sschemas >/dev/null 2>&1)
k8s=$(dir "k8s.io/kubernetes@$K8S"); promop=$(dir "github.com/prometheus-operator/prometheus-operator@$PROMOP"); keda=$(dir "github.com/kedacore/keda/v2@$KEDA")
for d in "$k8s" "$promop" "$keda"; do [ -d "$d" ] || { echo "k8s-schemas: a source did not download" >&2; exit 1; }; done
go run ./scripts/k8sschemas -version "$K8S" -openapi "$k8s/api/openapi-spec/v3" \
  -crds "$promop/example/prometheus-operator-crd,$keda/config/crd/bases" \
  -sources "k8s.io/kubernetes@$K8S api/openapi-spec/v3 (Apache-2.0)
github.com/prometheus-operator/prometheus-operator@$PROMOP example/prometheus-operator-crd (Apache-2.0)
github.com/kedacore/keda/v2@$KEDA config/crd/bases (Apache-2.0)" \
  -out deploy/helm/recon/testdata/kubernetes-schemas.json
ls -la deploy/helm/recon/testdata/kubernetes-schemas.json
