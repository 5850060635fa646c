package kafka

import (
	"github.com/openrecon/recon/internal/config"
)

// Register declares the Kafka settings on l with clientID as the default
// client id; call the returned function after l.Parse.
func (c *Config) Register(l *config.Loader, clientID string) (finish func()) {
	l.List(&c.Brokers, "kafka-brokers", []string{"localhost:9092"}, "Kafka seed brokers")
	l.String(&c.ClientID, "kafka-client-id", clientID, "Kafka client id")
	l.String(&c.TopicPrefix, "kafka-topic-prefix", "", "prefix of every topic name")
	l.Bool(&c.TLS.Enabled, "kafka-tls", false, "use TLS to the brokers")
	l.String(&c.TLS.CAFile, "kafka-tls-ca-file", "", "PEM CA bundle for the brokers")
	l.String(&c.TLS.CertFile, "kafka-tls-cert-file", "", "client certificate (mTLS)")
	l.String(&c.TLS.KeyFile, "kafka-tls-key-file", "", "client key (mTLS)")
	l.String(&c.SASL.Mechanism, "kafka-sasl-mechanism", "", "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	l.String(&c.SASL.User, "kafka-sasl-user", "", "SASL user")
	l.String(&c.SASL.PasswordFile, "kafka-sasl-password-file", "", "file holding the SASL password")
	var parts, repl int
	l.Int(&parts, "kafka-partitions", defaultPartitions, "partitions of the keyed topics when created")
	l.Int(&repl, "kafka-replication-factor", defaultReplicationFactor, "replication factor of created topics (-1: broker default)")
	l.Bool(&c.Provision, "kafka-provision", true, "create missing topics at start-up")
	l.Duration(&c.Retention, "kafka-retention", defaultRetention, "retention of the data topics when created")
	l.Duration(&c.SessionTimeout, "kafka-session-timeout", 0, "consumer group session timeout (0: 45s)")
	return func() {
		c.Partitions = int32(parts)
		c.ReplicationFactor = int16(repl)
	}
}

// RegistryFlags are the Schema Registry settings every service shares.
type RegistryFlags struct{ URL, User, PasswordFile string }

// Register declares the Schema Registry settings on l.
func (r *RegistryFlags) Register(l *config.Loader) {
	l.String(&r.URL, "schema-registry-url", "", "Schema Registry URL (empty: embedded schema ids)")
	l.String(&r.User, "schema-registry-user", "", "Schema Registry basic-auth user")
	l.String(&r.PasswordFile, "schema-registry-password-file", "", "file holding the Schema Registry password")
}
