// Command gen writes recon's dashboards (internal/dashboards) as Grafana
// JSON into the folder given (go generate ./internal/dashboards).
package main

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/openrecon/recon/internal/dashboards"
)

func main() {
	if len(os.Args) != 2 {
		fmt.Fprintln(os.Stderr, "usage: gen DIR")
		os.Exit(2)
	}
	for _, b := range dashboards.Boards() {
		out, err := b.Build()
		if err == nil {
			err = os.WriteFile(filepath.Join(os.Args[1], b.File), out, 0o644)
		}
		if err != nil {
			fmt.Fprintf(os.Stderr, "%s: %v\n", b.File, err)
			os.Exit(1)
		}
	}
}
