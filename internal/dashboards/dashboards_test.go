package dashboards

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestFilesUpToDate: deploy/grafana/dashboards holds exactly what the code
// builds (run `go generate ./internal/dashboards` after a change), each a
// dashboard with a Prometheus datasource variable and its panels' queries.
func TestFilesUpToDate(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy", "grafana", "dashboards")
	seen := map[string]bool{}
	for _, b := range Boards() {
		want, err := b.Build()
		if err != nil {
			t.Fatal(err)
		}
		got, err := os.ReadFile(filepath.Join(dir, b.File))
		if err != nil || string(got) != string(want) {
			t.Errorf("%s is not what the code builds (%v): run go generate ./internal/dashboards", b.File, err)
		}
		var d struct {
			UID    string `json:"uid"`
			Panels []struct {
				Targets []struct {
					Expr string `json:"expr"`
				} `json:"targets"`
			} `json:"panels"`
		}
		if err := json.Unmarshal(want, &d); err != nil || d.UID != b.UID || len(d.Panels) != len(b.Panels) {
			t.Fatalf("%s: %v, uid %q, %d panels", b.File, err, d.UID, len(d.Panels))
		}
		for i, p := range d.Panels {
			if len(p.Targets) != len(b.Panels[i].Queries) || p.Targets[0].Expr == "" {
				t.Errorf("%s panel %q: %d targets", b.File, b.Panels[i].Title, len(p.Targets))
			}
		}
		seen[b.File] = true
	}
	ents, _ := os.ReadDir(dir)
	for _, e := range ents {
		if !seen[e.Name()] {
			t.Errorf("%s is in %s but not built by the code", e.Name(), dir)
		}
	}
}
