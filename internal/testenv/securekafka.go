package testenv

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// SecureBroker is an Apache Kafka broker of the test's own whose client
// listener is SASL_SSL: TLS with a certificate signed by a CA the test
// generated, and SCRAM-SHA-512 users.
type SecureBroker struct {
	Addr      string // host:port of the SASL_SSL listener
	CAFile    string // PEM of the CA that signed the broker's certificate
	OtherCA   string // PEM of a CA that did not (an untrusted one)
	Mechanism string // SCRAM-SHA-512
	User      string
	Password  string
	Log       string // the broker's log file
}

// SecureKafka starts a single-node KRaft broker from the jars of
// RECON_KAFKA_CLASSPATH (scripts/testenv.sh resolves them) with a SASL_SSL
// listener and one SCRAM user, waits until it answers an authenticated
// request, and stops it when the test ends.
func SecureKafka(t testing.TB) *SecureBroker {
	t.Helper()
	java, cp, log4j := kafkaJars(t)
	dir := t.TempDir()
	b := &SecureBroker{Mechanism: "SCRAM-SHA-512", User: "recon-svc", Password: "scram-" + fmt.Sprint(time.Now().UnixNano()),
		Log: filepath.Join(dir, "broker.log")}
	b.CAFile, b.OtherCA = filepath.Join(dir, "ca.pem"), filepath.Join(dir, "other-ca.pem")
	keystore := filepath.Join(dir, "server.pem")
	if err := writeCerts(b.CAFile, b.OtherCA, keystore); err != nil {
		t.Fatal(err)
	}
	ports := freePorts(t, 3)
	b.Addr = fmt.Sprintf("127.0.0.1:%d", ports[0])
	props := filepath.Join(dir, "server.properties")
	cfg := fmt.Sprintf(`process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:%[3]d
listeners=SASL_SSL://127.0.0.1:%[1]d,PLAINTEXT://127.0.0.1:%[2]d,CONTROLLER://127.0.0.1:%[3]d
advertised.listeners=SASL_SSL://127.0.0.1:%[1]d,PLAINTEXT://127.0.0.1:%[2]d
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,SASL_SSL:SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required;
ssl.keystore.type=PEM
ssl.keystore.location=%[4]s
log.dirs=%[5]s
num.partitions=2
offsets.topic.replication.factor=1
offsets.topic.num.partitions=2
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=2
share.coordinator.state.topic.replication.factor=1
share.coordinator.state.topic.min.isr=1
group.initial.rebalance.delay.ms=0
auto.create.topics.enable=false
`, ports[0], ports[1], ports[2], keystore, filepath.Join(dir, "data"))
	if err := os.WriteFile(props, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	format := exec.Command(java, "-cp", cp, "kafka.tools.StorageTool", "format", "-t", "recon-secure-test-cluster1", "-c", props,
		"--add-scram", fmt.Sprintf("SCRAM-SHA-512=[name=%s,password=%s]", b.User, b.Password))
	if out, err := format.CombinedOutput(); err != nil {
		t.Fatalf("kafka storage format: %v: %s", err, out)
	}
	logf, err := os.Create(b.Log)
	if err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(java, "-Xms128m", "-Xmx512m", "-XX:+UseSerialGC", "-Dlog4j2.configurationFile="+log4j, "-cp", cp, "kafka.Kafka", props)
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_, _ = cmd.Process.Wait()
		logf.Close()
	})
	// Ready: an authenticated metadata answer over TLS.
	ca, _ := os.ReadFile(b.CAFile)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca)
	cl, err := kgo.NewClient(kgo.SeedBrokers(b.Addr), kgo.DialTLSConfig(&tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}),
		kgo.SASL(scram.Auth{User: b.User, Pass: b.Password}.AsSha512Mechanism()))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	deadline := time.Now().Add(90 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
		err := cl.Ping(ctx)
		cancel()
		if err == nil {
			break
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(b.Log)
			t.Fatalf("the SASL_SSL broker did not answer in 90s (%v); its log ends:\n%s", err, tail(string(log), 3000))
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Logf("server: %s ran against apache kafka (SASL_SSL, SCRAM-SHA-512) at %s", t.Name(), b.Addr)
	return b
}

func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func freePorts(t testing.TB, n int) []int {
	var out []int
	var lns []net.Listener
	for i := 0; i < n; i++ {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, ln.Addr().(*net.TCPAddr).Port)
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

// writeCerts writes a CA, the broker's key and certificate signed by it
// (for 127.0.0.1 and localhost) as one PEM keystore, and a second,
// unrelated CA.
func writeCerts(caFile, otherCAFile, keystore string) error {
	ca, err := newTestCA("recon test CA")
	if err != nil {
		return err
	}
	other, err := newTestCA("some other CA")
	if err != nil {
		return err
	}
	cert, key, err := ca.issue("localhost")
	if err != nil {
		return err
	}
	store := append(append(key, cert...), ca.PEM...)
	return writeFiles(map[string][]byte{caFile: ca.PEM, otherCAFile: other.PEM, keystore: store})
}
