// Package durable holds the test of the all-in-one mode's guarantee: `recon
// up` runs as a child process on a data dir and is stopped at every kind of
// moment (SIGKILL and Ctrl-C, before, during and after the ingestion of
// each file, while windows are open, after everything was decided) and
// started again; it must end with exactly the matches and breaks that
// `recon reconcile` decides on the same files, each break notified once.
package durable
