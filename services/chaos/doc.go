// Package chaos holds the failure tests: the services run as separate
// processes on real Apache Kafka, Redis and PostgreSQL and are killed with
// SIGKILL, paused and restarted, and the servers restarted, while a known
// workload flows; at the end nothing may be lost or duplicated.
package chaos
