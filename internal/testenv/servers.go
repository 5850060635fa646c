package testenv

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// child starts a server process for the test, stops it when the test
// ends, and waits until ready answers nil.
func child(t testing.TB, name string, ready func() error, bin string, args ...string) {
	t.Helper()
	logPath := filepath.Join(t.TempDir(), name+".log")
	ns := newNodes()
	ns.start(t, 0, logPath, bin, args...)
	t.Cleanup(ns.stopAll)
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := ready()
		if err == nil {
			return
		}
		fail := func(why string) {
			b, _ := os.ReadFile(logPath)
			t.Fatalf("%s %s: %s", name, why, tail(string(b), 2000))
		}
		if ns.exited(0) {
			fail("exited while starting")
		}
		if time.Now().After(deadline) {
			fail(fmt.Sprintf("not ready in 60 s (%v)", err))
		}
		time.Sleep(200 * time.Millisecond)
	}
}

func httpReady(url string) func() error {
	return func() error {
		resp, err := http.Get(url)
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode >= 500 {
			return fmt.Errorf("HTTP %d", resp.StatusCode)
		}
		return nil
	}
}

// Moto starts moto's server (S3, SQS, SNS and the rest of AWS's APIs,
// from RECON_PYTHON's venv) on a free port and returns its endpoint. It
// sets AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY and AWS_REGION for the
// test, which moto accepts.
func Moto(t *testing.T) string {
	t.Helper()
	py := uses(t, "RECON_PYTHON", "Python with moto[server]", "ran against moto's server (python at {v})")
	port := freePorts(t, 1)[0]
	endpoint := "http://127.0.0.1:" + strconv.Itoa(port)
	child(t, "moto", httpReady(endpoint+"/moto-api/"), py, "-m", "moto.server", "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	t.Setenv("AWS_ACCESS_KEY_ID", "testing")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "testing")
	t.Setenv("AWS_REGION", "eu-west-1")
	return endpoint
}

// Mail is a running mailpit: SMTP with STARTTLS required and
// authentication, and its HTTP API.
type Mail struct {
	SMTP     string // host:port
	API      string // http://host:port
	CAFile   string // the CA that signed the SMTP certificate
	User     string
	Password string
}

// Mailpit starts MAILPIT (github.com/axllent/mailpit, installed by
// scripts/testenv.sh) with a certificate for localhost signed by a CA of
// its own, STARTTLS required, and a password file for one user.
func Mailpit(t *testing.T) Mail {
	t.Helper()
	bin := uses(t, "MAILPIT", "mailpit", "ran against mailpit at {v}")
	dir := t.TempDir()
	m := Mail{CAFile: filepath.Join(dir, "ca.pem"), User: "recon", Password: "s3cret-for-tests"}
	cert, key := filepath.Join(dir, "smtp.pem"), filepath.Join(dir, "smtp-key.pem")
	if err := writeServerCert(m.CAFile, cert, key, "localhost"); err != nil {
		t.Fatal(err)
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(m.Password), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	auth := filepath.Join(dir, "auth")
	if err := os.WriteFile(auth, []byte(m.User+":"+string(hash)+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 2)
	m.SMTP = "localhost:" + strconv.Itoa(ports[0])
	m.API = "http://127.0.0.1:" + strconv.Itoa(ports[1])
	child(t, "mailpit", httpReady(m.API+"/api/v1/info"), bin, "--quiet", "--database", filepath.Join(dir, "mail.db"),
		"--smtp", "127.0.0.1:"+strconv.Itoa(ports[0]), "--listen", "127.0.0.1:"+strconv.Itoa(ports[1]),
		"--smtp-tls-cert", cert, "--smtp-tls-key", key, "--smtp-require-starttls", "--smtp-auth-file", auth, "--smtp-disable-rdns")
	return m
}

// writeServerCert writes a new CA (caFile) and a certificate for host
// signed by it (certFile, keyFile), all PEM.
func writeServerCert(caFile, certFile, keyFile, host string) error {
	ca, err := newTestCA("recon test CA")
	if err != nil {
		return err
	}
	cert, key, err := ca.issue(host)
	if err != nil {
		return err
	}
	return writeFiles(map[string][]byte{caFile: ca.PEM, certFile: cert, keyFile: key})
}
