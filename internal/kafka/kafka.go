// Package kafka sets up franz-go clients the same way in every service:
// brokers, TLS, SASL (PLAIN, SCRAM-SHA-256/512), client id, an idempotent
// producer with Java-compatible murmur2 key partitioning, and topic
// provisioning at start-up.
package kafka

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl/plain"
	"github.com/twmb/franz-go/pkg/sasl/scram"
)

// The topics of DESIGN.md §3.
const (
	TopicFileEvents          = "recon.file-events"
	TopicFiles               = "recon.files"
	TopicBankTransactions    = "recon.bank.transactions"
	TopicLedgerTransactions  = "recon.ledger.transactions"
	TopicBankStatements      = "recon.bank.statements"
	TopicMatches             = "recon.matches"
	TopicBreaks              = "recon.breaks"
	TopicResolutions         = "recon.resolutions"
	TopicOutcomes            = "recon.resolution-outcomes"
	TopicSignoffs            = "recon.signoffs"
	TopicEscalations         = "recon.escalations"
	TopicDLQ                 = "recon.dlq"
	TopicRules               = "recon.rules"
	defaultPartitions        = 12
	defaultRetention         = 7 * 24 * time.Hour
	defaultReplicationFactor = -1 // the broker's default.replication.factor
)

// Config is how a service reaches Kafka.
type Config struct {
	Brokers  []string // host:port seeds
	ClientID string   // default "recon"
	// TopicPrefix is put before every topic name ("" in production; a run
	// id for `recon reconcile` on shared servers, so runs do not mix).
	TopicPrefix string

	TLS  TLSConfig
	SASL SASLConfig

	// Topic provisioning at start-up.
	Partitions        int32         // partitions of the keyed topics; default 12
	ReplicationFactor int16         // -1 = broker default
	Retention         time.Duration // retention.ms of the data topics; default 7 days
	Provision         bool          // create missing topics at start-up
	// SessionTimeout of consumer groups: how long a silent member keeps
	// its partitions (default 45s; chaos tests use a few seconds).
	SessionTimeout time.Duration
	// FetchMaxBytes bounds what one fetch of a consumer brings (0:
	// franz-go's 50 MiB, a partition's share 1 MiB). Each consumer keeps
	// a fetch or two buffered, decompressed: the all-in-one mode, with
	// five consumers in one process, sets a few MiB.
	FetchMaxBytes int32
	// Zstd compresses produced batches with zstd instead of lz4: about a
	// third smaller on this data for more CPU; the all-in-one mode, whose
	// log is on a laptop's disk, uses it.
	Zstd bool
}

// TLSConfig enables TLS to the brokers.
type TLSConfig struct {
	Enabled            bool
	CAFile             string // PEM bundle; empty = system roots
	CertFile, KeyFile  string // client certificate (mTLS)
	ServerName         string
	InsecureSkipVerify bool
}

// SASLConfig selects SASL authentication. Mechanism is PLAIN,
// SCRAM-SHA-256 or SCRAM-SHA-512; empty disables SASL.
type SASLConfig struct {
	Mechanism string
	User      string
	Password  string // or PasswordFile
	// PasswordFile is read at start-up (a mounted secret); it wins over Password.
	PasswordFile string
}

// Topic returns the full name of one of the Topic* constants.
func (c Config) Topic(name string) string { return c.TopicPrefix + name }

// WithDefaults fills unset fields.
func (c Config) WithDefaults() Config {
	if c.ClientID == "" {
		c.ClientID = "recon"
	}
	if c.Partitions == 0 {
		c.Partitions = defaultPartitions
	}
	if c.ReplicationFactor == 0 {
		c.ReplicationFactor = defaultReplicationFactor
	}
	if c.Retention == 0 {
		c.Retention = defaultRetention
	}
	return c
}

