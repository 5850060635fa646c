// Package e2e holds the end-to-end tests that run every service together
// on real Apache Kafka, Redis and PostgreSQL.
package e2e
