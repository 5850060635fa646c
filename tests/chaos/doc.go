// Package chaos holds the failure tests: the services run as separate
// processes on real Apache Kafka, Redis and PostgreSQL and are killed with
// SIGKILL, paused and restarted, and the servers restarted, while a known
// workload flows; at the end nothing may be lost or duplicated. The
// secret-hygiene test runs the same processes with secrets in their
// settings and scans what an operator sees (logs, /metrics,
// --print-config) for them and for full account numbers.
package chaos