// Validate reports configuration mistakes before anything connects.
func (c Config) Validate() error {
	var errs []error
	if len(c.Brokers) == 0 {
		errs = append(errs, errors.New("kafka: no brokers (set RECON_KAFKA_BROKERS)"))
	}
	for _, b := range c.Brokers {
		if _, port, err := net.SplitHostPort(b); err != nil || port == "" {
			errs = append(errs, fmt.Errorf("kafka: broker %q: want host:port", b))
		}
	}
	switch strings.ToUpper(c.SASL.Mechanism) {
	case "", "PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512":
	default:
		errs = append(errs, fmt.Errorf("kafka: SASL mechanism %q: want PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512", c.SASL.Mechanism))
	}
	if c.SASL.Mechanism != "" && c.SASL.User == "" {
		errs = append(errs, errors.New("kafka: SASL needs a user"))
	}
	if (c.TLS.CertFile == "") != (c.TLS.KeyFile == "") {
		errs = append(errs, errors.New("kafka: TLS client certificate needs both a cert file and a key file"))
	}
	if c.Partitions < 0 {
		errs = append(errs, errors.New("kafka: partitions must be positive"))
	}
	return errors.Join(errs...)
}

// Options turns the config into franz-go client options. The producer is
// idempotent (franz-go's default), acks=all, and keyed records go to
// murmur2(key) % partitions, exactly as Java clients place them.
func (c Config) Options() ([]kgo.Opt, error) {
	c = c.WithDefaults()
	opts := []kgo.Opt{
		kgo.SeedBrokers(c.Brokers...),
		kgo.ClientID(c.ClientID),
		kgo.RecordPartitioner(Partitioner()),
		kgo.RequiredAcks(kgo.AllISRAcks()),
		kgo.ProducerBatchCompression(kgo.Lz4Compression(), kgo.NoCompression()),
		kgo.ProducerLinger(5 * time.Millisecond),
	}
	if c.Zstd {
		opts = append(opts, kgo.ProducerBatchCompression(kgo.ZstdCompression(), kgo.Lz4Compression(), kgo.NoCompression()))
	}
	if c.SessionTimeout > 0 {
		opts = append(opts, kgo.SessionTimeout(c.SessionTimeout), kgo.HeartbeatInterval(c.SessionTimeout/5))
	}
	if c.FetchMaxBytes > 0 {
		opts = append(opts, kgo.FetchMaxBytes(c.FetchMaxBytes), kgo.FetchMaxPartitionBytes(min(c.FetchMaxBytes, 1<<20)))
	}
	if c.TLS.Enabled {
		tc, err := c.TLS.config()
		if err != nil {
			return nil, err
		}
		opts = append(opts, kgo.DialTLSConfig(tc))
	}
	if c.SASL.Mechanism != "" {
		pass := c.SASL.Password
		if c.SASL.PasswordFile != "" {
			b, err := os.ReadFile(c.SASL.PasswordFile)
			if err != nil {
				return nil, fmt.Errorf("kafka: SASL password file: %w", err)
			}
			pass = strings.TrimRight(string(b), "\r\n")
		}
		switch strings.ToUpper(c.SASL.Mechanism) {
		case "PLAIN":
			opts = append(opts, kgo.SASL(plain.Auth{User: c.SASL.User, Pass: pass}.AsMechanism()))
		case "SCRAM-SHA-256":
			opts = append(opts, kgo.SASL(scram.Auth{User: c.SASL.User, Pass: pass}.AsSha256Mechanism()))
		case "SCRAM-SHA-512":
			opts = append(opts, kgo.SASL(scram.Auth{User: c.SASL.User, Pass: pass}.AsSha512Mechanism()))
		}
	}
	return opts, nil
}

// Partitioner places keyed records like the Java client's default
// partitioner: toPositive(murmur2(key)) % partitions. Records without a key
// are spread stickily.
func Partitioner() kgo.Partitioner {
	return kgo.StickyKeyPartitioner(nil) // nil hasher = Kafka's murmur2
}

