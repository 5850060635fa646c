package ingestor

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"time"

	"github.com/openrecon/recon/internal/avro"
	"github.com/openrecon/recon/internal/config"
	"github.com/openrecon/recon/internal/kafka"
)

// Config is the ingestor's configuration. Start from Defaults.
type Config struct {
	Kafka kafka.Config

	// Group is the consumer group on recon.file-events.
	Group string
	// TransactionalID fences a restarted instance from its previous self;
	// it must be stable per instance and unique across instances.
	TransactionalID string
	// ConsumeEvents turns on consumption of recon.file-events.
	ConsumeEvents bool
	// Manual: files are handed in by the caller (IngestPath), as in
	// `recon reconcile`; neither events nor an inbox are needed.
	Manual bool

	SchemaRegistry avro.RegistryConfig

	S3 S3Config
	// SQS: S3 event notifications from a queue, as AWS delivers them.
	SQS SQSConfig

	// Inbox is a folder watched for files (subfolders bank/ and ledger/ set
	// the side; files at the top level are sided by content). Empty = off.
	// Load checks that it is a folder.
	Inbox        string
	PollInterval time.Duration
	// CompressProcessed gzips each handled inbox file
	// (processed/NAME.gz): a day's statements kept as they came, in
	// about a fifth of the space (recon up: the laptop's disk).
	CompressProcessed bool

	// CSVProfiles is a YAML profile file or a folder of them, for CSV
	// layouts beyond the canonical ones and the built-in profiles.
	CSVProfiles string

	// MaxFileSize rejects larger files (quarantined with a reason).
	MaxFileSize int64
	// TempDir holds downloaded objects while they are parsed.
	TempDir string
	// TransactionTimeout bounds one file's Kafka transaction.
	TransactionTimeout time.Duration
}

// S3Config says how to read objects from S3 or an S3-compatible store.
type S3Config struct {
	Endpoint  string // empty = AWS; e.g. http://minio:9000
	Region    string
	PathStyle bool
	// Static credentials; empty = the AWS default chain (env, IRSA, instance role).
	AccessKey, SecretKeyFile string
	secretKey                string
	// QuarantinePrefix is where unreadable objects are copied, with a
	// .reason.txt beside them. Empty = do not copy.
	QuarantinePrefix string
}

// SQSConfig says where S3 notifications wait in SQS. A message is deleted
// only after its files' Kafka transactions committed.
type SQSConfig struct {
	QueueURL string // empty = off
	Endpoint string // empty = AWS; an SQS-compatible server otherwise
	Region   string // empty = the S3 region
	// Wait is the long poll of one receive (at most 20 s).
	Wait time.Duration
	// Visibility hides a received message from other consumers; it is
	// extended while its files are ingested.
	Visibility time.Duration
}

// Defaults is the configuration the settings, `recon up`, `recon
// reconcile` and the tests start from.
func Defaults() Config {
	host, _ := os.Hostname()
	return Config{Kafka: kafka.Defaults("recon-ingestor"), Group: "recon-ingestor", TransactionalID: "recon-ingestor-" + host,
		ConsumeEvents: true, S3: S3Config{Region: "us-east-1", QuarantinePrefix: "quarantine/"}, PollInterval: time.Second,
		SQS:         SQSConfig{Wait: 20 * time.Second, Visibility: 5 * time.Minute},
		MaxFileSize: 2048 << 20, TempDir: os.TempDir(), TransactionTimeout: 5 * time.Minute}
}

