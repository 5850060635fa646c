// Package kafkatest gives service tests a Kafka client with the
// project's topics in place.
package kafkatest

import (
	"context"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/openrecon/recon/internal/kafka"
)

// Client returns a producing client of kc, closed when the test ends,
// after creating every topic of kc (replication factor 1) that is missing.
// Make a consuming client with kafka.NewClient: a consuming client that
// provisioned topics before its first poll saw no records in the console's
// feed test (cause not looked into).
func Client(t testing.TB, kc kafka.Config) *kgo.Client {
	t.Helper()
	cl, err := kafka.NewClient(kc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(cl.Close)
	if err := kafka.Provision(context.Background(), cl, 1, kafka.Topics(kc)); err != nil {
		t.Fatal(err)
	}
	return cl
}
