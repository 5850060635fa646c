package ops

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/loader"
	"github.com/compose-spec/compose-go/v2/types"
	"github.com/openrecon/recon/services/notifier"
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
	checkComposeConsole(t, root, p)
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

// checkComposeConsole: the console signs in through the stack's Keycloak:
// browsers at the issuer (Keycloak's published port, the hostname it is
// started with), the console at the discovery URL (Keycloak's service
// name); the realm's client has the console's callback and the secret the
// console reads. And the notifier's routes file loads.
func checkComposeConsole(t *testing.T, root string, p *types.Project) {
	console, kc, nt := p.Services["console"], p.Services["keycloak"], p.Services["notifier"]
	env := func(s types.ServiceConfig, k string) string {
		if v := s.Environment[k]; v != nil {
			return *v
		}
		return ""
	}
	issuer, disc, pub := env(console, "RECON_OIDC_ISSUER"), env(console, "RECON_OIDC_DISCOVERY_URL"), env(console, "RECON_PUBLIC_URL")
	var kcPublished, kcTarget string
	for _, pc := range kc.Ports {
		kcPublished, kcTarget = pc.Published, fmt.Sprint(pc.Target)
	}
	if issuer != "http://localhost:"+kcPublished+"/realms/recon" || !slices.Contains(kc.Command, "--hostname=http://localhost:"+kcPublished) {
		t.Errorf("console issuer %s, keycloak published on %s with %v", issuer, kcPublished, kc.Command)
	}
	if disc != "http://keycloak:"+kcTarget+"/realms/recon" || !slices.Contains(kc.Command, "--hostname-backchannel-dynamic=true") {
		t.Errorf("console discovery %s, keycloak listening on %s with %v", disc, kcTarget, kc.Command)
	}
	var realm struct {
		Clients []struct {
			ClientID     string
			Secret       string
			RedirectURIs []string `json:"redirectUris"`
		}
	}
	b, err := os.ReadFile(filepath.Join(root, "deploy", "compose", "keycloak-realm.json"))
	if err != nil || json.Unmarshal(b, &realm) != nil || len(realm.Clients) != 1 {
		t.Fatalf("keycloak-realm.json: %v", err)
	}
	secret, _ := os.ReadFile(p.Secrets["oidc_client_secret"].File)
	c := realm.Clients[0]
	if c.ClientID != env(console, "RECON_OIDC_CLIENT_ID") || c.Secret != strings.TrimSpace(string(secret)) || !slices.Contains(c.RedirectURIs, pub+"/auth/callback") {
		t.Errorf("realm client %+v does not fit the console (%s, %s/auth/callback)", c, env(console, "RECON_OIDC_CLIENT_ID"), pub)
	}
	for _, v := range nt.Volumes {
		if v.Target == env(nt, "RECON_ROUTES_FILE") {
			if _, err := notifier.LoadRouting(v.Source); err != nil {
				t.Errorf("the notifier's routes: %v", err)
			}
			return
		}
	}
	t.Errorf("the notifier's routes file %s is not mounted", env(nt, "RECON_ROUTES_FILE"))
}