// Register declares the settings on l, with c's values as their defaults.
func (c *Config) Register(l *config.Loader) {
	c.Kafka.Register(l)
	c.SchemaRegistry.Register(l)
	l.String(&c.Group, "group", c.Group, "consumer group on recon.file-events")
	l.String(&c.TransactionalID, "transactional-id", c.TransactionalID, "Kafka transactional id (stable per instance)")
	l.Bool(&c.ConsumeEvents, "consume-events", c.ConsumeEvents, "consume S3 event notifications from recon.file-events")
	l.String(&c.S3.Endpoint, "s3-endpoint", c.S3.Endpoint, "S3 endpoint for S3-compatible stores (empty: AWS)")
	l.String(&c.S3.Region, "s3-region", c.S3.Region, "S3 region")
	l.Bool(&c.S3.PathStyle, "s3-path-style", c.S3.PathStyle, "path-style S3 addressing (most S3-compatible stores)")
	l.String(&c.S3.AccessKey, "s3-access-key", c.S3.AccessKey, "static S3 access key (empty: AWS default credential chain)")
	l.String(&c.S3.SecretKeyFile, "s3-secret-key-file", c.S3.SecretKeyFile, "file holding the static S3 secret key")
	l.String(&c.S3.QuarantinePrefix, "s3-quarantine-prefix", c.S3.QuarantinePrefix, "where unreadable objects are copied (empty: no copy)")
	l.String(&c.SQS.QueueURL, "sqs-queue-url", c.SQS.QueueURL, "SQS queue of S3 event notifications (direct, or through SNS); empty: off")
	l.String(&c.SQS.Endpoint, "sqs-endpoint", c.SQS.Endpoint, "SQS endpoint for SQS-compatible servers (empty: AWS)")
	l.String(&c.SQS.Region, "sqs-region", c.SQS.Region, "SQS region (empty: s3-region)")
	l.Duration(&c.SQS.Wait, "sqs-wait", c.SQS.Wait, "long-poll wait of one SQS receive (≤ 20s)")
	l.Duration(&c.SQS.Visibility, "sqs-visibility", c.SQS.Visibility, "visibility timeout of a received message, extended while its files are ingested")
	l.String(&c.Inbox, "inbox", c.Inbox, "folder to watch for files (bank/ and ledger/ subfolders)")
	l.Duration(&c.PollInterval, "inbox-poll", c.PollInterval, "inbox polling interval")
	l.Bool(&c.CompressProcessed, "compress-processed", c.CompressProcessed, "gzip each handled inbox file (processed/NAME.gz)")
	l.String(&c.CSVProfiles, "csv-profiles", c.CSVProfiles, "CSV mapping profile (YAML) or folder of them, beside the built-in ones")
	l.MiB(&c.MaxFileSize, "max-file-mb", "largest file accepted, in MiB")
	l.String(&c.TempDir, "temp-dir", c.TempDir, "where objects are spooled while parsed")
	l.Duration(&c.TransactionTimeout, "transaction-timeout", c.TransactionTimeout, "Kafka transaction timeout for one file")
}

// Validate reports every configuration mistake at once. It reads no file
// and changes nothing.
func (c Config) Validate() error {
	errs := []error{c.Kafka.Validate()}
	if c.TransactionalID == "" {
		errs = append(errs, errors.New("transactional-id is empty"))
	}
	if c.Group == "" && c.ConsumeEvents {
		errs = append(errs, errors.New("group is empty"))
	}
	if !c.ConsumeEvents && c.Inbox == "" && !c.Manual && c.SQS.QueueURL == "" {
		errs = append(errs, errors.New("nothing to do: consume-events is off and neither an inbox nor an SQS queue is set"))
	}
	if c.SQS.QueueURL != "" {
		if u, err := url.Parse(c.SQS.QueueURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
			errs = append(errs, fmt.Errorf("sqs-queue-url %q: want the queue's URL (https://sqs.REGION.amazonaws.com/ACCOUNT/NAME)", c.SQS.QueueURL))
		}
		if c.SQS.Wait < 0 || c.SQS.Wait > 20*time.Second {
			errs = append(errs, errors.New("sqs-wait must be between 0 and 20s"))
		}
		if c.SQS.Visibility < 2*time.Second || c.SQS.Visibility > 12*time.Hour {
			errs = append(errs, errors.New("sqs-visibility must be between 2s and 12h"))
		}
	}
	if c.PollInterval <= 0 {
		errs = append(errs, errors.New("inbox-poll must be positive"))
	}
	if c.MaxFileSize <= 0 {
		errs = append(errs, errors.New("max-file-mb must be positive"))
	}
	if (c.S3.AccessKey == "") != (c.S3.SecretKeyFile == "" && c.S3.secretKey == "") {
		errs = append(errs, errors.New("static S3 credentials need both s3-access-key and s3-secret-key-file"))
	}
	if c.TransactionTimeout <= 0 {
		errs = append(errs, errors.New("transaction-timeout must be positive"))
	}
	return errors.Join(errs...)
}

// Load reads what the settings point at: the S3 secret key file, and
// checks that the inbox is a folder.
func (c *Config) Load() error {
	var errs []error
	if c.Inbox != "" {
		if st, err := os.Stat(c.Inbox); err != nil || !st.IsDir() {
			errs = append(errs, fmt.Errorf("inbox %q is not a folder", c.Inbox))
		}
	}
	if c.S3.SecretKeyFile != "" {
		b, err := os.ReadFile(c.S3.SecretKeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("s3-secret-key-file: %w", err))
		} else if c.S3.secretKey = trimNewline(string(b)); c.S3.secretKey == "" {
			errs = append(errs, fmt.Errorf("s3-secret-key-file %s is empty", c.S3.SecretKeyFile))
		}
	}
	return errors.Join(errs...)
}

// WithSecretKey sets the static S3 secret directly (tests, embedded mode).
func (c S3Config) WithSecretKey(k string) S3Config {
	c.secretKey = k
	return c
}

func trimNewline(s string) string {
	for len(s) > 0 && (s[len(s)-1] == '\n' || s[len(s)-1] == '\r') {
		s = s[:len(s)-1]
	}
	return s
}
