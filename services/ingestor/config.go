package ingestor

import (
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/openrecon/recon/internal/config"
	"github.com/openrecon/recon/internal/kafka"
)

// Config is the ingestor's configuration.
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

	// Schema Registry; empty URL = embedded schema ids.
	RegistryURL, RegistryUser, RegistryPasswordFile string

	S3 S3Config

	// Inbox is a folder watched for files (subfolders bank/ and ledger/ set
	// the side; files at the top level are sided by content). Empty = off.
	Inbox        string
	PollInterval time.Duration

	// CSVProfiles is a YAML profile file or a folder of them, for CSV
	// layouts beyond the canonical ones and the built-in profiles.
	CSVProfiles string

	// MaxFileSize rejects larger files (quarantined with a reason).
	MaxFileSize int64
	// TempDir holds downloaded objects while they are parsed.
	TempDir string
	// TransactionTimeout bounds one file's Kafka transaction.
	TransactionTimeout time.Duration
	// OpsAddr serves /metrics, /healthz and /readyz; empty = off.
	OpsAddr string

	afterParse func()
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

// Register declares the settings on l; call Parse on l, then Validate.
func (c *Config) Register(l *config.Loader) {
	finishKafka := c.Kafka.Register(l, "recon-ingestor")
	l.String(&c.Group, "group", "recon-ingestor", "consumer group on recon.file-events")
	host, _ := os.Hostname()
	l.String(&c.TransactionalID, "transactional-id", "recon-ingestor-"+host, "Kafka transactional id (stable per instance)")
	l.Bool(&c.ConsumeEvents, "consume-events", true, "consume S3 event notifications from recon.file-events")
	var reg kafka.RegistryFlags
	reg.Register(l)
	l.String(&c.S3.Endpoint, "s3-endpoint", "", "S3 endpoint for S3-compatible stores (empty: AWS)")
	l.String(&c.S3.Region, "s3-region", "us-east-1", "S3 region")
	l.Bool(&c.S3.PathStyle, "s3-path-style", false, "path-style S3 addressing (most S3-compatible stores)")
	l.String(&c.S3.AccessKey, "s3-access-key", "", "static S3 access key (empty: AWS default credential chain)")
	l.String(&c.S3.SecretKeyFile, "s3-secret-key-file", "", "file holding the static S3 secret key")
	l.String(&c.S3.QuarantinePrefix, "s3-quarantine-prefix", "quarantine/", "where unreadable objects are copied (empty: no copy)")
	l.String(&c.Inbox, "inbox", "", "folder to watch for files (bank/ and ledger/ subfolders)")
	l.Duration(&c.PollInterval, "inbox-poll", time.Second, "inbox polling interval")
	l.String(&c.CSVProfiles, "csv-profiles", "", "CSV mapping profile (YAML) or folder of them, beside the built-in ones")
	var maxMB int
	l.Int(&maxMB, "max-file-mb", 2048, "largest file accepted, in MiB")
	l.String(&c.TempDir, "temp-dir", os.TempDir(), "where objects are spooled while parsed")
	l.Duration(&c.TransactionTimeout, "transaction-timeout", 5*time.Minute, "Kafka transaction timeout for one file")
	l.String(&c.OpsAddr, "ops-addr", ":9101", "address of /metrics, /healthz, /readyz (empty: off)")
	c.afterParse = func() {
		finishKafka()
		c.RegistryURL, c.RegistryUser, c.RegistryPasswordFile = reg.URL, reg.User, reg.PasswordFile
		c.MaxFileSize = int64(maxMB) << 20
	}
}

// Finish applies derived settings after parsing.
func (c *Config) Finish() {
	if c.afterParse != nil {
		c.afterParse()
	}
}

// Validate reports every configuration mistake at once.
func (c *Config) Validate() error {
	errs := []error{c.Kafka.Validate()}
	if c.TransactionalID == "" {
		errs = append(errs, errors.New("transactional-id is empty"))
	}
	if c.Group == "" && c.ConsumeEvents {
		errs = append(errs, errors.New("group is empty"))
	}
	if !c.ConsumeEvents && c.Inbox == "" && !c.Manual {
		errs = append(errs, errors.New("nothing to do: consume-events is off and no inbox is set"))
	}
	if c.Inbox != "" {
		if st, err := os.Stat(c.Inbox); err != nil || !st.IsDir() {
			errs = append(errs, fmt.Errorf("inbox %q is not a folder", c.Inbox))
		}
	}
	if c.PollInterval <= 0 {
		c.PollInterval = time.Second
	}
	if c.MaxFileSize <= 0 {
		errs = append(errs, errors.New("max-file-mb must be positive"))
	}
	if c.S3.SecretKeyFile != "" {
		b, err := os.ReadFile(c.S3.SecretKeyFile)
		if err != nil {
			errs = append(errs, fmt.Errorf("s3-secret-key-file: %w", err))
		}
		c.S3.secretKey = trimNewline(string(b))
	}
	if (c.S3.AccessKey == "") != (c.S3.secretKey == "") {
		errs = append(errs, errors.New("static S3 credentials need both s3-access-key and s3-secret-key-file"))
	}
	if c.TransactionTimeout <= 0 {
		c.TransactionTimeout = 5 * time.Minute
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
