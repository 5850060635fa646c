package kafka

import (
	"github.com/openrecon/recon/internal/config"
)

// Defaults is the Kafka configuration a service starts from; clientID
// names the service's clients.
func Defaults(clientID string) Config {
	return Config{Brokers: []string{"localhost:9092"}, ClientID: clientID, Partitions: defaultPartitions,
		ReplicationFactor: defaultReplicationFactor, Retention: defaultRetention, Provision: true}
}

// Register declares the Kafka settings on l, with c's values as their
// defaults (start from Defaults).
func (c *Config) Register(l *config.Loader) {
	l.List(&c.Brokers, "kafka-brokers", c.Brokers, "Kafka seed brokers")
	l.String(&c.ClientID, "kafka-client-id", c.ClientID, "Kafka client id")
	l.String(&c.TopicPrefix, "kafka-topic-prefix", c.TopicPrefix, "prefix of every topic name")
	l.Bool(&c.TLS.Enabled, "kafka-tls", c.TLS.Enabled, "use TLS to the brokers")
	l.String(&c.TLS.CAFile, "kafka-tls-ca-file", c.TLS.CAFile, "PEM CA bundle for the brokers")
	l.String(&c.TLS.CertFile, "kafka-tls-cert-file", c.TLS.CertFile, "client certificate (mTLS)")
	l.String(&c.TLS.KeyFile, "kafka-tls-key-file", c.TLS.KeyFile, "client key (mTLS)")
	l.String(&c.TLS.ServerName, "kafka-tls-server-name", c.TLS.ServerName, "name to verify the brokers' certificates against (default: the broker address's host)")
	l.String(&c.SASL.Mechanism, "kafka-sasl-mechanism", c.SASL.Mechanism, "PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	l.String(&c.SASL.User, "kafka-sasl-user", c.SASL.User, "SASL user")
	l.String(&c.SASL.PasswordFile, "kafka-sasl-password-file", c.SASL.PasswordFile, "file holding the SASL password")
	l.Int32(&c.Partitions, "kafka-partitions", c.Partitions, "partitions of the keyed topics when created")
	l.Int16(&c.ReplicationFactor, "kafka-replication-factor", c.ReplicationFactor, "replication factor of created topics (-1: broker default)")
	l.Bool(&c.Provision, "kafka-provision", c.Provision, "create missing topics at start-up")
	l.Duration(&c.Retention, "kafka-retention", c.Retention, "retention of the data topics when created")
	l.Duration(&c.SessionTimeout, "kafka-session-timeout", c.SessionTimeout, "consumer group session timeout (0: 45s)")
}