func (t TLSConfig) config() (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: t.ServerName, InsecureSkipVerify: t.InsecureSkipVerify} //nolint:gosec // opt-in
	if t.CAFile != "" {
		pem, err := os.ReadFile(t.CAFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: TLS CA file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("kafka: TLS CA file %s: no PEM certificates", t.CAFile)
		}
		tc.RootCAs = pool
	}
	if t.CertFile != "" {
		cert, err := tls.LoadX509KeyPair(t.CertFile, t.KeyFile)
		if err != nil {
			return nil, fmt.Errorf("kafka: TLS client certificate: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// NewClient returns a client for cfg with extra options appended.
//
// With TLS or SASL configured, the client first makes one request: a
// certificate the client does not trust, or credentials the broker
// refuses, are then one clear error at start-up, not a service that
// retries forever.
func NewClient(cfg Config, extra ...kgo.Opt) (*kgo.Client, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	opts, err := cfg.Options()
	if err != nil {
		return nil, err
	}
	cl, err := kgo.NewClient(append(opts, extra...)...)
	if err != nil || (!cfg.TLS.Enabled && cfg.SASL.Mechanism == "") {
		return cl, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), checkTimeout)
	defer cancel()
	if err := cl.Ping(ctx); err != nil {
		cl.Close()
		return nil, cfg.explain(err)
	}
	return cl, nil
}

// checkTimeout bounds the start-up request of a TLS or SASL client.
const checkTimeout = 20 * time.Second

// explain turns a failed first request into one line that says what to fix.
func (c Config) explain(err error) error {
	brokers := strings.Join(c.Brokers, ",")
	var ue x509.UnknownAuthorityError
	var he x509.HostnameError
	var ie x509.CertificateInvalidError
	switch {
	case errors.As(err, &ue), strings.Contains(err.Error(), "certificate signed by unknown authority"):
		return fmt.Errorf("kafka: TLS to %s: the broker's certificate is not signed by a CA this client trusts (%v); set kafka-tls-ca-file to the CA that signed it", brokers, err)
	case errors.As(err, &he):
		return fmt.Errorf("kafka: TLS to %s: the broker's certificate is not for that name (%v); connect by a name it holds or set kafka-tls-server-name", brokers, err)
	case errors.As(err, &ie), strings.Contains(err.Error(), "tls:"):
		return fmt.Errorf("kafka: TLS to %s failed: %v", brokers, err)
	case errors.Is(err, kerr.SaslAuthenticationFailed), errors.Is(err, kerr.UnsupportedSaslMechanism), errors.Is(err, kerr.IllegalSaslState):
		return fmt.Errorf("kafka: SASL %s authentication of user %q at %s refused (%v); check kafka-sasl-user, kafka-sasl-password-file and kafka-sasl-mechanism", c.SASL.Mechanism, c.SASL.User, brokers, err)
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("kafka: no broker of %s answered within %s (TLS %v, SASL %q): is the address the TLS/SASL listener's?", brokers, checkTimeout, c.TLS.Enabled, c.SASL.Mechanism)
	}
	return fmt.Errorf("kafka: first request to %s failed: %w", brokers, err)
}

// TopicSpec is a topic to provision.
type TopicSpec struct {
	Name       string
	Partitions int32
	Configs    map[string]string
	// CoPartitioned topics must have exactly Partitions partitions: records
	// of one account meet on the same partition number across them.
	CoPartitioned bool
}

// Topics returns the project's topics for cfg: the keyed topics share one
// partition count so that bank and ledger records of an account meet on the
// same partition number.
func Topics(cfg Config) []TopicSpec {
	cfg = cfg.WithDefaults()
	ret := strconv.FormatInt(cfg.Retention.Milliseconds(), 10)
	data := map[string]string{"retention.ms": ret}
	keyed := []string{TopicBankTransactions, TopicLedgerTransactions, TopicBankStatements, TopicResolutions}
	var out []TopicSpec
	for _, name := range keyed {
		out = append(out, TopicSpec{Name: cfg.Topic(name), Partitions: cfg.Partitions, Configs: data, CoPartitioned: true})
	}
	for _, name := range []string{TopicMatches, TopicBreaks, TopicOutcomes, TopicSignoffs, TopicEscalations, TopicDLQ} {
		out = append(out, TopicSpec{Name: cfg.Topic(name), Partitions: cfg.Partitions, Configs: data})
	}
	out = append(out,
		TopicSpec{Name: cfg.Topic(TopicFileEvents), Partitions: 1, Configs: data},
		TopicSpec{Name: cfg.Topic(TopicFiles), Partitions: 1, Configs: map[string]string{"cleanup.policy": "compact"}},
		TopicSpec{Name: cfg.Topic(TopicRules), Partitions: 1, Configs: map[string]string{"cleanup.policy": "compact"}},
	)
	return out
}

// NewProducer is NewClient that, when cfg.Provision is set, also provisions
// the project's topics (closing the client if that fails).
func NewProducer(ctx context.Context, cfg Config, extra ...kgo.Opt) (*kgo.Client, error) {
	cl, err := NewClient(cfg, extra...)
	if err != nil || !cfg.Provision {
		return cl, err
	}
	if err := Provision(ctx, cl, cfg.WithDefaults().ReplicationFactor, Topics(cfg)); err != nil {
		cl.Close()
		return nil, err
	}
	return cl, nil
}

// Provision creates the missing topics of specs and checks that the
// co-partitioned topics that exist already have the expected partition
// count. It is safe to run from every service at every start.
func Provision(ctx context.Context, cl *kgo.Client, replication int16, specs []TopicSpec) error {
	adm := kadm.NewClient(cl)
	names := make([]string, len(specs))
	for i, s := range specs {
		names[i] = s.Name
	}
	existing, err := adm.ListTopics(ctx, names...)
	if err != nil {
		return fmt.Errorf("kafka: list topics: %w", err)
	}
	var errs []error
	for _, s := range specs {
		if td, ok := existing[s.Name]; ok && td.Err == nil {
			if s.CoPartitioned {
				if got := int32(len(td.Partitions)); got != s.Partitions {
					errs = append(errs, fmt.Errorf("kafka: topic %s has %d partitions, configured %d: the keyed input topics must be co-partitioned", s.Name, got, s.Partitions))
				}
			}
			continue
		}
		cfgs := map[string]*string{}
		for k, v := range s.Configs {
			cfgs[k] = kadm.StringPtr(v)
		}
		resp, err := adm.CreateTopic(ctx, s.Partitions, replication, cfgs, s.Name)
		if err != nil && !errors.Is(err, kerr.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("kafka: create topic %s: %w", s.Name, err))
			continue
		}
		if resp.Err != nil && !errors.Is(resp.Err, kerr.TopicAlreadyExists) {
			errs = append(errs, fmt.Errorf("kafka: create topic %s: %w", s.Name, resp.Err))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	// Wait until the new topics are visible in metadata.
	for i := 0; i < 50; i++ {
		cl.PurgeTopicsFromClient(names...) // kadm answers from cached metadata otherwise
		td, err := adm.ListTopics(ctx, names...)
		if err == nil {
			ready := true
			for _, n := range names {
				if d, ok := td[n]; !ok || d.Err != nil {
					ready = false
				}
			}
			if ready {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
	return errors.New("kafka: provisioned topics did not appear in metadata")
}

// PartitionOf is the partition the Java client's default partitioner (and
// Partitioner, and every murmur2 partitioner) puts a record keyed key on:
// toPositive(murmur2(key)) % partitions.
func PartitionOf(key []byte, partitions int32) int32 {
	return int32((murmur2(key) & 0x7fffffff) % uint32(partitions))
}

// murmur2 is Kafka's murmur2 (org.apache.kafka.common.utils.Utils.murmur2),
// seed 0x9747b28c.
func murmur2(data []byte) uint32 {
	const (
		seed = 0x9747b28c
		m    = 0x5bd1e995
		r    = 24
	)
	n := len(data)
	h := uint32(seed) ^ uint32(n)
	for i := 0; i+4 <= n; i += 4 {
		k := uint32(data[i]) | uint32(data[i+1])<<8 | uint32(data[i+2])<<16 | uint32(data[i+3])<<24
		k *= m
		k ^= k >> r
		k *= m
		h *= m
		h ^= k
	}
	tail := data[n&^3:]
	switch len(tail) {
	case 3:
		h ^= uint32(tail[2]) << 16
		fallthrough
	case 2:
		h ^= uint32(tail[1]) << 8
		fallthrough
	case 1:
		h ^= uint32(tail[0])
		h *= m
	}
	h ^= h >> 13
	h *= m
	h ^= h >> 15
	return h
}
