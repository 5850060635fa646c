// Package interop holds the tests of recon against clients and servers
// that are not its own: ledger records produced upstream from Python
// (kafka-python; confluent-kafka with librdkafka's partitioners) through a
// real Schema Registry (Apicurio Registry's Confluent-compatible API), and
// the services over Kafka with TLS and SASL/SCRAM. scripts/testenv.sh
// installs and starts what they need.
package interop
