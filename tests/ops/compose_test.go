package ops

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
)

// TestComposeFile loads docker-compose.yml with compose-go (the loader
// docker compose uses) and checks what a run would trip on: every image
// pinned to a version, every RECON_ variable of a recon service naming a
// setting of its role (the role's own -h lists them), every file it
// mounts or reads as a secret present, no host port published twice,
// Prometheus scraping every role's ops port.
func TestComposeFile(t *testing.T) {
	root, err := filepath.Abs(filepath.Join("..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	p, err := loader.LoadWithContext(context.Background(), types.ConfigDetails{WorkingDir: root,
		ConfigFiles: []types.ConfigFile{{Filename: filepath.Join(root, "docker-compose.yml")}}, Environment: types.Mapping{}},
		func(o *loader.Options) { o.SetProjectName("recon", true) })
	if err != nil {
		t.Fatalf("docker-compose.yml: %v", err)
	}
	settings := map[string]map[string]bool{} // role -> RECON_ variables
	envName := regexp.MustCompile(`\[(RECON_[A-Z0-9_]+)\]`)
	published := map[string]string{}
	for name, svc := range p.Services {
		switch {
		case svc.Build != nil:
		case svc.Image == "":
			t.Errorf("%s: neither image nor build", name)
		default:
			_, tag, ok := strings.Cut(svc.Image[strings.LastIndex(svc.Image, "/")+1:], ":")
			if !ok || tag == "" || tag == "latest" || !strings.ContainsAny(tag, "0123456789") {
				t.Errorf("%s: image %s is not pinned to a version", name, svc.Image)
			}
		}
		if svc.Build != nil {
			if len(svc.Command) == 0 {
				t.Fatalf("%s: a recon service without its role", name)
			}
			role := svc.Command[0]
			if settings[role] == nil {
				out, _ := exec.Command(reconBin, role, "-h").CombinedOutput()
				settings[role] = map[string]bool{}
				for _, m := range envName.FindAllStringSubmatch(string(out), -1) {
					settings[role][m[1]] = true
				}
				if len(settings[role]) < 5 {
					t.Fatalf("recon %s -h lists %d settings: %s", role, len(settings[role]), out)
				}
			}
			for k := range svc.Environment {
				if strings.HasPrefix(k, "RECON_") && !settings[role][k] {
					t.Errorf("%s: %s names no setting of recon %s", name, k, role)
				}
			}
		}
		for _, v := range svc.Volumes {
			if v.Type == types.VolumeTypeBind && strings.HasPrefix(v.Source, root) && !strings.Contains(v.Source, "recon-data") {
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s: mounts %s, which is missing", name, v.Source)
				}
			}
		}
		for _, port := range svc.Ports {
			if port.Published == "" {
				continue
			}
			if other, ok := published[port.Published]; ok {
				t.Errorf("host port %s published by %s and %s", port.Published, other, name)
			}
			published[port.Published] = name
		}
	}
	for name, sec := range p.Secrets {
		if _, err := os.Stat(sec.File); err != nil {
			t.Errorf("secret %s: %v", name, err)
		}
	}
	prom, err := os.ReadFile(filepath.Join(root, "deploy", "compose", "prometheus.yml"))
	if err != nil {
		t.Fatal(err)
	}
	for name, svc := range p.Services {
		if svc.Build == nil {
			continue
		}
		port := ""
		for _, pc := range svc.Ports {
			port = pc.Published
		}
		if !strings.Contains(string(prom), name+":"+port) {
			t.Errorf("prometheus.yml does not scrape %s:%s", name, port)
		}
	}
}
