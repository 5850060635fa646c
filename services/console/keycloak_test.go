package console

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/chromedp/chromedp"
	"github.com/redis/go-redis/v9"

	"github.com/openrecon/recon/internal/kafka"
	"github.com/openrecon/recon/internal/testenv"
)

// keycloakRealm is a realm as an organisation sets one up for the
// console: a confidential client with PKCE, a groups claim in the ID
// token (the group-membership mapper), groups per role and two users.
func keycloakRealm(redirect, secret, password string) ([]byte, error) {
	user := func(name, first, last, group string) map[string]any {
		return map[string]any{"username": name, "enabled": true, "email": name + "@example.com", "emailVerified": true,
			"firstName": first, "lastName": last, "groups": []string{"/" + group},
			"credentials": []map[string]any{{"type": "password", "value": password, "temporary": false}}}
	}
	return json.MarshalIndent(map[string]any{
		"realm": "recon", "enabled": true, "sslRequired": "none",
		"groups": []map[string]any{{"name": "recon-viewers"}, {"name": "recon-preparers"}, {"name": "recon-approvers"},
			{"name": "recon-admins"}, {"name": "recon-rules-editors"}},
		"users": []map[string]any{user("pat", "Pat", "Preparer", "recon-preparers"), user("alex", "Alex", "Approver", "recon-approvers")},
		"clients": []map[string]any{{
			"clientId": "recon-console", "enabled": true, "protocol": "openid-connect", "publicClient": false, "secret": secret,
			"standardFlowEnabled": true, "directAccessGrantsEnabled": false, "redirectUris": []string{redirect},
			"attributes": map[string]string{"pkce.code.challenge.method": "S256", "post.logout.redirect.uris": "+"},
			"protocolMappers": []map[string]any{{"name": "groups", "protocol": "openid-connect", "protocolMapper": "oidc-group-membership-mapper",
				"config": map[string]string{"full.path": "false", "id.token.claim": "true", "access.token.claim": "true",
					"userinfo.token.claim": "true", "claim.name": "groups"}}},
		}},
	}, "", "  ")
}

func freeAddr(t *testing.T) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// TestKeycloakSignIn signs in to the console in Chromium through a real
// identity server: Keycloak (its distribution from Maven Central, an
// in-memory database, the realm imported from a file). The console
// discovers the realm, the browser goes through Keycloak's login form,
// the ID token's groups map to the console's roles, and the session
// shows the user, the role and what the role may do. As in the compose
// stack, browsers and the console reach Keycloak at different addresses:
// browsers at http://localhost:PORT (the issuer), the console at
// http://127.0.0.1:PORT (oidc-discovery-url, Keycloak's back channel).
func TestKeycloakSignIn(t *testing.T) {
	testenv.Chromium(t)
	home := testenv.Keycloak(t)
	consoleAddr, kcAddr := freeAddr(t), freeAddr(t)
	_, kcPort, _ := net.SplitHostPort(kcAddr)
	const secret, password = "keycloak-client-secret-1", "pw-keycloak-1"
	realm, err := keycloakRealm("http://"+consoleAddr+"/auth/callback", secret, password)
	if err != nil {
		t.Fatal(err)
	}
	// The realm goes where --import-realm reads it; each run overwrites it.
	importDir := filepath.Join(home, "data", "import")
	if err := os.MkdirAll(importDir, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(importDir, "recon-realm.json"), realm, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	kcLog := &testenv.Buffer{}
	cmd := exec.CommandContext(ctx, filepath.Join(home, "bin", "kc.sh"), "start-dev", "--db=dev-mem", "--http-port="+kcPort,
		"--http-host=127.0.0.1", "--hostname=http://localhost:"+kcPort, "--hostname-backchannel-dynamic=true",
		"--import-realm", "--health-enabled=false", "--log-level=WARN")
	cmd.Env = append(os.Environ(), "JAVA_OPTS_APPEND=-Xms128m -Xmx768m")
	cmd.Stdout, cmd.Stderr = kcLog, kcLog
	cmd.Cancel = func() error { return cmd.Process.Signal(os.Interrupt) }
	cmd.WaitDelay = 30 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		cancel()
		<-exited
	})
	issuer, backChannel := "http://localhost:"+kcPort+"/realms/recon", "http://"+kcAddr+"/realms/recon"
	deadline := time.Now().Add(3 * time.Minute)
	for {
		select {
		case err := <-exited:
			exited <- err
			t.Fatalf("keycloak exited (%v): %.3000s", err, kcLog.String())
		default:
		}
		resp, err := http.Get(backChannel + "/.well-known/openid-configuration")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("keycloak did not serve the realm within 3 minutes: %.3000s", kcLog.String())
		}
		time.Sleep(time.Second)
	}
	secretFile := filepath.Join(t.TempDir(), "client-secret")
	if err := os.WriteFile(secretFile, []byte(secret+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}

	kc := kafka.Config{Brokers: testenv.FakeKafka(t), Partitions: 2, TopicPrefix: "k1."}
	rdb := redis.NewClient(&redis.Options{Addr: miniredis.RunT(t).Addr()})
	h := newHarness(t, kc, rdb, "sqlite:"+filepath.Join(t.TempDir(), "cases.db"), func(c *Config) {
		c.Addr, c.Demo.Enabled = consoleAddr, false
		c.OIDC.Issuer, c.OIDC.DiscoveryURL, c.OIDC.ClientID, c.OIDC.ClientSecretFile = issuer, backChannel, "recon-console", secretFile
		c.OIDC.RoleMap = []string{"recon-viewers=viewer", "recon-preparers=preparer", "recon-approvers=approver",
			"recon-admins=admin", "recon-rules-editors=rules_editor"}
	})
	w := newWalk(t, h.console.URL())
	w.SignIn("pat", password)
	if hd := w.Text("header"); !strings.Contains(hd, "Pat Preparer") || !strings.Contains(hd, "preparer") {
		t.Errorf("after signing in through Keycloak: header %q", hd)
	}
	w.Shot("keycloak-dashboard")
	me, err := chromedp.Run(w.Ctx, chromedp.Evaluate[string](`(async () => JSON.stringify(await (await fetch('/api/v1/me')).json()))()`,
		chromedp.EvalAwaitPromise))
	if err != nil || !strings.Contains(me, `"user":"pat"`) || !strings.Contains(me, `"roles":["preparer"]`) {
		t.Errorf("/api/v1/me after a Keycloak sign-in: %s (%v)", me, err)
	}
}

// TestComposeRealm: the compose stack's Keycloak realm
// (deploy/compose/keycloak-realm.json) is the realm TestKeycloakSignIn
// signs in with, for the console's public URL there and the client secret
// the stack's console reads. RECON_WRITE_REALM=1 rewrites it.
func TestComposeRealm(t *testing.T) {
	dir := filepath.Join("..", "..", "deploy", "compose")
	secret, err := os.ReadFile(filepath.Join(dir, "oidc-client-secret.txt"))
	if err != nil {
		t.Fatal(err)
	}
	want, err := keycloakRealm("http://localhost:8080/auth/callback", strings.TrimSpace(string(secret)), "compose-demo")
	if err != nil {
		t.Fatal(err)
	}
	want = append(want, '\n')
	path := filepath.Join(dir, "keycloak-realm.json")
	if os.Getenv("RECON_WRITE_REALM") != "" {
		if err := os.WriteFile(path, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if got, err := os.ReadFile(path); err != nil || !bytes.Equal(got, want) {
		t.Errorf("%s differs from the realm the sign-in test uses (%v): run RECON_WRITE_REALM=1 go test -run TestComposeRealm ./services/console", path, err)
	}
}
